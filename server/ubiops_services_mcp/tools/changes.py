"""services_update and services_delete: preview first, apply only a previewed change that the user saw.

Flow of one call: the Plan reads the service (one GET), then the tool either returns a preview with a
signed confirmation_token, or - with confirm=true and a token that matches this exact change - takes the
human's answer when the client can elicit, and only then sends the PATCH or DELETE.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from mcp.server.mcpserver import Context, ElicitationResult, Resolve
from mcp.server.mcpserver.resolve import AcceptedElicitation
from mcp.types import CallToolResult

from ..api.errors import ApiError
from ..api.models import CREATE_FIELDS, ServiceDetail
from .args import NO_PROJECT_GIVEN, ConfirmArg, ProjectArg, ServiceNameArg, TokenArg, UpdateData
from .confirmation import Binding
from .elicit import ConfirmDelete, ConfirmUpdate, NotAsked, ask_delete, ask_update, human_can_answer
from .plan import Plan, plan_delete, plan_update
from .results import ChangeResult, FieldChange, Outcome, api_error_result, as_result, usage_error_result
from .state import NO_PROJECT, AppState, api_fields, app_state, caller

PREVIEW_NEXT = (
    "Nothing has changed. Show this preview to the user; if they agree, call again with the same arguments, "
    "confirm=true and this confirmation_token."
)


async def services_update(
    service_name: ServiceNameArg,
    data: UpdateData,
    ctx: Context,
    plan: Annotated[Plan, Resolve(plan_update)],
    human: Annotated[ElicitationResult[ConfirmUpdate], Resolve(ask_update)],
    project_name: ProjectArg = NO_PROJECT_GIVEN,
    confirm: ConfirmArg = False,
    confirmation_token: TokenArg = None,
) -> Annotated[CallToolResult, ChangeResult]:
    """Change fields of a service; fields left out of `data` keep their values.

    Guarded, two steps: (1) call without confirm: nothing changes, you get the field-level diff and a
    confirmation_token; show the diff to the user. (2) if they agree, call again with the same arguments,
    confirm=true and that token. The user may also be asked to approve in their client.
    """
    app = app_state(ctx)
    if plan.project is None:
        return usage_error_result(NO_PROJECT, "project_name")
    if not plan.body:
        return usage_error_result("data is empty: give at least one field to change.", "data")
    log = _Audit(app, ctx, plan)
    if plan.current is None:
        return log.failed(plan.error)
    changes = [FieldChange(field=f, current=c, new=n) for f, c, n in plan.changes()]
    draft = ChangeResult(
        outcome="preview", project_name=plan.project, service_name=service_name, message="", changes=changes,
        service=plan.current, sandbox=app.sandbox,
    )  # fmt: skip
    if not changes:
        return log.done(draft, "unchanged", "Nothing to change: the service already has these values.")
    refusal = _check_confirmation(app, ctx, plan, draft, confirm, confirmation_token, human, log)
    if refusal is not None:
        return refusal
    try:
        updated = await app.api.update(plan.project, service_name, data)
    except ApiError as error:
        return log.failed(error)
    applied = draft.model_copy(update={"service": updated})
    return log.done(applied, "applied", "The service was updated.")


async def services_delete(
    service_name: ServiceNameArg,
    ctx: Context,
    plan: Annotated[Plan, Resolve(plan_delete)],
    human: Annotated[ElicitationResult[ConfirmDelete], Resolve(ask_delete)],
    project_name: ProjectArg = NO_PROJECT_GIVEN,
    confirm: ConfirmArg = False,
    confirmation_token: TokenArg = None,
) -> Annotated[CallToolResult, ChangeResult]:
    """Delete a service: its endpoint stops answering. The deployment itself is not touched.

    Guarded, two steps: (1) call without confirm: nothing is deleted, you get the full configuration that
    would be lost and a confirmation_token; show it to the user. (2) if they agree, call again with
    confirm=true and that token. The user may be asked to type the name in their client. The result holds
    `recreate_with`: services_create data that re-creates the service.
    """
    app = app_state(ctx)
    if plan.project is None:
        return usage_error_result(NO_PROJECT, "project_name")
    log = _Audit(app, ctx, plan)
    if plan.current is None:
        return log.failed(plan.error)
    draft = ChangeResult(
        outcome="preview", project_name=plan.project, service_name=service_name, message="", service=plan.current,
        recreate_with=recreate_data(plan.current), sandbox=app.sandbox,
    )  # fmt: skip
    refusal = _check_confirmation(app, ctx, plan, draft, confirm, confirmation_token, human, log)
    if refusal is not None:
        return refusal
    try:
        await app.api.delete(plan.project, service_name)
    except ApiError as error:
        return log.failed(error)
    return log.done(draft, "applied", "The service was deleted; services_create with recreate_with restores it.")


def _check_confirmation(
    app: AppState,
    ctx: Context,
    plan: Plan,
    draft: ChangeResult,
    confirm: bool,
    token: str | None,
    human: ElicitationResult[Any],
    log: _Audit,
) -> CallToolResult | None:
    """None when the change may be applied now; otherwise the preview, refusal or declined result."""
    if app.settings.read_only:
        return log.refused(draft, "The server is read-only: nothing can be changed.", plan.binding)
    if not confirm:
        return log.preview(draft, PREVIEW_NEXT, plan.binding)
    refusal = plan.token_refusal(app, token)
    if refusal is not None:
        return log.refused(draft, refusal, plan.binding)
    if human_can_answer(ctx, app.settings):
        return _human_answer(draft, human, log)
    return None


def _human_answer(draft: ChangeResult, human: ElicitationResult[Any], log: _Audit) -> CallToolResult | None:
    """Apply only what the human accepted; a decline, a cancel or a wrong name changes nothing."""
    if not isinstance(human, AcceptedElicitation):
        verb = "declined" if human.action == "decline" else "cancelled"
        return log.done(draft, "declined", f"The user {verb} the change: nothing was changed.")
    answer: object = human.data
    if isinstance(answer, ConfirmUpdate) and answer.approve:
        return None
    if isinstance(answer, ConfirmDelete) and answer.service_name == draft.service_name:
        return None
    if isinstance(answer, NotAsked):
        return log.done(draft, "refused", f"Not applied: the user could not be asked ({answer.reason}).")
    return log.done(draft, "declined", "The user did not approve: nothing was changed.")


def recreate_data(service: ServiceDetail) -> dict[str, Any]:
    """The services_create data that re-creates this service (fields create accepts, nulls dropped)."""
    values = service.model_dump(mode="json", exclude_unset=True)
    return {k: v for k, v in values.items() if k in CREATE_FIELDS and v is not None}


class _Audit:
    """Builds a change result and writes its audit line in one step, so no outcome goes unrecorded."""

    def __init__(self, app: AppState, ctx: Context, plan: Plan) -> None:
        self._app = app
        self._fields = {
            "tool": f"services_{plan.operation}",
            "project": plan.project,
            "service": plan.service,
            "payload": plan.body,
            **caller(ctx),
        }

    def preview(self, draft: ChangeResult, message: str, binding: Binding) -> CallToolResult:
        return self._with_token(draft, "preview", message, binding, is_error=False)

    def refused(self, draft: ChangeResult, message: str, binding: Binding) -> CallToolResult:
        if self._app.settings.read_only:
            return self.done(draft, "refused", message, is_error=True)
        return self._with_token(draft, "refused", f"{message} {PREVIEW_NEXT}", binding, is_error=True)

    def done(self, draft: ChangeResult, outcome: Outcome, message: str, *, is_error: bool = False) -> CallToolResult:
        self._app.audit.record(**self._fields, outcome=outcome, sandbox=self._app.sandbox)
        return as_result(draft.model_copy(update={"outcome": outcome, "message": message}), is_error=is_error)

    def failed(self, error: ApiError | None) -> CallToolResult:
        assert error is not None, "a plan without the current service carries the error that stopped it"
        self._app.audit.record(**self._fields, outcome="failed", **api_fields(error), sandbox=self._app.sandbox)
        return api_error_result(error)

    def _with_token(
        self, draft: ChangeResult, outcome: Outcome, message: str, binding: Binding, *, is_error: bool
    ) -> CallToolResult:
        token, expires = self._app.signer.issue(binding)
        expires_at = datetime.fromtimestamp(expires, UTC).isoformat().replace("+00:00", "Z")
        self._app.audit.record(**self._fields, outcome=outcome, reason=message, sandbox=self._app.sandbox)
        result = draft.model_copy(
            update={
                "outcome": outcome,
                "message": message,
                "confirmation_token": token,
                "expires_at": expires_at,
            }
        )
        return as_result(result, is_error=is_error)
