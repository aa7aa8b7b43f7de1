"""Single-label edits without a read first, refusals that name what someone else changed, and a change made
while the human reads the approval question (never applied on the strength of the older answer)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from mcp import Client
from mcp.client.session import ClientRequestContext
from mcp.types import ElicitRequestParams, ElicitResult

from tests.conftest import RecordingTransport, data, session
from ubiops_services_mcp.settings import Settings

pytestmark = pytest.mark.anyio

WEB = {"name": "web", "deployment": "hello-world", "port": 8080, "labels": {"team": "ml", "env": "prod"}}


@pytest.fixture
async def client(settings: Settings, wire: RecordingTransport, mode: str) -> AsyncIterator[Client]:
    async with session(settings, wire, mode) as client:
        await client.call_tool("services_create", {"data": WEB})
        wire.clear()
        yield client


async def someone_else(wire: RecordingTransport, method: str, name: str, body: Any = None) -> None:
    """A colleague's request to the same API, not through this server."""
    async with httpx.AsyncClient(transport=wire.inner, base_url="http://sandbox.invalid/v2.1/") as other:
        path = "projects/demo/services" + ("" if method == "POST" else f"/{name}")
        response = await other.request(method, path, json=body, headers={"Authorization": "Token colleague"})
        assert response.is_success, response.text


async def test_adding_one_label_keeps_the_others_without_a_read(client: Client, wire: RecordingTransport) -> None:
    args = {"service_name": "web", "labels_set": {"owner": "ml-platform"}}
    preview = data(await client.call_tool("services_update", args))
    assert preview["changes"] == [
        {
            "field": "labels",
            "current": {"team": "ml", "env": "prod"},
            "new": {"team": "ml", "env": "prod", "owner": "ml-platform"},
        }
    ]
    token = preview["confirmation_token"]
    applied = data(await client.call_tool("services_update", {**args, "confirm": True, "confirmation_token": token}))
    assert applied["outcome"] == "applied"
    assert [r.line for r in wire.service_requests] == [
        "GET /v2.1/projects/demo/services/web",
        "GET /v2.1/projects/demo/services/web",
        "PATCH /v2.1/projects/demo/services/web",
    ]
    assert wire.mutations[0].body == {"labels": {"team": "ml", "env": "prod", "owner": "ml-platform"}}


async def test_removing_a_label_keeps_the_others(client: Client, wire: RecordingTransport) -> None:
    args = {"service_name": "web", "labels_remove": ["env", "absent"], "confirm": True}
    token = data(await client.call_tool("services_update", {k: v for k, v in args.items() if k != "confirm"}))
    await client.call_tool("services_update", {**args, "confirmation_token": token["confirmation_token"]})
    assert wire.mutations[0].body == {"labels": {"team": "ml"}}


async def test_the_token_binds_the_resulting_labels(client: Client, wire: RecordingTransport) -> None:
    """A label added by someone else after the preview would be dropped by the previewed body: refused."""
    args = {"service_name": "web", "labels_set": {"owner": "ml-platform"}}
    token = data(await client.call_tool("services_update", args))["confirmation_token"]
    await someone_else(wire, "PATCH", "web", {"labels": {"team": "ml", "env": "prod", "tier": "gold"}})
    wire.clear()
    result = await client.call_tool("services_update", {**args, "confirm": True, "confirmation_token": token})
    refused = data(result)
    assert refused["outcome"] == "refused"
    assert wire.mutations == []
    assert refused["changed_since_preview"] == [
        {
            "field": "labels",
            "at_preview": {"team": "ml", "env": "prod"},
            "now": {"team": "ml", "env": "prod", "tier": "gold"},
        }
    ]
    assert "touch what this call changes" in refused["message"]
    assert refused["changes"][0]["new"] == {"team": "ml", "env": "prod", "tier": "gold", "owner": "ml-platform"}


async def test_a_stale_refusal_names_the_other_change(client: Client, wire: RecordingTransport) -> None:
    args = {"service_name": "web", "data": {"port": 9090}}
    token = data(await client.call_tool("services_update", args))["confirmation_token"]
    await someone_else(wire, "PATCH", "web", {"description": "owned by the search team"})
    wire.clear()
    result = await client.call_tool("services_update", {**args, "confirm": True, "confirmation_token": token})
    assert result.is_error
    refused = data(result)
    assert wire.mutations == []
    assert refused["changed_since_preview"] == [
        {"field": "description", "at_preview": "", "now": "owned by the search team"}
    ]
    assert "do not touch what this call changes" in refused["message"]
    assert "Nothing has changed" not in refused["message"]
    fresh = refused["confirmation_token"]
    applied = data(await client.call_tool("services_update", {**args, "confirm": True, "confirmation_token": fresh}))
    assert applied["outcome"] == "applied"


@pytest.mark.parametrize(
    ("args", "rule"),
    [
        ({"data": {"labels": {"a": "b"}}, "labels_set": {"c": "d"}}, "either data.labels"),
        ({"labels_set": {"a": "b"}, "labels_remove": ["a"]}, "both in labels_set and in labels_remove"),
        ({}, "Nothing to change"),
    ],
)
async def test_contradictory_label_edits_are_refused(
    client: Client, wire: RecordingTransport, args: dict[str, Any], rule: str
) -> None:
    result = await client.call_tool("services_update", {"service_name": "web", **args})
    assert result.is_error
    assert rule in data(result)["error"]["message"]
    assert wire.requests == []


