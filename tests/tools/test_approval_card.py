"""The approval card (MCP Apps): only a client that declares the extension sees it, and only the card's single-use
code applies a change through it; every refusal sends nothing and leaves one audit line."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from mcp import Client
from mcp.client.extension import advertise
from mcp.server.apps import APP_MIME_TYPE, EXTENSION_ID
from mcp.types import CallToolResult
from pydantic import SecretStr

from tests.conftest import HOST, TOKEN, RecordingTransport, data, session
from ubiops_services_mcp.api.auth import caller_token
from ubiops_services_mcp.settings import ALL_TOOLS, Settings
from ubiops_services_mcp.tools.card import CARD_META, CARD_TOOL, CARD_URI

pytestmark = pytest.mark.anyio

SERVICE = {"name": "svc", "deployment": "hello-world", "port": 8080, "description": "front door"}
UPDATE = {"service_name": "svc", "data": {"port": 9090}}
APPS = advertise(EXTENSION_ID, {"mimeTypes": [APP_MIME_TYPE]})


@asynccontextmanager
async def apps_session(settings: Settings, wire: RecordingTransport, mode: str = "legacy") -> AsyncIterator[Client]:
    async with session(settings, wire, mode, extensions=[APPS]) as client:
        yield client


def card(result: CallToolResult) -> dict[str, Any]:
    assert result.meta is not None
    return result.meta[CARD_META]


def answer(meta: dict[str, Any], decision: str = "apply", **changes: Any) -> dict[str, Any]:
    """The card's call: what the preview's _meta gave it, and the person's decision."""
    args = {
        "operation": meta["operation"],
        "arguments": meta["arguments"],
        "confirmation_token": meta["confirmation_token"],
        "approval_code": meta["approval_code"],
        "decision": decision,
    }
    return {**args, **changes}


def audit(settings: Settings) -> list[dict[str, Any]]:
    assert settings.audit_log is not None
    return [json.loads(line) for line in settings.audit_log.read_text().splitlines()]


async def previewed(client: Client, wire: RecordingTransport, tool: str = "services_update") -> CallToolResult:
    await client.call_tool("services_create", {"data": SERVICE})
    preview = await client.call_tool(tool, UPDATE if tool == "services_update" else {"service_name": "svc"})
    wire.clear()
    return preview


async def test_a_client_without_apps_sees_what_it_saw_before(settings: Settings, wire: RecordingTransport) -> None:
    async with session(settings, wire) as plain, apps_session(settings, wire) as apps:
        listed = (await plain.list_tools()).tools
        with_apps = {tool.name: tool for tool in (await apps.list_tools()).tools}
        resources = [str(r.uri) for r in (await plain.list_resources()).resources]
        preview = await previewed(plain, wire)
    assert [tool.name for tool in listed] == list(ALL_TOOLS)
    assert all(tool.meta is None for tool in listed)
    assert CARD_URI not in resources
    assert preview.meta is None
    assert "approval_code" not in preview.content[0].text  # type: ignore[union-attr]
    assert "asks the user" not in data(preview)["message"]
    assert "make it only if the user approved exactly this change" in data(preview)["message"]
    # The same server, to a client that declares MCP Apps: the card, its tool (app-only), the links.
    assert set(with_apps) == {*ALL_TOOLS, CARD_TOOL}
    assert with_apps[CARD_TOOL].meta == {"ui": {"resourceUri": CARD_URI, "visibility": ["app"]}}
    assert with_apps["services_update"].meta == {"ui": {"resourceUri": CARD_URI}}
    assert with_apps["services_delete"].meta == {"ui": {"resourceUri": CARD_URI}}
    for name in ALL_TOOLS:  # what the model reads of each tool is the same
        plain_tool = next(tool for tool in listed if tool.name == name)
        assert plain_tool.model_copy(update={"meta": None}) == with_apps[name].model_copy(update={"meta": None})


async def test_the_card_is_served_as_an_mcp_app(settings: Settings, wire: RecordingTransport) -> None:
    async with apps_session(settings, wire) as client:
        read = await client.read_resource(CARD_URI)
    content = read.contents[0]
    assert content.mime_type == APP_MIME_TYPE
    html: str = content.text  # type: ignore[union-attr]
    assert html.lower().startswith("<!doctype html>")
    assert "http://" not in html
    assert "https://" not in html


