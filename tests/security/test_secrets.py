"""The UbiOps token never appears in anything the server produces, whatever happens.

A representative mix of calls (successes, every error kind, network faults, validation errors, the HTTP
transport, stdio, `check`) runs with a recognisable token; then every output is scanned for it: tool
results (text and structured), logs at DEBUG, the audit log, ApiError str/repr, Settings repr, and the
stderr of spawned `ubiops-services-mcp` processes. The API is also made to echo the token back in its
error messages, as a misbehaving proxy might: the echo must be redacted before it reaches the model.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.types import CallToolResult
from pydantic import SecretStr

from tests.conftest import TOKEN, RecordingTransport, free_port, scripted
from tests.faults.conftest import fault_settings
from tests.faults.fake_api import Drop, FakeApi, Huge, Truncate, json_reply
from tests.security.process import SCRIPT, base_env, run, serving
from tests.security.test_http import mcp_client
from ubiops_services_mcp.api import errors
from ubiops_services_mcp.api.auth import TokenAuth
from ubiops_services_mcp.api.client import build_http_client
from ubiops_services_mcp.app import create_server
from ubiops_services_mcp.options import from_env
from ubiops_services_mcp.settings import Settings

pytestmark = pytest.mark.anyio

MARKS = (TOKEN, TOKEN.split("-")[-1])  # the whole token, and its most distinctive part
BEARER = "mcp-bearer-Secret-33c1d2-Vb7Lq0Xe9Tn4"
ECHO = f"Invalid token 'Token {TOKEN}' (sent as {TOKEN})"
SERVICE = {"name": "svc", "deployment": "hello-world", "port": 8080}


def assert_clean(sources: dict[str, str]) -> None:
    leaks = [name for name, text in sources.items() for mark in (*MARKS, BEARER) if mark in text]
    assert leaks == [], f"the token leaked into: {leaks}"


def result_text(results: list[CallToolResult]) -> str:
    parts: list[str] = []
    for result in results:
        parts += [getattr(c, "text", "") for c in result.content]
        parts.append(json.dumps(result.structured_content))
    return "\n".join(parts)


@pytest.fixture
def fake() -> Iterator[FakeApi]:
    api = FakeApi().start()
    api.add_service("demo", "svc")
    yield api
    api.stop()


def echoing(status: int) -> Callable[[httpx.Request], httpx.Response]:
    """An API that puts the caller's Authorization into its error message and request id."""

    def handler(request: httpx.Request) -> httpx.Response:
        sent = request.headers["authorization"]
        body = {"error": f"{ECHO} / {sent}", "error_message": sent}
        return httpx.Response(status, json=body, headers={"x-request-id": sent})

    return handler


def raising(exc: type[httpx.TransportError]) -> Callable[[httpx.Request], httpx.Response]:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc(f"failed with {request.headers['authorization']}", request=request)

    return handler


def huge(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, content=b"x" * (9 * 1024 * 1024), headers={"content-type": "application/json"})


async def run_calls(
    settings: Settings, transport: httpx.AsyncBaseTransport | None, few: bool = False
) -> list[CallToolResult]:
    """Every tool, with good and bad arguments, through one session (`few`: a create and a get)."""
    results: list[CallToolResult] = []
    server = create_server(settings, transport)
    for name in ("httpx", "httpcore", "mcp", "ubiops_services_mcp"):
        logging.getLogger(name).setLevel(logging.DEBUG)
    async with Client(server, mode="legacy") as client:
        calls: list[tuple[str, dict[str, Any]]] = [
            ("services_create", {"data": SERVICE}),
            ("services_get", {"service_name": "svc"}),
            ("services_list", {"labels": "a:b"}),
            ("services_status", {"service_name": "svc"}),
            ("services_update", {"service_name": "svc", "data": {"port": 9090}}),
            ("services_delete", {"service_name": "svc"}),
            ("services_get", {"service_name": ""}),
            ("services_create", {"data": {**SERVICE, "port": "x"}}),
            ("services_update", {"service_name": "svc", "data": {"port": 1}, "confirm": True,
                                 "confirmation_token": "forged"}),
        ]  # fmt: skip
        for tool, arguments in calls[:2] if few else calls:
            results.append(await client.call_tool(tool, arguments))
        preview = (results[4].structured_content or {}) if len(results) > 4 else {}
        if preview.get("confirmation_token"):
            confirm = {"confirm": True, "confirmation_token": preview["confirmation_token"]}
            results.append(
                await client.call_tool("services_update", {"service_name": "svc", "data": {"port": 9090}, **confirm})
            )
    return results


def in_process_transports(wire: RecordingTransport) -> dict[str, httpx.AsyncBaseTransport]:
    transports: dict[str, httpx.AsyncBaseTransport] = {"sandbox": wire}
    for status in (400, 401, 403, 404, 409, 422, 429, 500, 502, 503):
        transports[f"echo-{status}"] = scripted(echoing(status))
    for exc in (httpx.ConnectError, httpx.ReadTimeout, httpx.RemoteProtocolError):
        transports[exc.__name__] = scripted(raising(exc))
    transports["too-large"] = scripted(huge)
    return transports


