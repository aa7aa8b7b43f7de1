"""Hardening: protective settings that cannot be switched off by an empty value, HTTP sessions bound to their
caller and bounded in number, and the standalone sandbox behind the same Host/Origin checks as /mcp.

Every server here is spawned on 127.0.0.1 and stopped by its pid; load loops are bounded.
"""

from __future__ import annotations

import gc
import json
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from pydantic import SecretStr

from tests.conftest import free_port
from tests.security.process import SCRIPT, Spawned, base_env, listening_addresses, serving, stop
from tests.security.test_http import INITIALIZE, MCP_HEADERS, mcp_client
from ubiops_services_mcp.cli import build_parser, main, settings_from
from ubiops_services_mcp.hosting import serve
from ubiops_services_mcp.hosting.http_auth import BearerGuard
from ubiops_services_mcp.options import OPTIONS, from_env
from ubiops_services_mcp.settings import Settings, SettingsError

pytestmark = pytest.mark.anyio

STRONG = "k9-" + "x" * 29  # 32 characters
ALICE = {"X-UbiOps-Token": "alice-token-9fK2mQ"}
BOB = {"X-UbiOps-Token": "bob-token-4Lx7pZ"}
PROTOCOL = {"mcp-protocol-version": "2025-11-25"}
PING = {"jsonrpc": "2.0", "id": 7, "method": "ping"}
ELICIT_ANSWER = {"jsonrpc": "2.0", "id": 0, "result": {"action": "accept", "content": {"confirm": True}}}


# ------------------------------------------------------------------------------- 1. empty protective values


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> list[Settings]:
    """A clean environment, and serve.run replaced by a recorder: main() never listens, whatever it is given."""
    for option in OPTIONS:
        monkeypatch.delenv(option.env, raising=False)
    calls: list[Settings] = []

    def record(settings: Settings) -> int:
        calls.append(settings)
        return 0

    monkeypatch.setattr(serve, "run", record)
    monkeypatch.setattr(gc, "freeze", lambda: None)  # main() freezes the heap it imported: not this test process's
    return calls


@pytest.mark.parametrize(
    ("argv", "names"),
    [
        (["--transport", "http", "--host", "0.0.0.0", "--auth-token", ""], "--auth-token"),
        (["--auth-token", "short-bearer-Zq81"], "--auth-token"),
        (["--auth-token", "x" * 31], "--auth-token"),
        (["--auth-token", " " * 40], "--auth-token"),
        (["--secret", ""], "--secret"),
        (["--secret", "hmac-key-Wp4"], "--secret"),
        (["--audit-log", ""], "--audit-log"),
        (["--audit-log", "  "], "--audit-log"),
        (["sandbox", "--secret", ""], "--secret"),
        (["check", "--audit-log", ""], "--audit-log"),
    ],
)
def test_an_empty_or_short_protective_flag_is_refused(
    started: list[Settings], capsys: pytest.CaptureFixture[str], argv: list[str], names: str
) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert names in err
    assert "short-bearer-Zq81" not in err
    assert "hmac-key-Wp4" not in err
    assert started == []


