"""What one update or delete call is about, read once and shared by the elicitation resolver and the tool body,
so both judge the same state of the services.

A call names one service (`service_name`), several (`service_names`) or selects them (`where`); the plan reads
every selected service (one list for a selector, then one GET each, a few at a time) and, for an update,
resolves the body each one would receive (`labels_set` / `labels_remove` merged into its current labels).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Any

from mcp.server.mcpserver import Context

from ..api.client import ServicesApi
from ..api.errors import ApiError, NotFound, RateLimited, Target
from ..api.models import DeploymentVersion, ServiceDetail, ServiceList, ServiceUpdate
from .args import BULK_MAX, Where, holds_any, kept, named
from .catalog import Catalog, MissingTarget
from .confirmation import Binding, TokenRefused, canonical_hash, field_changes
from .state import AppState, app_state


@dataclass(frozen=True)
class Request:
    """What the caller asked for: which services, and (update) what to change in each."""

    service_name: str = ""
    service_names: tuple[str, ...] | None = None
    where: Where | None = None
    body: dict[str, Any] = field(default_factory=dict[str, Any])
    labels_set: dict[str, str] = field(default_factory=dict[str, str])
    labels_remove: tuple[str, ...] = ()

    @property
    def bulk(self) -> bool:
        return not self.service_name

    @property
    def selection(self) -> str:
        """The selection in words, stable for the same selection: what a bulk token is bound to."""
        if self.service_name:
            return self.service_name
        if self.service_names is not None:
            return "names:" + ",".join(sorted(set(self.service_names)))
        assert self.where is not None
        return "where:" + json.dumps(self.where.model_dump(exclude_none=True), sort_keys=True, ensure_ascii=True)

    @property
    def changes_asked(self) -> dict[str, Any]:
        """The requested change as one object: the audit payload of a bulk call and what its token binds."""
        asked: dict[str, Any] = {"data": self.body} if self.body else {}
        if self.labels_set:
            asked["labels_set"] = self.labels_set
        if self.labels_remove:
            asked["labels_remove"] = sorted(self.labels_remove)
        return asked

    def problem(self, operation: str) -> tuple[str, str] | None:
        """(message, argument) when the arguments cannot make a change, before any request."""
        chosen = [bool(self.service_name), self.service_names is not None, self.where is not None]
        if sum(chosen) != 1:
            return "Give exactly one of service_name, service_names or where.", "service_name"
        if self.where is not None and self.where.empty:
            return (
                "where is empty: give labels, exclude_labels, deployment, version or authentication_required.",
                "where",
            )
        if operation != "update":
            return None
        if not self.body and not self.labels_set and not self.labels_remove:
            return "Nothing to change: give data, labels_set or labels_remove.", "data"
        if "labels" in self.body and (self.labels_set or self.labels_remove):
            return "Give either data.labels (replaces all labels) or labels_set/labels_remove, not both.", "data"
        if set(self.labels_set) & set(self.labels_remove):
            return "A label key is both in labels_set and in labels_remove.", "labels_remove"
        if self.bulk and "name" in self.body:
            return "A rename changes one service: use service_name.", "data"
        return None

    def body_for(self, current: ServiceDetail) -> dict[str, Any]:
        """The PATCH body for this service: the data, with single-label edits resolved against its labels."""
        body = _with_older_limit(dict(self.body), current)
        if not self.labels_set and not self.labels_remove:
            return body
        labels = {**(current.labels or {}), **self.labels_set}
        for key in self.labels_remove:
            labels.pop(key, None)
        return {**body, "labels": labels}


def _with_older_limit(body: dict[str, Any], current: ServiceDetail) -> dict[str, Any]:
    """A new per-caller limit goes to the older name too where the service holds a value there: which of the two
    the current API applies is not documented, so neither may keep the old limit."""
    limit = body.get("rate_limit_user_default")
    if limit is None or not current.rate_limit_token:
        return body
    return {**body, "rate_limit_token": limit}


@dataclass(frozen=True)
class Item:
    """One service of the change: as it is now, and the body it would receive (update)."""

    current: ServiceDetail
    body: dict[str, Any]

    @property
    def name(self) -> str:
        return self.current.name

    def changes(self) -> list[tuple[str, Any, Any]]:
        return field_changes(self.current, self.body)

    @property
    def target(self) -> tuple[str | None, str | None]:
        """The deployment and version the service points at after this change (a delete: now)."""
        version = self.body["version"] if "version" in self.body else self.current.version
        return self.body.get("deployment", self.current.deployment), version


@dataclass(frozen=True)
class NearMisses:
    """What a selector left out that a person would ask about: the services only exclude_labels left out, those
    named or labelled like a pair asked for that lack it ("staging" may mean the name; case counts), matches that
    hold an excluded pair in another case (kept in: keep=True is no keep=true), and those that run the version
    `where.version` asks for through their default (which a version name never matches)."""

    left_out: tuple[str, ...] = ()
    named_like: tuple[str, ...] = ()
    excluded_like: tuple[str, ...] = ()
    followers: tuple[str, ...] = ()


@dataclass(frozen=True)
class Plan:
    """The call's target and payload, the services as they are now, or why they could not be read."""

    operation: str
    project: str | None
    request: Request
    items: tuple[Item, ...] = ()
    error: ApiError | None = None
    problem: tuple[str, str] | None = None
    new_name_free: bool | None = None
    near: NearMisses = field(default_factory=NearMisses)
    defaults: dict[str, str] = field(default_factory=dict[str, str])
    targets: dict[tuple[str, str], DeploymentVersion] = field(default_factory=dict[tuple[str, str], DeploymentVersion])

    def default_for(self, item: Item) -> str | None:
        """The version a service that follows its deployment's default runs now; None for a pinned one."""
        deployment, version = item.target
        return self.defaults.get(deployment) if version is None and deployment else None

    def current_for(self, item: Item) -> DeploymentVersion | None:
        """The version this service runs now, where the versions read for the change show it (its deployment is the
        one it moves within): a pinned one, or its deployment's default."""
        deployment, version = item.current.deployment, item.current.version
        if not deployment or deployment != item.target[0]:
            return None
        known = {v.version: v for (name, _), v in self.targets.items() if name == deployment}
        version = version or next((v.version for v in known.values() if v.default), None)
        return known.get(version) if version else None

    def target_for(self, item: Item) -> DeploymentVersion | None:
        """The version an update of version or deployment would make this service run, as read now."""
        deployment, version = item.target
        version = version or self.default_for(item)
        return self.targets.get((deployment, version)) if deployment and version else None

    @property
    def service(self) -> str:
        """The service (single) or the selection (bulk), as the audit log and messages name it."""
        return self.request.selection

    @property
    def binding(self) -> Binding:
        """What a confirmation token for this exact change must be bound to."""
        assert self.project is not None
        if not self.request.bulk:
            item = self.items[0]
            return Binding(
                self.operation, self.project, self.service, canonical_hash(item.body), item.current.time_updated
            )
        members = canonical_hash({item.name: item.current.time_updated for item in self.items})
        payload = canonical_hash(self.request.changes_asked)
        return Binding(self.operation, self.project, self.service, payload, members)

    def token_refusal(self, app: AppState, token: str | None) -> TokenRefused | None:
        """Why `token` does not allow this change in preview mode (None: it does, or flag mode)."""
        if app.settings.confirmation != "preview":
            return None
        if token is None:
            return TokenRefused("confirm=true needs the confirmation_token of a preview", reason="missing")
        try:
            app.signer.verify(token, self.binding)
        except TokenRefused as why:
            return why
        return None


