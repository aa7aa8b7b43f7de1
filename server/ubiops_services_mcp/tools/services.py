"""The services tools: thin adapters from MCP arguments to the API client and back."""

from __future__ import annotations

import inspect
from typing import Annotated, Any, cast

from mcp.server.mcpserver import Context
from mcp.server.mcpserver.tools import Tool
from mcp.types import CallToolResult, ToolAnnotations
from pydantic import TypeAdapter

from ..api.errors import ApiError
from ..api.models import ServiceDetail
from ..settings import MUTATING_TOOLS, Settings
from . import changes, deployments, listing
from .args import (
    NO_PROJECT_GIVEN,
    CreateData,
    ProjectArg,
    ServiceNameArg,
)
from .catalog import Catalog
from .results import (
    CreateResult,
    ServiceResult,
    StatusResult,
    ToolFailure,
    api_error_result,
    as_result,
)
from .schema import compact_schema, described_elsewhere
from .state import api_fields, app_state, caller, no_project_result
from .views import sandbox_note

# services_update's data has the fields of services_create's data, described there; only what differs stays.
UPDATE_SEE_CREATE = {
    "ServiceUpdate": "As in services_create; only the fields given change.",
    "HealthCheck": "As in services_create.",
}
UPDATE_OWN_DOCS = frozenset({"name", "version", "labels", "rate_limit_token"})
# where's fields are services_list's filters (labels as an object only), described there.
WHERE_SEE_LIST = {"Where": "services_list's filters (labels: any one pair): all given must match."}
SANDBOX_NOTE = " SANDBOX: not UbiOps."
SANDBOX_READ_NOTE = " SANDBOX: what it reads is a local simulation of UbiOps, not UbiOps."
READ_ONLY_NOTE = " This server is read-only: it cannot create, change or delete services."


async def services_create(
    data: CreateData, ctx: Context, project_name: ProjectArg = NO_PROJECT_GIVEN
) -> Annotated[CallToolResult, CreateResult]:
    """Create a service (an HTTPS endpoint in front of one port of a deployment's instances) at once: no preview.
    A taken name or unknown deployment or version fails, changing nothing, naming what exists: no need to check
    first.
    """
    app = app_state(ctx)
    project = app.project(project_name)
    if project is None:
        return no_project_result()
    audit = {"tool": "services_create", "project": project, "service": data.name, "payload": data.to_body()}
    catalog = Catalog(app.api, project)
    try:
        missing = await catalog.missing(data.deployment, data.to_body().get("version"), " Nothing was created.")
        if missing is not None:
            app.audit.record(**audit, **caller(ctx), outcome="refused", **api_fields(missing), sandbox=app.sandbox)
            return api_error_result(missing)
        created = await app.api.create(project, data)
    except ApiError as error:
        app.audit.record(**audit, **caller(ctx), outcome="failed", **api_fields(error), sandbox=app.sandbox)
        return api_error_result(error)
    app.audit.record(**audit, **caller(ctx), outcome="applied", settled=created.settled, sandbox=app.sandbox)
    message = f"Created{sandbox_note(app.sandbox)}."
    if created.settled:
        message += " The API's answer was lost; reading the service back showed it exists as requested."
    result = CreateResult(message=message, project_name=project, service=created.service, sandbox=app.sandbox)
    if created.service.version is None:
        result.default_version = await catalog.default_version(created.service.deployment)
    if created.settled:
        result.settled = True
    return as_result(result)


async def services_get(
    service_name: ServiceNameArg, ctx: Context, project_name: ProjectArg = NO_PROJECT_GIVEN
) -> Annotated[CallToolResult, ServiceResult]:
    """One service's full configuration, endpoint included (version null: runs default_version). Read-only."""
    app = app_state(ctx)
    project = app.project(project_name)
    if project is None:
        return no_project_result()
    try:
        service = await app.api.get(project, service_name)
    except ApiError as error:
        return api_error_result(error)
    default = None if service.version else await Catalog(app.api, project).default_version(service.deployment)
    return as_result(ServiceResult.of(service, project, app.sandbox, default))