@pytest.mark.parametrize(
    ("env", "argv"),
    [
        ({"UBIOPS_MCP_AUTH_TOKEN": ""}, ["--transport", "http", "--host", "0.0.0.0"]),
        ({"UBIOPS_MCP_AUTH_TOKEN": "short-bearer-Zq81"}, []),
        ({"UBIOPS_MCP_SECRET": ""}, []),
        ({"UBIOPS_MCP_SECRET": "hmac-key-Wp4"}, []),
        ({"UBIOPS_MCP_AUDIT_LOG": ""}, []),
    ],
)
def test_an_empty_or_short_protective_variable_is_refused(
    started: list[Settings],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    env: dict[str, str],
    argv: list[str],
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert next(iter(env)) in err
    assert "short-bearer-Zq81" not in err
    assert "hmac-key-Wp4" not in err
    assert started == []


def test_strong_values_start_and_other_empty_variables_still_mean_unset(
    started: list[Settings], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("UBIOPS_PROJECT", "")
    monkeypatch.setenv("UBIOPS_MCP_SECRET", STRONG)
    assert main(["--auth-token", STRONG[::-1]]) == 0
    (settings,) = started
    assert settings.project is None
    assert settings.secret.get_secret_value() == STRONG
    assert settings.auth_token is not None
    assert settings.auth_token.get_secret_value() == STRONG[::-1]


@pytest.mark.parametrize("token", ["", "short-bearer-Zq81"])
def test_serve_run_refuses_a_weak_auth_token_built_in_code(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], token: str
) -> None:
    served: list[Settings] = []

    async def fake_serve(settings: Settings, server: Any) -> None:
        served.append(settings)

    monkeypatch.setattr(serve, "_serve_http", fake_serve)
    settings = Settings(transport="http", sandbox=True, sandbox_db=":memory:", auth_token=SecretStr(token))
    assert serve.run(settings) == 2
    assert "UBIOPS_MCP_AUTH_TOKEN" in capsys.readouterr().err
    assert served == []


def test_the_bearer_guard_refuses_a_weak_token() -> None:
    with pytest.raises(ValueError, match="32"):
        BearerGuard(object(), "")


def started_or_refused(args: list[str], env: dict[str, str], port: int, timeout: float = 30) -> tuple[int | None, int]:
    """Spawn the server; its exit code if it refuses to start, and the status an empty bearer gets if it serves."""
    process = subprocess.Popen([str(SCRIPT), *args], env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and process.poll() is None:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                time.sleep(0.05)
        if process.poll() is not None:
            return process.returncode, 0
        return None, raw_post(port, b"Authorization: Bearer \r\n")
    finally:
        stop(process)


def raw_post(port: int, header: bytes) -> int:
    """POST an initialize with `header` sent byte for byte (httpx refuses a value with a trailing space)."""
    body = json.dumps(INITIALIZE).encode()
    head = b"".join(f"{k}: {v}\r\n".encode() for k, v in MCP_HEADERS.items())
    request = (b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\nContent-Length: %d\r\n"
               % (port, len(body))) + head + header + b"\r\n" + body  # fmt: skip
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        status_line = sock.makefile("rb").readline()
    return int(status_line.split()[1])


@pytest.mark.slow
@pytest.mark.parametrize("how", ["flag", "variable"])
def test_an_empty_auth_token_never_lets_an_empty_bearer_in(tmp_path: Path, how: str) -> None:
    port = free_port()
    args = ["--transport", "http", "--port", str(port)]
    env = base_env(tmp_path)
    if how == "flag":
        args += ["--auth-token", ""]
    else:
        env["UBIOPS_MCP_AUTH_TOKEN"] = ""
    exit_code, empty_bearer_status = started_or_refused(args, env, port)
    assert (exit_code, empty_bearer_status) == (2, 0)
    assert listening_addresses(port) == set()


# ------------------------------------------------------------------------------- 2. and 4. the new settings


def test_the_new_settings_by_flag_and_by_variable() -> None:
    assert (Settings().require_human, Settings().max_sessions, Settings().session_idle_timeout_s) == (False, 1000, 600)
    flags = ["--require-human", "--max-sessions", "20", "--session-idle-timeout", "1.5"]
    by_flag = settings_from(build_parser().parse_args(flags), {})
    env = {"UBIOPS_MCP_REQUIRE_HUMAN": "1", "UBIOPS_MCP_MAX_SESSIONS": "20", "UBIOPS_MCP_SESSION_IDLE_TIMEOUT": "1.5"}
    for settings in (by_flag, from_env(env)):
        assert (settings.require_human, settings.max_sessions, settings.session_idle_timeout_s) == (True, 20, 1.5)


@pytest.mark.parametrize(
    ("env", "says"),
    [
        ({"UBIOPS_MCP_MAX_SESSIONS": "0"}, "UBIOPS_MCP_MAX_SESSIONS must be greater than 0"),
        ({"UBIOPS_MCP_MAX_SESSIONS": "lots"}, "UBIOPS_MCP_MAX_SESSIONS must be a number"),
        ({"UBIOPS_MCP_SESSION_IDLE_TIMEOUT": "inf"}, "UBIOPS_MCP_SESSION_IDLE_TIMEOUT must be a finite number"),
        ({"UBIOPS_MCP_SESSION_IDLE_TIMEOUT": "nan"}, "UBIOPS_MCP_SESSION_IDLE_TIMEOUT must be a finite number"),
        ({"UBIOPS_MCP_REQUIRE_HUMAN": "perhaps"}, "UBIOPS_MCP_REQUIRE_HUMAN must be"),
    ],
)
def test_bad_session_limits_are_refused(env: dict[str, str], says: str) -> None:
    with pytest.raises(SettingsError, match=says):
        from_env(env)


# ------------------------------------------------------------------------------- 3. sessions bound to callers


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Spawned]:
    tmp = tmp_path_factory.mktemp("hardening")
    port = free_port()
    args = ["--transport", "http", "--port", str(port), "--max-sessions", "20", "--session-idle-timeout", "60"]
    with serving(args, base_env(tmp), port, tmp / "server.stderr") as server:
        yield server


async def post(http: httpx.AsyncClient, url: str, body: Any, headers: dict[str, str]) -> httpx.Response:
    return await http.post(url, content=json.dumps(body).encode(), headers=MCP_HEADERS | headers)


async def open_session(http: httpx.AsyncClient, url: str, headers: dict[str, str]) -> str:
    """A raw initialize handshake; the new session's id."""
    response = await post(http, url, INITIALIZE, headers)
    assert response.status_code == 200, response.text
    session = response.headers["mcp-session-id"]
    initialized = {"jsonrpc": "2.0", "method": "notifications/initialized"}
    done = await post(http, url, initialized, headers | PROTOCOL | {"mcp-session-id": session})
    assert done.status_code == 202
    return session


async def on_session(
    http: httpx.AsyncClient, url: str, session: str, headers: dict[str, str], body: Any = PING
) -> httpx.Response:
    return await post(http, url, body, headers | PROTOCOL | {"mcp-session-id": session})


@pytest.mark.slow
async def test_another_caller_cannot_use_a_session(plain: Spawned) -> None:
    async with httpx.AsyncClient(timeout=10) as http:
        session = await open_session(http, plain.url, ALICE)
        for intruder in (BOB, {}):
            assert (await on_session(http, plain.url, session, intruder)).status_code == 404
            assert (await on_session(http, plain.url, session, intruder, ELICIT_ANSWER)).status_code == 404
            gone = await http.delete(plain.url, headers=intruder | PROTOCOL | {"mcp-session-id": session})
            assert gone.status_code == 404
        assert (await on_session(http, plain.url, session, ALICE)).status_code == 200


@pytest.mark.slow
async def test_a_session_without_a_caller_token_is_not_open_to_one(plain: Spawned) -> None:
    async with httpx.AsyncClient(timeout=10) as http:
        session = await open_session(http, plain.url, {})
        assert (await on_session(http, plain.url, session, BOB)).status_code == 404
        assert (await on_session(http, plain.url, session, {})).status_code == 200


# ------------------------------------------------------------------------------- 4. sessions are bounded


async def alive(http: httpx.AsyncClient, url: str, sessions: list[str]) -> int:
    statuses = [(await on_session(http, url, s, {})).status_code for s in sessions]
    assert set(statuses) <= {200, 404}
    return statuses.count(200)


@pytest.mark.slow
async def test_a_flood_of_sessions_cannot_lock_out_a_new_client(plain: Spawned) -> None:
    sessions: list[str] = []
    async with httpx.AsyncClient(timeout=10) as http:

        async def opener(count: int) -> None:
            for _ in range(count):
                sessions.append(await open_session(http, plain.url, {}))

        async with anyio.create_task_group() as group:
            for _ in range(4):
                group.start_soon(opener, 50)
        assert len(sessions) == 200
        async with mcp_client(plain.url, mode="legacy") as client:
            assert not (await client.call_tool("services_list", {})).is_error
        assert await alive(http, plain.url, sessions) <= 20
        assert await alive(http, plain.url, sessions[-10:]) == 10  # the newest survive; the oldest idle went first


@pytest.fixture
def five(tmp_path: Path) -> Iterator[Spawned]:
    port = free_port()
    args = ["--transport", "http", "--port", str(port), "--max-sessions", "5"]
    with serving(args, base_env(tmp_path), port, tmp_path / "server.stderr") as server:
        yield server


@pytest.mark.slow
async def test_a_busy_session_is_never_closed_to_make_room(five: Spawned) -> None:
    async with httpx.AsyncClient(timeout=10) as http:
        sessions = [await open_session(http, five.url, {}) for _ in range(5)]
        stream_headers = {"Accept": "text/event-stream", "mcp-session-id": sessions[0]} | PROTOCOL
        async with http.stream("GET", five.url, headers=stream_headers) as stream:  # the oldest, but busy
            assert stream.status_code == 200
            newer = await open_session(http, five.url, {})
            assert [(await on_session(http, five.url, s, {})).status_code for s in sessions[1:3]] == [404, 200]
        assert (await on_session(http, five.url, sessions[0], {})).status_code == 200
        assert (await on_session(http, five.url, newer, {})).status_code == 200


@pytest.mark.slow
async def test_a_refused_request_closes_no_session(five: Spawned) -> None:
    async with httpx.AsyncClient(timeout=10) as http:
        sessions = [await open_session(http, five.url, {}) for _ in range(5)]
        for headers, status in (({"Origin": "http://evil.example"}, 403), ({"Content-Type": "text/plain"}, 400)):
            for _ in range(3):
                assert (await post(http, five.url, INITIALIZE, headers)).status_code in (status, 503)
        modern = {"mcp-protocol-version": "2026-07-28"}
        for _ in range(3):
            await post(http, five.url, {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}, modern)
        assert await alive(http, five.url, sessions) == 5


@pytest.mark.slow
async def test_idle_sessions_expire(tmp_path: Path) -> None:
    port = free_port()
    args = ["--transport", "http", "--port", str(port), "--session-idle-timeout", "1"]
    with serving(args, base_env(tmp_path), port, tmp_path / "server.stderr") as server:
        async with httpx.AsyncClient(timeout=10) as http:
            sessions = [await open_session(http, server.url, {}) for _ in range(5)]
            assert await alive(http, server.url, sessions) == 5
            await anyio.sleep(2.5)
            assert await alive(http, server.url, sessions) == 0


# ------------------------------------------------------------------------------- 5. the standalone sandbox


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Spawned]:
    tmp = tmp_path_factory.mktemp("sandbox")
    port = free_port()
    with serving(["sandbox", "--port", str(port)], base_env(tmp), port, tmp / "sandbox.stderr") as server:
        yield server


