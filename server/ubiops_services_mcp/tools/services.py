"""The services tools: thin adapters from MCP arguments to the API client and back."""

from __future__ import annotations

import inspect
from typing import Annotated, Any, cast

from mcp.server.mcpserver import Context
from mcp.server.mcpserver.tools import Tool
from mcp.types import CallToolResult, ToolAnnotations
from pydantic import TypeAdapter

from ..api.errors import ApiError
from ..settings import MUTATING_TOOLS, Settings
from . import changes
from .args import (
    NO_PROJECT_GIVEN,
    CreateData,
    FieldsArg,
    LabelsArg,
    LimitArg,
    ProjectArg,
    ServiceNameArg,
    VersionIdsArg,
    id_filter,
    label_filter,
)
from .results import (
    CreateResult,
    ListResult,
    ServiceResult,
    ServiceSummary,
    StatusResult,
    ToolFailure,
    api_error_result,
    as_result,
    usage_error_result,
)
from .schema import compact_schema
from .state import NO_PROJECT, api_fields, app_state, caller

SUMMARY_FIELDS = ("name", "deployment", "version", "port", "labels", "authentication_required")


async def services_create(
    data: CreateData, ctx: Context, project_name: ProjectArg = NO_PROJECT_GIVEN
) -> Annotated[CallToolResult, CreateResult]:
    """Create a service: a new HTTPS endpoint in front of one port of a deployment's instances.

    Changes UbiOps at once (no preview, no confirmation). Fails with a conflict if the name is taken:
    then change the existing service with services_update instead. Leave `version` out to follow the
    deployment's default version.
    """
    app = app_state(ctx)
    project = app.project(project_name)
    if project is None:
        return usage_error_result(NO_PROJECT, "project_name")
    audit = {"tool": "services_create", "project": project, "service": data.name, "payload": data.to_body()}
    try:
        created = await app.api.create(project, data)
    except ApiError as error:
        app.audit.record(**audit, **caller(ctx), outcome="failed", **api_fields(error), sandbox=app.sandbox)
        return api_error_result(error)
    app.audit.record(**audit, **caller(ctx), outcome="applied", settled=created.settled, sandbox=app.sandbox)
    return as_result(CreateResult(service=created.service, sandbox=app.sandbox, settled=created.settled))


async def services_get(
    service_name: ServiceNameArg, ctx: Context, project_name: ProjectArg = NO_PROJECT_GIVEN
) -> Annotated[CallToolResult, ServiceResult]:
    """Get one service's full configuration: deployment, version, port, authentication, logging, limits, endpoint.

    Read-only.
    """
    app = app_state(ctx)
    project = app.project(project_name)
    if project is None:
        return usage_error_result(NO_PROJECT, "project_name")
    try:
        service = await app.api.get(project, service_name)
    except ApiError as error:
        return api_error_result(error)
    return as_result(ServiceResult(service=service, sandbox=app.sandbox))


async def services_list(
    ctx: Context,
    project_name: ProjectArg = NO_PROJECT_GIVEN,
    labels: LabelsArg = None,
    deployment_version_ids: VersionIdsArg = None,
    fields: FieldsArg = None,
    limit: LimitArg = 100,
) -> Annotated[CallToolResult, ListResult]:
    """List the services of a project, optionally filtered by labels or deployment versions.

    Read-only. Each service shows name, deployment, version (absent: the deployment's default version), port,
    labels and authentication_required; use services_get for one service's full configuration.
    """
    app = app_state(ctx)
    project = app.project(project_name)
    if project is None:
        return usage_error_result(NO_PROJECT, "project_name")
    try:
        found = await app.api.list(project, label_filter(labels), id_filter(deployment_version_ids))
    except ApiError as error:
        return api_error_result(error)
    keep = (*SUMMARY_FIELDS, *(fields or ()))
    summaries = [_summary(item.model_dump(mode="json"), keep) for item in found[:limit]]
    result = ListResult(
        project_name=project,
        total=len(found),
        returned=len(summaries),
        omitted=max(len(found) - limit, 0),
        services=summaries,
        sandbox=app.sandbox,
    )
    return as_result(result)


async def services_status(
    service_name: ServiceNameArg, ctx: Context, project_name: ProjectArg = NO_PROJECT_GIVEN
) -> Annotated[CallToolResult, StatusResult]:
    """Check whether a service is ready to take requests, and how many instances are ready. Read-only."""
    app = app_state(ctx)
    project = app.project(project_name)
    if project is None:
        return usage_error_result(NO_PROJECT, "project_name")
    try:
        status = await app.api.status(project, service_name)
    except ApiError as error:
        return api_error_result(error)
    result = StatusResult(
        project_name=project,
        service_name=service_name,
        ready=status.ready,
        instances_ready=status.instances_ready,
        sandbox=app.sandbox,
    )
    return as_result(result)


def _summary(item: dict[str, Any], keep: tuple[str, ...]) -> ServiceSummary:
    """The kept fields that have a value: a list costs the model's context, and null says nothing here."""
    return ServiceSummary.model_validate({key: item[key] for key in keep if item.get(key) is not None})


READ_ONLY = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=True)
CREATE = ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=False, open_world_hint=True)
CHANGE = ToolAnnotations(read_only_hint=False, destructive_hint=True, idempotent_hint=True, open_world_hint=True)

TOOLS = {
    "services_create": (services_create, "Create service", CREATE),
    "services_get": (services_get, "Get service", READ_ONLY),
    "services_list": (services_list, "List services", READ_ONLY),
    "services_update": (changes.services_update, "Update service", CHANGE),
    "services_delete": (changes.services_delete, "Delete service", CHANGE),
    "services_status": (services_status, "Service status", READ_ONLY),
}


def output_schema(result_model: Any) -> dict[str, Any]:
    """The tool's result or a ToolFailure: clients validate structuredContent even on errors."""
    schema = TypeAdapter[Any](cast(Any, result_model | ToolFailure)).json_schema()
    return compact_schema({"type": "object", **schema}, output=True)


def build_tools(settings: Settings) -> list[Tool]:
    """The enabled tools only: a tool that is not registered cannot be called."""
    tools: list[Tool] = []
    for name in settings.enabled_tools:
        fn, title, annotations = TOOLS[name]
        assert not (settings.read_only and name in MUTATING_TOOLS)
        description = inspect.cleandoc(fn.__doc__ or "")
        tool = Tool.from_function(
            fn,
            name=name,
            title=title,
            description=description,
            annotations=annotations,
            structured_output=True,
        )
        tool.parameters = compact_schema(tool.parameters)
        tool.fn_metadata.output_schema = output_schema(tool.fn_metadata.output_model)
        tools.append(tool)
    return tools
