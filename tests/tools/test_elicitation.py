"""A client that can elicit gets the human's answer before anything is applied; one that cannot is never asked."""

from __future__ import annotations

from typing import Any

import pytest
from mcp.client.session import ClientRequestContext
from mcp.types import ElicitRequestParams, ElicitResult

from tests.conftest import RecordingTransport, data, session
from ubiops_services_mcp.settings import Settings

pytestmark = pytest.mark.anyio

SERVICE = {"name": "svc", "deployment": "hello-world", "port": 8080}
UPDATE = {"service_name": "svc", "data": {"port": 9090}}


class Human:
    """Answers elicitation requests as scripted, and remembers what it was asked."""

    def __init__(self, action: str, content: dict[str, Any] | None = None) -> None:
        self.action = action
        self.content = content
        self.asked: list[str] = []

    async def __call__(self, context: ClientRequestContext, params: ElicitRequestParams) -> ElicitResult:
        self.asked.append(params.message)
        return ElicitResult(action=self.action, content=self.content)  # type: ignore[arg-type]


async def apply_with(
    settings: Settings,
    wire: RecordingTransport,
    mode: str,
    human: Human | None,
    tool: str,
    args: dict[str, Any],
) -> dict[str, Any]:
    extra = {"elicitation_callback": human} if human is not None else {}
    async with session(settings, wire, mode, **extra) as client:
        await client.call_tool("services_create", {"data": SERVICE})
        preview = await client.call_tool(tool, args)
        token = data(preview)["confirmation_token"]
        wire.clear()
        result = await client.call_tool(tool, {**args, "confirm": True, "confirmation_token": token})
    return data(result)


async def test_update_accepted_by_the_human(settings: Settings, wire: RecordingTransport, mode: str) -> None:
    human = Human("accept", {"approve": True})
    result = await apply_with(settings, wire, mode, human, "services_update", UPDATE)
    assert result["outcome"] == "applied"
    assert len(human.asked) == 1
    assert "port: 8080 -> 9090" in human.asked[0]
    # One GET per round, shared by the question and the apply: the 2026-07-28 protocol takes two rounds, the
    # second read after the human answered; the handshake protocol asks mid-call, so it reads again after the answer.
    rounds = ["GET", "GET"]
    assert [r.method for r in wire.service_requests] == [*rounds, "PATCH"]


@pytest.mark.parametrize(("action", "content"), [("decline", None), ("cancel", None), ("accept", {"approve": False})])
async def test_update_not_approved_changes_nothing(
    settings: Settings, wire: RecordingTransport, mode: str, action: str, content: Any
) -> None:
    human = Human(action, content)
    result = await apply_with(settings, wire, mode, human, "services_update", UPDATE)
    assert result["outcome"] == "declined"
    assert "nothing was changed" in result["message"]
    assert wire.mutations == []


async def test_delete_needs_the_name_typed(settings: Settings, wire: RecordingTransport, mode: str) -> None:
    human = Human("accept", {"service_name": "svc"})
    result = await apply_with(settings, wire, mode, human, "services_delete", {"service_name": "svc"})
    assert result["outcome"] == "applied"
    assert "Type the service name" in human.asked[0]
    assert [r.method for r in wire.mutations] == ["DELETE"]


@pytest.mark.parametrize(("action", "content"), [("accept", {"service_name": "sv"}), ("decline", None)])
async def test_delete_with_wrong_name_or_declined_changes_nothing(
    settings: Settings, wire: RecordingTransport, mode: str, action: str, content: Any
) -> None:
    result = await apply_with(settings, wire, mode, Human(action, content), "services_delete", {"service_name": "svc"})
    assert result["outcome"] == "declined"
    assert wire.mutations == []


async def test_preview_never_asks(settings: Settings, wire: RecordingTransport, mode: str) -> None:
    human = Human("accept", {"approve": True})
    async with session(settings, wire, mode, elicitation_callback=human) as client:
        await client.call_tool("services_create", {"data": SERVICE})
        await client.call_tool("services_update", UPDATE)
        await client.call_tool("services_update", {**UPDATE, "confirm": True})  # refused: no token
    assert human.asked == []


async def test_client_without_elicitation_falls_back_to_the_token(
    settings: Settings, wire: RecordingTransport, mode: str
) -> None:
    result = await apply_with(settings, wire, mode, None, "services_update", UPDATE)
    assert result["outcome"] == "applied"


async def test_no_elicitation_setting_does_not_ask(settings: Settings, wire: RecordingTransport, mode: str) -> None:
    human = Human("decline")
    off = settings.with_overrides(elicitation=False)
    result = await apply_with(off, wire, mode, human, "services_update", UPDATE)
    assert result["outcome"] == "applied"
    assert human.asked == []


async def test_flag_mode_still_asks_the_human(settings: Settings, wire: RecordingTransport, mode: str) -> None:
    human = Human("decline")
    flag = settings.with_overrides(confirmation="flag")
    async with session(flag, wire, mode, elicitation_callback=human) as client:
        await client.call_tool("services_create", {"data": SERVICE})
        result = await client.call_tool("services_delete", {"service_name": "svc", "confirm": True})
    assert data(result)["outcome"] == "declined"
    assert len(human.asked) == 1
    assert [r.method for r in wire.mutations] == ["POST"]
