"""Asking the human before a change is applied, through MCP elicitation, when the client can.

The resolvers run before the tool body (the SDK's Resolve/Elicit, which works on both protocol
generations). They ask only for a change that would otherwise be applied now; in every other case
they answer NotAsked and the tool body decides, failing closed.
"""

from __future__ import annotations

import json
from typing import Any

from mcp.server.mcpserver import Context, Elicit
from pydantic import BaseModel, Field

from ..api.errors import ApiError
from ..api.models import ServiceDetail, ServiceUpdate
from ..settings import Settings
from .confirmation import Binding, TokenRefused, canonical_hash, field_changes
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
    ctx: Context,
    project_name: str | None,
    service_name: str,
    data: ServiceUpdate,
    confirm: bool,
    confirmation_token: str | None,
) -> NotAsked | Elicit[ConfirmUpdate]:
    body = data.to_body()
    ready = await _about_to_apply(ctx, "update", project_name, service_name, body, confirm, confirmation_token)
    if isinstance(ready, NotAsked):
        return ready
    project, current = ready
    lines = [f"- {f}: {_show(c)} -> {_show(n)}" for f, c, n in field_changes(current, body)]
    if not lines:
        return NotAsked(reason="nothing to change")
    message = f"Apply this change to service '{service_name}' in project '{project}'?\n" + "\n".join(lines)
    return Elicit(message, ConfirmUpdate)


async def ask_delete(
    ctx: Context, project_name: str | None, service_name: str, confirm: bool, confirmation_token: str | None
) -> NotAsked | Elicit[ConfirmDelete]:
    ready = await _about_to_apply(ctx, "delete", project_name, service_name, {}, confirm, confirmation_token)
    if isinstance(ready, NotAsked):
        return ready
    project, current = ready
    message = (
        f"Delete service '{service_name}' in project '{project}'? Its endpoint {current.endpoint} stops "
        f"answering. Type the service name to confirm."
    )
    return Elicit(message, ConfirmDelete)


async def _about_to_apply(
    ctx: Context,
    operation: str,
    project_name: str | None,
    service_name: str,
    body: dict[str, Any],
    confirm: bool,
    token: str | None,
) -> NotAsked | tuple[str, ServiceDetail]:
    """The project and current service when this call would apply a change now; NotAsked otherwise."""
    app = app_state(ctx)
    project = app.project(project_name)
    if not confirm or project is None or app.settings.read_only or not human_can_answer(ctx, app.settings):
        return NotAsked(reason="no change to apply in this call, or the client cannot be asked")
    try:
        current = await app.api.get(project, service_name)
    except ApiError as error:
        return NotAsked(reason=f"the service could not be read: {error.code}")
    if app.settings.confirmation == "preview":
        binding = Binding(operation, project, service_name, canonical_hash(body), current.time_updated)
        try:
            app.signer.verify(token or "", binding)
        except TokenRefused as why:
            return NotAsked(reason=str(why))
    return project, current


def _show(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)
