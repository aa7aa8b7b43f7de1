"""Pydantic models of the UbiOps Services API: the one source of every schema in this project.

Request models forbid unknown fields and leave unset fields MISSING, so a request body carries only
what the caller gave (a PATCH never resets what it did not mention). Response models keep fields
they do not know: the live API adds fields over time.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, LiteralString

from pydantic import (
    MISSING,
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    ValidationInfo,
    model_validator,
)
from pydantic_core import PydanticCustomError

NAME_MAX = 64
TEXT_MAX = 400
LABEL_KEY_MAX = 128
LABEL_VALUE_MAX = 256
LIST_MAX = 100
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _compiles_as_regex(value: str) -> str:
    try:
        re.compile(value)
    except re.error as exc:
        raise ValueError(f"must be a valid regular expression ({exc})") from None
    return value


def _no_control(value: str) -> str:
    if _CONTROL.search(value):
        raise ValueError("must not contain control characters")
    return value


# pydantic's own error types and words for a length rule, so a refusal reads the same as a schema keyword's.
_WORDS: dict[type, tuple[LiteralString, LiteralString, str, str]] = {
    str: ("string_too_short", "string_too_long", "String", "character"),
    dict: ("too_short", "too_long", "Dictionary", "item"),
    list: ("too_short", "too_long", "List", "item"),
}


def length(low: int, high: int) -> AfterValidator:
    """A length rule checked here, not as schema keywords: the same refusal, in pydantic's words, without bytes in
    every schema the model reads (most of these limits are this server's, not the API's)."""

    def check(value: Any) -> Any:
        too_short, too_long, noun, unit = _WORDS[type(value)]
        if len(value) < low:
            words = {"noun": noun, "n": low, "unit": unit + ("" if low == 1 else "s")}
            raise PydanticCustomError(too_short, "{noun} should have at least {n} {unit}", words)
        if len(value) > high:
            raise PydanticCustomError(
                too_long, "{noun} should have at most {n} {unit}", {"noun": noun, "n": high, "unit": unit + "s"}
            )
        return value

    return AfterValidator(check)


def _not_dot_segment(value: str) -> str:
    if value in (".", ".."):
        raise ValueError("'.' and '..' are not names")
    return value


def _starts_with_slash(value: str) -> str:
    if not value.startswith("/"):
        raise ValueError("must start with '/'")
    return value


Port = Annotated[StrictInt, Field(ge=1, le=65535)]
PositiveInt = Annotated[StrictInt, Field(ge=1)]
NullablePositiveInt = Annotated[StrictInt, Field(ge=1)] | None
# A name is one URL path segment later on: no control characters, not '.' or '..'.
Name = Annotated[StrictStr, length(1, NAME_MAX), AfterValidator(_no_control), AfterValidator(_not_dot_segment)]
ServiceName = Name
LabelKey = Annotated[StrictStr, length(1, LABEL_KEY_MAX)]
Labels = Annotated[dict[LabelKey, Annotated[StrictStr, length(0, LABEL_VALUE_MAX)]], length(0, LIST_MAX)]
Extensions = Annotated[list[Annotated[StrictStr, length(1, 32)]], length(0, LIST_MAX)]
Text = Annotated[StrictStr, length(0, TEXT_MAX)]
PathRegex = Annotated[StrictStr, length(0, TEXT_MAX), AfterValidator(_compiles_as_regex)]
HealthPath = Annotated[StrictStr, length(1, TEXT_MAX), AfterValidator(_starts_with_slash)]

_REQUEST = ConfigDict(extra="forbid", frozen=True)
PER_CALLER_TWICE = (
    "rate_limit_token is the older API's per-token limit, replaced by rate_limit_user_default (the current API's "
    "per-caller limit): give only rate_limit_user_default; an update sets rate_limit_token to the same value"
    " where a service holds one"
)
BOTH_LIMIT_NAMES = "both_limit_names"
_RESPONSE = ConfigDict(extra="allow")


class HealthCheck(BaseModel):
    # No docstring: it would be a description in every schema; ServiceCreate's says that defaults are undocumented.

    model_config = _REQUEST

    path: HealthPath
    interval: PositiveInt | MISSING = Field(default=MISSING, description="Seconds between checks.")
    timeout: PositiveInt | MISSING = Field(default=MISSING, description="Seconds per check.")
    failure_threshold: PositiveInt | MISSING = Field(
        default=MISSING, description="Failures before it counts as failed; default 1."
    )


# Descriptions are the model's only documentation: each limit says its scope, unit and API generation.
class _ServiceFields(BaseModel):
    """Every field of a service, each optional: the shape of an update, and the base of a create."""

    model_config = _REQUEST

    name: ServiceName | MISSING = Field(default=MISSING, description="New name.")
    deployment: Name | MISSING = Field(default=MISSING, description="Deployment to route to.")
    version: Name | MISSING | None = Field(
        default=MISSING, description="null: follow the deployment's default version."
    )
    port: Port | MISSING = Field(default=MISSING, description="Port the instances listen on.")
    description: Text | MISSING = MISSING
    labels: Labels | MISSING = Field(default=MISSING, description="labels_set / labels_remove change single ones.")
    authentication_required: StrictBool | MISSING = Field(
        default=MISSING, description="false: the endpoint is public. Default not documented: set it."
    )
    authentication_method_token_enabled: StrictBool | MISSING = Field(
        default=MISSING,
        description="Accept UbiOps API tokens when authentication is required. Default not documented: set it.",
    )
    request_logging_excluded_paths: PathRegex | MISSING = Field(
        default=MISSING,
        description="Regex of paths not logged; full or partial match is undocumented: anchor it, e.g. '^/healthz$'.",
    )
    request_logging_excluded_extensions: Extensions | MISSING = Field(
        default=MISSING, description="File extensions not logged; replaces the list."
    )
    health_check: HealthCheck | MISSING = Field(
        default=MISSING,
        description="Older API, sent as is (whether the current one, with them on the deployment version, "
        "uses it is undocumented): the only way here to ask for a health check.",
    )
    rate_limit_token: PositiveInt | MISSING = Field(
        default=MISSING,
        description="Older API's name of rate_limit_user_default: set that one.",
    )
    rate_limit: NullablePositiveInt | MISSING = Field(
        default=MISSING, description="Requests/minute, whole service; null: none."
    )
    rate_limit_user_default: NullablePositiveInt | MISSING = Field(
        default=MISSING, description="Requests/minute per caller (API token or user); null: none."
    )
    concurrency_limit: NullablePositiveInt | MISSING = Field(
        default=MISSING, description="Concurrent requests, whole service; null: none."
    )
    concurrency_limit_user_default: NullablePositiveInt | MISSING = Field(
        default=MISSING, description="Concurrent requests per caller; null: none."
    )
    authentication_header_pass_through: StrictBool | MISSING = Field(
        default=MISSING, description="Pass callers' auth headers to the instances."
    )

    @model_validator(mode="after")
    def _one_per_caller_limit(self, info: ValidationInfo) -> _ServiceFields:
        """Two names of one limit from a caller: refused, never a silent pick of one. The server's own body (a new
        limit copied to the older name a service still holds, context BOTH_LIMIT_NAMES) may carry both."""
        both = self.rate_limit_token is not MISSING and self.rate_limit_user_default is not MISSING
        context: dict[str, Any] = info.context or {}
        if both and not context.get(BOTH_LIMIT_NAMES):
            raise ValueError(PER_CALLER_TWICE)
        return self

    def to_body(self) -> dict[str, Any]:
        """The JSON body: only the fields the caller set."""
        return self.model_dump(mode="json")


class ServiceCreate(_ServiceFields):
    """A field left out is not sent: the API's default applies (undocumented unless stated: set what matters)."""

    # Create requires what update leaves optional; the narrower types are intended.
    name: ServiceName = Field(  # pyright: ignore[reportIncompatibleVariableOverride]
        description="Unique in the project."
    )
    deployment: Name = Field()  # pyright: ignore[reportIncompatibleVariableOverride]
    version: Name | MISSING = Field(  # pyright: ignore[reportIncompatibleVariableOverride]
        default=MISSING, description="Leave out to follow the deployment's default version."
    )
    port: Port = Field(  # pyright: ignore[reportIncompatibleVariableOverride]
        description="Port the instances listen on (no tool can check it)."
    )
    # A create has nothing to replace: the same types, described without the update's replace semantics.
    labels: Labels | MISSING = MISSING
    request_logging_excluded_extensions: Extensions | MISSING = Field(
        default=MISSING, description="File extensions not logged, e.g. ['svg']."
    )


