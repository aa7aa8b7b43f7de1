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

from ..safe_text import escaped
from ..settings import Settings
from .plan import Plan, plan_delete, plan_update
from .state import app_state


class ConfirmUpdate(BaseModel):
    approve: bool = Field(description="Apply this change?")


class ConfirmDelete(BaseModel):
    service_name: str = Field(description="Type the name of the service (for several: their number) to delete")


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


def delete_answer(plan: Plan) -> str:
    """What the human must type to delete: the service's name, or for several services their number."""
    return str(len(plan.items)) if plan.request.bulk else plan.service


async def ask_update(
    ctx: Context, plan: Annotated[Plan, Resolve(plan_update)], confirm: bool, confirmation_token: str | None
) -> NotAsked | Elicit[ConfirmUpdate]:
    why_not = _why_not_ask(ctx, plan, confirm, confirmation_token)
    if why_not is not None:
        return NotAsked(reason=why_not)
    lines: list[str] = []
    for item in plan.items:
        changes = [f"- {f}: {_value(f, c)} -> {_value(f, n)}" for f, c, n in item.changes()]
        if changes and plan.request.bulk:
            lines.append(f"{quoted(item.name)}:")
        lines.extend(changes)
    if not lines:
        return NotAsked(reason="nothing to change")
    return Elicit(f"{_where(ctx)}Apply this change to {_what(plan)}?\n" + "\n".join(lines), ConfirmUpdate)


async def ask_delete(
    ctx: Context, plan: Annotated[Plan, Resolve(plan_delete)], confirm: bool, confirmation_token: str | None
) -> NotAsked | Elicit[ConfirmDelete]:
    why_not = _why_not_ask(ctx, plan, confirm, confirmation_token)
    if why_not is not None:
        return NotAsked(reason=why_not)
    if not plan.request.bulk:
        endpoint = _value("endpoint", plan.items[0].current.endpoint)
        return Elicit(
            f"{_where(ctx)}Delete {_what(plan)}? Its endpoint {endpoint} stops answering. "
            "Type the service name to confirm.",
            ConfirmDelete,
        )
    names = "\n".join(f"- {quoted(i.name)} (endpoint {_value('endpoint', i.current.endpoint)})" for i in plan.items)
    count = delete_answer(plan)
    message = f"{_where(ctx)}Delete {_what(plan)}? Their endpoints stop answering.\n{names}\nType {count} to confirm."
    return Elicit(message, ConfirmDelete)


def _what(plan: Plan) -> str:
    if plan.request.bulk:
        return f"these {len(plan.items)} services in project {quoted(plan.project)}"
    return f"service {quoted(plan.service)} in project {quoted(plan.project)}"


def _where(ctx: Context) -> str:
    """The question says when the change is only a simulation, so the human weighs it as one."""
    return "[Sandbox: a local simulation, UbiOps itself is not changed] " if app_state(ctx).sandbox else ""


def _why_not_ask(ctx: Context, plan: Plan, confirm: bool, token: str | None) -> str | None:
    """None when this call would apply the change now; otherwise why the human is not asked."""
    app = app_state(ctx)
    if not confirm or app.settings.read_only or not human_can_answer(ctx, app.settings):
        return "no change to apply in this call, or the client cannot be asked"
    if plan.problem is not None or plan.project is None:
        return "the arguments cannot make a change"
    if plan.error is not None:
        return f"the service could not be read: {plan.error.code}"
    if not plan.items:
        return "no service matches"
    refusal = plan.token_refusal(app, token)
    return None if refusal is None else str(refusal)


def quoted(text: str | None) -> str:
    """A name in the question: escaped, then in JSON string quotes, so that no name reads as more of the sentence
    (a service named `web' in project 'scratch` shows as "web' in project 'scratch")."""
    return json.dumps(escaped(text or ""), ensure_ascii=False)


# What null means for a field, in words a person reads; any other null reads "(none)".
_NULL_MEANS = {"version": "(the deployment's default version)"}


def _value(field: str, value: Any) -> str:
    """A value in the question: null in words, anything else as JSON with its hidden characters escaped."""
    if value is None:
        return _NULL_MEANS.get(field, "(none)")
    return escaped(json.dumps(value, ensure_ascii=False))
