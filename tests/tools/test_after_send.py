"""Whatever goes wrong once a change was sent, the model gets a structured outcome_unknown and the audit log one
final line; a create is settled by reading it back, never posted twice; a malformed human answer applies nothing."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from mcp.client.session import ClientRequestContext
from mcp.types import ElicitRequestParams, ElicitResult

from tests.conftest import data, scripted, session
from ubiops_services_mcp.settings import Settings

pytestmark = pytest.mark.anyio

DETAIL = {"id": "1", "name": "svc", "deployment": "hello-world", "port": 8080, "time_updated": "t1"}
DEEP = b"[" * 200_000 + b"]" * 200_000


def audit_lines(settings: Settings) -> list[dict[str, Any]]:
    assert settings.audit_log is not None
    return [json.loads(line) for line in settings.audit_log.read_text().splitlines()]


def not_gzip(request: httpx.Request) -> httpx.Response:
    headers = {"content-type": "application/json", "content-encoding": "gzip"}
    return httpx.Response(200, headers=headers, stream=httpx.ByteStream(b"this is not gzip"), request=request)


def too_deep(request: httpx.Request) -> httpx.Response:
    return httpx.Response(201, headers={"content-type": "application/json"}, content=DEEP, request=request)


@pytest.mark.parametrize("answer", [not_gzip, too_deep])
async def test_an_applied_update_with_an_unreadable_answer_is_outcome_unknown(
    settings: Settings, answer: Any, mode: str
) -> None:
    def api(request: httpx.Request) -> httpx.Response:
        return answer(request) if request.method == "PATCH" else httpx.Response(200, json=DETAIL)

    transport = scripted(api)
    args = {"service_name": "svc", "data": {"port": 9090}, "confirm": True}
    async with session(settings.with_overrides(confirmation="flag"), transport, mode) as client:
        result = await client.call_tool("services_update", args)
    assert result.is_error
    assert data(result)["error"]["code"] == "outcome_unknown"
    methods = [r.method for r in transport.service_requests]
    assert methods[0] == "GET"
    assert set(methods[1:]) == {"PATCH"}  # idempotent: retried within the policy, then reported as unknown
    lines = audit_lines(settings)
    assert [(line["outcome"], line["error_code"]) for line in lines] == [("failed", "outcome_unknown")]


@pytest.mark.parametrize("answer", [not_gzip, too_deep])
async def test_a_create_with_an_unreadable_answer_is_settled_by_a_get(settings: Settings, answer: Any) -> None:
    def api(request: httpx.Request) -> httpx.Response:
        return answer(request) if request.method == "POST" else httpx.Response(200, json=DETAIL)

    transport = scripted(api)
    async with session(settings, transport) as client:
        result = await client.call_tool(
            "services_create", {"data": {k: DETAIL[k] for k in ("name", "deployment", "port")}}
        )
    assert not result.is_error
    assert data(result)["settled"] is True
    assert [r.method for r in transport.service_requests] == ["POST", "GET"]
    assert [(line["outcome"], line["settled"]) for line in audit_lines(settings)] == [("applied", True)]


async def test_a_malformed_human_answer_applies_nothing_and_is_audited(settings: Settings, mode: str) -> None:
    def api(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=DETAIL)

    async def garbled(context: ClientRequestContext, params: ElicitRequestParams) -> ElicitResult:
        return ElicitResult(action="accept", content={"approve": "yes please"})

    transport = scripted(api)
    args = {"service_name": "svc", "data": {"port": 9090}, "confirm": True}
    async with session(
        settings.with_overrides(confirmation="flag"), transport, mode, elicitation_callback=garbled
    ) as c:
        result = await c.call_tool("services_update", args)
    assert result.is_error
    assert data(result)["error"]["code"] == "not_applied"
    assert all(r.method == "GET" for r in transport.requests)
    assert [(line["outcome"], line["error_code"]) for line in audit_lines(settings)] == [("failed", "not_applied")]


async def test_invalid_arguments_to_a_mutating_tool_leave_one_line(settings: Settings) -> None:
    transport = scripted(lambda request: httpx.Response(200, json=DETAIL))
    async with session(settings, transport) as client:
        result = await client.call_tool("services_delete", {"service_name": "svc", "confirm": "yes"})
    assert data(result)["error"]["code"] == "invalid_arguments"
    assert transport.requests == []
    assert [(line["outcome"], line["service"]) for line in audit_lines(settings)] == [("refused", "svc")]
