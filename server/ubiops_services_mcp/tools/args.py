"""Tool argument types: their Field descriptions and rules are the input schemas the model reads."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, Field, StrictBool, StrictInt, StrictStr

from ..api.models import Name, ServiceCreate, ServiceUpdate


def _label_pairs(value: str | dict[str, str] | None) -> str | None:
    """Normalise a label filter to the API's 'k:v,k2:v2'; an empty filter means no filter."""
    if value is None:
        return None
    if isinstance(value, dict):
        for key, val in value.items():
            if not key or any(c in key for c in ":,") or "," in val:
                raise ValueError("label keys must be non-empty without ':' or ','; values must not contain ','")
        return ",".join(f"{k}:{v}" for k, v in value.items()) or None
    pairs = [p.strip() for p in value.split(",") if p.strip()]
    for pair in pairs:
        key, sep, _ = pair.partition(":")
        if not sep or not key:
            raise ValueError(f"{pair!r} is not 'key:value'; use 'k:v,k2:v2' or an object")
    return ",".join(pairs) or None


def _id_list(value: str | list[str] | None) -> str | None:
    if value is None:
        return None
    items = value.split(",") if isinstance(value, str) else value
    cleaned = [i.strip() for i in items if i.strip()]
    if any("," in i for i in cleaned):
        raise ValueError("ids must not contain ','")
    return ",".join(cleaned) or None


# Not `str | None`: the SDK would turn the string "null" into None, and so a project named "null" into the default.
ProjectArg = Annotated[
    Name, Field(description="UbiOps project. Leave out to use the server's default project (UBIOPS_PROJECT).")
]
NO_PROJECT_GIVEN = ""
ServiceNameArg = Annotated[Name, Field(description="Name of the service.")]
CreateData = Annotated[ServiceCreate, Field(description="The new service: name, deployment, port, and options.")]
UpdateData = Annotated[ServiceUpdate, Field(description="Only the fields to change; the rest keep their values.")]
LabelsArg = Annotated[
    Annotated[StrictStr, Field(max_length=2000)] | dict[StrictStr, StrictStr] | None,
    Field(
        description="Label filter: 'key:value,key2:value2' or an object; a service matching any one pair is listed.",
    ),
    AfterValidator(_label_pairs),
]
VersionIdsArg = Annotated[
    Annotated[StrictStr, Field(max_length=4000)] | list[Annotated[StrictStr, Field(max_length=64)]] | None,
    Field(description="Only services on these deployment version ids (comma-separated or a list)."),
    AfterValidator(_id_list),
]
ListField = Literal["id", "time_created", "time_updated"]
FieldsArg = Annotated[
    list[ListField] | None,
    Field(description="Extra fields per service besides name, deployment, version, port, labels, authentication."),
]
LimitArg = Annotated[StrictInt, Field(ge=1, le=10000, description="Most services to return (default 100).")]
ConfirmArg = Annotated[
    StrictBool,
    Field(description="Leave false to preview. true applies, with the preview's confirmation_token."),
]
TokenArg = Annotated[
    Annotated[StrictStr, Field(max_length=1000)] | None,
    Field(description="The confirmation_token from this tool's preview of the same change."),
]


def label_filter(value: str | dict[str, str] | None) -> str | None:
    """The validated `labels` argument as the API's query value; validation already made it a string."""
    return value if not isinstance(value, dict) else _label_pairs(value)


def id_filter(value: str | list[str] | None) -> str | None:
    """The validated `deployment_version_ids` argument as the API's query value."""
    return value if not isinstance(value, list) else _id_list(value)
