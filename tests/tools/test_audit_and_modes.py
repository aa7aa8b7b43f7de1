"""The audit log records every mutating attempt; read-only mode and allow lists hold at call time."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import TOKEN, RecordingTransport, data, scripted, session
from ubiops_services_mcp.audit import AuditLog
from ubiops_services_mcp.options import from_env
from ubiops_services_mcp.settings import ALL_TOOLS, READ_ONLY_TOOLS, Settings, SettingsError

pytestmark = pytest.mark.anyio

SERVICE = {"name": "svc", "deployment": "hello-world", "port": 8080}


def audit_lines(settings: Settings) -> list[dict[str, Any]]:
    assert settings.audit_log is not None
    return [json.loads(line) for line in settings.audit_log.read_text().splitlines()]


async def test_every_mutating_attempt_is_one_line(settings: Settings, wire: RecordingTransport, mode: str) -> None:
    async with session(settings, wire, mode) as client:
        await client.call_tool("services_create", {"data": SERVICE})
        await client.call_tool("services_create", {"data": SERVICE})  # 409: failed
        preview = await client.call_tool("services_update", {"service_name": "svc", "data": {"port": 1}})
        await client.call_tool("services_update", {"service_name": "svc", "data": {"port": 1}, "confirm": True})
        token = data(preview)["confirmation_token"]
        update = {"service_name": "svc", "data": {"port": 1}, "confirm": True, "confirmation_token": token}
        await client.call_tool("services_update", update)
        await client.call_tool("services_update", {"service_name": "svc", "data": {"port": 1}, "confirm": True})
        await client.call_tool("services_get", {"service_name": "svc"})  # reads are not audited
    lines = audit_lines(settings)
    outcomes = [(line["tool"], line["outcome"]) for line in lines]
    assert outcomes == [
        ("services_create", "applied"),
        ("services_create", "failed"),
        ("services_update", "preview"),
        ("services_update", "refused"),
        ("services_update", "applied"),
        ("services_update", "unchanged"),
    ]
    failed = lines[1]
    assert (failed["api_status"], failed["error_code"]) == (409, "conflict")
    assert failed["request_id"]
    for line in lines:
        assert line["project"] == "demo"
        assert line["service"] == "svc"
        assert line["client"]["name"] == "mcp"
        assert line["time"].endswith("Z")
    assert lines[4]["payload"] == {"port": 1}
    assert TOKEN not in settings.audit_log.read_text()  # type: ignore[union-attr]


async def test_declined_is_recorded(settings: Settings, wire: RecordingTransport) -> None:
    from mcp.types import ElicitResult

    async def decline(context: Any, params: Any) -> ElicitResult:
        return ElicitResult(action="decline")

    async with session(settings, wire, elicitation_callback=decline) as client:
        await client.call_tool("services_create", {"data": SERVICE})
        preview = await client.call_tool("services_delete", {"service_name": "svc"})
        token = data(preview)["confirmation_token"]
        await client.call_tool("services_delete", {"service_name": "svc", "confirm": True, "confirmation_token": token})
    assert [line["outcome"] for line in audit_lines(settings)] == ["applied", "preview", "declined"]


def test_concurrent_writers_do_not_interleave(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    logs = [AuditLog(path) for _ in range(4)]
    payload = {"data": "x" * 3000}

    def write(log: AuditLog, writer: int) -> None:
        for i in range(200):
            log.record(writer=writer, i=i, payload=payload)

    threads = [threading.Thread(target=write, args=(log, n)) for n, log in enumerate(logs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for log in logs:
        log.close()
    lines = path.read_text().splitlines()
    assert len(lines) == 800
    assert {(e["writer"], e["i"]) for e in map(json.loads, lines)} == {(w, i) for w in range(4) for i in range(200)}


async def test_read_only_serves_and_allows_only_reads(settings: Settings, wire: RecordingTransport, mode: str) -> None:
    async with session(settings.with_overrides(read_only=True), wire, mode) as client:
        listed = await client.list_tools()
        delete = await client.call_tool("services_delete", {"service_name": "svc", "confirm": True})
        create = await client.call_tool("services_create", {"data": SERVICE})
    assert sorted(t.name for t in listed.tools) == sorted(READ_ONLY_TOOLS)
    assert delete.is_error
    assert create.is_error
    assert "Unknown tool" in delete.content[0].text  # type: ignore[union-attr]
    assert wire.requests == []


async def test_allow_list(settings: Settings, wire: RecordingTransport) -> None:
    chosen = settings.with_overrides(tools=("services_list", "services_delete"))
    async with session(chosen, wire) as client:
        listed = await client.list_tools()
        create = await client.call_tool("services_create", {"data": SERVICE})
    assert [t.name for t in listed.tools] == ["services_list", "services_delete"]
    assert create.is_error
    assert wire.requests == []


def test_allow_list_with_unknown_tool_refuses_to_start() -> None:
    with pytest.raises(SettingsError, match="unknown tool"):
        from_env({"UBIOPS_MCP_TOOLS": "services_list,services_nuke"})


async def test_tool_annotations(settings: Settings, wire: RecordingTransport) -> None:
    async with session(settings, wire) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
    assert set(tools) == set(ALL_TOOLS)
    for name in READ_ONLY_TOOLS:
        assert tools[name].annotations.read_only_hint is True  # type: ignore[union-attr]
    for name in ("services_update", "services_delete"):
        hints = tools[name].annotations
        assert hints is not None
        assert hints.destructive_hint is True
        assert hints.idempotent_hint is True
        assert "confirmation_token" in (tools[name].description or "")
    create = tools["services_create"].annotations
    assert create is not None
    assert create.read_only_hint is False
    assert create.destructive_hint is False
    for tool in tools.values():
        assert tool.output_schema is not None


async def test_create_with_unknown_outcome_is_settled_by_a_get(settings: Settings) -> None:
    detail = {"id": "1", "name": "svc", "deployment": "hello-world", "port": 8080, "time_updated": "t"}

    def api(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            raise httpx.ReadTimeout("no answer", request=request)
        return httpx.Response(200, json=detail)

    transport = scripted(api)
    async with session(settings, transport) as client:
        result = await client.call_tool("services_create", {"data": SERVICE})
    assert data(result)["settled"] is True
    assert [r.line for r in transport.service_requests] == [
        "POST /v2.1/projects/demo/services",
        "GET /v2.1/projects/demo/services/svc",
    ]


@pytest.mark.parametrize(
    ("get_status", "get_body", "says"),
    [
        (404, {"error": "Service not found"}, "it was not created"),
        (200, {"id": "1", "name": "svc", "deployment": "other", "port": 8080}, "differs from the request"),
    ],
)
async def test_unsettled_create_is_never_posted_twice(
    settings: Settings, get_status: int, get_body: Any, says: str
) -> None:
    def api(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            raise httpx.RemoteProtocolError("connection dropped", request=request)
        return httpx.Response(get_status, json=get_body)

    transport = scripted(api)
    async with session(settings, transport) as client:
        result = await client.call_tool("services_create", {"data": SERVICE})
    error = data(result)["error"]
    assert error["code"] == "outcome_unknown"
    assert says in error["message"]
    assert [r.method for r in transport.service_requests] == ["POST", "GET"]


async def test_a_rename_whose_answer_was_lost_is_read_back_under_its_new_name(settings: Settings) -> None:
    detail = {"id": "1", "name": "svc", "deployment": "hello-world", "port": 8080, "time_updated": "t1"}
    patches: list[int] = []

    def api(request: httpx.Request) -> httpx.Response:
        if request.method == "PATCH":
            patches.append(1)
            if len(patches) == 1:
                raise httpx.RemoteProtocolError("dropped after the API applied it", request=request)
            return httpx.Response(404, json={"error": "Service not found"})
        if request.url.path.endswith("/services/new"):
            return httpx.Response(200, json={**detail, "name": "new", "time_updated": "t2"})
        return httpx.Response(200, json=detail)

    transport = scripted(api)
    rename = {"service_name": "svc", "data": {"name": "new"}, "confirm": True}
    async with session(settings.with_overrides(confirmation="flag"), transport) as client:
        result = await client.call_tool("services_update", rename)
    assert data(result)["outcome"] == "applied"
    assert data(result)["changes"] == [{"field": "name", "before": "svc", "after": "new"}]
    assert [r.line for r in transport.service_requests] == [
        "GET /v2.1/projects/demo/services/svc",
        "PATCH /v2.1/projects/demo/services/svc",
        "PATCH /v2.1/projects/demo/services/svc",
        "GET /v2.1/projects/demo/services/new",
    ]
