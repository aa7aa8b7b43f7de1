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
# The person the request acts for, when the HTTP layer authenticated one (an OAuth issuer and subject).
_CALLER_IDENTITY: ContextVar[str | None] = ContextVar("ubiops_caller_identity", default=None)


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


@contextmanager
def caller_identity(identity: str | None) -> Generator[None]:
    """Inside, requests act for this authenticated person, so what is bound to a caller is bound to them."""
    reset = _CALLER_IDENTITY.set(identity)
    try:
        yield
    finally:
        _CALLER_IDENTITY.reset(reset)


def current_caller_key() -> str:
    """A one-way name for whom this request acts as: "" for the server's own token and nobody signed in, else a
    hash of the caller's token and, when an identity provider vouched for them, of who they are."""
    token, identity = _CALLER_TOKEN.get(), _CALLER_IDENTITY.get()
    if identity is None:
        return "" if token is None else hashlib.sha256(token.get_secret_value().encode()).hexdigest()
    material = "identity\0" + identity + "\0" + ("" if token is None else token.get_secret_value())
    return hashlib.sha256(material.encode()).hexdigest()


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
