"""A bound on HTTP sessions that a flood cannot turn into a lock-out.

The SDK's session manager closes a session after `session_idle_timeout` seconds without a request in flight and,
with `max_sessions` open, answers every new client `503 Too many open sessions` until one ends. A client that
opens sessions and leaves them idle could so lock everyone out for the whole idle timeout. `OldestIdleFirst`
makes room instead: when a request would open a session while the limit is reached, it closes the session that
has been idle longest, as the SDK closes one a client DELETEs. A session with a request in flight (a tool call
waiting for the human's answer, an open stream) is never chosen; if every session is busy the SDK answers 503.

It also drops `Last-Event-ID` when the server keeps no event store (it never does): the SDK would answer such a GET
with nothing at all (a 500), where the spec lets a server without resumability ignore the header and open a new
stream.
"""

from __future__ import annotations

import logging
import math
from contextvars import ContextVar
from typing import Any, Final

from mcp.server import transport_security
from mcp.server.streamable_http import MCP_SESSION_ID_HEADER, StreamableHTTPServerTransport
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecurityMiddleware
from mcp.shared.inbound import MCP_PROTOCOL_VERSION_HEADER
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS
from starlette.requests import Request

SESSION_HEADER: Final = MCP_SESSION_ID_HEADER.lower().encode()
VERSION_HEADER: Final = MCP_PROTOCOL_VERSION_HEADER.lower().encode()
LAST_EVENT_HEADER: Final = b"last-event-id"

Scope = Any
Receive = Any
Send = Any


class OldestIdleFirst:
    """In front of the streamable-HTTP app: at the session limit, a new session replaces the oldest idle one."""

    def __init__(self, app: Any, manager: StreamableHTTPSessionManager, path: str = "/mcp") -> None:
        self._app = app
        self._manager = manager
        self._path = path
        self._opening = 0  # requests past _make_room that the SDK has not admitted (or refused) yet
        self._checks = TransportSecurityMiddleware(manager.security_settings)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self._manager.event_store is None:
            scope = _without_last_event_id(scope)
        if not self._opens_a_session(scope):
            await self._app(scope, receive, send)
            return
        if await self._accepted(scope):  # a refused one evicts nothing
            await self._make_room()
        await self._open(scope, receive, send)

    async def _accepted(self, scope: Scope) -> bool:
        """Whether the SDK's Host/Origin checks will pass; quietly, as the SDK logs its own refusal right after."""
        reset = _QUIET.set(True)
        try:
            return await self._checks.validate_request(Request(scope), is_post=True) is None
        finally:
            _QUIET.reset(reset)

    async def _open(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Count this request as opening until the SDK answers it: by then it admitted or refused the session."""
        self._opening += 1
        pending = True

        async def answered(message: Any) -> None:
            nonlocal pending
            if pending:
                pending, self._opening = False, self._opening - 1
            await send(message)

        try:
            await self._app(scope, receive, answered)
        finally:
            if pending:
                self._opening -= 1

    def _opens_a_session(self, scope: Scope) -> bool:
        """A handshake-era POST to the endpoint without a session id: the SDK opens a session for it."""
        if self._manager.stateless or scope["type"] != "http" or scope["method"] != "POST":
            return False
        if scope["path"] != self._path:
            return False
        headers = {key.lower(): value for key, value in scope["headers"]}
        version = headers.get(VERSION_HEADER)
        modern = version is not None and version.decode("latin-1") not in HANDSHAKE_PROTOCOL_VERSIONS
        return SESSION_HEADER not in headers and not modern

    async def _make_room(self) -> None:
        """At the limit, close the oldest idle session as a client's DELETE would: its id answers 404 at once."""
        limit, sessions = self._manager.max_sessions, self.sessions()
        if limit is None or len(sessions) + self._opening < limit:
            return
        oldest = _oldest_idle(sessions)
        if oldest is not None:
            await self._manager._discard_session(*oldest)  # pyright: ignore[reportPrivateUsage]

    def sessions(self) -> dict[str, StreamableHTTPServerTransport]:
        """The manager's live sessions by id (the SDK has no public view of them)."""
        return self._manager._server_instances  # pyright: ignore[reportPrivateUsage]


def _without_last_event_id(scope: Scope) -> Scope:
    """The request without Last-Event-ID: with no event store, nothing can be replayed (the SDK would not answer)."""
    headers: list[tuple[bytes, bytes]] = scope["headers"]
    if all(key.lower() != LAST_EVENT_HEADER for key, _ in headers):
        return scope
    return {**scope, "headers": [(key, value) for key, value in headers if key.lower() != LAST_EVENT_HEADER]}


_QUIET: ContextVar[bool] = ContextVar("quiet_transport_checks", default=False)


class _QuietChecks(logging.Filter):
    """Drops the SDK's "Invalid Host/Origin header" warning during this module's own pre-check."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not _QUIET.get()


transport_security.logger.addFilter(_QuietChecks())


def _oldest_idle(
    sessions: dict[str, StreamableHTTPServerTransport],
) -> tuple[str, StreamableHTTPServerTransport] | None:
    """The session whose idle deadline comes first: the longest idle. A busy one has no deadline (infinity)."""
    idle = [
        (transport.idle_scope.deadline, session_id, transport)
        for session_id, transport in sessions.items()
        if transport.idle_scope is not None
        and not math.isinf(transport.idle_scope.deadline)
        and not transport.is_terminated
    ]
    if not idle:
        return None
    _, session_id, transport = min(idle, key=lambda item: item[0])
    return session_id, transport
