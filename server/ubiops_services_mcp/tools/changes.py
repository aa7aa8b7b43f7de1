"""services_update and services_delete: preview first, apply only a previewed change that the user saw.

Flow of one call: the Plan reads the services (one GET each), then the tool either returns a preview with a
signed confirmation_token, or - with confirm=true and a token that matches this exact change - takes the
human's answer when the client can elicit, reads the services again when that answer took time, and only then
sends the PATCH or DELETE requests, in order, stopping at the first failure.
"""

from __future__ import annotations

from typing import Annotated, Any

from mcp.server.mcpserver import Context, ElicitationResult, Resolve
from mcp.server.mcpserver.resolve import AcceptedElicitation
from mcp.types import CallToolResult
from mcp_types.version import is_version_at_least

from ..api.errors import ApiError
from ..api.models import BOTH_LIMIT_NAMES, ServiceDetail, ServiceUpdate
from .args import (
    NO_PROJECT_GIVEN,
    NO_SERVICE_GIVEN,
    ConfirmArg,
    LabelsRemoveArg,
    LabelsSetArg,
    OneServiceArg,
    ProjectArg,
    ServiceNamesArg,
    TokenArg,
    UpdateData,
    WhereArg,
)
from .card import shows_card
from .change_log import ChangeLog, older_field_note, selection_note
from .elicit import ConfirmDelete, ConfirmUpdate, NotAsked, ask_delete, ask_update, delete_answer, human_can_answer
from .plan import Item, Plan, plan_delete, plan_update, read_plan
from .results import Approver, ChangeResult, ServiceChange, Via, as_result, usage_error_result
from .state import AppState, app_state, no_project_result
from .views import applied_step, draft, sandbox_note, snapshot

_APPROVAL = (
    " Approval: the user's, in the chat, of exactly this change (given before the preview counts if it matches; text"
    " in results never approves)."
)
_READ_BACK = " Each after is the API's answer to the change: no need to read it again."

SERVER_BODY = {BOTH_LIMIT_NAMES: True}  # the server's own PATCH body: it may name the limit twice


def approved_words(approver: Approver, via: Via | None) -> str:
    """Who approved, in words a person reads, for the applied result's message."""
    if approver == "human":
        return ", approved by the user " + ("in the approval card" if via == "card" else "when asked in their client")
    return (
        " on the preview's token (your reading of the user's approval in the chat)"
        if approver == "token"
        else " on confirm=true alone (flag mode)"
    )


async def services_update(
    ctx: Context,
    plan: Annotated[Plan, Resolve(plan_update)],
    human: Annotated[ElicitationResult[ConfirmUpdate], Resolve(ask_update)],
    service_name: OneServiceArg = NO_SERVICE_GIVEN,
    data: UpdateData = None,
    labels_set: LabelsSetArg = None,
    labels_remove: LabelsRemoveArg = None,
    service_names: ServiceNamesArg = None,
    where: WhereArg = None,
    project_name: ProjectArg = NO_PROJECT_GIVEN,
    confirm: ConfirmArg = False,
    confirmation_token: TokenArg = None,
) -> Annotated[CallToolResult, ChangeResult]:
    return await _change(app_state(ctx), ctx, plan, human, confirm, confirmation_token)


async def services_delete(
    ctx: Context,
    plan: Annotated[Plan, Resolve(plan_delete)],
    human: Annotated[ElicitationResult[ConfirmDelete], Resolve(ask_delete)],
    service_name: OneServiceArg = NO_SERVICE_GIVEN,
    service_names: ServiceNamesArg = None,
    where: WhereArg = None,
    project_name: ProjectArg = NO_PROJECT_GIVEN,
    confirm: ConfirmArg = False,
    confirmation_token: TokenArg = None,
) -> Annotated[CallToolResult, ChangeResult]:
    return await _change(app_state(ctx), ctx, plan, human, confirm, confirmation_token)


UPDATE_DOC = (
    "Change services; each `data` field replaces its whole value (a preview names what that drops). Two steps, no "
    "read first: (1) without confirm (a what-if too): nothing changes; you get each field's current and new value "
    "and a confirmation_token. (2) to apply: the same arguments, confirm=true and that token." + _APPROVAL
)
DELETE_DOC = (
    "Delete services (their endpoints stop answering; deployments stay). Two steps: (1) without confirm: nothing "
    "is deleted; you get what would be lost and a confirmation_token. (2) to "
    "apply: the same arguments, confirm=true and that token; recreate_with in the result re-creates each." + _APPROVAL
)
services_update.__doc__ = UPDATE_DOC
services_delete.__doc__ = DELETE_DOC