async def test_the_code_rides_only_in_meta_and_the_model_is_told_to_wait(
    settings: Settings, wire: RecordingTransport, mode: str
) -> None:
    async with apps_session(settings, wire, mode) as client:
        preview = await previewed(client, wire)
    meta = card(preview)
    assert meta["operation"] == "update"
    assert meta["arguments"] == {"project_name": "demo", "service_name": "svc", "data": {"port": 9090}}
    assert meta["confirmation_token"] == data(preview)["confirmation_token"]
    assert meta["approval_code"] not in preview.content[0].text  # type: ignore[union-attr]
    assert meta["approval_code"] not in json.dumps(preview.structured_content)
    message = data(preview)["message"]
    assert "approval card" in message
    assert "do not confirm it yourself" in message


async def test_apply_sends_one_patch_approved_by_a_human_in_the_card(
    settings: Settings, wire: RecordingTransport, mode: str
) -> None:
    async with apps_session(settings, wire, mode) as client:
        meta = card(await previewed(client, wire))
        applied = await client.call_tool(CARD_TOOL, answer(meta))
    assert [r.line for r in wire.mutations] == ["PATCH /v2.1/projects/demo/services/svc"]
    assert wire.mutations[0].body == {"port": 9090}
    result = data(applied)
    assert (result["outcome"], result["approved_by"], result["approved_via"]) == ("applied", "human", "card")
    assert result["message"] == (
        "Applied: the service was updated, approved by the user in the approval card. Each after is the API's answer"
        " to the change: no need to read it again."
    )
    line = audit(settings)[-1]
    assert (line["outcome"], line["approved_by"], line["approved_via"], line["via"]) == (
        "applied",
        "human",
        "card",
        "card",
    )


async def test_apply_deletes_once(settings: Settings, wire: RecordingTransport) -> None:
    async with apps_session(settings, wire) as client:
        meta = card(await previewed(client, wire, "services_delete"))
        deleted = await client.call_tool(CARD_TOOL, answer(meta))
    assert [r.line for r in wire.mutations] == ["DELETE /v2.1/projects/demo/services/svc"]
    assert data(deleted)["approved_via"] == "card"


async def test_decline_sends_nothing_and_is_audited(settings: Settings, wire: RecordingTransport) -> None:
    async with apps_session(settings, wire) as client:
        meta = card(await previewed(client, wire))
        before = len(audit(settings))
        declined = await client.call_tool(CARD_TOOL, answer(meta, "decline"))
        again = await client.call_tool(CARD_TOOL, answer(meta))  # the declined code cannot apply afterwards
    assert wire.mutations == []
    assert data(declined)["outcome"] == "declined"
    assert again.is_error
    assert [line["outcome"] for line in audit(settings)[before:]] == ["declined", "refused"]


async def refused_once(settings: Settings, wire: RecordingTransport, result: CallToolResult, before: int) -> str:
    """The refusal sent nothing and left exactly one audit line; its message."""
    assert result.is_error
    assert wire.mutations == []
    lines = audit(settings)[before:]
    assert [line["outcome"] for line in lines] == ["refused"]
    return str(data(result)["message"])


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("no_code", "needs the card's approval code"),
        ("forged_code", "does not belong to this preview"),
        ("other_preview", "does not belong to this preview"),
        ("tampered", "different change"),
        ("unknown_argument", "not those of a preview"),
    ],
)
async def test_a_call_that_is_not_this_cards_apply_is_refused(
    settings: Settings, wire: RecordingTransport, case: str, expected: str
) -> None:
    async with apps_session(settings, wire) as client:
        meta = card(await previewed(client, wire))
        other = card(await client.call_tool("services_update", {**UPDATE, "data": {"port": 7070}}))
        wire.clear()
        call = {
            "no_code": answer(meta, approval_code=""),
            "forged_code": answer(meta, approval_code="A" * 32),
            "other_preview": answer(meta, approval_code=other["approval_code"]),
            "tampered": answer(meta, arguments={**meta["arguments"], "data": {"port": 1}}),
            "unknown_argument": answer(meta, arguments={**meta["arguments"], "confirm": True}),
        }[case]
        before = len(audit(settings))
        result = await client.call_tool(CARD_TOOL, call)
    if case == "unknown_argument":
        assert result.is_error
        assert wire.mutations == []
        assert [line["outcome"] for line in audit(settings)[before:]] == ["refused"]
        assert expected in result.content[0].text  # type: ignore[union-attr]
        return
    assert expected in await refused_once(settings, wire, result, before)


