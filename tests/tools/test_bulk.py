"""Several services under one preview and one confirmation: exactly the previewed set, or nothing."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from mcp import Client

from tests.conftest import RecordingTransport, data, session
from ubiops_services_mcp.settings import Settings

pytestmark = pytest.mark.anyio

STAGING = {"env": "staging"}


def service(name: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "deployment": "hello-world", "port": 8080, **extra}


@pytest.fixture
async def client(settings: Settings, wire: RecordingTransport, mode: str) -> AsyncIterator[Client]:
    async with session(settings, wire, mode) as client:
        for name in ("a", "b", "c"):
            await client.call_tool("services_create", {"data": service(name, labels=STAGING)})
        await client.call_tool("services_create", {"data": service("prod", labels={"env": "prod"})})
        wire.clear()
        yield client


async def sandbox_call(wire: RecordingTransport, method: str, path: str, body: Any = None) -> httpx.Response:
    """Someone else's request to the same API, bypassing the recorder."""
    async with httpx.AsyncClient(transport=wire.inner, base_url="http://sandbox.invalid/v2.1/") as other:
        headers = {"Authorization": "Token someone-else"}
        return await other.request(method, f"projects/demo/{path}", json=body, headers=headers)


def audit_lines(settings: Settings) -> list[dict[str, Any]]:
    assert settings.audit_log is not None
    return [json.loads(line) for line in Path(settings.audit_log).read_text().splitlines()]


async def test_delete_by_label_takes_two_calls(client: Client, wire: RecordingTransport, settings: Settings) -> None:
    where = {"where": {"labels": STAGING}}
    preview = data(await client.call_tool("services_delete", where))
    assert wire.mutations == []
    assert preview["outcome"] == "preview"
    assert [s["service_name"] for s in preview["services"]] == ["a", "b", "c"]
    shown = preview["services"][0]["service"]
    assert preview["services"][0] == {
        "service_name": "a",
        "step": "preview",
        "default_version": "v1",  # what a follows now, read once for the three
        "service": shown,
    }
    assert {key: shown[key] for key in ("deployment", "port", "labels")} == {
        "deployment": "hello-world",
        "port": 8080,
        "labels": STAGING,
    }
    assert shown["endpoint"].startswith("https://")
    wire.clear()
    applied = data(await client.call_tool("services_delete", {**where, "confirm": True, **token_of(preview)}))
    assert applied["outcome"] == "applied"
    assert [(s["service_name"], s["step"]) for s in applied["services"]] == [
        ("a", "applied"),
        ("b", "applied"),
        ("c", "applied"),
    ]
    assert all(s["recreate_with"]["labels"] == STAGING for s in applied["services"])
    lost = {k: v for k, v in applied["services"][0]["recreate_with"].items() if k != "name" and v not in ("", {}, [])}
    assert {k: v for k, v in shown.items() if k != "endpoint"} == lost  # the preview showed all that would be lost
    assert [r.line for r in wire.mutations] == [f"DELETE /v2.1/projects/demo/services/{n}" for n in "abc"]
    left = data(await client.call_tool("services_list", {}))
    assert [s["name"] for s in left["services"]] == ["prod"]
    applied_lines = [line for line in audit_lines(settings) if line["tool"] == "services_delete"][-3:]
    assert [(line["service"], line["selection"]) for line in applied_lines] == [
        (name, 'where:{"labels": {"env": "staging"}}') for name in "abc"
    ]


def token_of(result: dict[str, Any]) -> dict[str, str]:
    return {"confirmation_token": result["confirmation_token"]}


async def test_a_service_that_gains_the_label_makes_the_confirm_refuse(
    client: Client, wire: RecordingTransport
) -> None:
    where = {"where": {"labels": STAGING}}
    preview = data(await client.call_tool("services_delete", where))
    await sandbox_call(wire, "PATCH", "services/prod", {"labels": STAGING})
    wire.clear()
    result = await client.call_tool("services_delete", {**where, "confirm": True, **token_of(preview)})
    assert result.is_error
    refused = data(result)
    assert refused["outcome"] == "refused"
    assert wire.mutations == []
    assert {"service_name": "prod", "field": "service", "at_preview": "not selected", "now": "selected"} in refused[
        "changed_since_preview"
    ]
    assert [s["service_name"] for s in refused["services"]] == ["a", "b", "c", "prod"]
    assert refused["confirmation_token"] != preview["confirmation_token"]


