"""The OAuth gate in the whole HTTP stack serve.py builds (in process, a fake issuer): what a caller without the write
scope sees in tools/list, a GET that resumes a stream, and bodies too deeply nested to read."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from tests.conftest import RecordingTransport
from tests.hosting.oauth.issuer import ISSUER, RESOURCE, FakeIssuer
from ubiops_services_mcp.app import create_server
from ubiops_services_mcp.hosting.probes import Operability
from ubiops_services_mcp.hosting.serve import http_app
from ubiops_services_mcp.settings import MUTATING_TOOLS, Settings

pytestmark = pytest.mark.anyio

ORIGIN = "http://127.0.0.1:8000"
HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
INITIALIZE = {
    "jsonrpc": "2.0", "id": 1, "method": "initialize",
    "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
}  # fmt: skip
INITIALIZED = {"jsonrpc": "2.0", "method": "notifications/initialized"}
LIST_TOOLS = {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}


@pytest.fixture
def issuer() -> FakeIssuer:
    fake = FakeIssuer()
    fake.rotate("k1")
    return fake


@asynccontextmanager
async def served(settings: Settings, wire: RecordingTransport, issuer: FakeIssuer) -> AsyncIterator[Any]:
    """The ASGI app serve.py runs, behind OAuth, with sessions (its lifespan running)."""
    replica = settings.with_overrides(transport="http", oauth_issuer=ISSUER, resource_url=RESOURCE)
    server = create_server(replica, wire)
    app = Operability(http_app(replica, server, issuer.transport()), replica, server)
    async with server.session_manager.run():
        yield app


def client(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=ORIGIN)


def bearer(token: str) -> dict[str, str]:
    return HEADERS | {"Authorization": f"Bearer {token}"}


def events(answer: httpx.Response) -> list[dict[str, Any]]:
    """The JSON-RPC messages of an SSE (or JSON) answer."""
    if answer.headers["content-type"].startswith("application/json"):
        return [answer.json()]
    return [json.loads(line[5:]) for line in answer.text.splitlines() if line.startswith("data:") and line[5:].strip()]


async def open_session(http: httpx.AsyncClient, headers: dict[str, str]) -> dict[str, str]:
    """Initialize a handshake-protocol session: the headers its later requests carry."""
    opened = await http.post("/mcp", json=INITIALIZE, headers=headers)
    assert opened.status_code == 200, opened.text
    headers = headers | {"mcp-session-id": opened.headers["mcp-session-id"], "mcp-protocol-version": "2025-11-25"}
    assert (await http.post("/mcp", json=INITIALIZED, headers=headers)).status_code == 202
    return headers


async def listed_tools(app: Any, token: str) -> set[str]:
    async with client(app) as http:
        headers = await open_session(http, bearer(token))
        answer = await http.post("/mcp", json=LIST_TOOLS, headers=headers)
    [message] = events(answer)
    return {tool["name"] for tool in message["result"]["tools"]}


async def test_a_caller_without_the_write_scope_is_not_shown_mutating_tools(
    settings: Settings, wire: RecordingTransport, issuer: FakeIssuer
) -> None:
    """Issue 18 item 12: a read-only caller saw services_create/update/delete and learnt only on the call."""
    async with served(settings, wire, issuer) as app:
        reader = await listed_tools(app, issuer.token())
        writer = await listed_tools(app, issuer.token(scope="ubiops:write"))
    assert "services_list" in reader
    assert reader.isdisjoint(MUTATING_TOOLS)
    assert writer == reader | set(MUTATING_TOOLS)
    assert wire.requests == []


async def test_without_oauth_every_enabled_tool_is_listed(settings: Settings, wire: RecordingTransport) -> None:
    replica = settings.with_overrides(transport="http")
    server = create_server(replica, wire)
    app = http_app(replica, server)
    async with server.session_manager.run():
        async with client(app) as http:
            headers = await open_session(http, HEADERS)
            [message] = events(await http.post("/mcp", json=LIST_TOOLS, headers=headers))
    assert set(MUTATING_TOOLS) <= {tool["name"] for tool in message["result"]["tools"]}


async def response_start(app: Any, headers: dict[str, str]) -> dict[str, Any] | None:
    """The response a GET /mcp starts, or None when the app returned without starting one (uvicorn: 500)."""
    started: list[dict[str, Any]] = []
    raw = [(key.lower().encode(), value.encode()) for key, value in headers.items()]
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
        "path": "/mcp", "raw_path": b"/mcp", "query_string": b"", "root_path": "",
        "headers": [(b"host", b"127.0.0.1:8000"), *raw], "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8000),
    }  # fmt: skip

    requests = [{"type": "http.request", "body": b"", "more_body": False}]

    async def receive() -> dict[str, Any]:
        if requests:
            return requests.pop()
        await anyio.sleep_forever()
        raise AssertionError("not reached")

    with anyio.fail_after(10):
        async with anyio.create_task_group() as group:

            async def send(message: dict[str, Any]) -> None:
                if message["type"] == "http.response.start":
                    started.append(message)
                    group.cancel_scope.cancel()  # the client has its answer; the stream is not read further

            await app(scope, receive, send)
    return started[0] if started else None


async def test_a_get_with_last_event_id_opens_a_stream(
    settings: Settings, wire: RecordingTransport, issuer: FakeIssuer
) -> None:
    """Issue 18 item 10: without an event store the SDK returned without an answer (500) on Last-Event-ID."""
    async with served(settings, wire, issuer) as app:
        async with client(app) as http:
            headers = await open_session(http, bearer(issuer.token()))
        start = await response_start(app, headers | {"Accept": "text/event-stream", "Last-Event-ID": "e-1"})
    assert start is not None
    assert start["status"] == 200
    assert (b"content-type", b"text/event-stream") in start["headers"]


@pytest.mark.parametrize("scope", ["ubiops:read", "ubiops:write"])
async def test_a_deeply_nested_body_is_400_for_readers_and_writers(
    settings: Settings, wire: RecordingTransport, issuer: FakeIssuer, scope: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Issue 18 item 6: the same body crashed the gate for a reader (500) and was a 400 for a writer."""
    body = b"[" * 100_000 + b"]" * 100_000
    async with served(settings, wire, issuer) as app:
        async with client(app) as http:
            answer = await http.post("/mcp", content=body, headers=bearer(issuer.token(scope=scope)))
    assert answer.status_code == 400
    assert "Traceback" not in caplog.text
    assert wire.mutations == []


