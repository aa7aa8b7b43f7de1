"""One hosted server, several users, each with their own UbiOps token in `X-UbiOps-Token`: no cross-talk.

The server process runs against a fake API that records the Authorization header of every request. Users
call at the same time, interleaved, on their own projects; every request must carry its own caller's token,
and a caller without the header gets the server's configured token.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import anyio
import httpx
import pytest

from tests.conftest import free_port
from tests.faults.fake_api import FakeApi
from tests.security.process import Spawned, base_env, serving
from tests.security.test_http import INITIALIZE, MCP_HEADERS, mcp_client
from ubiops_services_mcp.identity import fingerprint

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

OPERATOR = "operator-token-Zr81QmWv"
USERS = {"alice": "alice-token-9fK2mQ", "bob": "bob-token-4Lx7pZ", "operator": None}
CALLS = 8


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeApi]:
    api = FakeApi().start()
    for user in USERS:
        api.add_service(user, "svc")
    yield api
    api.stop()


@pytest.fixture(scope="module", params=["stateful", "stateless"])
def hosted(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, fake: FakeApi
) -> Iterator[Spawned]:
    """The server against the fake API with an operator token configured, with and without sessions."""
    tmp = tmp_path_factory.mktemp("hosted")
    port = free_port()
    env = base_env(tmp, UBIOPS_API_TOKEN=OPERATOR, UBIOPS_API_HOST=fake.url, UBIOPS_MCP_CONFIRMATION="flag")
    args = ["--transport", "http", "--port", str(port)] + (["--stateless"] if request.param == "stateless" else [])
    with serving(args, env, port, tmp / "server.stderr") as server:
        yield server


def expected_authorization(user: str) -> str:
    token = USERS[user]
    return f"Token {token if token is not None else OPERATOR}"


async def test_each_caller_uses_only_their_own_token(hosted: Spawned, fake: FakeApi) -> None:
    fake.requests.clear()

    async def user_session(user: str) -> None:
        token = USERS[user]
        headers = {} if token is None else {"X-UbiOps-Token": token}
        async with mcp_client(hosted.url, headers) as client:
            for n in range(CALLS):
                result = await client.call_tool("services_get", {"project_name": user, "service_name": "svc"})
                assert not result.is_error, result.structured_content
                if n == CALLS // 2:
                    data = {"name": f"made-by-{user}-{hosted.port}", "deployment": "hello-world", "port": 8080}
                    created = await client.call_tool("services_create", {"project_name": user, "data": data})
                    assert not created.is_error, created.structured_content

    async with anyio.create_task_group() as group:
        for user in USERS:
            group.start_soon(user_session, user)

    by_project: dict[str, set[str]] = {}
    for request in fake.requests:
        project = request.path.split("/")[3]
        by_project.setdefault(project, set()).add(request.headers.get("authorization", ""))
    assert by_project == {user: {expected_authorization(user)} for user in USERS}
    service_requests = [r for r in fake.requests if r.path.split("/")[4] != "deployments"]  # deployment reads inform
    assert len(service_requests) == len(USERS) * (CALLS + 1)


async def test_audit_names_the_caller_by_fingerprint_never_by_token(hosted: Spawned, fake: FakeApi) -> None:
    audit = anyio.Path(hosted.stderr_path.parent / "audit.jsonl")
    async with mcp_client(hosted.url, {"X-UbiOps-Token": USERS["alice"]}) as client:
        data = {"name": f"audited-{hosted.port}", "deployment": "hello-world", "port": 8080}
        result = await client.call_tool("services_create", {"project_name": "alice", "data": data})
    assert not result.is_error
    text = await audit.read_text()
    lines = [json.loads(line) for line in text.splitlines()]
    mine = [line for line in lines if line.get("service") == f"audited-{hosted.port}"]
    assert [line["http_client_id"] for line in mine] == [fingerprint_of("alice")]
    for token in (*[t for t in USERS.values() if t], OPERATOR):
        assert token not in text
        assert token not in hosted.stderr


def fingerprint_of(user: str) -> str:
    from pydantic import SecretStr

    token = USERS[user]
    assert token is not None
    return fingerprint(SecretStr(token))


@pytest.mark.parametrize(
    "headers",
    [
        [("X-UbiOps-Token", "")],
        [("X-UbiOps-Token", "a\tb")],
        [("X-UbiOps-Token", "x" * 1001)],
        [("X-UbiOps-Token", "one"), ("X-UbiOps-Token", "two")],
    ],
)
async def test_a_malformed_or_repeated_caller_token_is_refused(hosted: Spawned, headers: list[tuple[str, str]]) -> None:
    async with httpx.AsyncClient(timeout=10) as http:
        response = await http.post(
            hosted.url, content=json.dumps(INITIALIZE).encode(), headers=[*MCP_HEADERS.items(), *headers]
        )
    assert response.status_code == 400
    for _, value in headers:
        if value:
            assert value not in response.text
