"""Bad arguments are refused before any request; API failures reach the model as results it can act on."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.conftest import RecordingTransport, data, scripted, session
from ubiops_services_mcp.settings import Settings

pytestmark = pytest.mark.anyio

VALID = {"name": "svc", "deployment": "hello-world", "port": 8080}


@pytest.mark.parametrize(
    ("tool", "arguments", "field", "rule"),
    [
        ("services_create", {"data": {**VALID, "name": ""}}, "data.name", "at least 1 character"),
        ("services_create", {"data": {**VALID, "name": "x" * 65}}, "data.name", "at most 64 characters"),
        ("services_create", {"data": {**VALID, "port": 0}}, "data.port", "greater than or equal to 1"),
        ("services_create", {"data": {**VALID, "port": 65536}}, "data.port", "less than or equal to 65535"),
        ("services_create", {"data": {**VALID, "port": "8080"}}, "data.port", "valid integer"),
        ("services_create", {"data": {**VALID, "port": 80.5}}, "data.port", "valid integer"),
        ("services_create", {"data": {**VALID, "authentication_required": "true"}},
         "data.authentication_required", "valid boolean"),
        ("services_create", {"data": {**VALID, "health_check": {"path": "status"}}},
         "data.health_check.path", "must start with '/'"),
        ("services_create", {"data": {**VALID, "health_check": {"path": "/s", "interval": 0}}},
         "data.health_check.interval", "greater than or equal to 1"),
        ("services_create", {"data": {**VALID, "health_check": {"path": "/s", "failure_threshold": -1}}},
         "data.health_check.failure_threshold", "greater than or equal to 1"),
        ("services_create", {"data": {**VALID, "health_check": {"path": "/s", "timeout": 0}}},
         "data.health_check.timeout", "greater than or equal to 1"),
        ("services_create", {"data": {**VALID, "rate_limit_token": 0}}, "data.rate_limit_token", "equal to 1"),
        ("services_create", {"data": {**VALID, "request_logging_excluded_paths": "(a"}},
         "data.request_logging_excluded_paths", "valid regular expression"),
        ("services_create", {"data": {**VALID, "labels": {"a": 1}}}, "data.labels.a", "valid string"),
        ("services_create", {"data": {**VALID, "description": "d" * 401}}, "data.description", "at most 400"),
        ("services_create", {"data": {**VALID, "bogus": 1}}, "data.bogus", "Extra inputs are not permitted"),
        ("services_create", {"data": {"name": "svc", "port": 1}}, "data.deployment", "Field required"),
        ("services_create", {"data": VALID, "project_name": "a\nb"}, "project_name", "control characters"),
        ("services_update", {"service_name": "svc", "data": {"port": None}}, "data.port", "valid integer"),
        ("services_update", {"service_name": "svc", "data": {"bogus": 1}}, "data.bogus", "Extra inputs"),
        ("services_update", {"service_name": "svc", "data": {}, "confirm": "yes"}, "confirm", "valid boolean"),
        ("services_delete", {"service_name": ".."}, "service_name", "'.' and '..' are not names"),
        ("services_delete", {"service_name": "x" * 10_000}, "service_name", "at most 64 characters"),
        ("services_get", {}, "service_name", "Field required"),
        ("services_list", {"labels": "team"}, "labels", "is not 'key:value'"),
        ("services_list", {"labels": {"a:b": "c"}}, "labels", "label keys must be"),
        ("services_list", {"limit": 0}, "limit", "greater than or equal to 1"),
        ("services_list", {"fields": ["secret"]}, "fields", "unknown field; known: authentication_header_pass_"),
    ],
)  # fmt: skip
async def test_invalid_arguments_are_refused_before_any_request(
    settings: Settings, wire: RecordingTransport, tool: str, arguments: dict[str, Any], field: str, rule: str
) -> None:
    async with session(settings, wire) as client:
        result = await client.call_tool(tool, arguments)
        still_serving = await client.call_tool("services_list", {})
    assert result.is_error
    error = data(result)["error"]
    assert error["code"] == "invalid_arguments"
    problems = {p["field"]: p["rule"] for p in error["problems"]}
    assert field in problems, problems
    assert rule in problems[field]
    assert f"{field}: " in error["message"]
    assert wire.lines == ["GET /v2.1/projects/demo/services"]
    assert not still_serving.is_error


async def test_empty_update_is_refused(settings: Settings, wire: RecordingTransport) -> None:
    async with session(settings, wire) as client:
        result = await client.call_tool("services_update", {"service_name": "svc", "data": {}})
    assert data(result)["error"]["field"] == "data"
    assert wire.requests == []


def answer(status: int, body: Any = None, headers: dict[str, str] | None = None) -> RecordingTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, json=body, headers=headers)

    return scripted(handler)


@pytest.mark.parametrize(
    ("status", "body", "code", "message", "hint"),
    [
        (400, {"error": "port is invalid"}, "invalid_request", "port is invalid", "correct the field"),
        (401, {"error": "Invalid token"}, "unauthorized", "Invalid token", "UBIOPS_API_TOKEN"),
        (403, {"error_message": "No permission"}, "forbidden", "No permission", "permission on demo"),
        (404, {"error": "Service not found"}, "not_found", "Service not found",
         "No service 'svc' in project 'demo'"),
        (409, {"error": "exists"}, "conflict", "exists", "services_update"),
        (500, {"error": "boom"}, "server_error", "boom", "try again"),
    ],
)  # fmt: skip
async def test_api_errors_carry_status_message_and_next_step(
    settings: Settings, status: int, body: Any, code: str, message: str, hint: str
) -> None:
    transport = answer(status, body)
    async with session(settings, transport) as client:
        result = await client.call_tool("services_get", {"service_name": "svc"})
    assert result.is_error
    error = data(result)["error"]
    assert (error["code"], error["status"], error["message"]) == (code, status, message)
    assert hint in error["hint"]
    assert error["retryable"] is False
    assert len(transport.requests) == 1


async def test_conflict_on_create_points_to_update(settings: Settings) -> None:
    async with session(settings, answer(409, {"error": "A service with name 'svc' already exists"})) as client:
        result = await client.call_tool("services_create", {"data": VALID})
    error = data(result)["error"]
    assert error["code"] == "conflict"
    assert "services_update" in error["hint"]


async def test_not_found_project_on_list(settings: Settings) -> None:
    async with session(settings, answer(404, {"error": "Project not found"})) as client:
        result = await client.call_tool("services_list", {})
    assert "Project 'demo'" in data(result)["error"]["hint"]