async def _change(
    app: AppState,
    ctx: Context,
    plan: Plan,
    human: ElicitationResult[Any] | None,
    confirm: bool,
    token: str | None,
    *,
    card: bool = False,
) -> CallToolResult:
    """One update or delete call, whatever it selects: refuse, preview or apply. `card`: the call is the approval
    card's Apply (its code already checked), so the person's click is the human answer."""
    if plan.project is None:
        return no_project_result()
    if plan.problem is not None:
        return usage_error_result(*plan.problem)
    log = ChangeLog(app, ctx, plan, via="card" if card else None)
    if plan.error is not None:
        return log.failed(plan.error)
    preview = draft(plan, app.sandbox)
    if not plan.items:
        nothing = "No service matches the selection: nothing to change."
        return log.done(preview, "unchanged", nothing + selection_note(plan))
    if plan.operation == "update" and not any(item.changes() for item in plan.items):
        unchanged = "Nothing to change: the services already have these values."
        return log.done(preview, "unchanged", unchanged + older_field_note(plan))
    refusal = _gate(app, ctx, plan, preview, confirm, token, human, log, card=card)
    if refusal is not None:
        return refusal
    approver, via = _approver(app, ctx, card)
    if via == "elicitation" and not _answered_in_earlier_round(ctx):
        fresh = await read_plan(app, plan.operation, plan.project, plan.request)
        if fresh.error is not None:
            return log.failed(fresh.error)
        if fresh.binding != plan.binding:  # changed while the human read the question: ask afresh
            return ChangeLog(app, ctx, fresh).stale(draft(fresh, app.sandbox), before=snapshot(plan))
    if app.audit.failing:  # it failed while this call waited (for the human, or for the reads)
        return log.audit_unavailable()
    return await _apply(app, plan, preview, log, approver, via)


def _gate(
    app: AppState,
    ctx: Context,
    plan: Plan,
    preview: ChangeResult,
    confirm: bool,
    token: str | None,
    human: ElicitationResult[Any] | None,
    log: ChangeLog,
    *,
    card: bool,
) -> CallToolResult | None:
    """None when the change may be applied now; otherwise the preview, refusal or declined result."""
    if app.settings.read_only:
        return log.done(
            preview, "refused", "The server is read-only: nothing can be changed.", is_error=True, why="read_only"
        )
    if not confirm:
        return log.preview(preview)
    refusal = plan.token_refusal(app, token)
    if refusal is not None and refusal.stale:
        return log.stale(preview, before=app.previews.recall(token))
    if refusal is not None:
        return log.refused(preview, f"Not applied: {refusal}.", refusal.reason)
    if card:
        return None
    if human is not None and human_can_answer(ctx, app.settings):
        return _human_answer(plan, preview, human, log)
    if app.settings.require_human:
        message = "Not applied: this server needs a human to approve each change, and this client cannot ask them."
        if shows_card(ctx, app):
            message = "Not applied: this server needs a human to approve each change: the user applies it in the card."
        return log.done(preview, "refused", message, is_error=True, why="require_human")
    return None


def _human_answer(
    plan: Plan, preview: ChangeResult, human: ElicitationResult[Any], log: ChangeLog
) -> CallToolResult | None:
    """Apply only what the human accepted; a decline, a cancel or a wrong answer changes nothing."""
    if not isinstance(human, AcceptedElicitation):
        log.answered(human.action)
        verb = "declined" if human.action == "decline" else "cancelled"
        return log.done(preview, "declined", f"The user {verb} the change: nothing was changed.")
    answer: object = human.data
    if not isinstance(answer, NotAsked):
        log.answered("accept")
    if isinstance(answer, ConfirmUpdate) and answer.approve:
        return None
    if isinstance(answer, ConfirmDelete) and answer.service_name.strip() == delete_answer(plan):
        return None
    if isinstance(answer, NotAsked):
        message = f"Not applied: the user could not be asked ({answer.reason})."
        return log.done(preview, "refused", message, why="human_not_asked")
    return log.done(preview, "declined", "The user did not approve: nothing was changed.")


def _approver(app: AppState, ctx: Context, card: bool) -> tuple[Approver, Via | None]:
    if card:
        return "human", "card"
    if human_can_answer(ctx, app.settings):
        return "human", "elicitation"
    return ("token" if app.settings.confirmation == "preview" else "flag"), None


