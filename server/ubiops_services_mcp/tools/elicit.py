"""Asking the human before a change is applied, through MCP elicitation, when the client can.

The resolvers run before the tool body (the SDK's Resolve/Elicit, which works on both protocol
generations) and read the same Plan as the body. They ask only for a change that would otherwise be
applied now; in every other case they answer NotAsked and the tool body decides, failing closed.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from mcp.server.mcpserver import Context, Elicit, Resolve
from pydantic import BaseModel, Field

from ..settings import Settings
from .plan import Plan, plan_delete, plan_update
from .state import app_state


class ConfirmUpdate(BaseModel):
    approve: bool = Field(description="Apply this change to the service?")


class ConfirmDelete(BaseModel):
    service_name: str = Field(description="Type the name of the service to delete it")


class NotAsked(BaseModel):
    """The resolver did not ask the human; the reason says why."""

    reason: str


def human_can_answer(ctx: Context, settings: Settings) -> bool:
    """Whether to ask: elicitation is on and the client declared form elicitation."""
    if not settings.elicitation:
        return False
    capabilities = ctx.client_capabilities
    elicitation = capabilities.elicitation if capabilities is not None else None
    return elicitation is not None and (elicitation.form is not None or elicitation.url is None)


async def ask_update(
    ctx: Context, plan: Annotated[Plan, Resolve(plan_update)], confirm: bool, confirmation_token: str | None
) -> NotAsked | Elicit[ConfirmUpdate]:
    why_not = _why_not_ask(ctx, plan, confirm, confirmation_token)
    if why_not is not None:
        return NotAsked(reason=why_not)
    lines = [f"- {f}: {_show(c)} -> {_show(n)}" for f, c, n in plan.changes()]
    if not lines:
        return NotAsked(reason="nothing to change")
    message = f"Apply this change to service '{plan.service}' in project '{plan.project}'?\n" + "\n".join(lines)
    return Elicit(message, ConfirmUpdate)


async def ask_delete(
    ctx: Context, plan: Annotated[Plan, Resolve(plan_delete)], confirm: bool, confirmation_token: str | None
) -> NotAsked | Elicit[ConfirmDelete]:
    why_not = _why_not_ask(ctx, plan, confirm, confirmation_token)
    if why_not is not None:
        return NotAsked(reason=why_not)
    assert plan.current is not None
    message = (
        f"Delete service '{plan.service}' in project '{plan.project}'? Its endpoint {plan.current.endpoint} stops "
        f"answering. Type the service name to confirm."
    )
    return Elicit(message, ConfirmDelete)


def _why_not_ask(ctx: Context, plan: Plan, confirm: bool, token: str | None) -> str | None:
    """None when this call would apply the change now; otherwise why the human is not asked."""
    app = app_state(ctx)
    if not confirm or app.settings.read_only or not human_can_answer(ctx, app.settings):
        return "no change to apply in this call, or the client cannot be asked"
    if plan.current is None:
        return (
            "the service could not be read"
            if plan.error is None
            else f"the service could not be read: {plan.error.code}"
        )
    return plan.token_refusal(app, token)


def _show(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)
