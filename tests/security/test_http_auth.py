"""The ASGI layers on their own: bearer check, request user, and the caller's token scoped to one request."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from ubiops_services_mcp.api.auth import TokenAuth, caller_token
from ubiops_services_mcp.hosting.http_auth import BearerGuard, CallerContext
from ubiops_services_mcp.identity import fingerprint

pytestmark = pytest.mark.anyio

SERVER_TOKEN = SecretStr("server-token-123456")


def authorization() -> str:
    """The Authorization header the API client would send right now."""
    request = next(TokenAuth(SERVER_TOKEN).auth_flow(httpx.Request("GET", "https://api.test/x")))
    return request.headers["authorization"]


class Inner:
    """An ASGI app that records what a tool would see: the user and the API client's Authorization."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        user = scope["user"]
        self.seen.append((getattr(user, "username", "anonymous"), authorization()))
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})


async def call(app: Any, headers: list[tuple[bytes, bytes]]) -> int:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app({"type": "http", "method": "POST", "path": "/mcp", "headers": headers}, receive, send)
    return int(sent[0]["status"])


async def test_the_callers_token_is_used_for_that_request_only() -> None:
    inner = Inner()
    app = CallerContext(inner)
    assert await call(app, [(b"x-ubiops-token", b"alice-token-abcdef")]) == 200
    assert await call(app, []) == 200
    assert await call(app, [(b"x-ubiops-token", b"Bearer bob-token-abcdef")]) == 200
    alice = fingerprint(SecretStr("alice-token-abcdef"))
    bob = fingerprint(SecretStr("Bearer bob-token-abcdef"))
    assert inner.seen == [
        (alice, "Token alice-token-abcdef"),
        ("anonymous", f"Token {SERVER_TOKEN.get_secret_value()}"),
        (bob, "Bearer bob-token-abcdef"),
    ]
    assert authorization() == f"Token {SERVER_TOKEN.get_secret_value()}"
    assert "alice-token" not in alice


@pytest.mark.parametrize(
    "headers",
    [
        [(b"x-ubiops-token", b"")],
        [(b"x-ubiops-token", b"a\x00b")],
        [(b"x-ubiops-token", "tøken".encode())],
        [(b"x-ubiops-token", b"a  b")],
        [(b"x-ubiops-token", b"x" * 1001)],
        [(b"x-ubiops-token", b"a"), (b"x-ubiops-token", b"b")],
    ],
)
async def test_a_malformed_caller_token_is_refused(headers: list[tuple[bytes, bytes]]) -> None:
    inner = Inner()
    assert await call(CallerContext(inner), headers) == 400
    assert inner.seen == []


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ([], 401),
        ([(b"authorization", b"Bearer right-bearer-0123456789abcdefghij")], 200),
        ([(b"authorization", b"BEARER right-bearer-0123456789abcdefghij")], 200),
        ([(b"authorization", b"Basic right-bearer-0123456789abcdefghij")], 401),
        ([(b"authorization", b"Bearer wrong")], 401),
        (
            [
                (b"authorization", b"Bearer right-bearer-0123456789abcdefghij"),
                (b"authorization", b"Bearer right-bearer-0123456789abcdefghij"),
            ],
            401,
        ),
    ],
)
async def test_bearer_guard(headers: list[tuple[bytes, bytes]], status: int) -> None:
    assert await call(BearerGuard(CallerContext(Inner()), "right-bearer-0123456789abcdefghij"), headers) == status


def test_caller_token_resets() -> None:
    with caller_token(SecretStr("inner-token-abcdef")):
        assert authorization() == "Token inner-token-abcdef"
    assert authorization() == f"Token {SERVER_TOKEN.get_secret_value()}"