async def test_no_token_in_results_logs_audit_or_errors(
    settings: Settings, wire: RecordingTransport, tmp_path: Path, caplog: pytest.LogCaptureFixture, fake: FakeApi
) -> None:
    caplog.set_level(logging.DEBUG)
    fast = fault_settings(fake.url, settings.audit_log_path)
    quick = Settings(**{**vars(settings), "max_attempts": 1, "confirmation": "preview"})  # retries: the fake below
    sources: dict[str, str] = {}
    for name, transport in in_process_transports(wire).items():
        results = await run_calls(quick, transport)
        sources[f"results/{name}"] = result_text(results)
    assert any(r"Invalid token '[redacted]'" in text for text in sources.values())
    for name, behaviour in (("drop", Drop()), ("truncate", Truncate()), ("huge", Huge(20 * 1024 * 1024)),
                            ("echo-401", json_reply(401, {"error": ECHO}))):  # fmt: skip
        fake.script("GET", "/projects/demo/services/svc", behaviour)
        fake.script("POST", "/projects/demo/services", behaviour)
        sources[f"results/real-network-{name}"] = result_text(await run_calls(fast, None, few=True))
    assert all(r.headers["authorization"] == f"Token {TOKEN}" for r in fake.requests), "the token was used"
    sources["logs"] = caplog.text + "\n".join(repr(r.__dict__) for r in caplog.records)
    sources["audit"] = settings.audit_log_path.read_text()
    assert_clean(sources)


def test_no_token_in_error_objects_settings_or_auth() -> None:
    request = httpx.Request("GET", "https://api.test/x", headers={"Authorization": f"Token {TOKEN}"})
    sources: dict[str, str] = {}
    for status in (400, 401, 403, 404, 409, 429, 500, 502):
        response = httpx.Response(status, json={"error": ECHO}, headers={"x-request-id": TOKEN}, request=request)
        error = errors.from_response(response, errors.Target("get", "demo", "svc"), None)
        sources[f"error-{status}"] = f"{error} {error!r} {error.args} {error.as_dict()} {error.hint}"
    settings = from_env({"UBIOPS_API_TOKEN": TOKEN, "UBIOPS_MCP_AUTH_TOKEN": BEARER})
    assert settings.api_token is not None
    assert settings.api_token.get_secret_value() == TOKEN
    sources["settings"] = f"{settings!r} {settings} {settings.api_config()!r}"
    sources["auth"] = repr(TokenAuth(SecretStr(TOKEN)))
    sources["client"] = repr(build_http_client(settings.api_config()).headers)
    assert_clean(sources)


@pytest.mark.slow
async def test_no_token_on_the_stderr_of_spawned_servers(tmp_path: Path, fake: FakeApi) -> None:
    """stdio, HTTP (with a wrong bearer, faults and echoing errors) and `check`: stderr and stdout stay clean."""
    fake.script("GET", "/projects/demo/services/gone", json_reply(401, {"error": ECHO}))
    fake.script("GET", "/projects/demo/services/dropped", Drop())
    env = base_env(tmp_path, UBIOPS_API_TOKEN=TOKEN, UBIOPS_API_HOST=fake.url, UBIOPS_PROJECT="demo",
                   UBIOPS_TIMEOUT="0.5", UBIOPS_MAX_ATTEMPTS="2", UBIOPS_RETRY_BUDGET="2")  # fmt: skip
    calls = [("services_get", {"service_name": n}) for n in ("svc", "gone", "dropped")]
    calls += [("services_create", {"data": SERVICE}), ("services_get", {"service_name": ""})]
    sources: dict[str, str] = {}

    stdio_log = tmp_path / "stdio.stderr"
    with stdio_log.open("w") as errlog:
        params = StdioServerParameters(command=str(SCRIPT), args=[], env=env)
        async with Client(stdio_client(params, errlog=errlog), mode="legacy") as client:
            sources["stdio-results"] = result_text([await client.call_tool(t, a) for t, a in calls])
    sources["stdio-stderr"] = stdio_log.read_text()

    port = free_port()
    http_env = env | {"UBIOPS_MCP_AUTH_TOKEN": BEARER}
    with serving(["--transport", "http", "--port", str(port)], http_env, port, tmp_path / "http.stderr") as server:
        async with httpx.AsyncClient(timeout=10) as http:
            refused = await http.post(server.url, json={}, headers={"Authorization": "Bearer nope"})
        sources["http-401"] = refused.text + repr(refused.headers)
        async with mcp_client(server.url, {"Authorization": f"Bearer {BEARER}"}) as client:
            sources["http-results"] = result_text([await client.call_tool(t, a) for t, a in calls])
    sources["http-stderr"] = server.stderr

    fake.script("GET", "/projects/demo/services", json_reply(401, {"error": ECHO}))
    checked = run(["check"], env)
    sources["check"] = checked.stdout + checked.stderr
    assert checked.returncode == 1
    sources["audit"] = (tmp_path / "audit.jsonl").read_text()
    assert all(r.headers["authorization"] == f"Token {TOKEN}" for r in fake.requests), "the token was used"
    assert_clean(sources)