def create(server: Spawned, name: str, **headers: str) -> httpx.Response:
    url = f"http://127.0.0.1:{server.port}/v2.1/projects/demo/services"
    body = {"name": name, "deployment": "hello-world", "port": 8080}
    return httpx.post(url, json=body, headers={"Authorization": "Token anything"} | headers, timeout=10)


def names(server: Spawned) -> set[str]:
    url = f"http://127.0.0.1:{server.port}/v2.1/projects/demo/services"
    listed = httpx.get(url, headers={"Authorization": "Token anything"}, timeout=10)
    assert listed.status_code == 200
    return {service["name"] for service in listed.json()}


@pytest.mark.slow
@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"Host": "evil.example"}, 421),
        ({"Host": "evil.example:80"}, 421),
        ({"Host": "127.0.0.1.evil.example"}, 421),
        ({"Origin": "http://evil.example"}, 403),
        ({"Origin": "null"}, 403),
    ],
)
def test_the_sandbox_refuses_a_foreign_host_or_origin(sandbox: Spawned, headers: dict[str, str], status: int) -> None:
    refused = create(sandbox, "rebound", **headers)
    assert refused.status_code == status
    assert "rebound" not in names(sandbox)
    assert httpx.get(f"http://127.0.0.1:{sandbox.port}/v2.1/status", headers=headers, timeout=10).status_code == status


@pytest.mark.slow
@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_the_sandbox_serves_its_own_host_and_origin(sandbox: Spawned, host: str) -> None:
    own, name = f"{host}:{sandbox.port}", f"own-{host.replace('.', '-')}"
    assert create(sandbox, name, Host=own, Origin=f"http://{own}").status_code == 201
    assert name in names(sandbox)
