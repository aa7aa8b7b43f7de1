"""Update and delete results, each written to the audit log as it is made (one line per service), so no outcome
goes unrecorded and every message says what happened and what to do next."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Final, cast

from mcp.server.mcpserver import Context
from mcp.types import CallToolResult

from ..api.errors import ApiError
from . import backstop
from .card import card_meta, shows_card
from .elicit import human_can_answer
from .plan import NAME_HINT_MIN, Item, Plan
from .results import Approver, ChangeResult, ErrorInfo, Outcome, Via, api_error_result, as_result
from .state import AppState, api_fields, caller
from .views import meanwhile, overlap, snapshot

_RENAME_URL = (
    " Whether a rename changes the endpoint URL ({url}) is not documented (the documented example URL holds the"
    " service's id, not its name); the applied result says whether it did."
)
_NEXT = "To apply: the same arguments plus confirm=true and this confirmation_token"


def older_field_note(plan: Plan) -> str:
    """An update of the current per-caller limit says where the older API's name of it holds a value too."""
    if plan.operation != "update" or "rate_limit_user_default" not in plan.request.body:
        return ""
    held = {item.name: item.current.rate_limit_token for item in plan.items if item.current.rate_limit_token}
    if not held:
        return ""
    where = ", ".join(f"{name}: {value}" for name, value in held.items())
    limit = plan.request.body["rate_limit_user_default"]
    if limit is not None:
        return (
            f" rate_limit_token, the older API's name of this limit, holds a value ({where}); which of the two the"
            f" current API applies is not documented, so this change sets both to {limit}."
        )
    return (
        f" rate_limit_token, the older API's name of this limit, holds a value ({where}) that null cannot clear"
        " (it takes a number); what the current API does with it is not documented: tell the user."
    )


NEAR_MISSES_MAX = 20
"""Most services one near-miss note names; the rest are counted."""


def _listed(names: tuple[str, ...]) -> str:
    shown = ", ".join(names[:NEAR_MISSES_MAX])
    return shown + (f" and {len(names) - NEAR_MISSES_MAX} more" if len(names) > NEAR_MISSES_MAX else "")


def _matched(count: int, project: str | None) -> str:
    return (
        f" 1 service of project {project} matches." if count == 1 else f" {count} services of project {project} match."
    )


def selection_note(plan: Plan) -> str:
    """What a selector left out that a person would ask about, so no list is needed to check it: the services only
    exclude_labels kept out; and each near miss looked for, named, or said to be none: services named or labelled
    like a pair asked for without it, matches holding an excluded pair in another case, and services that run the
    asked-for version through their default (a version name never matches them)."""
    where = plan.request.where
    note = f" Left out by exclude_labels: {_listed(plan.near.left_out)}." if plan.near.left_out else ""
    if where is None:
        return note
    found: list[str] = []
    none: list[str] = []
    include = "name them to include them"
    if where.labels:
        like = _like(where.labels)
        _near(found, none, plan.near.named_like, f"{like}, without an exact pair (case counts); {include}", like)
    if where.exclude_labels:
        held = f"holding {_pairs(where.exclude_labels)} in another case"
        kept_in = f"kept in, {held}; add that spelling to exclude_labels to leave them out"
        _near(found, none, plan.near.excluded_like, kept_in, held)
    if where.version:
        on_default = f"on {where.version} by following the default version (version matches pinned services only)"
        _near(found, none, plan.near.followers, f"{on_default}; {include}", f"on {where.version} through the default")
    note += "".join(found)
    if not none:
        return note if found else note + " No near miss."
    return note + f" No {'other ' if found else ''}near miss: none {', none '.join(none)}."


def _pairs(labels: dict[str, str]) -> str:
    return " or ".join(f"{key}={value}" for key, value in labels.items())


def _like(labels: dict[str, str]) -> str:
    """What the label near-miss check looked for, as it did: names holding a long enough value, other cases."""
    values = [repr(value) for value in labels.values() if len(value) >= NAME_HINT_MIN]
    named = f"named like {' or '.join(values)} or " if values else ""
    return f"{named}holding {_pairs(labels)} in another case"


def _near(found: list[str], none: list[str], names: tuple[str, ...], found_text: str, none_text: str) -> None:
    """One near-miss check: its services and what to do, or that there are none (so no list is needed to know)."""
    if names:
        found.append(f" Near miss{'es' if len(names) > 1 else ''}: {_listed(names)}, {found_text}.")
    else:
        none.append(none_text)


PER_CALLER: Final = ("rate_limit_user_default", "concurrency_limit_user_default")
LIMITS: Final = ("rate_limit", "rate_limit_user_default", "concurrency_limit", "concurrency_limit_user_default")


def access_note(plan: Plan) -> str:
    """What a change of access or of per-caller limits means for the callers of these services, from the state the
    preview read, so nobody has to read the services first: whether callers are told apart, whether tokens stay in."""
    if plan.operation != "update":
        return ""
    return _callers_note(plan) + _other_limits_note(plan) + _tokens_note(plan)