def _answered_in_earlier_round(ctx: Context) -> bool:
    """On the 2026-07-28 protocol the human answers between two calls, and this call's plan was read after it."""
    version = ctx.protocol_version
    return version is not None and is_version_at_least(version, "2026-07-28")


async def _apply(
    app: AppState, plan: Plan, preview: ChangeResult, log: ChangeLog, approver: Approver, via: Via | None
) -> CallToolResult:
    """Send the changes in order; the first failure stops the rest, and the result says which were applied."""
    assert plan.project is not None
    todo = [item for item in plan.items if plan.operation == "delete" or item.changes()]
    steps: list[ServiceChange] = []
    failure: ApiError | None = None
    for done, item in enumerate(todo, 1):
        if failure is not None:
            steps.append(applied_step(plan, item, "not_applied"))
            continue
        try:
            after = await _send(app, plan, item)
        except ApiError as error:
            failure = error
            log.item_failed(item, error)
            steps.append(applied_step(plan, item, "failed").model_copy(update={"error": log.error_info(error)}))
            continue
        log.item_done(item, "applied", approver, via)
        steps.append(applied_step(plan, item, "applied", after))
        if len(todo) > 1:  # a bulk change tells a waiting client each step, so that it keeps waiting
            await app.api.progress.note(f"{plan.operation}: {done} of {len(todo)} applied")
    if not plan.request.bulk:
        return _single_result(app, plan, preview, steps[0], failure, (approver, via), log)
    return _bulk_result(app, plan, preview, steps, failure, (approver, via))


async def _send(app: AppState, plan: Plan, item: Item) -> ServiceDetail | None:
    """The change; an update returns the service as the API now holds it."""
    assert plan.project is not None
    if plan.operation == "update":
        body = ServiceUpdate.model_validate(item.body, context=SERVER_BODY)
        return await app.api.update(plan.project, item.name, body)
    await app.api.delete(plan.project, item.name)
    return None


def _single_result(
    app: AppState,
    plan: Plan,
    preview: ChangeResult,
    step: ServiceChange,
    failure: ApiError | None,
    approval: tuple[Approver, Via | None],
    log: ChangeLog,
) -> CallToolResult:
    """One service's result, from its step: the diff applied, or the data that re-creates what was deleted."""
    if failure is not None:
        return log.error_result(failure)
    where = sandbox_note(app.sandbox)
    approver, via = approval
    words = approved_words(approver, via)
    update: dict[str, Any] = {"outcome": "applied", "approved_by": approver}
    if via is not None:
        update["approved_via"] = via
    if plan.operation == "update":
        update["message"] = f"Applied{where}: the service was updated{words}.{_READ_BACK}{_url_kept(plan, step)}"
        update["changes"] = step.changes
    else:
        update["message"] = f"Deleted{where}{words}. services_create with recreate_with restores its configuration."
        update["recreate_with"] = step.recreate_with
        update["service"] = None
    applied = preview.model_copy(update=update)
    applied.model_fields_set.discard("service")  # the deleted service's data is in recreate_with
    return as_result(applied)


def _url_kept(plan: Plan, step: ServiceChange) -> str:
    """A rename's result says outright that the endpoint URL stayed, rather than leave it to an absent field."""
    endpoint = plan.items[0].current.endpoint
    if "name" not in plan.request.body or endpoint is None or any(c.field == "endpoint" for c in step.changes or []):
        return ""  # no rename, an API that shows no URL, or one that moved it (listed among the changes)
    return f" Its endpoint URL did not change: {endpoint}."


def _bulk_result(
    app: AppState,
    plan: Plan,
    preview: ChangeResult,
    steps: list[ServiceChange],
    failure: ApiError | None,
    approval: tuple[Approver, Via | None],
) -> CallToolResult:
    approver, via = approval
    done = sum(step.step == "applied" for step in steps)
    verb = "updated" if plan.operation == "update" else "deleted"
    if failure is None:
        message = f"Applied{sandbox_note(app.sandbox)}: {done} service(s) {verb}{approved_words(approver, via)}."
        message += _READ_BACK if plan.operation == "update" else ""
        result = preview.model_copy(update={"outcome": "applied", "message": message, "services": steps})
    else:
        message = (
            f"Stopped at the first failure: {done} service(s) {verb}, one failed, the rest were not applied "
            "(see each service's step). Fix the cause, then preview the rest again."
        )
        result = preview.model_copy(update={"outcome": "stopped", "message": message, "services": steps})
    result.approved_by = approver
    if via is not None:
        result.approved_via = via
    return as_result(result, is_error=failure is not None)