async def test_a_code_works_once(settings: Settings, wire: RecordingTransport) -> None:
    async with apps_session(settings, wire) as client:
        meta = card(await previewed(client, wire))
        await client.call_tool(CARD_TOOL, answer(meta))
        await client.call_tool("services_update", {**UPDATE, "data": {"port": 8080}, "confirm": False})
        wire.clear()
        before = len(audit(settings))
        again = await client.call_tool(CARD_TOOL, answer(meta))
    # The service changed (the first apply), so the token is stale too: either way nothing more is sent.
    assert again.is_error
    assert wire.mutations == []
    assert [line["outcome"] for line in audit(settings)[before:]] == ["refused"]


async def test_a_code_spent_on_an_unchanged_service_stays_spent(settings: Settings, wire: RecordingTransport) -> None:
    """The same preview, applied, then the service set back by a colleague with the same time: the code's record
    alone refuses. (The sandbox moves time_updated on every write, so here: decline, then apply.)"""
    async with apps_session(settings, wire) as client:
        meta = card(await previewed(client, wire))
        await client.call_tool(CARD_TOOL, answer(meta, "decline"))
        before = len(audit(settings))
        again = await client.call_tool(CARD_TOOL, answer(meta))
    assert "used already" in await refused_once(settings, wire, again, before)


async def test_another_callers_code_is_refused(tmp_path: Path, settings: Settings, wire: RecordingTransport) -> None:
    with caller_token(SecretStr("alice-token")):
        async with apps_session(settings, wire) as alice:
            meta = card(await previewed(alice, wire))
    with caller_token(SecretStr("mallory-token")):
        async with apps_session(settings, wire) as mallory:
            before = len(audit(settings))
            result = await mallory.call_tool(CARD_TOOL, answer(meta))
    assert "does not belong to this preview and caller" in await refused_once(settings, wire, result, before)


async def test_a_change_meanwhile_refuses_with_a_fresh_card(settings: Settings, wire: RecordingTransport) -> None:
    async with apps_session(settings, wire) as client:
        meta = card(await previewed(client, wire))
        async with httpx.AsyncClient(transport=wire.inner, base_url=HOST) as colleague:
            changed = await colleague.patch(
                "projects/demo/services/svc", json={"description": "changed by a colleague"},
                headers={"Authorization": f"Token {TOKEN}"},
            )  # fmt: skip
            assert changed.status_code == 200
        stale = await client.call_tool(CARD_TOOL, answer(meta))
        fresh = card(stale)
        applied = await client.call_tool(CARD_TOOL, answer(fresh))
    result = data(stale)
    assert result["outcome"] == "refused"
    assert [(c["field"], c["now"]) for c in result["changed_since_preview"]] == [
        ("description", "changed by a colleague")
    ]
    assert fresh["approval_code"] != meta["approval_code"]
    assert [r.method for r in wire.mutations] == ["PATCH"]  # only the second click, on the fresh card
    assert data(applied)["approved_via"] == "card"


async def test_require_human_lets_only_the_card_apply(settings: Settings, wire: RecordingTransport) -> None:
    strict = replace(settings, require_human=True)
    async with apps_session(strict, wire) as client:
        preview = await previewed(client, wire)
        token = data(preview)["confirmation_token"]
        assert "only the card can apply it" in data(preview)["message"]
        by_model = await client.call_tool("services_update", {**UPDATE, "confirm": True, "confirmation_token": token})
        assert by_model.is_error
        assert wire.mutations == []
        assert "applies it in the card" in data(by_model)["message"]
        applied = await client.call_tool(CARD_TOOL, answer(card(preview)))
    assert [r.method for r in wire.mutations] == ["PATCH"]
    assert data(applied)["approved_by"] == "human"


async def test_a_client_without_apps_cannot_answer_a_card(settings: Settings, wire: RecordingTransport) -> None:
    async with apps_session(settings, wire) as apps:
        meta = card(await previewed(apps, wire))
    async with session(settings, wire) as plain:
        before = len(audit(settings))
        result = await plain.call_tool(CARD_TOOL, answer(meta))
    assert "shows no approval card" in await refused_once(settings, wire, result, before)


async def test_read_only_serves_no_card(settings: Settings, wire: RecordingTransport) -> None:
    async with apps_session(replace(settings, read_only=True), wire) as client:
        names = [tool.name for tool in (await client.list_tools()).tools]
    assert CARD_TOOL not in names