async def test_bulk_update_by_names_applies_in_order(client: Client, wire: RecordingTransport) -> None:
    args = {"service_names": ["c", "a"], "data": {"port": 9090}}
    preview = data(await client.call_tool("services_update", args))
    change = {"changes": [{"field": "port", "current": 8080, "new": 9090}], "default_version": "v1"}
    assert preview["services"] == [
        {"service_name": "c", "step": "preview", **change},
        {"service_name": "a", "step": "preview", **change},
    ]
    wire.clear()
    applied = data(await client.call_tool("services_update", {**args, "confirm": True, **token_of(preview)}))
    assert applied["outcome"] == "applied"
    assert [(r.line, r.body) for r in wire.mutations] == [
        ("PATCH /v2.1/projects/demo/services/c", {"port": 9090}),
        ("PATCH /v2.1/projects/demo/services/a", {"port": 9090}),
    ]


async def test_a_token_for_one_set_does_not_apply_to_another(client: Client, wire: RecordingTransport) -> None:
    preview = data(await client.call_tool("services_delete", {"service_names": ["a", "b"]}))
    other = {"service_names": ["a", "prod"], "confirm": True, **token_of(preview)}
    result = data(await client.call_tool("services_delete", other))
    assert result["outcome"] == "refused"
    assert "another project or service" in result["message"]
    assert wire.mutations == []


async def test_bulk_apply_stops_at_the_first_failure(client: Client, wire: RecordingTransport) -> None:
    args = {"service_names": ["a", "b", "c"]}
    preview = data(await client.call_tool("services_delete", args))
    wire.inner = FailOn(wire, "DELETE", "/services/b")  # the API refuses the second service's DELETE
    result = await client.call_tool("services_delete", {**args, "confirm": True, **token_of(preview)})
    assert result.is_error
    stopped = data(result)
    assert stopped["outcome"] == "stopped"
    assert [(s["service_name"], s["step"]) for s in stopped["services"]] == [
        ("a", "applied"),
        ("b", "failed"),
        ("c", "not_applied"),
    ]
    assert stopped["services"][1]["error"]["code"] == "forbidden"
    assert "1 service(s) deleted" in stopped["message"]


class FailOn(httpx.AsyncBaseTransport):
    """The sandbox, except that one request is refused with 403."""

    def __init__(self, wire: RecordingTransport, method: str, suffix: str) -> None:
        self.inner, self.method, self.suffix = wire.inner, method, suffix

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == self.method and request.url.path.endswith(self.suffix):
            return httpx.Response(403, json={"error": "No permission"})
        return await self.inner.handle_async_request(request)


async def test_the_selection_is_capped(settings: Settings, wire: RecordingTransport) -> None:
    async with session(settings, wire) as client:
        for i in range(51):
            await client.call_tool("services_create", {"data": service(f"s{i:02}", labels=STAGING)})
        wire.clear()
        result = await client.call_tool("services_delete", {"where": {"labels": STAGING}})
    assert result.is_error
    assert "matches 51 services; at most 50" in data(result)["error"]["message"]
    assert wire.mutations == []


@pytest.mark.parametrize(
    ("args", "rule"),
    [
        ({}, "exactly one of service_name, service_names or where"),
        ({"service_name": "a", "where": {"deployment": "hello-world"}}, "exactly one of"),
        ({"where": {}}, "where is empty"),
        ({"where": {"labels": {}}}, "where is empty"),
        ({"service_names": ["a", "b"], "data": {"name": "x"}}, "A rename changes one service"),
    ],
)
async def test_unclear_selections_are_refused_before_any_request(
    client: Client, wire: RecordingTransport, args: dict[str, Any], rule: str
) -> None:
    tool = "services_update" if "data" in args else "services_delete"
    result = await client.call_tool(tool, args)
    assert result.is_error
    assert rule in data(result)["error"]["message"]
    assert wire.requests == []
