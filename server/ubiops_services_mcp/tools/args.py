"""Tool argument types: their Field descriptions and rules are the input schemas the model reads."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Annotated, Any, cast

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, StrictBool, StrictStr

from ..api.models import LabelKey, Labels, Name, ServiceCreate, ServiceList, ServiceUpdate, length
from ..safe_text import restored

BULK_MAX = 50
"""Most services one update or delete may change under one confirmation."""


# Not `str | None`: the SDK would turn the string "null" into None, and so a project named "null" into the default.
ProjectArg = Annotated[Name, Field()]  # no description: an optional project_name reads as "the default project"
NO_PROJECT_GIVEN = ""
ServiceNameArg = Name
NO_SERVICE_GIVEN = ""
OneServiceArg = Annotated[Name, Field(description="One service; for several: service_names or where.")]
ServiceNamesArg = Annotated[
    Annotated[list[Name], length(1, BULK_MAX)] | None,
    Field(description=f"Up to {BULK_MAX}."),
]


def label_query(labels: Mapping[str, str]) -> str | None:
    """Label pairs as the API's 'k:v,k2:v2' filter (None for none), refusing pairs the format cannot carry."""
    if any(not key or ":" in key or "," in key or "," in value for key, value in labels.items()):
        raise ValueError("label keys must be non-empty without ':' or ','; values must not contain ','")
    return ",".join(f"{key}:{value}" for key, value in labels.items()) or None


def named(service: ServiceList, deployment: str | None, version: str | None) -> bool:
    """The name filters the API lacks (empty: no filter); a service without a version matches no version name."""
    return (not deployment or service.deployment == deployment) and (not version or service.version == version)


def kept(service: ServiceList, exclude_labels: Mapping[str, str] | None, authentication_required: bool | None) -> bool:
    """The filters the API lacks beyond names: no excluded label pair (any one excludes), and the asked-for
    authentication (a service whose list entry does not say never matches it)."""
    labels = service.labels or {}
    if any(labels.get(key) == value for key, value in (exclude_labels or {}).items()):
        return False
    return authentication_required is None or service.authentication_required is authentication_required


def holds_any(service: ServiceList, pairs: Iterable[tuple[str, str]]) -> bool:
    """Whether a service holds one of these label pairs exactly, case and all (or none is asked for): checked here
    whatever the API's own matching does, which is not documented, so a bulk change never takes a near spelling."""
    wanted = list(pairs)
    labels = service.labels or {}
    return not wanted or any(labels.get(key) == value for key, value in wanted)


def query_pairs(query: str | None) -> list[tuple[str, str]]:
    """The pairs of an API label filter 'k:v,k2:v2' (a value may hold ':')."""
    return [(key, value) for key, _, value in (pair.partition(":") for pair in (query or "").split(",") if pair)]


def _filterable(labels: dict[str, str] | None) -> dict[str, str] | None:
    """Label pairs that fit the API's 'k:v,k2:v2' filter."""
    if labels is not None:
        label_query(labels)
    return labels


SelectorLabels = Annotated[dict[LabelKey, Annotated[StrictStr, length(0, 256)]], length(0, 20)]
ExcludeLabelsDoc = "Leave out services with any one of these pairs."
AuthFilterDoc = "true: services requiring authentication; false: public ones (each is one or the other)."


class Where(BaseModel):
    """Services matching every field given (all of them)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    labels: Annotated[
        SelectorLabels | None, Field(description="Any one of these pairs."), AfterValidator(_filterable)
    ] = None
    exclude_labels: SelectorLabels | None = Field(default=None, description=ExcludeLabelsDoc)
    deployment: Name | None = None
    version: Name | None = Field(default=None, description="Pinned version; services on the default never match.")
    authentication_required: StrictBool | None = Field(default=None, description=AuthFilterDoc)

    @property
    def empty(self) -> bool:
        """Selects nothing in particular: every service (refused, so a slip cannot select them all)."""
        chosen = (self.labels, self.exclude_labels, self.deployment, self.version)
        return not any(chosen) and self.authentication_required is None


WhereArg = Annotated[
    Where | None,
    Field(
        description=f"Or select them: the preview lists each match and near miss (no list needed; over {BULK_MAX}: "
        "refused); confirm acts on those only, or on none if any changed."
    ),
]
LabelsSetArg = Annotated[
    Labels | None,
    Field(description="Add or change these labels; the others stay."),
]
LabelsRemoveArg = Annotated[
    Annotated[list[LabelKey], length(0, 100)] | None,
    Field(description="Remove these label keys; the others stay."),
]


def written_back(data: object) -> object:
    """`data` with the <U+XXXX> escapes that results show in descriptions and labels turned back into the hidden
    characters they stand for, before the length rules: recreate_with (or a description copied from a read)
    writes back exactly the text it shows, never the escape notation."""
    if not isinstance(data, dict):
        return data
    fields = dict(cast(dict[str, Any], data))
    if isinstance(fields.get("description"), str):
        fields["description"] = restored(fields["description"])
    labels: object = fields.get("labels")
    if isinstance(labels, dict):
        pairs = cast(dict[Any, Any], labels).items()
        fields["labels"] = {restored(k) if isinstance(k, str) else k: restored(v) if isinstance(v, str) else v
                            for k, v in pairs}  # fmt: skip
    return fields


CreateData = Annotated[ServiceCreate, BeforeValidator(written_back)]
UpdateData = Annotated[ServiceUpdate | None, BeforeValidator(written_back), Field()]
ConfirmArg = Annotated[StrictBool, Field()]  # no description: the tool's own says what confirm=true does
TokenArg = Annotated[Annotated[StrictStr, length(0, 1000)] | None, Field()]
