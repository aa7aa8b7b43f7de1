"""The sandbox's HTTP face: the UbiOps Services API under /v2.1, with the real API's statuses and errors.

Routing works on the raw path, split on '/' before percent-decoding, so a service named 'a/b' (sent
as 'a%2Fb') is one path segment, as it is on the real API.
"""

from __future__ import annotations

import hmac
import json
import uuid
import weakref
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar, cast
from urllib.parse import unquote

from pydantic import BaseModel, ValidationError
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..api.models import BOTH_LIMIT_NAMES, ServiceCreate, ServiceUpdate
from .store import Conflict, NotFound, Store, load_seed

M = TypeVar("M", bound=BaseModel)
R = TypeVar("R")
Handler = Callable[[Request, list[str]], Awaitable[Response]]

PREFIX = "v2.1"
NO_AUTH = "Authentication credentials were not provided."
MAX_BODY = 1024 * 1024
METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE"]


class ApiError(Exception):
    """An error the client caused, carried to one place that renders it as {"error": message}."""

    def __init__(self, status: int, message: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers


def error_response(status: int, message: str, headers: Mapping[str, str] | None = None) -> JSONResponse:
    """The one error shape of the API, so clients read the message under the same key everywhere."""
    return JSONResponse({"error": message}, status_code=status, headers=headers)


async def _http_error(request: Request, exc: Exception) -> Response:
    """Starlette's own HTTP errors (a method no route lists) in the API's error shape."""
    assert isinstance(exc, HTTPException)
    return error_response(exc.status_code, exc.detail, exc.headers)


class RequestId:
    """Stamps every response with an X-Request-Id, as the real API does, to correlate logs."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Wrap `send` so the header is added whichever layer answers."""
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        request_id, started = uuid.uuid4().hex, False

        async def send_with_id(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                MutableHeaders(scope=message).append("X-Request-Id", request_id)
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            if not started:  # a bug: answer in the API's shape, then let the server log it
                await error_response(500, "Internal server error")(scope, receive, send_with_id)
            raise


def raw_segments(scope: Scope) -> list[str]:
    """Path segments split before decoding, so '%2F' stays inside its segment."""
    raw = cast(bytes | None, scope.get("raw_path")) or cast(str, scope["path"]).encode()
    parts = raw.decode("latin-1").split("/")[1:]
    if len(parts) > 1 and parts[-1] == "":
        parts.pop()  # tolerate one trailing slash
    return [unquote(part) for part in parts]


def label_filter(raw: str | None) -> list[tuple[str, str]]:
    """Parse 'k:v,k2:v2'; empty means no filter; an item without 'key:' is the caller's error."""
    pairs: list[tuple[str, str]] = []
    for item in (raw or "").split(","):
        if not item.strip():
            continue
        key, colon, value = item.strip().partition(":")
        if not colon or not key:
            raise ApiError(400, "labels: each item must have the form 'key:value'")
        pairs.append((key, value))
    return pairs


def id_filter(raw: str | None) -> list[str]:
    """Parse comma-separated deployment version ids; empty means no filter."""
    return [item.strip() for item in (raw or "").split(",") if item.strip()]


async def read_json(request: Request) -> Any:
    """The body as JSON, or a 400 that says it is not JSON; a 413 stops reading an oversized body early."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            raise ApiError(413, f"Request body larger than {MAX_BODY} bytes")
    try:
        return json.loads(body)
    except ValueError:
        raise ApiError(400, "Invalid JSON in the request body") from None


def validate(model: type[M], payload: Any) -> M:
    """Validate with the shared model; the message names each field and rule, never the input. Both names of the
    per-caller limit are fields of the API: refusing them together is the MCP server's rule, not the API's."""
    try:
        return model.model_validate(payload, context={BOTH_LIMIT_NAMES: True})
    except ValidationError as exc:
        problems = exc.errors(include_url=False, include_input=False, include_context=False)
        text = "; ".join(f"{'.'.join(map(str, p['loc'])) or 'body'}: {p['msg']}" for p in problems)
        raise ApiError(400, text) from None


class SandboxApi:
    """The handlers, bound to one store and the accepted token."""

    def __init__(self, store: Store, token: str | None) -> None:
        self.store, self.token = store, token
        services = ("projects", "*", "services")
        self.routes: list[tuple[tuple[str, ...], dict[str, Handler]]] = [
            (("status",), {"GET": self.api_status}),
            (services, {"GET": self.list_services, "POST": self.create}),
            ((*services, "*"), {"GET": self.get, "PATCH": self.update, "DELETE": self.delete}),
            ((*services, "*", "status"), {"GET": self.service_status}),
            (("projects", "*", "deployments"), {"GET": self.read(store.deployments)}),
            (("projects", "*", "deployments", "*"), {"GET": self.read(store.deployment)}),
            (("projects", "*", "deployments", "*", "versions"), {"GET": self.read(store.versions)}),
            (("projects", "*", "deployments", "*", "versions", "*"), {"GET": self.read(store.version)}),
        ]

    async def dispatch(self, request: Request) -> Response:
        """Match the raw path, check the token and method, and render the store's refusals."""
        try:
            return await self._route(request)
        except ApiError as exc:
            return error_response(exc.status, exc.message, exc.headers)
        except NotFound as exc:
            return error_response(404, str(exc))
        except Conflict as exc:
            return error_response(409, str(exc))

    async def _route(self, request: Request) -> Response:
        segments = raw_segments(request.scope)
        if not segments or segments[0] != PREFIX:
            raise ApiError(404, "Not found.")
        for pattern, handlers in self.routes:
            params = _match(pattern, segments[1:])
            if params is None:
                continue
            if pattern != ("status",):
                self._authenticate(request)
            handler = handlers.get(request.method)
            if handler is None:
                allow = {"Allow": ", ".join(handlers)}
                raise ApiError(405, f'Method "{request.method}" not allowed.', allow)
            return await handler(request, params)
        raise ApiError(404, "Not found.")

    def _authenticate(self, request: Request) -> None:
        """Accept 'Token <value>' only: the exact token when one is configured, else any value."""
        parts = request.headers.get("authorization", "").split()
        valid = len(parts) == 2 and parts[0] == "Token"
        if valid and self.token is not None:
            valid = hmac.compare_digest(parts[1].encode(), self.token.encode())
        if not valid:
            raise ApiError(401, NO_AUTH, {"WWW-Authenticate": "Token"})

    async def _call(self, func: Callable[..., R], *args: Any) -> R:
        """Run a store call off the event loop: a large list must not stall other requests."""
        return await run_in_threadpool(func, *args)

    async def api_status(self, request: Request, params: list[str]) -> Response:
        """Health of the API itself; open to all, like the real /status."""
        return JSONResponse({"status": "ok"})

    async def list_services(self, request: Request, params: list[str]) -> Response:
        """Services of a project, filtered by labels (any) and deployment version ids."""
        labels = label_filter(request.query_params.get("labels"))
        version_ids = id_filter(request.query_params.get("deployment_version_ids"))
        return JSONResponse(await self._call(self.store.list_services, params[0], labels, version_ids))

    async def create(self, request: Request, params: list[str]) -> Response:
        """Create a service; a null version means the deployment's default, as when left out."""
        await self._call(self.store.require_project, params[0])
        payload = await read_json(request)
        if isinstance(payload, dict) and cast(dict[str, Any], payload).get("version", "") is None:
            del payload["version"]
        fields = validate(ServiceCreate, payload).to_body()
        return JSONResponse(await self._call(self.store.create, params[0], fields), status_code=201)

    async def get(self, request: Request, params: list[str]) -> Response:
        """One service in full."""
        return JSONResponse(await self._call(self.store.get, *params))

    async def update(self, request: Request, params: list[str]) -> Response:
        """Change only the fields given."""
        await self._call(self.store.get, *params)
        changes = validate(ServiceUpdate, await read_json(request)).to_body()
        return JSONResponse(await self._call(self.store.update, *params, changes))

    async def delete(self, request: Request, params: list[str]) -> Response:
        """Delete a service; 204 with no body."""
        await self._call(self.store.delete, *params)
        return Response(status_code=204)

    async def service_status(self, request: Request, params: list[str]) -> Response:
        """A sandbox service is always ready: there are no instances to wait for."""
        service = await self._call(self.store.get, *params)
        return JSONResponse({"id": service["id"], "ready": True, "instances_ready": 1})

    def read(self, func: Callable[..., Any]) -> Handler:
        """A read-only handler: the store's answer for the path's names (deployments and versions)."""

        async def handler(request: Request, params: list[str]) -> Response:
            return JSONResponse(await self._call(func, *params))

        return handler


def _match(pattern: tuple[str, ...], segments: list[str]) -> list[str] | None:
    """The values of the '*' segments, or None when the path has another shape."""
    if len(pattern) != len(segments):
        return None
    params: list[str] = []
    for expected, actual in zip(pattern, segments, strict=True):
        if expected == "*":
            params.append(actual)
        elif expected != actual:
            return None
    return params


def create_app(db_path: str = ":memory:", seed_path: Path | None = None, *, token: str | None = None) -> Starlette:
    """The sandbox app; the store opens (and seeds) now, so ASGI transports work without a lifespan."""
    store = Store(db_path, load_seed(seed_path))
    api = SandboxApi(store, token)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncGenerator[None]:
        try:
            yield
        finally:
            store.close()

    app = Starlette(
        routes=[Route("/{path:path}", api.dispatch, methods=METHODS)],
        middleware=[Middleware(RequestId)],
        exception_handlers={HTTPException: _http_error},
        lifespan=lifespan,
    )
    app.state.store = store
    weakref.finalize(app, store.close)  # an app dropped without a lifespan still closes its database
    return app


class HostOriginGuard:
    """Refuses requests whose Host or Origin is not allowed, as /mcp does: a web page cannot rebind its name here."""

    def __init__(self, app: ASGIApp, allowed_hosts: Sequence[str], allowed_origins: Sequence[str]) -> None:
        from mcp.server.transport_security import TransportSecurityMiddleware, TransportSecuritySettings

        self.app = app
        self.checks = TransportSecurityMiddleware(
            TransportSecuritySettings(allowed_hosts=list(allowed_hosts), allowed_origins=list(allowed_origins))
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer a refused request in the API's error shape; pass every other one on untouched."""
        if scope["type"] == "http":
            refused = await self.checks.validate_request(Request(scope))
            if refused is not None:
                message = bytes(refused.body).decode()
                return await error_response(refused.status_code, message)(scope, receive, send)
        await self.app(scope, receive, send)


def serve(
    host: str,
    port: int,
    db_path: str,
    seed_path: Path | None = None,
    *,
    allowed_hosts: Sequence[str] = ("127.0.0.1:*", "localhost:*", "[::1]:*"),
    allowed_origins: Sequence[str] = ("http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*"),
) -> None:
    """Run the sandbox until interrupted, behind Host/Origin allow lists (loopback names by default)."""
    import uvicorn

    app = HostOriginGuard(create_app(db_path, seed_path), allowed_hosts, allowed_origins)
    uvicorn.run(app, host=host, port=port, log_level="warning", lifespan="on")
