"""Services as MCP resources (JSON, read through the same ServicesApi as the tools) and argument completion.

Completion serves the resource templates here and the prompts (prompts.py): `project_name` from the default
project and the projects this server has worked with, `service_name` from services_list of the project the
client already chose. The SDK hands a completion handler no request context, so a small middleware puts the
lifespan state where the handler can find it for the length of that one request.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from contextvars import ContextVar
from typing import Any, Final, cast

from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ResourceError, ResourceNotFoundError
from mcp.shared.exceptions import MCPError
from mcp.types import (
    INVALID_PARAMS,
    Completion,
    CompletionArgument,
    CompletionContext,
    PromptReference,
    ResourceTemplateReference,
)
from pydantic import TypeAdapter, ValidationError

from .api import errors
from .api.auth import current_caller_key
from .tools.args import Name
from .tools.results import ServiceResult
from .tools.state import AppState, app_state

SERVICES_URI: Final = "ubiops://projects/{project_name}/services"
SERVICE_URI: Final = "ubiops://projects/{project_name}/services/{service_name}"
JSON_MIME: Final = "application/json"
MAX_COMPLETIONS: Final = 100
MAX_SEEN: Final = 20
MAX_CALLERS: Final = 1000
_NAME: Final = TypeAdapter(Name)
_completing: ContextVar[AppState | None] = ContextVar("ubiops_completing", default=None)


class SeenProjects:
    """Projects this server read or changed services in, most recent first, for project_name completion.

    Kept per caller: on a hosted server whose users send their own UbiOps token, one user's project names
    must not show up in another's completions.
    """

    def __init__(self, limit: int = MAX_SEEN) -> None:
        self._by_caller: dict[str, dict[str, None]] = {}
        self._limit = limit

    def add(self, name: str) -> None:
        """Move the name to the front, forgetting the oldest past the limit."""
        names = self._by_caller.setdefault(current_caller_key(), {})
        names.pop(name, None)
        names[name] = None
        while len(names) > self._limit:
            del names[next(iter(names))]
        while len(self._by_caller) > MAX_CALLERS:
            del self._by_caller[next(iter(self._by_caller))]

    def names(self) -> list[str]:
        return list(reversed(self._by_caller.get(current_caller_key(), {})))


class CompletionState:
    """Middleware: exposes the lifespan state to the completion handler and notes projects used in tool calls."""

    def __init__(self, seen: SeenProjects) -> None:
        self._seen = seen

    async def __call__(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        if ctx.method == "completion/complete":
            state = ctx.lifespan_context
            token = _completing.set(state if isinstance(state, AppState) else None)
            try:
                return await call_next(ctx)
            finally:
                _completing.reset(token)
        result = await call_next(ctx)
        if ctx.method == "tools/call":
            self._note(ctx.params, result)
        return result

    def _note(self, params: Any, result: HandlerResult) -> None:
        """A tool call that succeeded with a project_name argument: that project exists and is in use."""
        arguments = cast(Mapping[str, Any], params).get("arguments") if isinstance(params, Mapping) else None
        project = cast(Mapping[str, Any], arguments).get("project_name") if isinstance(arguments, Mapping) else None
        failed = result.get("isError") if isinstance(result, dict) else getattr(result, "is_error", None)
        if isinstance(project, str) and project and not failed:
            self._seen.add(project)


def _checked(value: str, argument: str) -> str:
    """A project or service name as the tools accept it; anything else is the caller's mistake."""
    try:
        return _NAME.validate_python(value)
    except ValidationError as error:
        reason = error.errors()[0]["msg"]
        raise MCPError(code=INVALID_PARAMS, message=f"{argument}: {reason}") from None


def _resource_error(error: errors.ApiError) -> ResourceError:
    """API failures as resource errors the client sees with their hint; a missing service is 'not found'."""
    message = f"{error} - {error.hint}"
    return ResourceNotFoundError(message) if isinstance(error, errors.NotFound) else ResourceError(message)


