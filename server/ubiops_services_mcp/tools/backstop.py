"""The last word on a mutating call that ended without its own: one audit line and a structured result,
whatever happened (an invalid argument, a malformed answer from the human's client, a bug)."""

from __future__ import annotations

import logging
from typing import Any, cast

from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError, UnexpectedToolError
from mcp.shared.exceptions import MCPError
from mcp.types import CallToolResult

from .results import ErrorInfo, ToolFailure, as_result
from .state import app_state, caller

logger = logging.getLogger(__name__)


def record(ctx: Context[Any, Any], tool: str, arguments: dict[str, Any], outcome: str, code: str) -> None:
    """The call's one audit line, from its arguments: the tool body never got to write it."""
    app = app_state(ctx)
    given = arguments.get("project_name")
    project = app.project(given if isinstance(given, str) else None)
    data: object = arguments.get("data")
    named = cast(dict[str, Any], data).get("name") if tool == "services_create" and isinstance(data, dict) else None
    service: object = arguments.get("service_name") or named or arguments.get("service_names") or arguments.get("where")
    app.audit.record(
        tool=tool, project=project, service=service, **caller(ctx), outcome=outcome, error_code=code,
        sandbox=app.sandbox,
    )  # fmt: skip


def answer_error(error: MCPError) -> ToolError:
    """The human's client answered the question with a JSON-RPC error: a failed answer like a malformed one (its
    text is the client's, so only the code is kept)."""
    return ToolError(f"the user's client answered the approval question with an error ({error.code}).")


def failure(
    ctx: Context[Any, Any], tool: str, arguments: dict[str, Any], error: ToolError, *, audited: bool
) -> CallToolResult:
    """A mutating call that raised: structured for the model, audited once."""
    if isinstance(error, UnexpectedToolError):
        logger.error("%s failed unexpectedly", tool, exc_info=error.__cause__ or error)
        info = ErrorInfo(
            code="outcome_unknown",
            message="The server failed while handling this call: the change may or may not have been applied.",
            retryable=False,
            hint="Read the service with services_get (or services_list) before trying again.",
        )
    else:
        info = ErrorInfo(
            code="not_applied",
            message=f"Nothing was applied: {error}",
            retryable=False,
            hint="Preview the change again; if the user's client asked them, ask them again.",
        )
    if not audited:
        record(ctx, tool, arguments, "failed", info.code)
    return as_result(ToolFailure(error=info), is_error=True)
