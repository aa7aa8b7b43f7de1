"""What the model reads in tools/list: every argument described, every tool annotated and saying what it changes."""

from __future__ import annotations

import re
from typing import Any

import pytest
from mcp.types import Tool

from tests.conftest import RecordingTransport, session
from ubiops_services_mcp.settings import MUTATING_TOOLS, READ_ONLY_TOOLS, Settings

pytestmark = pytest.mark.anyio

# What a mutating tool's description must say it does to UbiOps.
CHANGES = {
    "services_create": r"\bcreate\b.*\bservices?\b",
    "services_update": r"\bchange\b.*\bservices?\b",
    "services_delete": r"\bdelete\b.*\bservices?\b",
}
# Properties whose name is their whole description; every other property says something.
# project_name (optional: the default project) and labels (an object of strings) cost bytes in every tool.
SELF_EVIDENT = {
    "service_name",
    "deployment",
    "deployment_name",
    "description",
    "path",
    "limit",
    "project_name",
    "labels",
    "deployment_version_ids",  # ids of versions: deployments_get shows them
    "confirmation_token",  # the guarded tools' descriptions say where it comes from and what it does
    "confirm",  # the guarded tools' descriptions say: the same arguments, confirm=true and the token
}
# services_update's data has services_create's fields: described there, once (a model reads every tool together).
DESCRIBED_IN_CREATE = {"ServiceUpdate": "ServiceCreate", "HealthCheck": "HealthCheck"}


def undescribed(schema: dict[str, Any]) -> list[str]:
    """JSON paths of properties without a description, in the schema and all its $defs.

    A property that is only a `$ref` counts as described when the definition it points to is.
    """
    defs: dict[str, Any] = schema.get("$defs", {})
    missing: list[str] = []

    def described(node: dict[str, Any]) -> bool:
        ref = node.get("$ref")
        if "description" in node or not isinstance(ref, str):
            return "description" in node
        return "description" in defs.get(ref.removeprefix("#/$defs/"), {})

    def walk(node: Any, path: str) -> None:
        if isinstance(node, list):
            for index, item in enumerate(node):
                walk(item, f"{path}[{index}]")
        elif isinstance(node, dict):
            for name, prop in node.get("properties", {}).items():
                if not described(prop):
                    missing.append(f"{path}.properties.{name}")
            for key, value in node.items():
                walk(value, f"{path}.{key}")

    walk(schema, "$")
    return missing


@pytest.fixture
async def tools(settings: Settings, wire: RecordingTransport, mode: str) -> list[Tool]:
    async with session(settings, wire, mode) as client:
        return (await client.list_tools()).tools


async def test_every_input_property_has_a_description_nested_defs_included(tools: list[Tool]) -> None:
    assert len(tools) == len(READ_ONLY_TOOLS) + len(MUTATING_TOOLS)
    create = next(tool for tool in tools if tool.name == "services_create").input_schema["$defs"]
    listing = next(tool for tool in tools if tool.name == "services_list").input_schema["properties"]
    for tool in tools:
        if "data" in tool.input_schema["properties"]:
            assert tool.input_schema["$defs"], f"{tool.name}: the nested models are checked too"
        missing = [path for path in undescribed(tool.input_schema) if path.rsplit(".", 1)[-1] not in SELF_EVIDENT]
        if tool.name == "services_update":
            missing = [path for path in missing if not described_in_create(path, create)]
        # where's fields are services_list's filters, described there (the Where definition says so).
        missing = [path for path in missing if not described_in_list(path, listing)]
        assert missing == [], tool.name


def described_in_create(path: str, create_defs: dict[str, Any]) -> bool:
    """Whether an update data field left undescribed is described in services_create's schema."""
    parts = path.split(".")  # $.$defs.<Def>.properties.<name>
    if len(parts) != 5 or parts[1] != "$defs" or parts[2] not in DESCRIBED_IN_CREATE:
        return False
    field = create_defs[DESCRIBED_IN_CREATE[parts[2]]]["properties"].get(parts[4], {})
    return "description" in field or parts[4] in SELF_EVIDENT


def described_in_list(path: str, listing: dict[str, Any]) -> bool:
    """Whether a where field left undescribed is a services_list filter described there."""
    prefix = "$.$defs.Where.properties."
    return path.startswith(prefix) and "description" in listing.get(path.removeprefix(prefix), {})


def test_the_description_check_finds_what_is_missing() -> None:
    schema = {
        "properties": {"a": {"type": "string"}, "b": {"$ref": "#/$defs/B"}, "c": {"$ref": "#/$defs/C"}},
        "$defs": {
            "B": {"description": "a B", "properties": {"x": {"type": "integer"}}},
            "C": {"properties": {"y": {"anyOf": [{"properties": {"z": {}}}], "description": "y"}}},
        },
    }
    assert undescribed(schema) == [
        "$.properties.a",
        "$.properties.c",
        "$.$defs.B.properties.x",
        "$.$defs.C.properties.y.anyOf[0].properties.z",
    ]


async def test_every_tool_is_annotated_and_says_what_it_changes(tools: list[Tool]) -> None:
    for tool in tools:
        annotations, description = tool.annotations, tool.description or ""
        assert annotations is not None, tool.name
        assert tool.title, tool.name
        hints = (annotations.read_only_hint, annotations.destructive_hint, annotations.idempotent_hint)
        assert None not in hints, tool.name
        assert annotations.open_world_hint is True, tool.name
        if tool.name in READ_ONLY_TOOLS:
            assert (annotations.read_only_hint, annotations.destructive_hint) == (True, False), tool.name
            assert "Read-only" in description, tool.name
        else:
            assert annotations.read_only_hint is False, tool.name
            assert "Read-only" not in description, tool.name
            assert re.search(CHANGES[tool.name], description, re.IGNORECASE | re.DOTALL), tool.name


async def test_destructive_tools_explain_preview_and_confirmation(tools: list[Tool]) -> None:
    destructive = [tool for tool in tools if tool.annotations is not None and tool.annotations.destructive_hint]
    assert sorted(tool.name for tool in destructive) == ["services_delete", "services_update"]
    for tool in destructive:
        description = tool.description or ""
        assert "confirmation_token" in description, tool.name
        assert "without confirm" in description, tool.name
