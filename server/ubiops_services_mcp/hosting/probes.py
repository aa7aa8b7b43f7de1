"""Operability endpoints beside /mcp: what a load balancer, an orchestrator and Prometheus need.

- `/healthz`: the process is alive and serving HTTP; it never touches the API (a liveness or LB health check).
- `/readyz`: the UbiOps API answers `GET /status`, and lists the default project's services with the server's
  own token; 503 with a JSON reason otherwise. The answer is cached for a few seconds and concurrent probes share
  one check, so probes cannot hammer the API.
- `/metrics`: Prometheus text. It needs `Authorization: Bearer` with `UBIOPS_MCP_METRICS_TOKEN`, else with
  `UBIOPS_MCP_AUTH_TOKEN` (the same bearer as /mcp). With neither it is open only on a loopback bind without OAuth,
  where it checks Host like /mcp so that a web page cannot read it by DNS rebinding; it is refused (403) elsewhere
  and always with OAuth on: a replica behind a proxy binds loopback while the proxy forwards everyone to it, so
  the bind address says nothing about who asks. Nothing from the request (its peer address, X-Forwarded-For) is
  trusted for this: only the token.

The two probes sit outside bearer auth and the Host check: a probe carries no token and addresses the replica by
its own IP, and neither answer holds anything but a status and a reason code.
"""

from __future__ import annotations

import hmac
import json
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Final

import anyio
from mcp.server.transport_security import TransportSecurityMiddleware, TransportSecuritySettings
from starlette.requests import Request

from ..api import errors
from ..metrics import CONTENT_TYPE
from ..settings import Settings, is_loopback

if TYPE_CHECKING:
    from ..app import ServicesServer
    from ..tools.state import AppState

PATHS: Final = ("/healthz", "/readyz", "/metrics")
READY_TTL_S: Final = 5.0
READY_TIMEOUT_S: Final = 5.0
METRICS_NEED_TOKEN: Final = "metrics off loopback, or with OAuth on, need UBIOPS_MCP_METRICS_TOKEN"

Scope = Any
Receive = Any
Send = Any
Answer = tuple[int, dict[str, Any]]


class Readiness:
    """Whether this replica can serve: the API answers with this server's token. One check at a time, cached."""

    def __init__(self, server: ServicesServer, ttl_s: float = READY_TTL_S, timeout_s: float = READY_TIMEOUT_S) -> None:
        self._server = server
        self._ttl_s = ttl_s
        self._timeout_s = timeout_s
        self._lock = anyio.Lock()
        self._cached: tuple[float, Answer] | None = None

    async def answer(self) -> Answer:
        """The cached answer while it is fresh; otherwise one new check, which concurrent probes wait for."""
        async with self._lock:
            if self._cached is not None and time.monotonic() - self._cached[0] < self._ttl_s:
                return self._cached[1]
            state = self._server.state
            if state is None:  # not cached: the lifespan is about to start
                return 503, {"status": "not_ready", "reason": "starting"}
            answer: Answer = (503, {"status": "not_ready", "reason": "timeout"})
            with anyio.move_on_after(self._timeout_s):
                answer = await check_api(state)
            self._cached = (time.monotonic(), answer)
            return answer


async def check_api(state: AppState) -> Answer:
    """GET /status, then list the default project's services: the host answers and accepts the token."""
    try:
        await state.api.api_status()
    except errors.ApiError as error:
        return 503, {"status": "not_ready", "reason": "api_unreachable", "code": error.code}
    project = state.settings.default_project
    if project is None:
        return 200, {"status": "ready", "token": "unchecked: no default project (UBIOPS_PROJECT)"}
    try:
        await state.api.list(project)
    except errors.Unauthorized:
        return 503, {"status": "not_ready", "reason": "token_refused"}
    except errors.Forbidden:
        return 503, {"status": "not_ready", "reason": "token_forbidden"}
    except errors.NotFound:
        return 503, {"status": "not_ready", "reason": "project_not_found"}
    except errors.ApiError as error:
        return 503, {"status": "not_ready", "reason": "api_error", "code": error.code}
    return 200, {"status": "ready"}


class Operability:
    """In front of the MCP app: answers /healthz, /readyz and /metrics; passes everything else through."""

    def __init__(self, app: Any, settings: Settings, server: ServicesServer) -> None:
        self._app = app
        self._server = server
        self.readiness = Readiness(server)
        token = settings.metrics_token or settings.auth_token
        self._bearer = None if token is None else token.get_secret_value().encode()
        # Behind OAuth a proxy may forward anyone to a loopback bind: only a token opens /metrics then.
        self._open_metrics = self._bearer is None and is_loopback(settings.host) and settings.oauth_issuer is None
        self._hosts = TransportSecurityMiddleware(
            TransportSecuritySettings(
                enable_dns_rebinding_protection=True,
                allowed_hosts=list(settings.http_allowed_hosts),
                allowed_origins=list(settings.http_allowed_origins),
            )
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] not in PATHS:
            await self._app(scope, receive, send)
            return
        if scope["method"] not in ("GET", "HEAD"):
            await _send(scope, send, 405, *_json({"error": "method not allowed"}), [(b"allow", b"GET, HEAD")])
            return
        if scope["path"] == "/healthz":
            await _send(scope, send, 200, *_json({"status": "alive"}))
        elif scope["path"] == "/readyz":
            status, body = await self.readiness.answer()
            await _send(scope, send, status, *_json(body))
        else:
            await self._metrics(scope, receive, send)

    async def _metrics(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Prometheus text, behind the bearer when there is one; open (Host-checked) only on loopback without OAuth."""
        if self._bearer is not None:
            if not self._bearer_ok(scope):
                await _send(scope, send, 401, *_json({"error": "unauthorized"}), [(b"www-authenticate", b"Bearer")])
                return
        elif not self._open_metrics:
            await _send(scope, send, 403, *_json({"error": METRICS_NEED_TOKEN}))
            return
        else:
            refused = await self._hosts.validate_request(Request(scope), is_post=False)
            if refused is not None:
                await refused(scope, receive, send)
                return
        await _send(scope, send, 200, self._server.metrics.exposition(), CONTENT_TYPE)

    def _bearer_ok(self, scope: Scope) -> bool:
        assert self._bearer is not None
        values = [value for key, value in scope["headers"] if key.lower() == b"authorization"]
        if len(values) != 1:
            return False
        scheme, _, given = values[0].partition(b" ")
        return hmac.compare_digest(given, self._bearer) and scheme.lower() == b"bearer"


def _json(body: dict[str, Any]) -> tuple[bytes, str]:
    return json.dumps(body, separators=(",", ":")).encode(), "application/json"


async def _send(
    scope: Scope, send: Send, status: int, body: bytes, content_type: str, extra: Sequence[tuple[bytes, bytes]] = ()
) -> None:
    """One complete response; HEAD gets the headers only. Never cached by a proxy."""
    headers = [
        (b"content-type", content_type.encode()),
        (b"content-length", str(len(body)).encode()),
        (b"cache-control", b"no-store"),
        *extra,
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else body})
