"""Every result, success or failure, matches the tool's outputSchema: clients such as the TypeScript SDK
validate structuredContent even when isError is set."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest

from tests.conftest import RecordingTransport, data, session
from ubiops_services_mcp.settings import Settings

pytestmark = pytest.mark.anyio

SERVICE = {"name": "svc", "deployment": "hello-world", "port": 8080}
CALLS: list[tuple[str, dict[str, Any]]] = [
    ("services_create", {"data": SERVICE}),
    ("services_create", {"data": SERVICE}),  # conflict
    ("services_create", {"data": {**SERVICE, "port": 0}}),  # invalid arguments
    ("services_get", {"service_name": "svc"}),
    ("services_get", {"service_name": "nope"}),
    ("services_list", {"fields": ["id", "time_updated"]}),
    ("services_list", {"project_name": "nope"}),
    ("services_status", {"service_name": "svc"}),
    ("services_update", {"service_name": "svc", "data": {"port": 1}}),
    ("services_update", {"service_name": "svc", "data": {"port": 1}, "confirm": True}),  # refused
    ("services_update", {"service_name": "svc", "data": {}}),  # empty
    ("services_update", {"service_name": "svc", "data": {"port": 8080}}),  # unchanged
    ("services_delete", {"service_name": "svc"}),
    ("services_delete", {"service_name": "nope", "confirm": True}),
    ("services_delete", {"service_name": "svc", "confirm": True, "confirmation_token": "v1.a.b"}),
]


async def test_every_result_matches_its_output_schema(settings: Settings, wire: RecordingTransport, mode: str) -> None:
    async with session(settings, wire, mode) as client:
        schemas = {tool.name: tool.output_schema for tool in (await client.list_tools()).tools}
        for name, arguments in CALLS:
            result = await client.call_tool(name, arguments)
            schema = schemas[name]
            assert schema is not None
            assert schema["type"] == "object"
            jsonschema.validate(data(result), schema)


async def test_optional_arguments_have_a_single_type(settings: Settings, wire: RecordingTransport) -> None:
    """Optional arguments are left out rather than sent as null: no null option clutters their schema."""
    async with session(settings, wire) as client:
        tools = {tool.name: tool.input_schema for tool in (await client.list_tools()).tools}
    for name, schema in tools.items():
        for prop_name, prop in schema["properties"].items():
            if prop_name not in schema.get("required", []):
                assert "null" not in str(prop.get("type")), (name, prop_name)
                assert {"type": "null"} not in prop.get("anyOf", []), (name, prop_name)
