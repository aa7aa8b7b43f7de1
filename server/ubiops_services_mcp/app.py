"""create_server(settings): the MCP server, its tools, and the one HTTP client its lifespan owns."""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import AsyncGenerator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import replace
from typing import Any, Final

import httpx
from mcp.server.context import ServerRequestContext
from mcp.server.mcpserver import Context, MCPServer, RequestStateSecurity
from mcp.server.mcpserver.exceptions import ToolError, UnexpectedToolError
from mcp.shared.exceptions import MCPError
from mcp.types import (
    INVALID_PARAMS,
    CallToolResult,
    GetPromptResult,
    InputRequiredResult,
    ListResourcesResult,
    ListToolsResult,
    PaginatedRequestParams,
)
from mcp.types import Tool as MCPTool
from pydantic import SecretStr, ValidationError

from . import __version__, prompts, resources
from .api.client import ServicesApi, build_http_client
from .audit import AuditLog, counting_lines
from .identity import lacks_scope
from .metrics import Metrics, call_outcome
from .settings import MUTATING_TOOLS, Settings
from .tools import backstop, services
from .tools.approval import card_extension
from .tools.card import CARD_TOOL, CARD_TOOLS, CARD_URI, resources_for_client, tools_for_client
from .tools.codes import ApprovalCodes
from .tools.confirmation import PreviewMemory, Signer, previews_key
from .tools.results import validation_error_result
from .tools.state import AppState

SANDBOX_BASE_URL: Final = "http://sandbox.invalid/v2.1"

INSTRUCTIONS: Final = (
    "Manage UbiOps services: HTTPS endpoints in front of one port of a deployment's instances. "
    "services_list and services_get read; services_create creates at once. services_update and "
    "services_delete are two-step: call without confirm to get a preview and a confirmation_token, show the "
    "preview to the user, and only if they agree call again with confirm=true and that token."
)
SANDBOX_NOTE: Final = (
    " SANDBOX MODE: this server talks to a local sandbox of the UbiOps API, not to UbiOps. Nothing here exists "
    "on UbiOps and the endpoints it returns do not answer. Seeded with project 'demo' and deployment "
    "'hello-world' (versions v1, the default, and v2)."
)


class ServicesServer(MCPServer[AppState]):
    """MCPServer whose argument-validation failures become structured errors naming each field and rule."""

    metrics: Metrics
    state: AppState | None = None  # the lifespan's state while it runs (the HTTP probes read it)
    write_scope: str | None = None  # behind OAuth, the scope the mutating tools need

    async def list_tools(self) -> list[MCPTool]:
        """Behind OAuth, a caller without the write scope is not shown the tools it could not call."""
        tools = await super().list_tools()
        if lacks_scope(self.write_scope):
            return [tool for tool in tools if tool.name not in MUTATING_TOOLS]
        return tools

    async def call_tool(
        self, name: str, arguments: dict[str, Any], context: Context[AppState, Any] | None = None
    ) -> CallToolResult | InputRequiredResult:
        """Every call is counted by tool and outcome, and timed."""
        started, outcome = time.perf_counter(), "error"
        try:
            result = await self._audited_call(name, arguments, context)
            outcome = call_outcome(result)
            return result
        finally:
            self.metrics.tool_called(name, outcome, time.perf_counter() - started)

    async def _audited_call(
        self, name: str, arguments: dict[str, Any], context: Context[AppState, Any] | None
    ) -> CallToolResult | InputRequiredResult:
        """A mutating call always ends with one audit line and a structured result, whatever happens inside."""
        if (name not in MUTATING_TOOLS and name != CARD_TOOL) or context is None:
            return await self._call_tool(name, arguments, context)
        with counting_lines() as written:
            refusal = backstop.audit_refusal(context, name, arguments)  # fail closed: no change goes unrecorded
            if refusal is not None:
                return refusal
            try:
                result = await self._call_tool(name, arguments, context)
            except ToolError as error:
                return backstop.failure(context, name, arguments, error, audited=written[0] > 0)
            except MCPError as error:  # only the human's client answers with a protocol error, before any send
                return backstop.failure(context, name, arguments, backstop.answer_error(error), audited=written[0] > 0)
        if written[0] == 0 and isinstance(result, CallToolResult):
            backstop.record(context, name, arguments, "refused", "invalid_arguments")
        return result

    async def _call_tool(
        self, name: str, arguments: dict[str, Any], context: Context[AppState, Any] | None
    ) -> CallToolResult | InputRequiredResult:
        """Argument-validation failures become structured errors naming each field and rule."""
        try:
            return await super().call_tool(name, arguments, context)
        except ToolError as error:
            if isinstance(error, UnexpectedToolError) or not isinstance(error.__cause__, ValidationError):
                raise
            return validation_error_result(name, error.__cause__)

    async def _handle_list_tools(
        self, ctx: ServerRequestContext[AppState], params: PaginatedRequestParams | None
    ) -> ListToolsResult:
        """A client without MCP Apps sees no app-only tool and no link to the approval card."""
        return tools_for_client(await super()._handle_list_tools(ctx, params), ctx)

    async def _handle_list_resources(
        self, ctx: ServerRequestContext[AppState], params: PaginatedRequestParams | None
    ) -> ListResourcesResult:
        return resources_for_client(await super()._handle_list_resources(ctx, params), ctx)

    async def get_prompt(
        self, name: str, arguments: dict[str, Any] | None = None, context: Context[AppState, Any] | None = None
    ) -> GetPromptResult | InputRequiredResult:
        """An unknown prompt is the caller's mistake (invalid params) on both protocols, not an internal error."""
        try:
            return await super().get_prompt(name, arguments, context)
        except ValueError as error:
            raise MCPError(code=INVALID_PARAMS, message=str(error)) from None


