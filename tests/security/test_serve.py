"""serve.run without listening: which app it would serve for each host, and when it refuses to start."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import SecretStr

from ubiops_services_mcp.hosting import serve
from ubiops_services_mcp.hosting.http_auth import BearerGuard, CallerContext
from ubiops_services_mcp.settings import Settings


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Replaces the uvicorn step: records the ASGI app run() would serve, and listens on nothing."""
    apps: list[Any] = []

    async def fake_serve(settings: Settings, server: Any) -> None:
        apps.append(serve.http_app(settings, server))

    monkeypatch.setattr(serve, "_serve_http", fake_serve)
    return apps


def http(**values: Any) -> Settings:
    return Settings(transport="http", sandbox=True, sandbox_db=":memory:", audit_log=None, **values)


def test_non_loopback_with_a_token_is_guarded(served: list[Any], capsys: pytest.CaptureFixture[str]) -> None:
    assert serve.run(http(host="0.0.0.0", auth_token=SecretStr("bearer-token-123-4567890abcdefghij"))) == 0
    (app,) = served
    assert isinstance(app, BearerGuard)
    assert "UBIOPS_MCP_ALLOWED_HOSTS" in capsys.readouterr().err


def test_loopback_without_a_token_is_not_guarded_but_has_caller_context(served: list[Any]) -> None:
    assert serve.run(http(host="127.0.0.1")) == 0
    (app,) = served
    assert isinstance(app, CallerContext)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "[::]", "10.0.0.1", "my-host.example", "127.0.0.1.nip.io"])
def test_non_loopback_without_a_token_refuses(served: list[Any], host: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert serve.run(http(host=host)) == 2
    assert served == []
    assert "UBIOPS_MCP_AUTH_TOKEN" in capsys.readouterr().err


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "localhost", "::1", "[::1]"])
def test_loopback_addresses_start(served: list[Any], host: str) -> None:
    assert serve.run(http(host=host)) == 0
    assert len(served) == 1
