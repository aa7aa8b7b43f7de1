"""What update and delete results show: lean previews, what was applied, and what changed meanwhile.

A result carries what the model needs to tell the user and act next, once: an update's field-level diff, a
delete's configuration (preview) or the data that re-creates it (applied), never the same object twice.
"""

from __future__ import annotations

from typing import Any

from ..api.models import CREATE_FIELDS, DeploymentVersion, ServiceDetail
from .plan import Item, Plan
from .results import (
    PEOPLE_TEXT,
    AppliedChange,
    ChangedMeanwhile,
    ChangeResult,
    FieldChange,
    ServiceChange,
    ServiceStep,
    TargetVersion,
)

# Fields that move on every write or never move: not worth a line in "what changed meanwhile".
_BOOKKEEPING = frozenset({"time_updated", "time_created", "id"})


def sandbox_note(sandbox: bool) -> str:
    return " in the sandbox (a local simulation: UbiOps itself was not changed)" if sandbox else ""


def draft(plan: Plan, sandbox: bool) -> ChangeResult:
    """The preview of this plan, before outcome and message are filled in."""
    assert plan.project is not None
    result = ChangeResult(outcome="preview", project_name=plan.project, message="", sandbox=sandbox)
    if plan.request.bulk:
        result.services = [_preview_step(plan, item) for item in plan.items]
        if plan.operation == "delete" and any(item.current.description for item in plan.items):
            result.note = PEOPLE_TEXT
        return result
    result.service_name = plan.service
    default = plan.default_for(plan.items[0]) if plan.items else None
    if default is not None:
        result.default_version = default
    if plan.items:
        _set_versions(result, plan, plan.items[0])
    if plan.items and plan.operation == "update":
        result.changes = field_changes(plan.items[0])
        if plan.new_name_free is not None:
            result.new_name_free = plan.new_name_free
    elif plan.items:
        result.service = plan.items[0].current
        if result.service.description:
            result.note = PEOPLE_TEXT
    return result


def _preview_step(plan: Plan, item: Item) -> ServiceChange:
    if plan.operation == "update":
        changes = field_changes(item)
        step = ServiceChange(service_name=item.name, step="preview" if changes else "unchanged", changes=changes)
    else:
        step = ServiceChange(service_name=item.name, step="preview", service=_would_be_lost(item.current))
    default = plan.default_for(item)
    if default is not None:
        step.default_version = default
    _set_versions(step, plan, item)
    return step


def _would_be_lost(service: ServiceDetail) -> dict[str, Any]:
    """What a bulk delete preview shows of each service: all that recreate_with would hold once it is gone, any text
    people wrote in it included (seen before the delete, with the note, not after), and its endpoint."""
    kept = {key: value for key, value in recreate_data(service).items() if key != "name" and value not in ("", {}, [])}
    return {**kept, "endpoint": service.endpoint} if service.endpoint else kept


def _set_versions(shown: ChangeResult | ServiceChange, plan: Plan, item: Item) -> None:
    """The version a move lands on and, beside it, the one the service runs now (only with a target to compare);
    set only when known, so a result without them does not name them."""
    target = _facts(plan.target_for(item))
    if target is None:
        return
    shown.target_version = target
    current = _facts(plan.current_for(item))
    if current is not None:
        shown.current_version = current


def _facts(version: DeploymentVersion | None) -> TargetVersion | None:
    if version is None:
        return None
    return TargetVersion.model_validate(version.model_dump(include=set(TargetVersion.model_fields), exclude_none=True))


def field_changes(item: Item) -> list[FieldChange]:
    return [FieldChange(field=f, current=c, new=n) for f, c, n in item.changes()]


def applied_step(plan: Plan, item: Item, step: ServiceStep, after: ServiceDetail | None = None) -> ServiceChange:
    """One service's line in a result after the apply: an applied update's diff as before/after (the old value is
    no longer current; after as the API answered, where it did), with the endpoint when the answer shows that it
    moved (a rename's URL)."""
    if plan.operation == "update" and step == "applied":
        answer = after.model_dump(mode="json", exclude_unset=True) if after is not None else {}
        done = [AppliedChange(field=f, before=b, after=answer.get(f, a)) for f, b, a in item.changes()]
        if after is not None and after.endpoint != item.current.endpoint:
            done.append(AppliedChange(field="endpoint", before=item.current.endpoint, after=after.endpoint))
        return ServiceChange(service_name=item.name, step=step, changes=done)
    if plan.operation == "update":
        return ServiceChange(service_name=item.name, step=step, changes=field_changes(item))
    recreate = recreate_data(item.current) if step == "applied" else None
    return ServiceChange(service_name=item.name, step=step, recreate_with=recreate)


def recreate_data(service: ServiceDetail) -> dict[str, Any]:
    """The services_create data that re-creates this service (fields create accepts, nulls dropped)."""
    values = service.model_dump(mode="json", exclude_unset=True)
    return {k: v for k, v in values.items() if k in CREATE_FIELDS and v is not None}


def snapshot(plan: Plan) -> dict[str, dict[str, Any]]:
    """The services as a preview shows them, by name: what a later stale confirm is compared with."""
    return {item.name: item.current.model_dump(mode="json") for item in plan.items}


def meanwhile(before: dict[str, dict[str, Any]], plan: Plan) -> list[ChangedMeanwhile]:
    """Field by field, what differs between the services at the preview and now (bulk: per service)."""
    now = snapshot(plan)
    bulk = plan.request.bulk
    found: list[ChangedMeanwhile] = []
    for name in sorted(before.keys() | now.keys()):
        old, new = before.get(name), now.get(name)
        which = {"service_name": name} if bulk else {}
        if old is None or new is None:
            at, then = ("not selected", "selected") if old is None else ("selected", "not selected (gone or changed)")
            found.append(ChangedMeanwhile(**which, field="service", at_preview=at, now=then))
            continue
        for key in sorted((old.keys() | new.keys()) - _BOOKKEEPING):
            if old.get(key) != new.get(key):
                found.append(ChangedMeanwhile(**which, field=key, at_preview=old.get(key), now=new.get(key)))
    return found


def overlap(plan: Plan, changed: list[ChangedMeanwhile]) -> bool:
    """Whether what changed meanwhile touches what this call changes (a delete touches everything)."""
    if plan.operation == "delete":
        return bool(changed)
    request = plan.request
    asked = set(request.body) | ({"labels"} if request.labels_set or request.labels_remove else set[str]())
    return any(change.field in asked or change.field == "service" for change in changed)
