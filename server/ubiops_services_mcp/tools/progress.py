"""MCP progress notifications for one tool call: each retry it waits on, each service a bulk change or a
detailed list works through. A client that resets its request timeout on progress keeps waiting; the SDK sends
nothing to a client that did not ask (no progressToken)."""

from __future__ import annotations

import logging
from contextvars import ContextVar
from typing import Any

import anyio
from mcp.server.mcpserver import Context

logger = logging.getLogger(__name__)


class CallProgress:
    """One tool call's progress: a count that only grows, as the protocol requires, and a message for people."""

    def __init__(self, ctx: Context[Any, Any]) -> None:
        self.ctx = ctx
        self.request: object = ctx.request_context
        self.count = 0

    async def note(self, message: str) -> None:
        """Tell the waiting client; a client that went away must not fail the call (a change may be under way)."""
        self.count += 1
        try:
            await self.ctx.report_progress(self.count, None, message)
        except (anyio.ClosedResourceError, anyio.BrokenResourceError):
            logger.debug("progress not sent: the client's stream is closed")


# One per tool call: its resolvers (the plan's reads) and its body share the count through this variable.
_CURRENT: ContextVar[CallProgress | None] = ContextVar("ubiops_call_progress", default=None)


def progress_for(ctx: Context[Any, Any]) -> CallProgress:
    """The progress of the call `ctx` belongs to, made on first use."""
    current = _CURRENT.get()
    if current is None or current.request is not ctx.request_context:
        current = CallProgress(ctx)
        _CURRENT.set(current)
    return current
