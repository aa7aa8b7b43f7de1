"""/healthz, /readyz and /metrics: outside MCP auth, cheap for the API, and /metrics never open to everyone."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from tests.conftest import RecordingTransport, scripted
from ubiops_services_mcp.app import create_server
from ubiops_services_mcp.hosting.probes import Operability
from ubiops_services_mcp.hosting.serve import http_app
from ubiops_services_mcp.settings import Settings

pytestmark = pytest.mark.anyio

BEARER = "bearer-token-for-tests-0123456789abcdef"
METRICS_BEARER = "metrics-token-for-tests-0123456789abcdef"


@asynccontextmanager
async def probed(settings: Settings, transport: httpx.AsyncBaseTransport) -> AsyncIterator[httpx.AsyncClient]:
    """The HTTP app as serve.py serves it, its lifespan running, and a client on it (Host: a replica's own IP)."""
    server = create_server(settings, transport)
    app = Operability(http_app(settings, server), settings, server)
    async with server.session_manager.run():
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://10.1.2.3:8000") as http:
            yield http


def http_settings(settings: Settings, **values: Any) -> Settings:
    return settings.with_overrides(transport="http", stateless=True, **values)


async def test_healthz_needs_no_bearer_no_host_and_no_api(settings: Settings) -> None:
    wire = scripted(lambda request: httpx.Response(500))
    async with probed(http_settings(settings, auth_token=SecretStr(BEARER)), wire) as http:
        alive = await http.get("/healthz")
        head = await http.head("/healthz")
        refused = await http.post("/healthz")
        mcp = await http.post("/mcp", json={})
    assert (alive.status_code, alive.json()) == (200, {"status": "alive"})
    assert (head.status_code, head.content) == (200, b"")
    assert refused.status_code == 405
    assert mcp.status_code == 401  # everything else stays behind the bearer
    assert wire.requests == []


async def test_readyz_checks_status_and_the_token_then_caches(settings: Settings, wire: RecordingTransport) -> None:
    async with probed(http_settings(settings, auth_token=SecretStr(BEARER)), wire) as http:
        answers = [await http.get("/readyz") for _ in range(5)]
    assert {(a.status_code, a.text) for a in answers} == {(200, '{"status":"ready"}')}
    assert wire.lines == ["GET /v2.1/status", "GET /v2.1/projects/demo/services"]
    assert "authorization" in wire.requests[1].headers


@pytest.mark.parametrize(
    ("status", "reason"),
    [(401, "token_refused"), (403, "token_forbidden"), (404, "project_not_found"), (400, "api_error")],
)
async def test_readyz_names_what_is_wrong(settings: Settings, status: int, reason: str) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/status"):
            return httpx.Response(200, json={"status": "ok"})
        return httpx.Response(status, json={"error": "no"})

    async with probed(http_settings(settings), scripted(handler)) as http:
        answer = await http.get("/readyz")
    assert answer.status_code == 503
    assert answer.json()["reason"] == reason


async def test_readyz_when_the_api_is_down(settings: Settings) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused")

    async with probed(http_settings(settings, max_attempts=1), scripted(handler)) as http:
        answer = await http.get("/readyz")
    assert (answer.status_code, answer.json()["reason"]) == (503, "api_unreachable")
    assert settings.api_token is not None
    assert settings.api_token.get_secret_value() not in answer.text


async def test_readyz_before_the_lifespan_is_starting(settings: Settings, wire: RecordingTransport) -> None:
    server = create_server(settings, wire)
    app = Operability(http_app(http_settings(settings), server), settings, server)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1:8000") as http:
        answer = await http.get("/readyz")
    assert (answer.status_code, answer.json()["reason"]) == (503, "starting")


async def test_metrics_needs_the_bearer_when_there_is_one(settings: Settings, wire: RecordingTransport) -> None:
    async with probed(http_settings(settings, auth_token=SecretStr(BEARER)), wire) as http:
        missing = await http.get("/metrics")
        wrong = await http.get("/metrics", headers={"Authorization": "Bearer " + "x" * 40})
        right = await http.get("/metrics", headers={"Authorization": f"Bearer {BEARER}"})
    assert (missing.status_code, wrong.status_code, right.status_code) == (401, 401, 200)
    assert right.headers["content-type"].startswith("text/plain")
    assert "ubiops_mcp_tool_calls_total" in right.text or "# HELP ubiops_mcp_tool_calls" in right.text


async def test_metrics_token_wins_over_the_auth_token(settings: Settings, wire: RecordingTransport) -> None:
    tokens = {"auth_token": SecretStr(BEARER), "metrics_token": SecretStr(METRICS_BEARER)}
    async with probed(http_settings(settings, **tokens), wire) as http:
        auth = await http.get("/metrics", headers={"Authorization": f"Bearer {BEARER}"})
        metrics = await http.get("/metrics", headers={"Authorization": f"Bearer {METRICS_BEARER}"})
    assert (auth.status_code, metrics.status_code) == (401, 200)


async def test_open_metrics_on_loopback_check_the_host(settings: Settings, wire: RecordingTransport) -> None:
    server = create_server(settings, wire)
    loopback = http_settings(settings)
    app = Operability(http_app(loopback, server), loopback, server)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1:8000") as http:
        local = await http.get("/metrics")
        rebound = await http.get("/metrics", headers={"Host": "evil.example"})
    assert (local.status_code, rebound.status_code) == (200, 421)


async def test_metrics_off_loopback_without_any_bearer_are_refused(settings: Settings) -> None:
    public = http_settings(settings, host="0.0.0.0")

    async def inner(scope: Any, receive: Any, send: Any) -> None:
        raise AssertionError("not reached")

    app = Operability(inner, public, create_server(settings))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://10.0.0.1:8000") as http:
        answer = await http.get("/metrics")
    assert answer.status_code == 403
    assert "UBIOPS_MCP_METRICS_TOKEN" in answer.text


def oauth_settings(settings: Settings, **values: Any) -> Settings:
    """A replica as the README's OAuth + HAProxy layout runs it: loopback bind, the public name allowed."""
    return http_settings(
        settings, oauth_issuer="https://idp.test", resource_url="https://mcp.example.com/mcp",
        allowed_hosts=("mcp.example.com",), **values,
    )  # fmt: skip


async def never_reached(scope: Any, receive: Any, send: Any) -> None:
    raise AssertionError("not reached")


PROXIED = {"Host": "mcp.example.com", "X-Forwarded-For": "127.0.0.1", "Forwarded": "for=127.0.0.1"}


async def test_with_oauth_metrics_behind_a_proxy_need_the_token(settings: Settings) -> None:
    """Issue 18 item 3: a loopback replica behind HAProxy served /metrics to anyone the proxy forwarded."""
    replica = oauth_settings(settings)
    app = Operability(never_reached, replica, create_server(settings))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1:8001") as http:
        proxied = await http.get("/metrics", headers=PROXIED)
        local = await http.get("/metrics")
        alive = await http.get("/healthz", headers=PROXIED)
    assert (proxied.status_code, local.status_code) == (403, 403)
    assert "UBIOPS_MCP_METRICS_TOKEN" in proxied.text
    assert "ubiops_mcp" not in proxied.text + local.text
    assert alive.status_code == 200


async def test_with_oauth_the_metrics_token_opens_metrics(settings: Settings, wire: RecordingTransport) -> None:
    replica = oauth_settings(settings, metrics_token=SecretStr(METRICS_BEARER))
    app = Operability(never_reached, replica, create_server(settings, wire))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1:8001") as http:
        missing = await http.get("/metrics", headers=PROXIED)
        right = await http.get("/metrics", headers=PROXIED | {"Authorization": f"Bearer {METRICS_BEARER}"})
    assert (missing.status_code, right.status_code) == (401, 200)
    assert "ubiops_mcp_tool_calls" in right.text
