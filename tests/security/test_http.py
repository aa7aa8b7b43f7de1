"""The HTTP transport of the real console script: loopback by default, bearer auth, Host/Origin checks, size limit.

Every server here is spawned on 127.0.0.1 (sandbox mode, in-memory database) and stopped by its pid;
no test listens on a non-loopback address: the refusal to do so is checked on a process that exits.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from tests.conftest import free_port
from tests.security.process import Spawned, base_env, listening_addresses, run, serving

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

BEARER = "mcp-bearer-7Q9x2LkP0vZ-a8Rt5Wm3Ky6Hq1Nc"
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
}
MCP_HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


@asynccontextmanager
async def mcp_client(url: str, headers: dict[str, str] | None = None, mode: str = "auto") -> AsyncIterator[Client]:
    """An MCP client over streamable HTTP whose every request carries `headers`."""
    timeout = httpx2.Timeout(30, read=60)
    async with httpx2.AsyncClient(headers=headers or {}, timeout=timeout) as http:
        async with Client(streamable_http_client(url, http_client=http), mode=mode) as client:
            yield client


def spawn(tmp_path: Path, name: str, *args: str, **env: str) -> Iterator[Spawned]:
    port = free_port()
    argv = ["--transport", "http", "--port", str(port), *args]
    with serving(argv, base_env(tmp_path, **env), port, tmp_path / f"{name}.stderr") as server:
        yield server


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Spawned]:
    """The default: `ubiops-services-mcp --transport http --port P`, no auth token."""
    yield from spawn(tmp_path_factory.mktemp("plain"), "plain")


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Spawned]:
    yield from spawn(tmp_path_factory.mktemp("guarded"), "guarded", UBIOPS_MCP_AUTH_TOKEN=BEARER)


@pytest.fixture(scope="module")
def stateless(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Spawned]:
    yield from spawn(tmp_path_factory.mktemp("stateless"), "stateless", "--stateless")


async def post(url: str, body: Any = INITIALIZE, **headers: str) -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    async with httpx.AsyncClient(timeout=10) as http:
        return await http.post(url, content=content, headers=MCP_HEADERS | headers)


def test_binds_loopback_by_default(plain: Spawned) -> None:
    assert listening_addresses(plain.port) == {"127.0.0.1"}
    assert "SANDBOX mode" in plain.stderr


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.10", "example.com"])
def test_refuses_a_non_loopback_address_without_an_auth_token(tmp_path: Path, host: str) -> None:
    port = free_port()
    done = run(["--transport", "http", "--host", host, "--port", str(port)], base_env(tmp_path))
    assert done.returncode == 2
    assert f"refusing to listen on {host}" in done.stderr
    assert "UBIOPS_MCP_AUTH_TOKEN" in done.stderr
    assert listening_addresses(port) == set()


async def test_tools_work_over_http(plain: Spawned, mode: str) -> None:
    async with mcp_client(plain.url, mode=mode) as client:
        listed = await client.call_tool("services_list", {})
        created = await client.call_tool(
            "services_create", {"data": {"name": f"web-{mode}", "deployment": "hello-world", "port": 8080}}
        )
        got = await client.call_tool("services_get", {"service_name": f"web-{mode}"})
    assert not listed.is_error
    assert not created.is_error
    assert got.structured_content is not None
    assert got.structured_content["service"]["name"] == f"web-{mode}"


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer wrong", f"Bearer {BEARER}x", f"Token {BEARER}", BEARER, f"Bearer  {BEARER}", "Bearer"],
)
async def test_requests_without_the_right_bearer_get_401(guarded: Spawned, authorization: str | None) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    response = await post(guarded.url, **headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert BEARER not in response.text
    async with httpx.AsyncClient(timeout=10) as http:  # every method, not only POST
        assert (await http.get(guarded.url, headers=headers)).status_code == 401
        assert (await http.delete(guarded.url, headers=headers)).status_code == 401


async def test_the_right_bearer_works(guarded: Spawned) -> None:
    async with mcp_client(guarded.url, {"Authorization": f"Bearer {BEARER}"}) as client:
        result = await client.call_tool("services_list", {})
    assert not result.is_error
    assert BEARER not in guarded.stderr


async def test_bearer_scheme_is_case_insensitive(guarded: Spawned) -> None:
    response = await post(guarded.url, Authorization=f"bearer {BEARER}")
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"Host": "evil.example"}, 421),
        ({"Host": "127.0.0.1.evil.example"}, 421),
        ({"Host": "evil.example:80"}, 421),
        ({"Origin": "http://evil.example"}, 403),
        ({"Origin": "http://127.0.0.1.evil.example"}, 403),
        ({"Origin": "null"}, 403),
    ],
)
async def test_dns_rebinding_is_refused(plain: Spawned, headers: dict[str, str], status: int) -> None:
    response = await post(plain.url, **headers)
    assert response.status_code == status


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
async def test_own_host_and_origin_are_accepted(plain: Spawned, host: str) -> None:
    response = await post(plain.url, Host=f"{host}:{plain.port}", Origin=f"http://{host}:{plain.port}")
    assert response.status_code == 200


async def test_request_bodies_past_one_mebibyte_are_refused(plain: Spawned) -> None:
    big = {**INITIALIZE, "params": {**INITIALIZE["params"], "padding": "x" * (1024 * 1024 + 1)}}
    assert (await post(plain.url, big)).status_code == 413
    chunks = [b"x" * 65536] * 17  # streamed without Content-Length: refused while reading

    async def stream() -> AsyncIterator[bytes]:
        for chunk in chunks:
            yield chunk

    async with httpx.AsyncClient(timeout=10) as http:
        response = await http.post(plain.url, content=stream(), headers=MCP_HEADERS)
    assert response.status_code == 413
    async with mcp_client(plain.url) as client:  # and it still serves
        assert not (await client.call_tool("services_list", {})).is_error


async def test_stateless_mode_serves_without_sessions(stateless: Spawned, mode: str) -> None:
    response = await post(stateless.url)
    assert response.status_code == 200
    assert "mcp-session-id" not in response.headers
    async with mcp_client(stateless.url, mode=mode) as client:
        first = await client.call_tool("services_list", {})
        second = await client.call_tool("services_get", {"service_name": "nope"})
    assert not first.is_error
    assert second.structured_content is not None
    assert second.structured_content["error"]["code"] == "not_found"
