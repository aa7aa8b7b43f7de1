"""The per-process state the tools share, owned by the server's lifespan, and how a tool reaches it."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field, replace
from typing import Any, cast

from mcp.server.mcpserver import Context
from mcp.types import CallToolResult
from pydantic import SecretStr

from ..api.auth import current_caller_token
from ..api.client import ServicesApi
from ..api.errors import ApiError
from ..audit import AuditLog
from ..identity import fingerprint, user_fields
from ..metrics import Metrics
from ..settings import Settings
from .codes import ApprovalCodes
from .confirmation import PreviewMemory, Signer
from .progress import progress_for
from .results import usage_error_result

NO_PROJECT = "project_name is required: no default project is configured (set UBIOPS_PROJECT)."
NO_PROJECT_HINT = "Ask the user which UbiOps project to use and pass it as project_name; nothing was sent."


@dataclass(frozen=True)
class AppState:
    api: ServicesApi
    settings: Settings
    signer: Signer
    audit: AuditLog
    sandbox: bool
    previews: PreviewMemory = field(default_factory=PreviewMemory)
    metrics: Metrics = field(default_factory=Metrics)
    codes: ApprovalCodes = field(default_factory=lambda: ApprovalCodes(SecretStr(secrets.token_urlsafe(32))))

    def project(self, project_name: str | None) -> str | None:
        """The project a call is about: its own argument, else (None or "") the configured default."""
        return project_name or self.settings.default_project


def app_state(ctx: Context[Any, Any]) -> AppState:
    """The shared state, its API client telling this call's client about retries and progress."""
    state = ctx.request_context.lifespan_context
    assert isinstance(state, AppState)
    return replace(state, api=state.api.reporting(progress_for(ctx)))


def caller(ctx: Context[Any, Any]) -> dict[str, Any]:
    """Who is calling, for the audit log: the MCP client, and on HTTP the remote address, the auth client and
    the person (sub, email) an OAuth access token names."""
    who: dict[str, Any] = {}
    params = ctx.session.client_params
    if params is not None:
        who["client"] = {"name": params.client_info.name, "version": params.client_info.version}
    request = ctx.request_context.request
    client = getattr(request, "client", None)
    if client is not None:
        who["remote"] = getattr(client, "host", None)
    scope: object = getattr(request, "scope", None)
    user: object = cast(dict[str, Any], scope).get("user") if isinstance(scope, dict) else None  # not request.user:
    # that property asserts when no authentication middleware ran.
    who |= user_fields(user)
    token = current_caller_token()
    if "sub" in who and token is not None:  # a signed-in person using their own UbiOps token: name the token too
        who["ubiops_token"] = fingerprint(token)
    return who


def api_fields(error: ApiError) -> dict[str, Any]:
    """What the audit log keeps of a failed API request."""
    return {"api_status": error.status, "error_code": error.code, "request_id": error.request_id}


def no_project_result() -> CallToolResult:
    """The refusal of a call that names no project where none is the default: nothing was sent."""
    return usage_error_result(NO_PROJECT, "project_name", NO_PROJECT_HINT)