def register(server: MCPServer[Any]) -> SeenProjects:
    """Add the two resource templates and the completion handler; returns the projects-seen record."""
    seen = SeenProjects()

    @server.resource(
        SERVICES_URI,
        name="project-services",
        title="Services of a project",
        description="Every service of a UbiOps project (name, deployment, version, port, labels, "
        "authentication), as JSON. Read-only.",
        mime_type=JSON_MIME,
    )
    async def project_services(project_name: str, ctx: Context) -> str:
        """The list endpoint's answer, whole: a resource has no paging arguments."""
        app = app_state(ctx)
        project = _checked(project_name, "project_name")
        try:
            found = await app.api.list(project)
        except errors.ApiError as error:
            raise _resource_error(error) from None
        seen.add(project)
        body = {
            "project_name": project,
            "total": len(found),
            "services": [item.model_dump(mode="json") for item in found],
            "sandbox": app.sandbox,
        }
        return json.dumps(body, indent=2)

    @server.resource(
        SERVICE_URI,
        name="service",
        title="Service configuration",
        description="One UbiOps service's full configuration as JSON, the same as services_get returns. Read-only.",
        mime_type=JSON_MIME,
    )
    async def service(project_name: str, service_name: str, ctx: Context) -> str:
        """The same JSON as services_get, so a client may read either."""
        app = app_state(ctx)
        project, name = _checked(project_name, "project_name"), _checked(service_name, "service_name")
        try:
            found = await app.api.get(project, name)
        except errors.ApiError as error:
            raise _resource_error(error) from None
        seen.add(project)
        return ServiceResult.of(found, project, app.sandbox).model_dump_json(indent=2, exclude_unset=True)

    server.middleware.append(CompletionState(seen))

    @server.completion()
    async def complete(
        ref: PromptReference | ResourceTemplateReference,
        argument: CompletionArgument,
        context: CompletionContext | None,
    ) -> Completion | None:
        """Names for project_name and service_name, filtered by what the user has typed so far."""
        app = _completing.get()
        if app is None or not await _serves(server, ref, argument.name):
            return None
        given = (context.arguments if context is not None else None) or {}
        if argument.name == "project_name":
            candidates = [app.settings.default_project or "", *seen.names()]
        else:
            candidates = await _service_names(app, seen, given.get("project_name") or app.settings.default_project)
        return _completion(candidates, argument.value)

    return seen


async def _serves(server: MCPServer[Any], ref: PromptReference | ResourceTemplateReference, argument: str) -> bool:
    """Whether the reference is one of this server's templates or prompts, and takes that argument."""
    if argument not in ("project_name", "service_name"):
        return False
    if isinstance(ref, ResourceTemplateReference):
        return ref.uri == SERVICE_URI or (ref.uri == SERVICES_URI and argument == "project_name")
    prompts = {prompt.name: prompt for prompt in await server.list_prompts()}
    prompt = prompts.get(ref.name)
    return prompt is not None and any(arg.name == argument for arg in prompt.arguments or [])


async def _service_names(app: AppState, seen: SeenProjects, project: str | None) -> list[str]:
    """The services of the project; none when there is no project or the API fails (completion never errors)."""
    if not project:
        return []
    try:
        found = await app.api.list(_NAME.validate_python(project))
    except (errors.ApiError, ValidationError):
        return []
    seen.add(project)
    return sorted(item.name for item in found)


def _completion(candidates: list[str], typed: str) -> Completion:
    """Unique candidates starting with what was typed (case-insensitive), at most MAX_COMPLETIONS of them."""
    prefix = typed.casefold()
    matches = list(dict.fromkeys(name for name in candidates if name and name.casefold().startswith(prefix)))
    return Completion(values=matches[:MAX_COMPLETIONS], total=len(matches), has_more=len(matches) > MAX_COMPLETIONS)