async def services_status(
    service_name: ServiceNameArg, ctx: Context, project_name: ProjectArg = NO_PROJECT_GIVEN
) -> Annotated[CallToolResult, StatusResult]:
    """Whether a service is ready: instances_ready and its version's instance bounds. Read-only."""
    app = app_state(ctx)
    project = app.project(project_name)
    if project is None:
        return no_project_result()
    try:
        status = await app.api.status(project, service_name)
        service = await app.api.get(project, service_name)
    except ApiError as error:
        return api_error_result(error)
    result = StatusResult(
        project_name=project,
        service_name=service_name,
        ready=status.ready,
        instances_ready=status.instances_ready,
        sandbox=app.sandbox,
    )
    return as_result(result.model_copy(update=await _bounds(Catalog(app.api, project), service)))


async def _bounds(catalog: Catalog, service: ServiceDetail) -> dict[str, Any]:
    """The version the service runs and its instance bounds, as far as they can be read."""
    version = service.version or await catalog.default_version(service.deployment)
    if version is None or service.deployment is None:
        return {}
    try:
        versions = await catalog.versions(service.deployment) or []
    except ApiError:
        return {"version": version}
    found = next((v for v in versions if v.version == version), None)
    if found is None:
        return {"version": version}
    bounds = {"minimum_instances": found.minimum_instances, "maximum_instances": found.maximum_instances}
    return {"version": version, **{key: value for key, value in bounds.items() if value is not None}}


READ_ONLY = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=True)
CREATE = ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=False, open_world_hint=True)
CHANGE = ToolAnnotations(read_only_hint=False, destructive_hint=True, idempotent_hint=True, open_world_hint=True)

TOOLS = {
    "services_create": (services_create, "Create service", CREATE),
    "services_get": (services_get, "Get service", READ_ONLY),
    "services_list": (listing.services_list, "List services", READ_ONLY),
    "services_update": (changes.services_update, "Update service", CHANGE),
    "services_delete": (changes.services_delete, "Delete service", CHANGE),
    "services_status": (services_status, "Service status", READ_ONLY),
    "deployments_list": (deployments.deployments_list, "List deployments", READ_ONLY),
    "deployments_get": (deployments.deployments_get, "Get deployment", READ_ONLY),
}


def output_schema(result_model: Any) -> dict[str, Any]:
    """The tool's result or a ToolFailure: clients validate structuredContent even on errors."""
    schema = TypeAdapter[Any](cast(Any, result_model | ToolFailure)).json_schema()
    return compact_schema({"type": "object", **schema}, output=True)


def _mode_notes(settings: Settings, name: str) -> str:
    """What the server's mode means, said where a model reads it: on the tools that change things, or, when none
    is served, on the reading tools (a read-only server then says so, rather than leave the model to guess)."""
    changes = any(tool in MUTATING_TOOLS for tool in settings.enabled_tools)
    if changes and name not in MUTATING_TOOLS:
        return ""
    if not settings.uses_sandbox:
        return "" if changes else READ_ONLY_NOTE
    return SANDBOX_NOTE if changes else READ_ONLY_NOTE + SANDBOX_READ_NOTE


def _project_note(settings: Settings, name: str) -> str:
    """Which project a call without project_name uses, said once: agents guessed it, and no tool lists projects."""
    if name != "services_list":
        return ""
    project = settings.default_project
    which = f"Default project: {project}" if project else "No default project: give project_name"
    return f" {which}; no tool lists projects."


def build_tools(settings: Settings) -> list[Tool]:
    """The enabled tools only: a tool that is not registered cannot be called."""
    tools: list[Tool] = []
    for name in settings.enabled_tools:
        fn, title, annotations = TOOLS[name]
        assert not (settings.read_only and name in MUTATING_TOOLS)
        description = inspect.cleandoc(fn.__doc__ or "")
        description += _mode_notes(settings, name) + _project_note(settings, name)
        tool = Tool.from_function(
            fn,
            name=name,
            title=title,
            description=description,
            annotations=annotations,
            structured_output=True,
        )
        tool.parameters = compact_schema(tool.parameters)
        if name == "services_update" and "services_create" in settings.enabled_tools:
            tool.parameters = described_elsewhere(tool.parameters, UPDATE_SEE_CREATE, UPDATE_OWN_DOCS)
        if name in MUTATING_TOOLS and "services_list" in settings.enabled_tools:
            tool.parameters = described_elsewhere(tool.parameters, WHERE_SEE_LIST, frozenset())
        tool.fn_metadata.output_schema = output_schema(tool.fn_metadata.output_model)
        tools.append(tool)
    return tools
