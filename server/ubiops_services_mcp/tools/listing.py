"""services_list: a project's services, filtered, with detail fields read per service when asked for.

The list endpoint returns a few fields per service; a detail field (description, limits, ...) costs one GET per
service. Those GETs run DETAILS_AT_ONCE at a time for the first DETAILS_MAX services, so "what is each service
for?" is one tool call, not one per service.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, Final, Literal, get_args

from mcp.server.mcpserver import Context
from mcp.types import CallToolResult
from pydantic import AfterValidator, Field, StrictBool, StrictInt, StrictStr

from ..api.client import ServicesApi
from ..api.errors import ApiError
from ..api.models import NAME_MAX, ServiceList, length
from .args import (
    NO_PROJECT_GIVEN,
    AuthFilterDoc,
    ExcludeLabelsDoc,
    ProjectArg,
    SelectorLabels,
    holds_any,
    kept,
    label_query,
    named,
    query_pairs,
)
from .catalog import Catalog
from .results import PEOPLE_TEXT, ListResult, ServiceSummary, api_error_result, as_result
from .state import app_state, no_project_result

DETAILS_MAX: Final = 50
"""Most services one call reads details of: each is a GET, and a model rarely needs more at once."""
DETAILS_AT_ONCE: Final = 8
"""Detail GETs in flight at once: fast, without a burst that trips the API's rate limit."""
FILTER_MAX: Final = 100
"""Most label pairs or version ids in one filter, as the string forms' length caps: the query must fit a URL."""
SUMMARY_FIELDS: Final = ("name", "deployment", "version", "port", "labels", "authentication_required")

DetailField = Literal[
    "description",
    "endpoint",
    "health_check",
    "rate_limit",
    "rate_limit_user_default",
    "concurrency_limit",
    "concurrency_limit_user_default",
    "rate_limit_token",
    "authentication_method_token_enabled",
    "authentication_header_pass_through",
    "request_logging_excluded_paths",
    "request_logging_excluded_extensions",
]
ListField = Literal["id", "time_created", "time_updated", DetailField]
DETAIL_FIELDS: Final = frozenset[str](get_args(DetailField))
LIST_FIELDS: Final = frozenset[str](get_args(ListField))


def _label_pairs(value: str | dict[str, str] | None) -> str | None:
    """Normalise a label filter to the API's 'k:v,k2:v2'; an empty filter means no filter."""
    if value is None:
        return None
    if isinstance(value, dict):
        return label_query(value)
    pairs = [p.strip() for p in value.split(",") if p.strip()]
    for pair in pairs:
        key, sep, _ = pair.partition(":")
        if not sep or not key:
            raise ValueError(f"{pair!r} is not 'key:value'; use 'k:v,k2:v2' or an object")
    return ",".join(pairs) or None


def _id_list(value: str | list[str] | None) -> str | None:
    """Normalise deployment version ids to the API's 'a,b'; an empty list means no filter."""
    if value is None:
        return None
    items = value.split(",") if isinstance(value, str) else value
    cleaned = [i.strip() for i in items if i.strip()]
    if any("," in i for i in cleaned):
        raise ValueError("ids must not contain ','")
    return ",".join(cleaned) or None


# Names default to "" rather than None: the SDK would turn the string "null" into None, and so drop the filter.
DeploymentArg = Annotated[
    StrictStr, length(0, NAME_MAX), Field(description="Its services, those on its default version too.")
]
VersionArg = Annotated[
    StrictStr, length(0, NAME_MAX), Field(description="Pinned version; services on the default never match.")
]
LabelsArg = Annotated[
    Annotated[StrictStr, length(0, 2000)] | Annotated[dict[StrictStr, StrictStr], length(0, FILTER_MAX)] | None,
    Field(
        description="'k:v,k2:v2' or an object: services with any one of these exact pairs (case counts).",
    ),
    AfterValidator(_label_pairs),
]
ExcludeLabelsArg = Annotated[SelectorLabels | None, Field(description=ExcludeLabelsDoc)]
AuthFilterArg = Annotated[StrictBool | None, Field(description=AuthFilterDoc)]
VersionIdsArg = Annotated[
    Annotated[StrictStr, length(0, 4000)]
    | Annotated[list[Annotated[StrictStr, length(0, 64)]], length(0, FILTER_MAX)]
    | None,
    AfterValidator(_id_list),
]