class ServiceUpdate(_ServiceFields):
    """Fields to change."""

    # Where a service holds the older name, an update of the newer one sets both (PER_CALLER_TWICE says so too).
    rate_limit_token: PositiveInt | MISSING = Field(
        default=MISSING,
        description="Older name of rate_limit_user_default: set that one (both change where this holds a value).",
    )


class ServiceList(BaseModel):
    """One service as the list endpoint returns it."""

    model_config = _RESPONSE

    id: str
    name: str
    deployment: str | None = None
    version: str | None = Field(default=None, description="null: the deployment's default version.")
    port: int | None = None
    time_created: str | None = None
    time_updated: str | None = None
    labels: dict[str, str] | None = None
    authentication_required: bool | None = None


class ServiceDetail(ServiceList):
    """A service in full, as create, get and update return it."""

    description: str | None = None
    authentication_method_token_enabled: bool | None = None
    request_logging_excluded_paths: str | None = None
    request_logging_excluded_extensions: list[str] | None = None
    health_check: dict[str, Any] | None = None
    rate_limit_token: int | None = None
    endpoint: str | None = Field(default=None, description="HTTPS URL of the service.")


class ServiceStatus(BaseModel):
    """Readiness of a service's instances (current API)."""

    model_config = _RESPONSE

    id: str | None = None
    ready: bool | None = None
    instances_ready: int | None = None


class ApiStatus(BaseModel):
    """The API's own health, from GET /status."""

    model_config = _RESPONSE

    status: str


class VersionPort(BaseModel):
    """A port a deployment version opens (current API)."""

    model_config = _RESPONSE

    public_port: int | None = None
    deployment_port: int | None = None
    protocol: str | None = None


class Deployment(BaseModel):
    """A deployment: the list endpoint leaves out default_version, the detail endpoint has it."""

    model_config = _RESPONSE

    id: str | None = None
    name: str
    project: str | None = None
    description: str | None = None
    labels: dict[str, str] | None = None
    creation_date: str | None = None
    last_updated: str | None = None
    default_version: str | None = None


class DeploymentVersion(BaseModel):
    """A deployment version, as the versions list and the version detail return it."""

    model_config = _RESPONSE

    id: str | None = None
    deployment: str | None = None
    version: str
    default: bool | None = None
    description: str | None = None
    status: str | None = None
    minimum_instances: int | None = None
    maximum_instances: int | None = None
    maximum_idle_time: int | None = None
    instance_type: str | None = None
    instance_type_group_name: str | None = None
    ports: list[VersionPort] | None = None
    labels: dict[str, str] | None = None
    creation_date: str | None = None
    last_updated: str | None = None


# Fields of ServiceDetail that ServiceCreate accepts: the shape a deleted service is re-created from.
CREATE_FIELDS = frozenset(ServiceCreate.model_fields)
