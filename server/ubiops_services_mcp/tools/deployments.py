"""The read-only deployment tools: what a service can point at (deployments, their versions, the default).

deployments_list reads the deployment list and then each deployment's versions (one GET each, a few at a time,
for the first VERSIONS_MAX): "which versions exist, which is the default, how far do they scale" is one call for
a model, not one per deployment. The versions list carries the `default` flag, so no per-deployment detail GET.
deployments_get adds the services on the deployment (one list of the project's services): "what runs on which
version" is what a model reads a deployment for before it moves services.
"""

from __future__ import annotations

from typing import Annotated, Any, Final

from mcp.server.mcpserver import Context
from mcp.types import CallToolResult

from ..api.errors import ApiError, NotFound
from ..api.models import Deployment, DeploymentVersion, Name, ServiceList
from .args import NO_PROJECT_GIVEN, ProjectArg
from .catalog import READS_MAX, Catalog
from .results import (
    PEOPLE_TEXT,
    DeploymentResult,
    DeploymentsResult,
    DeploymentSummary,
    ServiceOnDeployment,
    VersionSummary,
    api_error_result,
    as_result,
)
from .state import app_state, no_project_result

VERSIONS_MAX: Final = READS_MAX
"""Most deployments whose versions one deployments_list call reads."""
DEPLOYMENT_KEEP: Final = ("name", "description", "labels", "default_version", "creation_date", "last_updated")
VERSION_DROP: Final = frozenset({"deployment", "default"})  # said once, by the deployment's default_version
SERVICES_MAX: Final = 100
"""Most services on one deployment that deployments_get lists by name."""

DeploymentNameArg = Name


async def deployments_list(ctx: Context, project_name: ProjectArg = NO_PROJECT_GIVEN) -> Annotated[
    CallToolResult, DeploymentsResult
]:  # fmt: skip
    """Deployments, each with default_version (what version null runs) and versions: status, instance bounds.
    Read-only."""
    app = app_state(ctx)
    project = app.project(project_name)
    if project is None:
        return no_project_result()
    catalog = Catalog(app.api, project)
    try:
        found = await app.api.deployments(project)
        head = [item.name for item in found[:VERSIONS_MAX]]
        await catalog.defaults(head)  # reads every head deployment's versions, a few at a time
        rows: list[DeploymentSummary] = []
        for index, item in enumerate(found):  # versions already read: a deployment gone meanwhile has none
            rows.append(_summary(item, await catalog.versions(item.name) if index < VERSIONS_MAX else None))
    except ApiError as error:
        return api_error_result(error)
    result = DeploymentsResult(project_name=project, deployments=rows, sandbox=app.sandbox)
    if len(found) > VERSIONS_MAX:
        result.versions_omitted = len(found) - VERSIONS_MAX
    if any(row.description for row in rows):
        result.note = PEOPLE_TEXT
    return as_result(result)


async def deployments_get(
    deployment_name: DeploymentNameArg, ctx: Context, project_name: ProjectArg = NO_PROJECT_GIVEN
) -> Annotated[CallToolResult, DeploymentResult]:
    """One deployment in full: versions with status, instance bounds, ids; the services on it. Read-only."""
    app = app_state(ctx)
    project = app.project(project_name)
    if project is None:
        return no_project_result()
    catalog = Catalog(app.api, project)
    try:
        deployment = await app.api.deployment(project, deployment_name)
        versions = await catalog.versions(deployment_name) or []
        services = await app.api.list(project)
        on_it = sorted((s for s in services if s.deployment == deployment_name), key=lambda service: service.name)
    except NotFound as error:
        return api_error_result(await catalog.missing(deployment_name, None) or error)
    except ApiError as error:
        return api_error_result(error)
    result = DeploymentResult(
        project_name=project,
        deployment=Deployment.model_validate(_kept(deployment.model_dump(), DEPLOYMENT_KEEP)),
        versions=[_version(item) for item in versions],
        services=[_on_deployment(item) for item in on_it[:SERVICES_MAX]],
        services_total=len(on_it),
        sandbox=app.sandbox,
    )
    if len(on_it) > SERVICES_MAX:
        result.services_omitted = len(on_it) - SERVICES_MAX
    texts = [deployment.description, deployment.labels, *(v.description or v.labels for v in versions)]
    if any(texts) or any(s.labels for s in on_it[:SERVICES_MAX]):
        result.note = PEOPLE_TEXT
    return as_result(result)


def _on_deployment(service: ServiceList) -> ServiceOnDeployment:
    return ServiceOnDeployment.model_validate(_kept(service.model_dump(), tuple(ServiceOnDeployment.model_fields)))


def _summary(item: Deployment, versions: list[DeploymentVersion] | None) -> DeploymentSummary:
    row = DeploymentSummary(name=item.name)
    if item.description:
        row.description = item.description
    if versions is not None:
        row.default_version = next((v.version for v in versions if v.default), None)
        row.versions = [
            VersionSummary.model_validate(
                _kept(v.model_dump(), ("version", "status", "minimum_instances", "maximum_instances"))
            )
            for v in versions
        ]
    return row


def _version(item: DeploymentVersion) -> DeploymentVersion:
    values = item.model_dump(include=set(DeploymentVersion.model_fields) - VERSION_DROP)
    return DeploymentVersion.model_validate(_kept(values, tuple(values)))


def _kept(values: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    """Only the keys that carry something: null, empty text and empty lists say nothing to a model."""
    return {key: values[key] for key in keys if values.get(key) not in (None, "", [], {})}
