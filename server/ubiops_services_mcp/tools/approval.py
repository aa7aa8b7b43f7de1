"""The approval card's answer: an app-only tool that applies or declines exactly one previewed change.

Only the card can call it with effect: Apply needs the single-use approval code that the preview gave the card in
its result's `_meta` (never in what the model reads), bound to the preview's confirmation token and caller. An
Apply then runs the same confirm path as services_update / services_delete with confirm=true and that token (the
services are read again; a change meanwhile refuses with a fresh preview and a fresh code). Every refusal sends
nothing and writes one audit line.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from mcp.server.apps import Apps, client_supports_apps
from mcp.server.mcpserver import Context
from mcp.types import CallToolResult
from pydantic import BaseModel, ConfigDict, Field, StrictStr, ValidationError

from ..settings import Settings
from .args import (
    NO_PROJECT_GIVEN,
    NO_SERVICE_GIVEN,
    LabelsRemoveArg,
    LabelsSetArg,
    OneServiceArg,
    ProjectArg,
    ServiceNamesArg,
    UpdateData,
    WhereArg,
)
from .card import CARD_TOOL, CARD_URI, card_html
from .change_log import ChangeLog
from .changes import _change  # pyright: ignore[reportPrivateUsage]  # one confirm path for the model and the card
from .plan import Plan, plan_delete, plan_update
from .results import usage_error_result
from .state import AppState, app_state, caller
from .views import draft


class DeleteCall(BaseModel):
    """services_delete's arguments, as the preview gave them to the card."""

    model_config = ConfigDict(extra="forbid")

    service_name: OneServiceArg = NO_SERVICE_GIVEN
    service_names: ServiceNamesArg = None
    where: WhereArg = None
    project_name: ProjectArg = NO_PROJECT_GIVEN


class UpdateCall(DeleteCall):
    """services_update's arguments, as the preview gave them to the card."""

    data: UpdateData = None
    labels_set: LabelsSetArg = None
    labels_remove: LabelsRemoveArg = None


Code = Annotated[StrictStr, Field(max_length=200)]


async def services_approve(
    ctx: Context,
    operation: Literal["update", "delete"],
    arguments: dict[str, Any],
    confirmation_token: Annotated[StrictStr, Field(max_length=1000)],
    decision: Literal["apply", "decline"],
    approval_code: Code = "",
) -> CallToolResult:
    """The approval card's Apply or Decline of one previewed change (only the card holds the approval code)."""
    app = app_state(ctx)
    try:
        plan = await _plan(ctx, operation, arguments)
    except ValidationError:
        _audit(app, ctx, operation, arguments, "invalid_arguments")
        return usage_error_result("These arguments are not those of a preview: nothing was changed.", "arguments")
    if plan.project is None or plan.problem is not None or plan.error is not None:
        return await _change(app, ctx, plan, None, False, None, card=True)  # the usual refusal, audited there
    log = ChangeLog(app, ctx, plan, via="card")
    why = _code_problem(app, ctx, confirmation_token, approval_code)
    if why is None and f"services_{operation}" not in app.settings.enabled_tools:
        why = f"services_{operation} is not enabled on this server"
    if why is not None:
        return _refused(log, plan, app, why)
    if decision == "decline":
        if not app.codes.spend(approval_code):
            return _refused(log, plan, app, "this approval code was used already")
        return log.done(
            draft(plan, app.sandbox), "declined", "The user declined in the approval card: nothing was changed."
        )
    if plan.token_refusal(app, confirmation_token) is None and not app.codes.spend(approval_code):
        return _refused(log, plan, app, "this approval code was used already")
    return await _change(app, ctx, plan, None, True, confirmation_token, card=True)


services_approve.__doc__ = "Apply or decline one previewed change: the approval card's buttons. Not for the model."


def _code_problem(app: AppState, ctx: Context, token: str, code: str) -> str | None:
    """Why this call is not the card's answer to this preview (None: it is, as far as the code tells)."""
    if not client_supports_apps(ctx):
        return "this client shows no approval card"
    if not code:
        return "an approval needs the card's approval code"
    if not app.codes.matches(token, code):
        return "the approval code does not belong to this preview and caller"
    if app.codes.spent(code):
        return "this approval code was used already"
    return None


def _refused(log: ChangeLog, plan: Plan, app: AppState, why: str) -> CallToolResult:
    message = f"Not applied: {why}. Nothing was changed; preview the change again."
    return log.done(draft(plan, app.sandbox), "refused", message, is_error=True, why="approval_code")


async def _plan(ctx: Context, operation: str, arguments: dict[str, Any]) -> Plan:
    """The plan of the previewed call, from its arguments (validated as the tool validates them)."""
    if operation == "update":
        call = UpdateCall.model_validate(arguments)
        return await plan_update(
            ctx, call.project_name, call.service_name, call.service_names, call.where, call.data,
            call.labels_set, call.labels_remove, True,
        )  # fmt: skip
    gone = DeleteCall.model_validate(arguments)
    return await plan_delete(ctx, gone.project_name, gone.service_name, gone.service_names, gone.where)


def _audit(app: AppState, ctx: Context, operation: str, arguments: dict[str, Any], code: str) -> None:
    service: object = arguments.get("service_name") or arguments.get("service_names") or arguments.get("where")
    app.audit.record(
        tool=f"services_{operation}", via="card", project=app.project(None), service=service, **caller(ctx),
        outcome="refused", error_code=code, sandbox=app.sandbox,
    )  # fmt: skip


def card_extension(settings: Settings) -> Apps | None:
    """The MCP Apps extension with the card and its tool, when the server can update or delete anything."""
    if settings.read_only or not any(tool in settings.enabled_tools for tool in ("services_update", "services_delete")):
        return None
    apps = Apps()
    apps.add_html_resource(
        CARD_URI, card_html(), name="approval-card", title="Approve a change", prefers_border=True,
        description="Shows a previewed update or delete; Apply or Decline answers it.",
    )  # fmt: skip
    apps.tool(resource_uri=CARD_URI, visibility=["app"], name=CARD_TOOL, title="Approval card answer")(services_approve)
    return apps