def _known(names: list[str] | None) -> list[str] | None:
    """Field names checked here rather than as an enum in the schema: the same refusal, without ~300 bytes that
    repeat services_create's field names in what the model reads."""
    if set(names or ()) - LIST_FIELDS - set(SUMMARY_FIELDS):  # the names are not echoed: input is not repeated
        raise ValueError(f"holds an unknown field; known: {', '.join(sorted(LIST_FIELDS))}")
    return names


FieldsArg = Annotated[
    Annotated[list[Annotated[StrictStr, length(1, 64)]], length(0, 50)] | None,
    Field(
        description=f"Any field of a service, e.g. ['description', 'endpoint']; for the first {DETAILS_MAX} only.",
    ),
    AfterValidator(_known),
]
LimitArg = Annotated[StrictInt, Field(ge=1, le=10000)]


async def services_list(
    ctx: Context,
    project_name: ProjectArg = NO_PROJECT_GIVEN,
    deployment: DeploymentArg = "",
    version: VersionArg = "",
    labels: LabelsArg = None,
    deployment_version_ids: VersionIdsArg = None,
    exclude_labels: ExcludeLabelsArg = None,
    authentication_required: AuthFilterArg = None,
    fields: FieldsArg = None,
    limit: LimitArg = 100,
) -> Annotated[CallToolResult, ListResult]:
    """List a project's services: name, deployment, version (absent: follows the default, given as
    default_version), port, labels, authentication_required; `fields` adds more.
    Filters given must all match. At most `limit`; `omitted` counts the rest. Read-only.
    """
    app = app_state(ctx)
    project = app.project(project_name)
    if project is None:
        return no_project_result()
    details = not DETAIL_FIELDS.isdisjoint(fields or ())
    try:
        found = await app.api.list(project, _query(labels), _query(deployment_version_ids))
        pairs = query_pairs(_query(labels))
        matched = [item for item in found if holds_any(item, pairs) and named(item, deployment, version)]
        matched = [item for item in matched if kept(item, exclude_labels, authentication_required)]
        rows, vanished = await _rows(app.api, project, matched[:limit], details)
        defaults = await Catalog(app.api, project).defaults(row["deployment"] for row in rows if not row["version"])
    except ApiError as error:
        return api_error_result(error)
    keep = (*SUMMARY_FIELDS, *(fields or ()))
    result = ListResult(
        project_name=project,
        total=len(matched),
        returned=len(rows),
        omitted=max(len(matched) - limit, 0),
        services=[_summary(row, keep, defaults) for row in rows],
        sandbox=app.sandbox,
        **_detail_notes(details, min(len(matched), limit), vanished),
    )
    if any(summary.model_extra and summary.model_extra.get("description") for summary in result.services):
        result.note = PEOPLE_TEXT
    return as_result(result)


def _detail_notes(details: bool, shown: int, vanished: list[str]) -> dict[str, Any]:
    """What the details left out, only when something was: an absent field costs the model nothing."""
    notes: dict[str, Any] = {}
    if details and shown > DETAILS_MAX:
        notes["details_omitted"] = shown - DETAILS_MAX
    if vanished:
        notes["vanished"] = vanished
    return notes


def _query(value: str | dict[str, str] | list[str] | None) -> str | None:
    """A validated filter argument as the API's query value; its validator already made it a string."""
    assert value is None or isinstance(value, str)
    return value


async def _rows(
    api: ServicesApi, project: str, shown: Sequence[ServiceList], details: bool
) -> tuple[list[dict[str, Any]], list[str]]:
    """The shown services as dicts, the first DETAILS_MAX in full when details are asked for; and the names of
    those that were gone by the time their details were read (left out)."""
    if not details:
        return [item.model_dump(mode="json") for item in shown], []
    head, tail = shown[:DETAILS_MAX], shown[DETAILS_MAX:]
    read = await api.get_many(project, [item.name for item in head], DETAILS_AT_ONCE)
    rows = [detail.model_dump(mode="json") for detail in read if detail is not None]
    vanished = [item.name for item, detail in zip(head, read, strict=True) if detail is None]
    return rows + [item.model_dump(mode="json") for item in tail], vanished


def _summary(item: dict[str, Any], keep: tuple[str, ...], defaults: dict[str, str]) -> ServiceSummary:
    """The kept fields that have a value: a list costs the model's context, and null says nothing here."""
    values = {key: item[key] for key in keep if item.get(key) is not None}
    if item.get("version") is None and item.get("deployment") in defaults:
        values["default_version"] = defaults[item["deployment"]]
    return ServiceSummary.model_validate(values)
