"""No project and no default: the README's `invalid_arguments`, with a hint, and no request sent."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from tests.conftest import RecordingTransport, data, session
from ubiops_services_mcp.settings import Settings

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize(
    ("tool", "arguments"),
    [
        ("services_list", {}),
        ("services_get", {"service_name": "svc"}),
        ("services_status", {"service_name": "svc"}),
        ("services_create", {"data": {"name": "svc", "deployment": "hello-world", "port": 8080}}),
        ("services_update", {"service_name": "svc", "data": {"port": 9090}}),
        ("services_delete", {"service_name": "svc", "confirm": True}),
    ],
)
async def test_no_project_and_no_default_is_invalid_arguments_with_a_hint(
    settings: Settings, wire: RecordingTransport, mode: str, tool: str, arguments: dict[str, Any]
) -> None:
    async with session(replace(settings, project=None), wire, mode) as client:
        result = await client.call_tool(tool, arguments)
    assert result.is_error
    error = data(result)["error"]
    assert error["code"] == "invalid_arguments"
    assert error["field"] == "project_name"
    assert error["problems"] == [{"field": "project_name", "rule": error["message"]}]
    assert "UBIOPS_PROJECT" in error["message"]
    assert "project_name" in error["hint"]
    assert error["retryable"] is False
    assert wire.requests == []


async def test_every_argument_problem_found_by_a_tool_has_a_hint(settings: Settings, wire: RecordingTransport) -> None:
    async with session(settings, wire) as client:
        result = await client.call_tool("services_update", {"service_name": "svc", "data": {}})
    error = data(result)["error"]
    assert (error["code"], error["field"]) == ("invalid_arguments", "data")
    assert error["problems"] == [{"field": "data", "rule": error["message"]}]
    assert "data" in error["hint"]
    assert wire.requests == []