async def plan_update(
    ctx: Context,
    project_name: str,
    service_name: str,
    service_names: list[str] | None,
    where: Where | None,
    data: ServiceUpdate | None,
    labels_set: dict[str, str] | None,
    labels_remove: list[str] | None,
    confirm: bool,
) -> Plan:
    request = Request(
        service_name, _names(service_names), where, data.to_body() if data is not None else {},
        labels_set or {}, tuple(labels_remove or ()),
    )  # fmt: skip
    return await read_plan(app_state(ctx), "update", project_name, request, check_new_name=not confirm)


async def plan_delete(
    ctx: Context, project_name: str, service_name: str, service_names: list[str] | None, where: Where | None
) -> Plan:
    return await read_plan(app_state(ctx), "delete", project_name, Request(service_name, _names(service_names), where))


def _names(names: list[str] | None) -> tuple[str, ...] | None:
    return None if names is None else tuple(dict.fromkeys(names))


async def read_plan(
    app: AppState, operation: str, project_name: str, request: Request, *, check_new_name: bool = False
) -> Plan:
    """The plan; no request at all when there is no project or the arguments cannot make a change."""
    plan = Plan(operation, app.project(project_name), request)
    problem = request.problem(operation)
    if plan.project is None or problem is not None:
        return replace(plan, problem=problem)
    try:
        selection = await _selected(app.api, plan.project, request)
        names = selection.names
        if len(names) > BULK_MAX:
            too_many = f"The selection matches {len(names)} services; at most {BULK_MAX} change at once: narrow it."
            return replace(plan, problem=(too_many, "where"))
        items = await read_items(app.api, plan.project, request, names)
        catalog = Catalog(app.api, plan.project)
        near = replace(selection.near, followers=await _on_version(catalog, request, selection))
        missing = await _missing_target(catalog, request, items) if operation == "update" else None
        if missing is not None:
            return replace(plan, items=items, error=missing, near=near)
        defaults = await catalog.defaults(item.target[0] for item in items if item.target[1] is None)
        targets = await _targets(catalog, request, items) if operation == "update" else {}
        renamed = request.body.get("name")
        check = check_new_name and isinstance(renamed, str) and renamed != request.service_name
        free = await _name_free(app.api, plan.project, str(renamed)) if check else None
    except ApiError as error:
        return replace(plan, error=error)
    return replace(plan, items=items, new_name_free=free, defaults=defaults, targets=targets, near=near)


