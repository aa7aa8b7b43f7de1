"""Shared fixtures: a recording HTTP layer in front of the sandbox or a scripted fake, and MCP client sessions."""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from hypothesis import settings as settings_profile
from mcp import Client
from mcp.types import CallToolResult
from pydantic import SecretStr

from ubiops_services_mcp.app import create_server
from ubiops_services_mcp.sandbox import create_app
from ubiops_services_mcp.settings import Settings

# CI explores the same examples on every run (a failure there reproduces); elsewhere hypothesis roams freely.
settings_profile.register_profile("ci", derandomize=True, database=None)
if os.environ.get("CI"):
    settings_profile.load_profile("ci")

TOKEN = "tok-SECRET-4f1c9e0b7d"
HOST = "https://api.ubiops.test/v2.1"
MODES = ("legacy", "auto")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@dataclass(frozen=True)
class Recorded:
    """One HTTP request exactly as the API received it."""

    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: Any

    @property
    def line(self) -> str:
        return f"{self.method} {self.path}" + (f"?{self.query}" if self.query else "")


@dataclass
class RecordingTransport(httpx.AsyncBaseTransport):
    """Records every request, then hands it to the real transport behind it."""

    inner: httpx.AsyncBaseTransport
    requests: list[Recorded] = field(default_factory=list[Recorded])

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        raw = await request.aread()
        self.requests.append(
            Recorded(
                method=request.method,
                path=request.url.raw_path.decode().split("?")[0],
                query=request.url.query.decode(),
                headers={k.lower(): v for k, v in request.headers.items()},
                body=json.loads(raw) if raw else None,
            )
        )
        return await self.inner.handle_async_request(request)

    @property
    def lines(self) -> list[str]:
        return [r.line for r in self.requests]

    @property
    def service_requests(self) -> list[Recorded]:
        """The requests about services, without the deployment reads that only inform results and checks."""
        return [r for r in self.requests if r.path.split("/")[4:5] != ["deployments"]]

    @property
    def mutations(self) -> list[Recorded]:
        return [r for r in self.requests if r.method not in ("GET", "HEAD")]

    def clear(self) -> None:
        self.requests.clear()


@pytest.fixture
def wire() -> RecordingTransport:
    """The sandbox API behind a recorder: real semantics, every request visible."""
    return RecordingTransport(httpx.ASGITransport(app=create_app(":memory:")))


def scripted(handler: Callable[[httpx.Request], httpx.Response]) -> RecordingTransport:
    """A recorder in front of a fake API that answers with `handler`."""
    return RecordingTransport(httpx.MockTransport(handler))


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        api_token=SecretStr(TOKEN),
        api_host=HOST,
        project="demo",
        audit_log=tmp_path / "audit.jsonl",
        secret=SecretStr("test-secret"),
        max_attempts=3,
        retry_budget_s=5,
    )


@asynccontextmanager
async def session(
    settings: Settings, transport: httpx.AsyncBaseTransport, mode: str = "legacy", **client_args: Any
) -> AsyncIterator[Client]:
    async with Client(create_server(settings, transport), mode=mode, **client_args) as client:
        yield client


@pytest.fixture(params=MODES)
def mode(request: pytest.FixtureRequest) -> str:
    """Both protocol generations: the initialize handshake and the 2026-07-28 one."""
    return str(request.param)


def data(result: CallToolResult) -> dict[str, Any]:
    """The structured content, checked against the text content the model may read instead."""
    assert result.structured_content is not None
    assert json.loads(result.content[0].text) == result.structured_content  # type: ignore[union-attr]
    return result.structured_content


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class LiveServer:
    url: str
    port: int


@contextmanager
def serve_in_thread(app: Any) -> Iterator[int]:
    """An ASGI app served by uvicorn on a free loopback port in a thread; yields the port, stops it after."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.01)
    try:
        assert server.started, "the server did not start"
        yield int(sock.getsockname()[1])
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


@pytest.fixture
def live_sandbox(tmp_path: Path) -> Iterator[LiveServer]:
    """The standalone sandbox on a free loopback port, over real HTTP."""
    with serve_in_thread(create_app(str(tmp_path / "sandbox.sqlite3"))) as port:
        yield LiveServer(url=f"http://127.0.0.1:{port}/v2.1", port=port)