def _other_limits_note(plan: Plan) -> str:
    """A change of one limit of one service names the others as they stay: what callers get is the tightest, and
    agents read the service for them (or, worse, told the user none was set without looking). Only the limits the
    API's answer holds: one on the documented contract has none of them, and none is claimed unset."""
    if plan.request.bulk or not plan.items or not any(field in plan.request.body for field in LIMITS):
        return ""
    item = plan.items[0]
    held = item.current.model_dump()  # the current API's limits are extra fields of ServiceDetail
    values = {field: held[field] for field in LIMITS if field in held and field not in item.body}
    stay = ", ".join(f"{field} {'none' if value is None else value}" for field, value in values.items())
    return f" Its other limits stay: {stay}." if stay else ""


def _callers_note(plan: Plan) -> str:
    if all(plan.request.body.get(field) is None for field in PER_CALLER):
        return ""
    public = tuple(item.name for item in plan.items if item.current.authentication_required is False)
    if public:
        listed = _listed(public)
        return f" Public (no authentication): {listed}; how a per-caller limit counts callers there is not documented."
    if all(item.current.authentication_required for item in plan.items):
        return " Callers must authenticate here, so each caller is an API token or user."
    return ""


def _tokens_note(plan: Plan) -> str:
    body = plan.request.body
    if body.get("authentication_required") is not True:
        return ""
    accepts = {
        item.name: body.get("authentication_method_token_enabled", item.current.authentication_method_token_enabled)
        for item in plan.items
    }
    refused = tuple(name for name, tokens in accepts.items() if tokens is False)
    if refused:
        return (
            f" API tokens are not accepted on {_listed(refused)} (authentication_method_token_enabled false): callers"
            " there would need another method, which no tool here shows."
        )
    if all(accepts.values()):
        return " API tokens stay accepted (authentication_method_token_enabled), so callers with one keep access."
    return ""


def _lost(current: Any, new: Any) -> list[str]:
    """Entries of a list, or keys of an object, that a replacing value leaves out."""
    if isinstance(current, list) and isinstance(new, list):
        return [str(entry) for entry in cast(list[Any], current) if entry not in new]
    if isinstance(current, dict) and isinstance(new, dict):
        return [str(key) for key in cast(dict[str, Any], current) if key not in new]
    return []


def _dropped_note(plan: Plan) -> str:
    """A data field replaces its whole value: say which entries that drops, so nobody has to read first to merge
    (labels_set / labels_remove edit single labels and are not data)."""
    if plan.operation != "update":
        return ""
    drops = [
        f"{field} {', '.join(repr(entry) for entry in lost)}" + (f" ({item.name})" if plan.request.bulk else "")
        for item in plan.items
        for field, current, new in item.changes()
        if field in plan.request.body and (lost := _lost(current, new))
    ]
    if not drops:
        return ""
    return f" A data field replaces its whole value, so this drops {'; '.join(drops)}: include what should stay."