async def _targets(
    catalog: Catalog, request: Request, items: tuple[Item, ...]
) -> dict[tuple[str, str], DeploymentVersion]:
    """The versions a move would land on (status, instance bounds), read once per deployment; only informs."""
    if "deployment" not in request.body and "version" not in request.body:
        return {}
    found: dict[tuple[str, str], DeploymentVersion] = {}
    for deployment in dict.fromkeys(item.target[0] for item in items if item.target[0]):
        try:  # read already by the existence check: this asks the API nothing more
            versions = await catalog.versions(str(deployment))
        except RateLimited:
            raise
        except ApiError:
            continue
        found.update({(str(deployment), v.version): v for v in versions or ()})
    return found


async def _missing_target(catalog: Catalog, request: Request, items: tuple[Item, ...]) -> MissingTarget | None:
    """A deployment or version the update points at that does not exist: refused before any PATCH."""
    if "deployment" not in request.body and "version" not in request.body:
        return None
    for deployment, version in dict.fromkeys(item.target for item in items):
        missing = await catalog.missing(deployment, version, " Nothing was changed.") if deployment else None
        if missing is not None:
            return missing
    return None


async def read_items(api: ServicesApi, project: str, request: Request, names: list[str]) -> tuple[Item, ...]:
    """Every named service as it is now, with the body it would receive; a missing one stops the plan."""
    if not request.bulk:  # one GET: the API's own error, request id and all, if it fails
        service = await api.get(project, names[0])
        return (Item(service, request.body_for(service)),)
    found = await api.get_many(project, names)
    missing = [name for name, service in zip(names, found, strict=True) if service is None]
    if missing:
        listed = ", ".join(repr(name) for name in missing)
        raise NotFound(
            f"No service {listed} in project {project!r}.", status=404, target=Target("get", project, missing[0])
        )
    return tuple(Item(service, request.body_for(service)) for service in found if service is not None)