def create_server(settings: Settings, transport: httpx.AsyncBaseTransport | None = None) -> ServicesServer:
    """The configured server; `transport` replaces the network (tests, benchmarks)."""
    logging.getLogger("httpx").setLevel(logging.WARNING)
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(owner: MCPServer[AppState]) -> AsyncGenerator[AppState]:
        async with AsyncExitStack() as stack:
            http = await stack.enter_async_context(http_client(settings, transport))
            audit = AuditLog(settings.audit_log_path)
            stack.callback(audit.close)
            previews = PreviewMemory(settings.previews_path, settings.confirmation_ttl_s, previews_key(settings.secret))
            stack.callback(previews.close)
            codes = ApprovalCodes(settings.secret, settings.previews_path, settings.confirmation_ttl_s)
            stack.callback(codes.close)
            state = AppState(
                api=ServicesApi(http, settings.api_config().retry, observer=metrics),
                settings=settings,
                signer=Signer(settings.secret, settings.confirmation_ttl_s),
                audit=audit,
                sandbox=settings.uses_sandbox,
                metrics=metrics,
                previews=previews,
                codes=codes,
            )
            if isinstance(owner, ServicesServer):
                owner.state = state
                stack.callback(setattr, owner, "state", None)
            yield state

    tools = services.build_tools(settings)
    apps = card_extension(settings)
    if apps is not None:  # the previews of update and delete show as the approval card (Apps clients only)
        for tool in tools:
            if tool.name in CARD_TOOLS:
                tool.meta = {**(tool.meta or {}), "ui": {"resourceUri": CARD_URI}}
    server = ServicesServer(
        name="ubiops-services-mcp",
        title="UbiOps services",
        version=__version__,
        instructions=INSTRUCTIONS + (SANDBOX_NOTE if settings.uses_sandbox else ""),
        website_url="https://github.com/ubiops/ubiops-services-mcp",
        lifespan=lifespan,
        log_level="WARNING",
        tools=tools,
        request_state_security=_request_state_security(settings),
        extensions=[apps] if apps is not None else None,
    )
    server.metrics = metrics
    server.write_scope = settings.write_scope if settings.oauth_issuer is not None else None
    prompts.register(server)
    resources.register(server)
    return server


def _request_state_security(settings: Settings) -> RequestStateSecurity:
    """Elicitation state sealed with a key from UBIOPS_MCP_SECRET, so replicas resume each other's rounds."""
    key = hashlib.sha256(b"ubiops-services-mcp/request-state\0" + settings.secret.get_secret_value().encode())
    return RequestStateSecurity(keys=[key.digest()], ttl=settings.confirmation_ttl_s)


def http_client(settings: Settings, transport: httpx.AsyncBaseTransport | None) -> httpx.AsyncClient:
    """The process's one HTTP client: to UbiOps, to an injected transport, or to the embedded sandbox."""
    if transport is not None or not settings.uses_sandbox:
        return build_http_client(settings.api_config(), transport)
    from .sandbox import create_app  # deferred: only sandbox mode pays for it

    app = create_app(settings.sandbox_db_path, settings.sandbox_seed)
    config = replace(settings.api_config(), host=SANDBOX_BASE_URL, token=SecretStr("sandbox"))
    return build_http_client(config, _SandboxTransport(app=app))


class _SandboxTransport(httpx.ASGITransport):
    """In-process transport to the sandbox that closes the sandbox's database with the client."""

    async def aclose(self) -> None:
        self.app.state.store.close()  # pyright: ignore[reportAttributeAccessIssue, reportUnknownMemberType, reportFunctionMemberAccess]