class ChangeLog:
    """Builds the results of one update or delete call and writes their audit lines in the same step."""

    def __init__(self, app: AppState, ctx: Context, plan: Plan, *, via: Via | None = None) -> None:
        self._app = app
        self._ctx = ctx
        self._plan = plan
        self._card = shows_card(ctx, app)
        self._base: dict[str, Any] = {"tool": f"services_{plan.operation}", "project": plan.project, **caller(ctx)}
        if via is not None:
            self._base["via"] = via

    def preview(self, draft: ChangeResult) -> CallToolResult:
        plan = self._plan
        taken = (
            " The new name is taken: this rename would fail; pick another name." if draft.new_name_free is False else ""
        )
        if draft.new_name_free is not None:
            taken += _RENAME_URL.format(url=plan.items[0].current.endpoint or "none")
        matched = _matched(len(plan.items), plan.project) if plan.request.bulk else ""
        about = (
            matched + selection_note(plan) + access_note(plan) + taken + older_field_note(plan) + _dropped_note(plan)
        )
        message = f"Preview only: nothing has changed yet.{about}"
        return self._with_token(draft, "preview", message, is_error=False)

    def refused(self, draft: ChangeResult, reason: str, code: str = "invalid") -> CallToolResult:
        self._app.metrics.refused(code)
        return self._with_token(draft, "refused", f"{reason} Nothing was applied.", is_error=True)

    def stale(self, draft: ChangeResult, before: dict[str, dict[str, Any]] | None) -> CallToolResult:
        """Refuse a confirm for services that changed since their preview, naming what changed meanwhile."""
        self._app.metrics.refused("stale")
        if before is None:
            reason = (
                "Not applied: the service changed since the preview, which a server elsewhere made, so the changes "
                "cannot be listed here. Compare the fresh preview with what the user approved."
            )
            return self._with_token(draft, "refused", reason, is_error=True)
        changed = meanwhile(before, self._plan)
        touches = "touch" if overlap(self._plan, changed) else "do not touch"
        what = "services" if self._plan.request.bulk else "service"
        reason = (
            f"Not applied: the {what} changed since the preview; changed_since_preview lists what someone else "
            f"changed. Those changes {touches} what this call changes."
        )
        if not self._card:
            reason += " If the user's approval still fits, confirm with the fresh token below; otherwise ask the user."
        draft = draft.model_copy(update={"changed_since_preview": changed})
        return self._with_token(draft, "refused", reason, is_error=True)

    def done(
        self, draft: ChangeResult, outcome: Outcome, message: str, *, is_error: bool = False, why: str = "other"
    ) -> CallToolResult:
        """A result that needs no token; `why` is the metrics reason of a refusal."""
        if outcome == "refused":
            self._app.metrics.refused(why)
        self._record(outcome)
        return as_result(draft.model_copy(update={"outcome": outcome, "message": message}), is_error=is_error)

    def audit_unavailable(self) -> CallToolResult:
        """Refuse to apply what could not be recorded: the audit log failed since this call began."""
        self._app.metrics.refused("audit_unavailable")
        self._record("refused", error_code="audit_unavailable")
        return backstop.audit_unavailable(not self._app.audit.failing)

    def failed(self, error: ApiError) -> CallToolResult:
        """A failure before anything was sent (reading the services), or of a single-service change."""
        self._record("failed", **api_fields(error))
        return api_error_result(error)

    def item_done(self, item: Item, outcome: Outcome, approver: Approver, via: Via | None = None) -> None:
        self._record(outcome, [item], approved_by=approver, approved_via=via)

    def item_failed(self, item: Item, error: ApiError) -> None:
        self._record("failed", [item], **api_fields(error))

    def answered(self, action: str) -> None:
        """The human answered the approval question (accept, decline or cancel)."""
        self._app.metrics.answered(action)

    @staticmethod
    def error_info(error: ApiError) -> ErrorInfo:
        return ErrorInfo.model_validate({k: v for k, v in error.as_dict().items() if v is not None})

    @staticmethod
    def error_result(error: ApiError) -> CallToolResult:
        """A single-service change that failed; its audit line was written by item_failed."""
        return api_error_result(error)

    def _with_token(self, draft: ChangeResult, outcome: Outcome, message: str, *, is_error: bool) -> CallToolResult:
        token, expires = self._app.signer.issue(self._plan.binding)
        self._app.previews.remember(token, snapshot(self._plan))
        until = datetime.fromtimestamp(expires, UTC)
        expires_at = until.isoformat().replace("+00:00", "Z")
        message += " " + self._next_step(f"{until:%H:%M:%S} UTC")
        self._record(outcome, reason=message if outcome == "refused" else None)
        result = draft.model_copy(
            update={"outcome": outcome, "message": message, "confirmation_token": token, "expires_at": expires_at}
        )
        shown = as_result(result, is_error=is_error)
        if self._card:  # the card's code rides in _meta, which hosts keep from the model
            shown.meta = card_meta(self._app, self._plan, token, expires_at)
        return shown

    def _next_step(self, until: str) -> str:
        """The one sentence that says what happens next for this client: card, elicitation, or the token."""
        settings = self._app.settings
        if self._card:
            only = " (only the card can apply it)" if settings.require_human else ""
            return (
                f"The user sees this change in an approval card and can apply or decline it there until {until}"
                f"{only}: do not confirm it yourself; tell them it awaits their click, and wait for their word."
            )
        valid = f"(valid until {until}; then preview again)"
        if human_can_answer(self._ctx, settings):
            return f"{_NEXT} {valid}: the server then asks the user in their client, and only their yes applies it."
        if settings.require_human:
            return (
                "This server needs a person to approve each change, and this client cannot ask one: it stays a preview."
            )
        return (
            f"{_NEXT} {valid}. This client cannot ask the user, so that call applies it at once: make it only if"
            " the user approved exactly this change in the chat."
        )

    def _record(self, outcome: Outcome | str, items: list[Item] | None = None, **extra: Any) -> None:
        """One audit line per service (a failed read: one for the request); never a secret."""
        plan = self._plan
        chosen = list(plan.items) if items is None else items
        details = {key: value for key, value in extra.items() if value is not None}
        common = {**self._base, "outcome": outcome, **details, "sandbox": self._app.sandbox}
        if not chosen:
            request = plan.request
            edits = request.labels_set or request.labels_remove
            payload = request.changes_asked if edits or request.bulk else request.body
            self._app.audit.record(**common, service=plan.service, payload=payload)
            self._app.metrics.service_changed(self._base["tool"], str(outcome))
            return
        for item in chosen:
            self._app.metrics.service_changed(self._base["tool"], str(outcome))
            selection = {"selection": plan.service} if plan.request.bulk else {}
            self._app.audit.record(**common, service=item.name, **selection, payload=item.body)
