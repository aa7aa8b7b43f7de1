"""The OAuth gate in front of /mcp: 401 without a valid access token, 403 without the scope a request needs.

It runs outermost, before session admission, so an unauthenticated request can neither open a session nor push
out someone's idle one. The scope check is at the HTTP layer, as the MCP authorization spec's scope challenge
asks (403 with `WWW-Authenticate: Bearer error="insufficient_scope", scope=...`): a caller without the write
scope has its POST bodies read (at most the transport's 1 MiB) and a `tools/call` of a mutating tool refused
before the SDK sees it, with one audit line per request however many calls a batch holds. The gate also serves
the protected resource metadata (RFC 9728).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Final, cast

import httpx
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser, BearerAuthBackend
from mcp.server.auth.routes import create_protected_resource_routes
from mcp.server.auth.settings import AuthSettings
from pydantic import TypeAdapter, ValidationError
from starlette.applications import Starlette
from starlette.requests import HTTPConnection
from starlette.routing import Route

from ...api.auth import caller_identity
from ...api.models import Name
from ...audit import AuditLog
from ...identity import person, user_fields
from ...settings import MUTATING_TOOLS, Settings
from .config import OAuthConfig, oauth_config
from .keys import IssuerKeys, KeysUnavailable
from .verifier import JwtVerifier

ROOT_METADATA_PATH: Final = "/.well-known/oauth-protected-resource"
MAX_BODY_BYTES: Final = 1024 * 1024
_NAME: Final = TypeAdapter[str](Name)

Scope = Any
Receive = Any
Send = Any


class OAuthGate:
    """ASGI: authenticates /mcp requests with OAuth access tokens and refuses what their scopes do not allow."""

    def __init__(self, app: Any, config: OAuthConfig, verifier: JwtVerifier, audit: AuditLog, settings: Settings):
        self._app, self._config, self._audit, self._settings = app, config, audit, settings
        auth = config.auth_settings()
        self._backend = BearerAuthBackend(verifier, resource_server_url=auth.resource_server_url)
        self._metadata = _metadata_app(auth, config)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] in self._metadata.paths:
            await self._metadata.app(scope, receive, send)
            return
        if scope["type"] != "http" or not _is_mcp(scope["path"]):
            await self._app(scope, receive, send)
            return
        user = await self._authenticate(scope, send)
        if user is None:
            return
        if self._config.read_scope not in user.scopes:
            await self._forbid(send, [self._config.read_scope], "this server needs scope " + self._config.read_scope)
            return
        if self._config.write_scope not in user.scopes and scope["method"] == "POST":
            receive = await self._check_writes(scope, receive, send, user)
            if receive is None:
                return
        with caller_identity(person(user.access_token)):
            await self._app(scope, receive, send)

    async def _authenticate(self, scope: Scope, send: Send) -> AuthenticatedUser | None:
        """The request's user, set on the scope as the SDK's middleware would; None once refused."""
        values = [value for key, value in scope["headers"] if key.lower() == b"authorization"]
        if not values:
            await self._challenge(send, None, "")
            return None
        try:
            result = await self._backend.authenticate(HTTPConnection(scope)) if len(values) == 1 else None
        except KeysUnavailable:
            await _respond(send, 503, {"error": "temporarily_unavailable"}, [(b"retry-after", b"5")])
            return None
        if result is None:
            await self._challenge(send, "invalid_token", "the access token is not valid for this server")
            return None
        scope["auth"], scope["user"] = result
        return result[1]

    async def _check_writes(self, scope: Scope, receive: Receive, send: Send, user: AuthenticatedUser) -> Any:
        """The request's receive again when it calls no mutating tool; None once it was refused."""
        messages, body = await _read_body(receive)
        if body is None:
            if messages and messages[-1]["type"] == "http.request":
                await _respond(send, 413, {"error": "request body too large"})
            return None
        calls = mutating_calls(body)
        if calls is None:
            await _respond(send, 400, {"error": "the body is not JSON"})
            return None
        if not calls:
            return _replay(messages, receive)
        self._record_refusal(scope, user, calls)
        needed = [self._config.read_scope, self._config.write_scope]
        await self._forbid(send, needed, f"{calls[0][0]} needs scope {self._config.write_scope}")
        return None

    def _record_refusal(self, scope: Scope, user: AuthenticatedUser, calls: list[tuple[str, dict[str, Any]]]) -> None:
        """One audit line per refused request, however many calls a batch holds: the first call's names (when
        they are names), how many calls were refused and which tools (a fixed set), never a caller's object."""
        tool, arguments = calls[0]
        data: object = arguments.get("data")
        named = cast(dict[str, Any], data).get("name") if isinstance(data, dict) else None
        tools = ",".join(sorted({name for name, _ in calls}))  # mutating tool names only: at most three
        given: object = arguments.get("project_name")
        project = self._settings.default_project if given is None else _name(given)
        client: object = scope.get("client")
        remote = cast(tuple[Any, ...], client)[0] if isinstance(client, tuple) else None
        self._audit.record(
            tool=tool, project=project, service=_name(arguments.get("service_name")) or _name(named),
            calls=len(calls), tools=tools, **user_fields(user),
            remote=remote, outcome="refused", error_code="insufficient_scope",
            reason=f"the access token lacks scope {self._config.write_scope}", sandbox=self._settings.uses_sandbox,
        )  # fmt: skip

    async def _challenge(self, send: Send, error: str | None, description: str) -> None:
        """401 pointing at the metadata; without a token at all, no error code (RFC 6750 §3.1)."""
        parts = [f'error="{error}"', f'error_description="{description}"'] if error else []
        parts += [f'resource_metadata="{self._config.metadata_url}"', f'scope="{self._config.read_scope}"']
        body = {"error": error or "unauthorized", "error_description": description or "an access token is needed"}
        await _respond(send, 401, body, [(b"www-authenticate", ("Bearer " + ", ".join(parts)).encode())])

    async def _forbid(self, send: Send, scopes: list[str], description: str) -> None:
        """403 insufficient_scope naming the scopes to ask the issuer for (MCP spec: scope challenge)."""
        header = (
            f'Bearer error="insufficient_scope", scope="{" ".join(scopes)}", '
            f'resource_metadata="{self._config.metadata_url}", error_description="{description}"'
        )
        body = {"error": "insufficient_scope", "error_description": description}
        await _respond(send, 403, body, [(b"www-authenticate", header.encode())])