async def test_a_foreign_origin_is_logged_once(
    settings: Settings, wire: RecordingTransport, issuer: FakeIssuer, caplog: pytest.LogCaptureFixture
) -> None:
    """Issue 19 item 7: "Invalid Origin header" was logged by the session pre-check and again by the SDK."""
    caplog.set_level(logging.WARNING)
    async with served(settings, wire, issuer) as app:
        async with client(app) as http:
            answer = await http.post(
                "/mcp", json=INITIALIZE, headers=bearer(issuer.token()) | {"Origin": "http://evil.example"}
            )
    assert answer.status_code == 403
    assert [r.getMessage() for r in caplog.records].count("Invalid Origin header: http://evil.example") == 1


async def test_on_the_2026_protocol_too_a_reader_is_not_shown_mutating_tools(
    settings: Settings, wire: RecordingTransport, issuer: FakeIssuer
) -> None:
    listed: dict[str, set[str]] = {}
    async with served(settings, wire, issuer) as app:
        for scope in ("ubiops:read", "ubiops:write"):
            headers = {"Authorization": f"Bearer {issuer.token(scope=scope)}"}
            transport = httpx2.ASGITransport(app=app)
            async with httpx2.AsyncClient(transport=transport, headers=headers, base_url=ORIGIN) as http:
                async with Client(streamable_http_client(f"{ORIGIN}/mcp", http_client=http), mode="auto") as mcp:
                    listed[scope] = {tool.name for tool in (await mcp.list_tools()).tools}
    assert listed["ubiops:read"].isdisjoint(MUTATING_TOOLS)
    assert listed["ubiops:write"] == listed["ubiops:read"] | set(MUTATING_TOOLS)
