"""The OAuth resource server against a real identity provider (panva's oidc-provider, tests/e2e/oidc_provider.mjs).

The provider and the server both listen on loopback ports; people are client_credentials clients of the
provider: alice and bob may read and write, reader may only read, stranger has no scope of this server. Tokens
the provider would never issue (expired, for another issuer, signed by another key) are made with PyJWT.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm
from jwt.utils import base64url_decode, base64url_encode
from mcp.shared.exceptions import MCPError
from pydantic import SecretStr

from tests.conftest import data, free_port
from tests.e2e.conftest import E2E_DIR
from tests.security.process import Spawned, base_env, run, serving, stop
from tests.security.test_http import INITIALIZE, MCP_HEADERS, mcp_client
from ubiops_services_mcp.identity import fingerprint

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

SECRET = "oauth-e2e-secret-0123456789abcdefghij"
CLIENTS = {
    "alice": "ubiops:read ubiops:write",
    "bob": "ubiops:read ubiops:write",
    "reader": "ubiops:read",
    "stranger": "other:scope",
}
SERVICE = {"name": "web", "deployment": "hello-world", "port": 8080}


def signing_key(kid: str) -> tuple[rsa.RSAPrivateKey, dict[str, Any]]:
    """A fresh RSA key and its private JWK (what the provider signs with)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk: dict[str, Any] = json.loads(RSAAlgorithm.to_jwk(key))
    return key, jwk | {"kid": kid, "alg": "RS256", "use": "sig"}


@dataclass
class Provider:
    """oidc-provider on a loopback port; `restart` with other keys rotates them."""

    node_modules: Path
    tmp: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def issuer(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, keys: list[dict[str, Any]]) -> None:
        (self.tmp / "keys.json").write_text(json.dumps({"keys": keys}))
        clients = [{"client_id": c, "client_secret": secret_of(c), "scope": s} for c, s in CLIENTS.items()]
        (self.tmp / "clients.json").write_text(json.dumps(clients))
        args = ["node", str(E2E_DIR / "oidc_provider.mjs"), str(self.port), str(self.tmp / "keys.json")]
        with (self.tmp / "provider.stderr").open("ab") as stderr:
            self.process = subprocess.Popen(
                [*args, str(self.tmp / "clients.json")], cwd=E2E_DIR, stdout=subprocess.PIPE, stderr=stderr
            )
        assert self.process.stdout is not None
        line = self.process.stdout.readline().decode()
        assert line.startswith("ready"), (self.tmp / "provider.stderr").read_text()

    def restart(self, keys: list[dict[str, Any]]) -> None:
        self.stop()
        self.start(keys)

    def stop(self) -> None:
        if self.process is not None:
            stop(self.process)
            assert self.process.stdout is not None
            self.process.stdout.close()

    def token(self, client: str, resource: str, scope: str | None = None) -> str:
        form = {"grant_type": "client_credentials", "client_id": client, "client_secret": secret_of(client)}
        form |= {"resource": resource, "scope": scope or CLIENTS[client]}
        answer = httpx.post(f"{self.issuer}/token", data=form, timeout=10)
        assert answer.status_code == 200, answer.text
        return str(answer.json()["access_token"])


def secret_of(client: str) -> str:
    return f"{client}-secret-0123456789abcdefghijklmnop"


@dataclass
class Setup:
    provider: Provider
    server: Spawned
    key: rsa.RSAPrivateKey

    def token(self, client: str, scope: str | None = None) -> str:
        return self.provider.token(client, self.server.url, scope)

    def audit(self) -> list[dict[str, Any]]:
        text = (self.server.stderr_path.parent / "audit.jsonl").read_text()
        return [json.loads(line) for line in text.splitlines()]


@contextmanager
def started(node_modules: Path, tmp: Path) -> Iterator[Setup]:
    """The provider and the server configured for it; both stopped on the way out."""
    provider = Provider(node_modules, tmp)
    key, jwk = signing_key("key-1")
    provider.start([jwk])
    port = free_port()
    env = base_env(
        tmp, UBIOPS_MCP_OAUTH_ISSUER=provider.issuer, UBIOPS_MCP_RESOURCE_URL=f"http://127.0.0.1:{port}/mcp",
        UBIOPS_MCP_SECRET=SECRET,
    )  # fmt: skip
    try:
        with serving(["--transport", "http", "--port", str(port)], env, port, tmp / "server.stderr") as server:
            yield Setup(provider, server, key)
    finally:
        provider.stop()


