"""The OAuth settings: parsed and checked at start, and what they allow (listening off loopback)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from tests.hosting.oauth.issuer import ISSUER, RESOURCE
from ubiops_services_mcp.hosting import serve
from ubiops_services_mcp.options import from_env
from ubiops_services_mcp.settings import Settings, SettingsError

OAUTH = {"UBIOPS_MCP_OAUTH_ISSUER": ISSUER, "UBIOPS_MCP_RESOURCE_URL": RESOURCE}


def test_the_oauth_settings_and_their_defaults() -> None:
    settings = from_env(OAUTH)
    assert (settings.oauth_issuer, settings.resource_url) == (ISSUER, RESOURCE)
    assert (settings.read_scope, settings.write_scope) == ("ubiops:read", "ubiops:write")
    custom = from_env({"UBIOPS_MCP_READ_SCOPE": "mcp.read", "UBIOPS_MCP_WRITE_SCOPE": "mcp.write"})
    assert (custom.read_scope, custom.write_scope) == ("mcp.read", "mcp.write")


@pytest.mark.parametrize(
    ("env", "says"),
    [
        ({"UBIOPS_MCP_OAUTH_ISSUER": "http://idp.example.com"}, "UBIOPS_MCP_OAUTH_ISSUER must be an https URL"),
        ({"UBIOPS_MCP_RESOURCE_URL": "https://mcp.test/mcp?x=1"}, "UBIOPS_MCP_RESOURCE_URL must be an https URL"),
        ({"UBIOPS_MCP_RESOURCE_URL": "mcp.test"}, "UBIOPS_MCP_RESOURCE_URL must be an https URL"),
        ({"UBIOPS_MCP_READ_SCOPE": "a b"}, "UBIOPS_MCP_READ_SCOPE must be one scope name"),
        ({"UBIOPS_MCP_WRITE_SCOPE": 'a"b'}, "UBIOPS_MCP_WRITE_SCOPE must be one scope name"),
    ],
)
def test_bad_values_are_refused(env: dict[str, str], says: str) -> None:
    with pytest.raises(SettingsError, match=says):
        from_env(env)


def test_http_on_loopback_is_allowed_for_tests() -> None:
    assert from_env({"UBIOPS_MCP_OAUTH_ISSUER": "http://127.0.0.1:9000"}).oauth_issuer == "http://127.0.0.1:9000"


def served(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Calls run() would have made to start serving (recorded, not served: no test listens off loopback)."""
    calls: list[Any] = []
    monkeypatch.setattr(serve, "anyio", SimpleNamespace(run=lambda *args: calls.append(args)))  # pyright: ignore
    return calls


def test_oauth_lets_the_server_listen_off_loopback(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    calls = served(monkeypatch)
    settings = from_env(OAUTH).with_overrides(
        transport="http", host="0.0.0.0", sandbox_db=":memory:", audit_log=tmp_path / "audit.jsonl"
    )
    assert serve.run(settings) == 0
    assert len(calls) == 1


def test_oauth_and_the_shared_bearer_token_are_refused_together(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    calls = served(monkeypatch)
    settings = from_env(OAUTH | {"UBIOPS_MCP_AUTH_TOKEN": "b" * 40}).with_overrides(transport="http")
    assert serve.run(settings) == 2
    assert "UBIOPS_MCP_AUTH_TOKEN and UBIOPS_MCP_OAUTH_ISSUER are exclusive" in capsys.readouterr().err
    assert calls == []


def test_half_an_oauth_configuration_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    served(monkeypatch)
    assert serve.run(Settings(oauth_issuer=ISSUER, transport="http")) == 2