@dataclass(frozen=True)
class Selection:
    """What a request is about; for a selector its near misses, and the default followers that may run the asked-for
    version (their deployments' defaults, read once the selection holds, tell which do)."""

    names: list[str]
    near: NearMisses = field(default_factory=NearMisses)
    may_run: tuple[tuple[str, str], ...] = ()  # (service, deployment)


NAME_HINT_MIN = 3
"""Shortest label value looked for in the names of services that lack the label: shorter ones match by chance."""


async def _selected(api: ServicesApi, project: str, request: Request) -> Selection:
    """The names a request is about: as given, or what the selector matches now (sorted by name). A selector reads
    the whole list (one GET) and matches labels here: exact pairs, and the near misses in sight."""
    if request.service_name:
        return Selection([request.service_name])
    if request.service_names is not None:
        return Selection(list(request.service_names))
    where = request.where
    assert where is not None
    pairs, excluded = list((where.labels or {}).items()), list((where.exclude_labels or {}).items())
    listed = sorted(await api.list(project), key=lambda service: service.name)
    labelled = [s for s in listed if holds_any(s, pairs)]
    by_name = [s for s in labelled if named(s, where.deployment, where.version)]
    unlabelled = [s for s in listed if not holds_any(s, pairs) and named(s, where.deployment, where.version)]
    wanted = [s for s in by_name if kept(s, where.exclude_labels, where.authentication_required)]
    near = NearMisses(
        left_out=tuple(
            s.name
            for s in by_name
            if kept(s, None, where.authentication_required) and not kept(s, where.exclude_labels, None)
        ),
        named_like=tuple(
            s.name
            for s in unlabelled
            if _named_like(s, pairs) and kept(s, where.exclude_labels, where.authentication_required)
        ),
        excluded_like=tuple(s.name for s in wanted if _in_other_case(s, excluded)),
    )
    may_run = tuple(
        (s.name, s.deployment or "")
        for s in labelled
        if _may_run(s, where) and kept(s, where.exclude_labels, where.authentication_required)
    )
    return Selection(names=[s.name for s in wanted], near=near, may_run=may_run)


def _may_run(service: ServiceList, where: Where) -> bool:
    """Follows its default, so a version name never matches it, yet it may run that version now."""
    return bool(where.version and service.version is None and service.deployment) and named(
        service, where.deployment, None
    )


def _named_like(service: ServiceList, pairs: list[tuple[str, str]]) -> bool:
    """Named like a value asked for, or labelled with an asked-for pair in another case: not matched, yet likely
    meant ("every staging service" may mean the name; env=Staging is no env=staging)."""
    name = service.name.lower()
    return _in_other_case(service, pairs) or any(len(v) >= NAME_HINT_MIN and v.lower() in name for _, v in pairs)


def _in_other_case(service: ServiceList, pairs: list[tuple[str, str]]) -> bool:
    """Holds one of these pairs in another case only (keep=True for keep=true)."""
    labels = {(key.lower(), value.lower()) for key, value in (service.labels or {}).items()}
    return not holds_any(service, pairs) and any((key.lower(), value.lower()) in labels for key, value in pairs)


async def _on_version(catalog: Catalog, request: Request, selection: Selection) -> tuple[str, ...]:
    """The services a `where.version` does not match although they run that version now, through the default."""
    if not selection.may_run or request.where is None:
        return ()
    defaults = await catalog.defaults(deployment for _, deployment in selection.may_run)
    return tuple(name for name, deployment in selection.may_run if defaults.get(deployment) == request.where.version)


async def _name_free(api: ServicesApi, project: str, name: str) -> bool:
    """Whether a rename's new name is free now (one GET): a taken name would make the update fail."""
    try:
        await api.get(project, name)
    except NotFound:
        return True
    return False