class RacingHuman:
    """Answers the approval question, but while they type, a colleague replaces the service."""

    def __init__(self, wire: RecordingTransport, answer: dict[str, Any], race: Any) -> None:
        self.wire, self.answer, self.race = wire, answer, race
        self.asked = 0

    async def __call__(self, context: ClientRequestContext, params: ElicitRequestParams) -> ElicitResult:
        self.asked += 1
        await self.race(self.wire)
        return ElicitResult(action="accept", content=self.answer)


async def replace_web(wire: RecordingTransport) -> None:
    await someone_else(wire, "DELETE", "web")
    await someone_else(wire, "POST", "", {**WEB, "port": 7070, "description": "PRODUCTION"})


async def move_web(wire: RecordingTransport) -> None:
    await someone_else(wire, "PATCH", "web", {"port": 7070})


@pytest.mark.parametrize(
    ("tool", "args", "answer", "race", "changed"),
    [
        ("services_delete", {}, {"service_name": "web"}, replace_web, {"port", "description", "endpoint"}),
        ("services_update", {"data": {"port": 9090}}, {"approve": True}, move_web, {"port"}),
    ],
)
async def test_a_change_during_the_approval_question_is_not_overwritten(
    settings: Settings, wire: RecordingTransport, mode: str, tool: str, args: Any, answer: Any, race: Any, changed: Any
) -> None:
    human = RacingHuman(wire, answer, race)
    async with session(settings, wire, mode, elicitation_callback=human) as client:
        await client.call_tool("services_create", {"data": WEB})
        call = {"service_name": "web", **args}
        token = data(await client.call_tool(tool, call))["confirmation_token"]
        wire.clear()
        result = await client.call_tool(tool, {**call, "confirm": True, "confirmation_token": token})
        after = data(await client.call_tool("services_get", {"service_name": "web"}))["service"]
    assert human.asked == 1
    assert wire.mutations == []
    refused = data(result)
    assert refused["outcome"] == "refused"
    assert {c["field"] for c in refused["changed_since_preview"]} >= changed
    assert after["port"] == 7070


async def test_the_result_and_the_audit_say_who_approved(settings: Settings, wire: RecordingTransport) -> None:
    async with session(settings, wire) as client:
        await client.call_tool("services_create", {"data": WEB})
        args = {"service_name": "web", "data": {"port": 9090}}
        token = data(await client.call_tool("services_update", args))["confirmation_token"]
        result = await client.call_tool("services_update", {**args, "confirm": True, "confirmation_token": token})
    assert data(result)["approved_by"] == "token"
    assert settings.audit_log is not None
    assert '"approved_by":"token"' in settings.audit_log.read_text().splitlines()[-1]


async def test_require_human_refuses_what_no_human_can_approve(settings: Settings, wire: RecordingTransport) -> None:
    async with session(settings.with_overrides(require_human=True), wire) as client:
        await client.call_tool("services_create", {"data": WEB})
        args = {"service_name": "web"}
        token = data(await client.call_tool("services_delete", args))["confirmation_token"]
        result = await client.call_tool("services_delete", {**args, "confirm": True, "confirmation_token": token})
    assert result.is_error
    assert data(result)["outcome"] == "refused"
    assert "needs a human" in data(result)["message"]
    assert [r.method for r in wire.mutations] == ["POST"]


async def test_another_process_names_the_change_too(settings: Settings, wire: RecordingTransport) -> None:
    """A client that starts a new server process per call (or a restarted one) still gets the change listed:
    the previews live beside the audit log, for as long as their tokens."""
    args = {"service_name": "web", "data": {"port": 9090}}
    async with session(settings, wire) as first:
        await first.call_tool("services_create", {"data": WEB})
        token = data(await first.call_tool("services_update", args))["confirmation_token"]
    await someone_else(wire, "PATCH", "web", {"description": "owned by search"})
    async with session(settings, wire) as second:
        result = data(await second.call_tool("services_update", {**args, "confirm": True, "confirmation_token": token}))
    assert result["changed_since_preview"] == [{"field": "description", "at_preview": "", "now": "owned by search"}]
    assert settings.audit_log is not None
    assert (settings.audit_log.parent / "previews.sqlite3").exists()


async def test_a_preview_from_elsewhere_says_the_changes_cannot_be_listed(
    settings: Settings, wire: RecordingTransport, tmp_path: Path
) -> None:
    args = {"service_name": "web", "data": {"port": 9090}}
    async with session(settings, wire) as first:
        await first.call_tool("services_create", {"data": WEB})
        token = data(await first.call_tool("services_update", args))["confirmation_token"]
    await someone_else(wire, "PATCH", "web", {"description": "owned by search"})
    elsewhere = settings.with_overrides(audit_log=tmp_path / "replica-b" / "audit.jsonl")
    async with session(elsewhere, wire) as second:
        result = data(await second.call_tool("services_update", {**args, "confirm": True, "confirmation_token": token}))
    assert result["outcome"] == "refused"
    assert "cannot be listed" in result["message"]
    assert "changed_since_preview" not in result


async def test_the_previews_file_is_private_and_a_broken_one_costs_only_the_explanation(
    settings: Settings, wire: RecordingTransport
) -> None:
    assert settings.audit_log is not None
    store = settings.audit_log.parent / "previews.sqlite3"
    store.parent.mkdir(parents=True, exist_ok=True)
    store.write_bytes(b"not a database")  # a broken file: the server keeps previews in memory and says so
    args = {"service_name": "web", "data": {"port": 9090}}
    async with session(settings, wire) as client:
        await client.call_tool("services_create", {"data": WEB})
        preview = data(await client.call_tool("services_update", args))
    assert preview["outcome"] == "preview"
    store.unlink()
    async with session(settings, wire) as client:
        await client.call_tool("services_update", args)
    assert store.stat().st_mode & 0o777 == 0o600
