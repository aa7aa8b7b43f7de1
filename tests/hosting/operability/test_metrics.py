"""Prometheus metrics: each server counts its own tool calls, API requests, retries, refusals and human answers."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from mcp import Client

from tests.conftest import RecordingTransport, data, scripted
from tests.tools.test_elicitation import Human
from ubiops_services_mcp.app import ServicesServer, create_server
from ubiops_services_mcp.metrics import NAMES, Metrics, call_outcome
from ubiops_services_mcp.settings import Settings

pytestmark = pytest.mark.anyio

SERVICE = {"name": "svc", "deployment": "hello-world", "port": 8080}
UPDATE = {"service_name": "svc", "data": {"port": 9090}}


def value(server: ServicesServer, name: str, **labels: str) -> float:
    return server.metrics.registry.get_sample_value(name, labels) or 0.0


async def test_tool_calls_and_api_requests_are_counted(settings: Settings, wire: RecordingTransport, mode: str) -> None:
    server = create_server(settings, wire)
    async with Client(server, mode=mode) as client:
        await client.call_tool("services_create", {"data": SERVICE})
        await client.call_tool("services_get", {"service_name": "svc"})
        await client.call_tool("services_get", {"service_name": "missing"})
        preview = data(await client.call_tool("services_update", UPDATE))
        await client.call_tool("services_update", {**UPDATE, "confirm": True, "confirmation_token": "v1.x.y"})
        await client.call_tool("services_update", {**UPDATE, "confirm": True})
        await client.call_tool(
            "services_update", {**UPDATE, "confirm": True, "confirmation_token": preview["confirmation_token"]}
        )
    assert value(server, "ubiops_mcp_tool_calls_total", tool="services_create", outcome="ok") == 1
    assert value(server, "ubiops_mcp_tool_calls_total", tool="services_get", outcome="ok") == 1
    assert value(server, "ubiops_mcp_tool_calls_total", tool="services_get", outcome="error") == 1
    assert value(server, "ubiops_mcp_tool_calls_total", tool="services_update", outcome="preview") == 1
    assert value(server, "ubiops_mcp_tool_calls_total", tool="services_update", outcome="refused") == 2
    assert value(server, "ubiops_mcp_tool_calls_total", tool="services_update", outcome="applied") == 1
    assert value(server, "ubiops_mcp_service_changes_total", tool="services_update", outcome="applied") == 1
    assert value(server, "ubiops_mcp_confirmations_refused_total", reason="bad_signature") == 1
    assert value(server, "ubiops_mcp_confirmations_refused_total", reason="missing") == 1
    assert value(server, "ubiops_mcp_tool_call_duration_seconds_count", tool="services_get") == 2
    assert value(server, "ubiops_api_requests_total", method="POST", status="201") == 1
    assert value(server, "ubiops_api_requests_total", method="GET", status="404") == 1
    assert value(server, "ubiops_api_requests_total", method="PATCH", status="200") == 1
    gets = sum(1 for r in wire.requests if r.method == "GET")
    assert value(server, "ubiops_api_request_duration_seconds_count", method="GET") == gets


async def test_retries_are_counted_by_reason(settings: Settings) -> None:
    answers = iter([httpx.Response(503), httpx.Response(429, headers={"retry-after": "0"})])

    def handler(request: httpx.Request) -> httpx.Response:
        return next(answers, None) or httpx.Response(200, json={"status": "ok"})

    server = create_server(settings, scripted(handler))
    async with Client(server, mode="legacy") as client:
        await client.call_tool("services_list", {})
    assert value(server, "ubiops_api_retries_total", method="GET", reason="server_error") == 1
    assert value(server, "ubiops_api_retries_total", method="GET", reason="rate_limited") == 1
    assert value(server, "ubiops_api_requests_total", method="GET", status="503") == 1


@pytest.mark.parametrize(("action", "content"), [("accept", {"approve": True}), ("decline", None), ("cancel", None)])
async def test_elicitation_answers_by_action(
    settings: Settings, wire: RecordingTransport, mode: str, action: str, content: dict[str, Any] | None
) -> None:
    server = create_server(settings, wire)
    async with Client(server, mode=mode, elicitation_callback=Human(action, content)) as client:
        await client.call_tool("services_create", {"data": SERVICE})
        token = data(await client.call_tool("services_update", UPDATE))["confirmation_token"]
        await client.call_tool("services_update", {**UPDATE, "confirm": True, "confirmation_token": token})
    assert value(server, "ubiops_mcp_elicitation_answers_total", action=action) == 1
    outcome = "applied" if action == "accept" else "declined"
    assert value(server, "ubiops_mcp_tool_calls_total", tool="services_update", outcome=outcome) == 1


async def test_read_only_refusal_has_its_reason(settings: Settings, wire: RecordingTransport) -> None:
    server = create_server(settings, wire)
    server.metrics.refused("read_only")
    assert value(server, "ubiops_mcp_confirmations_refused_total", reason="read_only") == 1


def test_each_server_has_its_own_registry(settings: Settings) -> None:
    one, two = create_server(settings), create_server(settings)
    one.metrics.tool_called("services_get", "ok", 0.01)
    assert value(one, "ubiops_mcp_tool_calls_total", tool="services_get", outcome="ok") == 1
    assert value(two, "ubiops_mcp_tool_calls_total", tool="services_get", outcome="ok") == 0


def test_labels_stay_bounded() -> None:
    metrics = Metrics()
    metrics.tool_called("a-tool-name-a-caller-made-up", "ok", 0.0)
    metrics.answered("something-else")
    text = metrics.exposition().decode()
    assert 'tool="unknown"' in text
    assert 'action="other"' in text
    assert "made-up" not in text


def test_every_documented_name_is_exported() -> None:
    metrics = Metrics()
    metrics.tool_called("services_get", "ok", 0.0)
    metrics.service_changed("services_update", "applied")
    metrics.refused("stale")
    metrics.answered("accept")
    metrics.attempted("GET", "200", 0.01)
    metrics.retrying("GET", "timeout")
    text = metrics.exposition().decode()
    for name in NAMES:
        assert f"\n{name}" in text, name


def test_call_outcome_of_odd_results() -> None:
    assert call_outcome(object()) == "input_required"
