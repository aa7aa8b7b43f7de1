"""The OAuth gate on its own: 401 challenges, 403 scope refusals (audited), metadata, and who the inner app sees."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.hosting.oauth.issuer import ISSUER, RESOURCE, FakeIssuer
from ubiops_services_mcp.api.auth import current_caller_key
from ubiops_services_mcp.audit import AuditLog
from ubiops_services_mcp.hosting.http_auth import CallerContext
from ubiops_services_mcp.hosting.oauth.config import OAuthConfig, check_oauth
from ubiops_services_mcp.hosting.oauth.gate import OAuthGate, mutating_calls
from ubiops_services_mcp.hosting.oauth.keys import IssuerKeys
from ubiops_services_mcp.hosting.oauth.verifier import JwtVerifier
from ubiops_services_mcp.settings import Settings

pytestmark = pytest.mark.anyio

METADATA = "https://mcp.test/.well-known/oauth-protected-resource/mcp"


def tool_call(name: str, arguments: dict[str, Any], id_: int = 1) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": id_, "method": "tools/call", "params": {"name": name, "arguments": arguments}}


CREATE = tool_call("services_create", {"project_name": "demo", "data": {"name": "web", "deployment": "hello-world"}})
LIST = tool_call("services_list", {}, 2)


class Inner:
    """Records the body, user and caller key each request reaches it with."""

    def __init__(self) -> None:
        self.seen: list[tuple[bytes, str, str]] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        self.seen.append((body, getattr(scope.get("user"), "username", ""), current_caller_key()))
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"inner"})


@pytest.fixture
def issuer() -> FakeIssuer:
    fake = FakeIssuer()
    fake.rotate("k1")
    return fake


@pytest.fixture
def inner() -> Inner:
    return Inner()


@pytest.fixture
async def http(issuer: FakeIssuer, inner: Inner, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    config = OAuthConfig(ISSUER, RESOURCE, "ubiops:read", "ubiops:write")
    verifier = JwtVerifier(IssuerKeys(ISSUER, transport=issuer.transport()), RESOURCE, "ubiops:read", "ubiops:write")
    settings = Settings(oauth_issuer=ISSUER, resource_url=RESOURCE, audit_log=tmp_path / "audit.jsonl")
    gate = OAuthGate(inner, config, verifier, AuditLog(settings.audit_log_path), settings)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=gate), base_url="https://mcp.test") as client:
        yield client


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_no_token_is_challenged_without_an_error_code(http: httpx.AsyncClient, inner: Inner) -> None:
    answer = await http.post("/mcp", json=LIST)
    assert answer.status_code == 401
    assert answer.headers["www-authenticate"] == f'Bearer resource_metadata="{METADATA}", scope="ubiops:read"'
    assert inner.seen == []


@pytest.mark.parametrize("value", ["Bearer nonsense", "Basic YTpi", "Bearer "])
async def test_an_invalid_token_is_401_invalid_token(http: httpx.AsyncClient, value: str) -> None:
    answer = await http.post("/mcp", json=LIST, headers={"Authorization": value})
    assert answer.status_code == 401
    assert answer.headers["www-authenticate"].startswith('Bearer error="invalid_token"')
    assert f'resource_metadata="{METADATA}"' in answer.headers["www-authenticate"]


async def test_two_authorization_headers_are_refused(http: httpx.AsyncClient, issuer: FakeIssuer) -> None:
    token = issuer.token()
    headers = [("Authorization", f"Bearer {token}"), ("Authorization", f"Bearer {token}")]
    assert (await http.post("/mcp", json=LIST, headers=headers)).status_code == 401


async def test_the_metadata_is_public_at_both_well_known_paths(http: httpx.AsyncClient) -> None:
    for path in ("/.well-known/oauth-protected-resource/mcp", "/.well-known/oauth-protected-resource"):
        metadata = (await http.get(path)).json()
        assert metadata["resource"] == RESOURCE
        assert metadata["authorization_servers"] == [ISSUER]
        assert metadata["scopes_supported"] == ["ubiops:read", "ubiops:write"]
        assert metadata["bearer_methods_supported"] == ["header"]


async def test_other_paths_pass_untouched(http: httpx.AsyncClient, inner: Inner) -> None:
    assert (await http.get("/healthz")).status_code == 200
    assert inner.seen == [(b"", "", "")]


async def test_reads_pass_with_the_body_intact_and_the_person_known(
    http: httpx.AsyncClient, issuer: FakeIssuer, inner: Inner
) -> None:
    answer = await http.post("/mcp", json=LIST, headers=bearer(issuer.token()))
    assert answer.status_code == 200
    body, user, key = inner.seen[0]
    assert json.loads(body) == LIST
    assert user == "app"
    assert key != ""
    await http.post("/mcp", json=LIST, headers=bearer(issuer.token(sub="bob")))
    assert inner.seen[1][2] not in ("", key)  # another person, another key


async def test_a_token_without_the_read_scope_is_403(http: httpx.AsyncClient, issuer: FakeIssuer) -> None:
    answer = await http.post("/mcp", json=LIST, headers=bearer(issuer.token(scope="other")))
    assert answer.status_code == 403
    challenge = answer.headers["www-authenticate"]
    assert challenge.startswith('Bearer error="insufficient_scope", scope="ubiops:read"')


@pytest.mark.parametrize("body", [CREATE, [LIST, CREATE]], ids=["call", "batch"])
async def test_a_mutating_call_without_write_scope_is_403_and_audited(
    http: httpx.AsyncClient, issuer: FakeIssuer, inner: Inner, tmp_path: Path, body: Any
) -> None:
    answer = await http.post("/mcp", json=body, headers=bearer(issuer.token()))
    assert answer.status_code == 403
    assert 'error="insufficient_scope", scope="ubiops:read ubiops:write"' in answer.headers["www-authenticate"]
    assert answer.json()["error"] == "insufficient_scope"
    assert inner.seen == []
    [line] = [json.loads(x) for x in (tmp_path / "audit.jsonl").read_text().splitlines()]
    assert line["tool"] == "services_create"
    assert (line["project"], line["service"]) == ("demo", "web")
    assert (line["outcome"], line["error_code"]) == ("refused", "insufficient_scope")
    assert (line["sub"], line["email"], line["http_client_id"]) == ("alice", "alice@example.test", "app")


async def test_the_write_scope_allows_mutating_calls(http: httpx.AsyncClient, issuer: FakeIssuer, inner: Inner) -> None:
    answer = await http.post("/mcp", json=CREATE, headers=bearer(issuer.token(scope="ubiops:write")))
    assert answer.status_code == 200
    assert json.loads(inner.seen[0][0]) == CREATE


async def test_a_body_that_is_not_json_is_400_without_write_scope(http: httpx.AsyncClient, issuer: FakeIssuer) -> None:
    answer = await http.post("/mcp", content=b"{not json", headers=bearer(issuer.token()))
    assert answer.status_code == 400


async def test_an_unreachable_issuer_is_503(http: httpx.AsyncClient, issuer: FakeIssuer) -> None:
    issuer.down = True
    assert (await http.post("/mcp", json=LIST, headers=bearer(issuer.token()))).status_code == 503


def test_mutating_calls_reads_names_through_escapes() -> None:
    escaped = b'{"method":"tools/call","params":{"name":"services\\u005fdelete"}}'
    assert mutating_calls(escaped) == [("services_delete", {})]
    assert mutating_calls(b'{"method":"tools/list"}') == []
    assert mutating_calls(b"\xff") is None


@pytest.mark.parametrize(
    ("values", "says"),
    [
        ({"oauth_issuer": ISSUER}, "go together"),
        ({"resource_url": RESOURCE}, "go together"),
        ({"oauth_issuer": ISSUER, "resource_url": RESOURCE, "auth_token": "x" * 40}, "exclusive"),
        ({"read_scope": "same", "write_scope": "same"}, "must differ"),
    ],
)
def test_settings_that_cannot_go_together_are_refused(values: dict[str, Any], says: str) -> None:
    from pydantic import SecretStr

    if "auth_token" in values:
        values["auth_token"] = SecretStr(values["auth_token"])
    problem = check_oauth(Settings(**values))
    assert problem is not None
    assert says in problem
    assert check_oauth(Settings(oauth_issuer=ISSUER, resource_url=RESOURCE)) is None


async def test_an_own_ubiops_token_keeps_the_oauth_user_and_changes_the_key(issuer: FakeIssuer, tmp_path: Path) -> None:
    inner = Inner()
    config = OAuthConfig(ISSUER, RESOURCE, "ubiops:read", "ubiops:write")
    verifier = JwtVerifier(IssuerKeys(ISSUER, transport=issuer.transport()), RESOURCE, "ubiops:read", "ubiops:write")
    settings = Settings(oauth_issuer=ISSUER, resource_url=RESOURCE, audit_log=tmp_path / "audit.jsonl")
    gate = OAuthGate(CallerContext(inner), config, verifier, AuditLog(settings.audit_log_path), settings)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=gate), base_url="https://mcp.test") as http:
        for extra in ({}, {"X-UbiOps-Token": "alice-own-ubiops-token"}):
            answer = await http.post("/mcp", json=LIST, headers=bearer(issuer.token()) | extra)
            assert answer.status_code == 200
    [(_, user, plain), (_, same_user, with_token)] = inner.seen
    assert user == same_user == "app"
    assert plain not in ("", with_token)


async def test_a_body_past_one_mebibyte_is_413_without_write_scope(http: httpx.AsyncClient, issuer: FakeIssuer) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(17):
            yield b" " * 65536

    answer = await http.post("/mcp", content=chunks(), headers=bearer(issuer.token()))
    assert answer.status_code == 413


async def test_gets_and_deletes_pass_without_reading_a_body(
    http: httpx.AsyncClient, issuer: FakeIssuer, inner: Inner
) -> None:
    assert (await http.get("/mcp", headers=bearer(issuer.token()))).status_code == 200
    assert (await http.delete("/mcp", headers=bearer(issuer.token()))).status_code == 200
    assert len(inner.seen) == 2


def delete_call(id_: int, arguments: dict[str, Any]) -> dict[str, Any]:
    return tool_call("services_delete", arguments, id_)


FORGED = {"outcome": "applied", "approved_by": "human", "sub": "alice"}


@pytest.mark.parametrize("size", [20, 2000])
async def test_a_refused_batch_costs_one_bounded_audit_line(
    http: httpx.AsyncClient, issuer: FakeIssuer, tmp_path: Path, size: int
) -> None:
    """Issue 18 item 1: a read-only caller's batch of deletes wrote a line per item, with the caller's objects."""
    calls = [delete_call(i, {"project_name": "demo", "service_name": FORGED, "confirm": True}) for i in range(size)]
    calls.append(tool_call("services_update", {"project_name": {"x": "y" * 500}, "service_name": "web"}, size))
    answer = await http.post("/mcp", json=calls, headers=bearer(issuer.token()))
    assert answer.status_code == 403
    text = (tmp_path / "audit.jsonl").read_text()
    [line] = [json.loads(x) for x in text.splitlines()]
    assert len(text) < 1000  # the same for 20 calls as for 2,000
    assert (line["tool"], line["calls"], line["tools"]) == (
        "services_delete",
        size + 1,
        "services_delete,services_update",
    )
    assert (line["project"], line["service"], line["outcome"]) == ("demo", None, "refused")
    assert '"applied"' not in text


async def test_names_that_break_the_name_rule_are_not_audited(
    http: httpx.AsyncClient, issuer: FakeIssuer, tmp_path: Path
) -> None:
    arguments = {"project_name": "p" * 65, "data": {"name": ["web"]}}
    answer = await http.post("/mcp", json=tool_call("services_create", arguments), headers=bearer(issuer.token()))
    assert answer.status_code == 403
    [line] = [json.loads(x) for x in (tmp_path / "audit.jsonl").read_text().splitlines()]
    assert (line["project"], line["service"], line["calls"]) == (None, None, 1)


async def test_a_deeply_nested_body_is_400_not_a_crash(
    http: httpx.AsyncClient, issuer: FakeIssuer, inner: Inner, caplog: pytest.LogCaptureFixture
) -> None:
    """Issue 18 item 6: json.loads raised RecursionError, which the gate did not catch (500 and a traceback)."""
    body = b"[" * 100_000 + b"]" * 100_000
    answer = await http.post("/mcp", content=body, headers=bearer(issuer.token()))
    assert (answer.status_code, answer.json()) == (400, {"error": "the body is not JSON"})
    assert inner.seen == []
    assert "Traceback" not in caplog.text


@pytest.mark.parametrize(("past", "status"), [(20, 200), (45, 401)])
async def test_thirty_seconds_of_clock_skew_are_allowed(
    http: httpx.AsyncClient, issuer: FakeIssuer, past: int, status: int
) -> None:
    """Issue 18 item 9: the README said 30 s of skew, but the SDK checked `exp` again without any."""
    token = issuer.token(exp=int(time.time()) - past)
    assert (await http.post("/mcp", json=LIST, headers=bearer(token))).status_code == status