@pytest.fixture(scope="module")
def setup(node_modules: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    with started(node_modules, tmp_path_factory.mktemp("oauth")) as running:
        yield running


def forged(setup: Setup, key: Any = None, **claims: Any) -> str:
    """A token the provider did not issue: its claims, overridden, signed with `key` (the provider's by default)."""
    now = int(time.time())
    payload = {"iss": setup.provider.issuer, "sub": "alice", "aud": setup.server.url, "iat": now, "exp": now + 300}
    payload |= {"scope": "ubiops:read ubiops:write", "client_id": "alice"}
    payload = {k: v for k, v in (payload | claims).items() if v is not None}
    return jwt.encode(payload, key or setup.key, algorithm="RS256", headers={"kid": "key-1"})


async def post(url: str, body: Any = INITIALIZE, token: str | None = None) -> httpx.Response:
    headers = MCP_HEADERS | ({"Authorization": f"Bearer {token}"} if token else {})
    async with httpx.AsyncClient(timeout=10) as http:
        return await http.post(url, content=json.dumps(body).encode(), headers=headers)


def call(tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": tool, "arguments": arguments}}


async def test_no_token_gets_401_pointing_at_the_metadata(setup: Setup) -> None:
    answer = await post(setup.server.url)
    assert answer.status_code == 401
    metadata_url = f"http://127.0.0.1:{setup.server.port}/.well-known/oauth-protected-resource/mcp"
    challenge = answer.headers["www-authenticate"]
    assert challenge.startswith("Bearer ")
    assert f'resource_metadata="{metadata_url}"' in challenge
    assert "error=" not in challenge  # no token at all: no error code (RFC 6750 §3.1)
    async with httpx.AsyncClient(timeout=10) as http:
        for url in (metadata_url, f"http://127.0.0.1:{setup.server.port}/.well-known/oauth-protected-resource"):
            metadata = (await http.get(url)).json()
            assert metadata["resource"] == setup.server.url
            assert metadata["authorization_servers"] == [setup.provider.issuer]
            assert metadata["scopes_supported"] == ["ubiops:read", "ubiops:write"]


@pytest.mark.parametrize("kind", ["expired", "wrong_audience", "wrong_issuer", "bad_signature", "tampered", "none"])
async def test_invalid_tokens_get_401(setup: Setup, kind: str) -> None:
    now = int(time.time())
    if kind == "expired":
        token = forged(setup, iat=now - 3600, exp=now - 600)
    elif kind == "wrong_audience":  # a real token of the provider, for another resource
        token = setup.provider.token("alice", f"http://127.0.0.1:{free_port()}/mcp")
    elif kind == "wrong_issuer":
        token = forged(setup, iss="http://127.0.0.1:9/other-issuer")
    elif kind == "bad_signature":
        token = forged(setup, key=signing_key("key-1")[0])
    elif kind == "tampered":  # a real token whose payload now claims bob
        header, payload, signature = setup.token("alice").split(".")
        claims = json.loads(base64url_decode(payload)) | {"sub": "bob"}
        token = ".".join([header, base64url_encode(json.dumps(claims).encode()).decode(), signature])
    else:
        token = jwt.encode({"iss": setup.provider.issuer, "sub": "alice", "aud": setup.server.url}, None, "none")
    assert (await post(setup.server.url, token=setup.token("alice"))).status_code == 200  # the real one works
    answer = await post(setup.server.url, token=token)
    assert answer.status_code == 401
    assert 'error="invalid_token"' in answer.headers["www-authenticate"]


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_read_scope_reads_and_the_sdk_client_sees_a_write_fail(setup: Setup, mode: str) -> None:
    token = setup.token("reader")
    async with mcp_client(setup.server.url, {"Authorization": f"Bearer {token}"}, mode=mode) as client:
        assert not (await client.call_tool("services_list", {})).is_error
        assert len((await client.list_resource_templates()).resource_templates) > 0
        assert len((await client.list_prompts()).prompts) > 0
        with pytest.raises(MCPError):  # the HTTP 403 (this client has no OAuth flow to step up with)
            await client.call_tool("services_create", {"data": SERVICE | {"name": f"read-{mode}"}})
        assert not (await client.call_tool("services_list", {})).is_error  # the session goes on
        assert (await client.call_tool("services_get", {"service_name": f"read-{mode}"})).is_error  # not created


async def test_read_scope_is_refused_writes_with_403_and_audited(setup: Setup) -> None:
    token = setup.token("reader")
    answer = await post(setup.server.url, call("services_create", {"data": SERVICE}), token=token)
    assert answer.status_code == 403
    challenge = answer.headers["www-authenticate"]
    assert 'error="insufficient_scope"' in challenge
    assert 'scope="ubiops:read ubiops:write"' in challenge
    assert "resource_metadata=" in challenge
    refused = [x for x in setup.audit() if x.get("error_code") == "insufficient_scope" and x["service"] == "web"]
    assert [(x["tool"], x["outcome"], x["sub"], x["email"]) for x in refused] == [
        ("services_create", "refused", "reader", "reader@example.test")
    ]
    assert token not in (setup.server.stderr_path.parent / "audit.jsonl").read_text()
    assert token not in setup.server.stderr


async def test_a_token_without_the_read_scope_gets_403(setup: Setup) -> None:
    answer = await post(setup.server.url, token=setup.token("stranger"))
    assert answer.status_code == 403
    assert 'scope="ubiops:read"' in answer.headers["www-authenticate"]


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_write_scope_previews_and_confirms_and_the_audit_names_the_person(setup: Setup, mode: str) -> None:
    name = f"alice-web-{mode}"
    async with mcp_client(setup.server.url, {"Authorization": f"Bearer {setup.token('alice')}"}, mode) as client:
        created = await client.call_tool("services_create", {"data": SERVICE | {"name": name}})
        assert not created.is_error, created.structured_content
        change = {"service_name": name, "data": {"port": 81}}
        preview = data(await client.call_tool("services_update", change))
        confirm = {"confirm": True, "confirmation_token": preview["confirmation_token"]}
        applied = data(await client.call_tool("services_update", change | confirm))
    assert applied["outcome"] == "applied", applied
    mine = [line for line in setup.audit() if line.get("service") == name]
    assert {(line["sub"], line["email"]) for line in mine} == {("alice", "alice@example.test")}
    assert [line["outcome"] for line in mine] == ["applied", "preview", "applied"]


async def test_a_session_answers_only_the_person_who_opened_it(setup: Setup) -> None:
    opened = await post(setup.server.url, token=setup.token("alice"))
    session = {"mcp-session-id": opened.headers["mcp-session-id"], "mcp-protocol-version": "2025-11-25"}
    ping = {"jsonrpc": "2.0", "id": 3, "method": "ping"}
    headers = MCP_HEADERS | session
    async with httpx.AsyncClient(timeout=10) as http:
        for person, status in (("bob", 404), ("alice", 200)):
            auth = {"Authorization": f"Bearer {setup.token(person)}"}
            answer = await http.post(setup.server.url, content=json.dumps(ping), headers=headers | auth)
            assert answer.status_code == status, (person, answer.text)


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_one_persons_preview_cannot_be_applied_by_another(setup: Setup, mode: str) -> None:
    name = f"shared-{mode}"
    async with mcp_client(setup.server.url, {"Authorization": f"Bearer {setup.token('alice')}"}, mode) as alice:
        await alice.call_tool("services_create", {"data": SERVICE | {"name": name}})
        preview = data(await alice.call_tool("services_delete", {"service_name": name}))
    confirm = {"service_name": name, "confirm": True, "confirmation_token": preview["confirmation_token"]}
    async with mcp_client(setup.server.url, {"Authorization": f"Bearer {setup.token('bob')}"}, mode) as bob:
        refused = data(await bob.call_tool("services_delete", confirm))
        assert not (await bob.call_tool("services_get", {"service_name": name})).is_error  # still there
    assert refused["outcome"] == "refused", refused
    assert "another caller" in json.dumps(refused)


async def test_a_rotated_key_is_fetched_and_the_old_one_dropped(node_modules: Path, tmp_path: Path) -> None:
    with started(node_modules, tmp_path) as setup:
        old = setup.token("alice")
        assert (await post(setup.server.url, token=old)).status_code == 200
        setup.provider.restart([signing_key("key-2")[1]])
        # no wait: a key id the server has not seen makes it fetch the key set again at once
        new = setup.token("alice")
        assert jwt.get_unverified_header(new)["kid"] == "key-2"
        assert (await post(setup.server.url, token=new)).status_code == 200
        assert (await post(setup.server.url, token=old)).status_code == 401


def test_check_says_whether_the_issuer_publishes_keys(setup: Setup, tmp_path: Path) -> None:
    env = base_env(tmp_path, UBIOPS_MCP_OAUTH_ISSUER=setup.provider.issuer, UBIOPS_MCP_RESOURCE_URL=setup.server.url)
    done = run(["check"], env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"ok   oauth: {setup.provider.issuer} publishes 1 signing key(s)" in done.stdout
    gone = run(["check"], env | {"UBIOPS_MCP_OAUTH_ISSUER": f"http://127.0.0.1:{free_port()}"})
    assert gone.returncode == 1
    assert "FAIL oauth: no metadata naming issuer" in gone.stdout


async def test_an_own_ubiops_token_is_audited_by_its_hash_beside_the_person(setup: Setup) -> None:
    own = "alice-own-ubiops-token-0123456789"
    headers = {"Authorization": f"Bearer {setup.token('alice')}", "X-UbiOps-Token": own}
    async with mcp_client(setup.server.url, headers) as client:
        created = await client.call_tool("services_create", {"data": SERVICE | {"name": "own-token"}})
        assert not created.is_error, created.structured_content
    [line] = [x for x in setup.audit() if x.get("service") == "own-token"]
    assert (line["sub"], line["http_client_id"]) == ("alice", "alice")
    assert line["ubiops_token"] == fingerprint(SecretStr(own))
    assert own not in json.dumps(line)