@dataclass(frozen=True)
class _Metadata:
    app: Starlette
    paths: frozenset[str]


def _metadata_app(auth: AuthSettings, config: OAuthConfig) -> _Metadata:
    """The SDK's RFC 9728 route, also at the root well-known path for clients that look only there."""
    assert auth.resource_server_url is not None
    routes = create_protected_resource_routes(
        resource_url=auth.resource_server_url, authorization_servers=[auth.issuer_url],
        scopes_supported=[config.read_scope, config.write_scope], resource_name="UbiOps services",
    )  # fmt: skip
    if routes[0].path != ROOT_METADATA_PATH:
        routes.append(Route(ROOT_METADATA_PATH, endpoint=routes[0].endpoint, methods=["GET", "OPTIONS"]))
    return _Metadata(Starlette(routes=routes), frozenset(route.path for route in routes))


def _is_mcp(path: str, mcp_path: str = "/mcp") -> bool:
    return path == mcp_path or path.startswith(mcp_path + "/")


def mutating_calls(body: bytes) -> list[tuple[str, dict[str, Any]]] | None:
    """The mutating tools a JSON-RPC body (one message or a batch) calls, with their arguments; None if not JSON."""
    try:
        payload: object = json.loads(body)
    except (ValueError, RecursionError):  # too deeply nested is not JSON this server reads either (the SDK: 400)
        return None
    items = cast(list[object], payload) if isinstance(payload, list) else [payload]
    calls: list[tuple[str, dict[str, Any]]] = []
    for item in items:
        message = cast(dict[str, Any], item) if isinstance(item, dict) else {}
        params: object = message.get("params")
        if message.get("method") != "tools/call" or not isinstance(params, dict):
            continue
        name: object = cast(dict[str, Any], params).get("name")
        arguments: object = cast(dict[str, Any], params).get("arguments")
        if name in MUTATING_TOOLS:
            calls.append((cast(str, name), cast(dict[str, Any], arguments) if isinstance(arguments, dict) else {}))
    return calls


def _name(value: object) -> str | None:
    """A caller's name as the audit log may hold it: a string passing the API's name rule, else nothing."""
    try:
        return _NAME.validate_python(value)
    except ValidationError:
        return None


async def _read_body(receive: Receive) -> tuple[list[Any], bytes | None]:
    """The request's messages and its body; None for the body when it is too large or the client went away."""
    messages: list[Any] = []
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            return messages, None
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            return messages, None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return messages, b"".join(chunks)


def _replay(messages: list[Any], receive: Receive) -> Receive:
    """A receive that hands out the messages already read, then the rest of the request."""
    pending = list(messages)

    async def replayed() -> Any:
        return pending.pop(0) if pending else await receive()

    return replayed


async def _respond(send: Send, status: int, body: dict[str, str], headers: list[tuple[bytes, bytes]] | None = None):
    """A small JSON answer with extra headers."""
    content = json.dumps(body).encode()
    start = [(b"content-type", b"application/json"), (b"content-length", str(len(content)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": start + (headers or [])})
    await send({"type": "http.response.body", "body": content})


def oauth_gate(settings: Settings, app: Any, transport: httpx.AsyncBaseTransport | None = None) -> OAuthGate:
    """The gate for these settings, with its own key cache and audit log (one per process, open as long as it)."""
    config = oauth_config(settings)
    assert config is not None
    keys = IssuerKeys(config.issuer, transport=transport)
    verifier = JwtVerifier(keys, config.resource, config.read_scope, config.write_scope)
    return OAuthGate(app, config, verifier, AuditLog(settings.audit_log_path), settings)
