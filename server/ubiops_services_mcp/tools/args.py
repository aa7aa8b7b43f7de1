"""Tool argument types: their Field descriptions and rules are the input schemas the model reads."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool, StrictStr

from ..api.models import LabelKey, Labels, Name, ServiceCreate, ServiceList, ServiceUpdate, length

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
    Field(description=f"Several services (at most {BULK_MAX}), one confirmation."),
]


def label_query(labels: Mapping[str, str]) -> str | None:
    """Label pairs as the API's 'k:v,k2:v2' filter (None for none), refusing pairs the format cannot carry."""
    if any(not key or ":" in key or "," in key or "," in value for key, value in labels.items()):
        raise ValueError("label keys must be non-empty without ':' or ','; values must not contain ','")
    return ",".join(f"{key}:{value}" for key, value in labels.items()) or None


def named(service: ServiceList, deployment: str | None, version: str | None) -> bool:
    """The name filters the API lacks (empty: no filter); a service without a version matches no version name."""
    return (not deployment or service.deployment == deployment) and (not version or service.version == version)


def _filterable(labels: dict[str, str] | None) -> dict[str, str] | None:
    """Label pairs that fit the API's 'k:v,k2:v2' filter."""
    if labels is not None:
        label_query(labels)
    return labels


class Where(BaseModel):
    """Services matching every field given."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    labels: Annotated[
        Annotated[dict[LabelKey, Annotated[StrictStr, length(0, 256)]], length(0, 20)] | None,
        Field(description="Any one of these pairs."),
        AfterValidator(_filterable),
    ] = None
    deployment: Name | None = None
    version: Name | None = Field(default=None, description="Pinned version; services on the default never match.")


WhereArg = Annotated[
    Where | None,
    Field(description=f"Or select them (more than {BULK_MAX} matching: refused)."),
]
LabelsSetArg = Annotated[
    Labels | None,
    Field(description="Add or change these labels; the others stay (no read needed)."),
]
LabelsRemoveArg = Annotated[
    Annotated[list[LabelKey], length(0, 100)] | None,
    Field(description="Remove these label keys; the others stay."),
]
CreateData = ServiceCreate
UpdateData = Annotated[ServiceUpdate | None, Field()]
ConfirmArg = Annotated[
    StrictBool,
    Field(description="true: apply, with the preview's confirmation_token."),
]
TokenArg = Annotated[
    Annotated[StrictStr, length(0, 1000)] | None,
    Field(description="From the preview."),
]
