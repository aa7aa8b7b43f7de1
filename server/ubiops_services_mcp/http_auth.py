"""ASGI layers in front of the streamable-HTTP app: the bearer check, and who each caller is.

`BearerGuard` refuses requests without `Authorization: Bearer <UBIOPS_MCP_AUTH_TOKEN>`. `CallerContext`
gives every request a Starlette user (so code that reads `request.user` works without Starlette's
AuthenticationMiddleware) and, when the request carries `X-UbiOps-Token`, makes the API calls of that
request use the caller's own UbiOps token: one hosted server can serve several people, each with their
own token and permissions. The MCP SDK runs each message's handler in the context of the HTTP request
that carried it, so the token set here reaches the API client and no other request.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from typing import Any, Final

from pydantic import SecretStr
from starlette.authentication import AuthCredentials, SimpleUser, UnauthenticatedUser

from .api.auth import caller_token

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
        self._app = app

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
        scope["user"] = SimpleUser(fingerprint(token))
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


def fingerprint(token: SecretStr) -> str:
    """A short, one-way name for a caller's token, for the audit log: never the token itself."""
    digest = hashlib.sha256(token.get_secret_value().encode()).hexdigest()
    return f"ubiops-token:{digest[:12]}"
