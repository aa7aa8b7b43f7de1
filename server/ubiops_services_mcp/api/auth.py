"""Who the API requests authenticate as: the configured token, or the caller's own on a multi-user server."""

from __future__ import annotations

import hashlib
from collections.abc import Generator
from contextlib import contextmanager
from contextvars import ContextVar

import httpx
from pydantic import SecretStr

# The UbiOps token of the caller being served, when it is not the configured one (a hosted server's users).
_CALLER_TOKEN: ContextVar[SecretStr | None] = ContextVar("ubiops_caller_token", default=None)


@contextmanager
def caller_token(token: SecretStr | None) -> Generator[None]:
    """API requests made inside (in this task and the tasks it starts) authenticate with `token`."""
    reset = _CALLER_TOKEN.set(token)
    try:
        yield
    finally:
        _CALLER_TOKEN.reset(reset)


def current_caller_token() -> SecretStr | None:
    """The caller's own token for this request, if the HTTP layer set one."""
    return _CALLER_TOKEN.get()


def current_caller_key() -> str:
    """A one-way name for whom this request acts as: "" for the server's own token, else a hash of the caller's."""
    token = _CALLER_TOKEN.get()
    return "" if token is None else hashlib.sha256(token.get_secret_value().encode()).hexdigest()


class TokenAuth(httpx.Auth):
    """`Authorization: Token <token>`; a value that already holds a scheme is sent as it is.

    The caller's own token (see `caller_token`) wins over the configured one.
    """

    def __init__(self, token: SecretStr) -> None:
        self._token = token

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        value = (_CALLER_TOKEN.get() or self._token).get_secret_value().strip()
        request.headers["Authorization"] = value if " " in value else f"Token {value}"
        yield request

    def __repr__(self) -> str:
        return "TokenAuth(token=**********)"
