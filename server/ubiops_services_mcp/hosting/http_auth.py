"""ASGI layers in front of the streamable-HTTP app: the bearer check, and who each caller is.

`BearerGuard` refuses requests without `Authorization: Bearer <UBIOPS_MCP_AUTH_TOKEN>`. `CallerContext`
gives every request a Starlette user (so code that reads `request.user` works without Starlette's
AuthenticationMiddleware) and, when the request carries `X-UbiOps-Token`, makes the API calls of that
request use the caller's own UbiOps token: one hosted server can serve several people, each with their
own token and permissions. The MCP SDK runs each message's handler in the context of the HTTP request
that carried it, so the token set here reaches the API client and no other request.

That user is the SDK's `AuthenticatedUser`, named by the token's fingerprint: the SDK then binds each session
(and each 2026-protocol request state) to the caller that opened it, and answers any other caller 404, so
nobody who learns a session id can answer another caller's elicitation. Behind OAuth (oauth.gate) the user is the
person the access token names, and `X-UbiOps-Token` only chooses the UbiOps token their API calls use.
"""

from __future__ import annotations

import hmac
import re
from typing import Any, Final

from mcp.server.auth.middleware.auth_context import AuthContextMiddleware
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.auth.provider import AccessToken
from pydantic import SecretStr
from starlette.authentication import AuthCredentials, UnauthenticatedUser

from ..api.auth import caller_token
from ..identity import fingerprint
from ..settings import MIN_KEY_CHARS

CALLER_TOKEN_HEADER: Final = b"x-ubiops-token"
MAX_TOKEN_CHARS: Final = 1000
_PRINTABLE = re.compile(r"^[\x21-\x7e]+( [\x21-\x7e]+)?$")  # "<token>" or "<scheme> <token>", visible ASCII

Scope = Any
Receive = Any
Send = Any


async def _refuse(send: Send, status: int, code: str, headers: list[tuple[bytes, bytes]] | None = None) -> None:
    body = b'{"error":"' + code.encode() + b'"}'
    start_headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": start_headers + (headers or [])})
    await send({"type": "http.response.body", "body": body})


def _header(scope: Scope, name: bytes) -> list[bytes]:
    return [value for key, value in scope["headers"] if key.lower() == name]


class BearerGuard:
    """Refuses HTTP requests without `Authorization: Bearer <UBIOPS_MCP_AUTH_TOKEN>` (constant-time compare)."""

    def __init__(self, app: Any, token: str) -> None:
        if len(token.strip()) < MIN_KEY_CHARS:  # an empty token would let `Authorization: Bearer` in
            raise ValueError(f"the bearer token must be at least {MIN_KEY_CHARS} characters")
        self._app = app
        self._expected = token.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not self._accepts(_header(scope, b"authorization")):
            await _refuse(send, 401, "unauthorized", [(b"www-authenticate", b"Bearer")])
            return
        await self._app(scope, receive, send)

    def _accepts(self, values: list[bytes]) -> bool:
        if len(values) != 1:
            return False
        scheme, _, given = values[0].partition(b" ")
        # compare_digest on the whole value either way, so a wrong scheme costs the same time
        matches = hmac.compare_digest(given, self._expected)
        return matches and scheme.lower() == b"bearer"


class CallerContext:
    """Gives each HTTP request a user and, with `X-UbiOps-Token`, the caller's own UbiOps token for its API calls."""

    def __init__(self, app: Any) -> None:
        self._app = AuthContextMiddleware(app)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        values = _header(scope, CALLER_TOKEN_HEADER)
        if not values:
            scope.setdefault("user", UnauthenticatedUser())
            scope.setdefault("auth", AuthCredentials())
            await self._app(scope, receive, send)
            return
        token = _caller_token(values)
        if token is None:
            await _refuse(send, 400, "invalid X-UbiOps-Token")
            return
        if not isinstance(scope.get("user"), AuthenticatedUser):  # an OAuth user (oauth.gate) stays who calls
            scope["user"] = caller_user(token)
            scope["auth"] = AuthCredentials(["ubiops-token"])
        with caller_token(token):
            await self._app(scope, receive, send)


def _caller_token(values: list[bytes]) -> SecretStr | None:
    """The one well-formed token of the request, or None when it is missing, repeated or malformed."""
    if len(values) != 1:
        return None
    try:
        value = values[0].decode("ascii").strip()
    except UnicodeDecodeError:
        return None
    if not value or len(value) > MAX_TOKEN_CHARS or not _PRINTABLE.match(value):
        return None
    return SecretStr(value)


def caller_user(token: SecretStr) -> AuthenticatedUser:
    """The SDK's authenticated user for a caller token: its fingerprint is the identity sessions are bound to."""
    name = fingerprint(token)
    return AuthenticatedUser(AccessToken(token=name, client_id=name, scopes=["ubiops-token"]))
