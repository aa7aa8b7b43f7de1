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


def record(ctx: Context[Any, Any], tool: str, arguments: dict[str, Any], outcome: str, code: str) -> bool:
    """The call's one audit line, from its arguments: the tool body never got to write it. The arguments are the
    caller's, unchecked: the audit log records a value of the wrong type as malformed, never as fields."""
    app = app_state(ctx)
    given: object = arguments.get("project_name")
    project = app.project(None) if given is None or given == "" else given
    data: object = arguments.get("data")
    named = cast(dict[str, Any], data).get("name") if tool == "services_create" and isinstance(data, dict) else None
    service: object = arguments.get("service_name") or named or arguments.get("service_names") or arguments.get("where")
    return app.audit.record(
        tool=tool, project=project, service=service, **caller(ctx), outcome=outcome, error_code=code,
        sandbox=app.sandbox,
    )  # fmt: skip


def may_change(tool: str, arguments: dict[str, Any]) -> bool:
    """A create, or an update or delete that asks to apply (any confirm but false: validation judges it later)."""
    return tool == "services_create" or arguments.get("confirm", False) not in (False, None)


def audit_refusal(ctx: Context[Any, Any], tool: str, arguments: dict[str, Any]) -> CallToolResult | None:
    """While the audit log cannot be written, a call that could change something is refused before any request.

    The refusal's own line is the next attempt to write: if it works, the log works again and the next call goes on.
    Previews still go on: they send only reads, and their lines are attempts too.
    """
    app = app_state(ctx)
    if not app.audit.failing or not may_change(tool, arguments):
        return None
    app.metrics.refused("audit_unavailable")
    recovered = record(ctx, tool, arguments, "refused", "audit_unavailable")
    return audit_unavailable(recovered)


def audit_unavailable(recovered: bool) -> CallToolResult:
    """The refusal of a change that could not be recorded: nothing was sent."""
    again = " It can be written again now: the same call may be repeated." if recovered else ""
    info = ErrorInfo(
        code="audit_unavailable",
        message=f"Not applied: the audit log cannot be written, and this server makes no change it cannot record. "
        f"Nothing was sent to UbiOps.{again}",
        retryable=recovered,
        hint=None if recovered else "Tell the server's operator: its audit log cannot be written (see its stderr).",
    )
    return as_result(ToolFailure(error=info), is_error=True)


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
