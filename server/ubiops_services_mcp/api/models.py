"""Pydantic models of the UbiOps Services API: the one source of every schema in this project.

Request models forbid unknown fields and leave unset fields MISSING, so a request body carries only
what the caller gave (a PATCH never resets what it did not mention). Response models keep fields
they do not know: the live API adds fields over time.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import (
    MISSING,
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
)

NAME_MAX = 64
TEXT_MAX = 400
LABEL_KEY_MAX = 128
LABEL_VALUE_MAX = 256
LIST_MAX = 100
NO_CONTROL = r"^[^\x00-\x1f\x7f]+$"


def _compiles_as_regex(value: str) -> str:
    try:
        re.compile(value)
    except re.error as exc:
        raise ValueError(f"must be a valid regular expression ({exc})") from None
    return value


def _not_dot_segment(value: str) -> str:
    if value in (".", ".."):
        raise ValueError("'.' and '..' are not names")
    return value


def _starts_with_slash(value: str) -> str:
    if not value.startswith("/"):
        raise ValueError("must start with '/'")
    return value


Port = Annotated[StrictInt, Field(ge=1, le=65535)]
PositiveInt = Annotated[StrictInt, Field(gt=0)]
NullablePositiveInt = Annotated[StrictInt, Field(gt=0)] | None
# A name is one URL path segment later on: no control characters, not '.' or '..'.
Name = Annotated[
    StrictStr, Field(min_length=1, max_length=NAME_MAX, pattern=NO_CONTROL), AfterValidator(_not_dot_segment)
]
ServiceName = Name
Labels = Annotated[
    dict[
        Annotated[StrictStr, Field(min_length=1, max_length=LABEL_KEY_MAX)],
        Annotated[StrictStr, Field(max_length=LABEL_VALUE_MAX)],
    ],
    Field(max_length=LIST_MAX),
]
Extensions = Annotated[list[Annotated[StrictStr, Field(min_length=1, max_length=32)]], Field(max_length=LIST_MAX)]
Text = Annotated[StrictStr, Field(max_length=TEXT_MAX)]
PathRegex = Annotated[StrictStr, Field(max_length=TEXT_MAX), AfterValidator(_compiles_as_regex)]
HealthPath = Annotated[StrictStr, Field(min_length=1, max_length=TEXT_MAX), AfterValidator(_starts_with_slash)]

_REQUEST = ConfigDict(extra="forbid", frozen=True)
_RESPONSE = ConfigDict(extra="allow")


class HealthCheck(BaseModel):
    """How UbiOps probes the service's instances."""

    model_config = _REQUEST

    path: HealthPath = Field(description="Path probed on the instance, starting with '/', e.g. '/status'.")
    interval: PositiveInt | MISSING = Field(default=MISSING, description="Seconds between checks.")
    timeout: PositiveInt | MISSING = Field(default=MISSING, description="Seconds before one check times out.")
    failure_threshold: PositiveInt | MISSING = Field(
        default=MISSING, description="Failed checks before the service counts as failed (API default 1)."
    )


class _ServiceFields(BaseModel):
    """Every field of a service, each optional: the shape of an update, and the base of a create."""

    model_config = _REQUEST

    name: ServiceName | MISSING = Field(default=MISSING, description="New name: renames the service.")
    deployment: Name | MISSING = Field(default=MISSING, description="Deployment to route to.")
    version: Name | MISSING | None = Field(
        default=MISSING, description="Deployment version; null to follow the deployment's default version."
    )
    port: Port | MISSING = Field(default=MISSING, description="Port (1-65535) the instances listen on.")
    description: Text | MISSING = Field(default=MISSING, description="Free text, at most 400 characters.")
    labels: Labels | MISSING = Field(
        default=MISSING, description='Key/value labels as an object of strings, e.g. {"team": "ml"}.'
    )
    authentication_required: StrictBool | MISSING = Field(
        default=MISSING, description="true: callers must authenticate; false: the endpoint is public."
    )
    authentication_method_token_enabled: StrictBool | MISSING = Field(
        default=MISSING, description="Whether callers may authenticate with a UbiOps API token."
    )
    request_logging_excluded_paths: PathRegex | MISSING = Field(
        default=MISSING,
        description="Regular expression of request paths not to log, e.g. '(health|status)$'.",
    )
    request_logging_excluded_extensions: Extensions | MISSING = Field(
        default=MISSING, description="File extensions not to log, without dots, e.g. ['svg', 'tar']."
    )
    health_check: HealthCheck | MISSING = Field(default=MISSING, description="Health check of the instances.")
    rate_limit_token: PositiveInt | MISSING = Field(
        default=MISSING, description="Requests per minute allowed per authentication token (documented API)."
    )
    rate_limit: NullablePositiveInt | MISSING = Field(
        default=MISSING, description="Current API: request rate limit for the service; null for none."
    )
    rate_limit_user_default: NullablePositiveInt | MISSING = Field(
        default=MISSING, description="Current API: default rate limit per user; null for none."
    )
    concurrency_limit: NullablePositiveInt | MISSING = Field(
        default=MISSING, description="Current API: maximum concurrent requests; null for none."
    )
    concurrency_limit_user_default: NullablePositiveInt | MISSING = Field(
        default=MISSING, description="Current API: default concurrent requests per user; null for none."
    )
    authentication_header_pass_through: StrictBool | MISSING = Field(
        default=MISSING, description="Current API: pass the caller's Authorization header to the instance."
    )

    def to_body(self) -> dict[str, Any]:
        """The JSON body: only the fields the caller set."""
        return self.model_dump(mode="json")


class ServiceCreate(_ServiceFields):
    """A new service: an HTTPS endpoint in front of one port of a deployment version's instances."""

    # Create requires what update leaves optional; the narrower types are intended.
    name: ServiceName = Field(  # pyright: ignore[reportIncompatibleVariableOverride]
        description="Unique name of the service in the project, 1-64 characters."
    )
    deployment: Name = Field(  # pyright: ignore[reportIncompatibleVariableOverride]
        description="Name of the deployment whose instances serve the requests."
    )
    version: Name | MISSING = Field(  # pyright: ignore[reportIncompatibleVariableOverride]
        default=MISSING, description="Deployment version; leave out to follow the deployment's default version."
    )
    port: Port = Field(  # pyright: ignore[reportIncompatibleVariableOverride]
        description="Port (1-65535) the instances listen on, e.g. 8080."
    )


class ServiceUpdate(_ServiceFields):
    """The fields to change; every field left out keeps its current value."""


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


# Fields of ServiceDetail that ServiceCreate accepts: the shape a deleted service is re-created from.
CREATE_FIELDS = frozenset(ServiceCreate.model_fields)
