"""Settings: one frozen object built from the environment and the command line (flags win)."""

from __future__ import annotations

import ipaddress
import os
import secrets
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Final, Literal

from pydantic import SecretStr

from .api.client import DEFAULT_HOST, ApiConfig
from .api.retry import DEFAULT_BUDGET_S, DEFAULT_TIMEOUT_S, RetryPolicy

APP_DIR: Final = "ubiops-services-mcp"
STDOUT: Final = "-"  # the audit log's name for standard output
SANDBOX_PROJECT: Final = "demo"
READ_ONLY_TOOLS: Final = ("services_get", "services_list", "services_status", "deployments_list", "deployments_get")
MUTATING_TOOLS: Final = ("services_create", "services_update", "services_delete")
ALL_TOOLS: Final = (
    "services_create",
    "services_get",
    "services_list",
    "services_update",
    "services_delete",
    "services_status",
    "deployments_list",
    "deployments_get",
)

Confirmation = Literal["preview", "flag"]
MIN_KEY_CHARS: Final = 32
KEY_HINT: Final = 'generate one with: python -c "import secrets; print(secrets.token_urlsafe(32))"'


class SettingsError(ValueError):
    """A setting's value cannot be used; the message names the setting."""


def _user_dir(kind: Literal["data", "state"]) -> Path:
    """The per-user directory for data or state, per platform conventions."""
    if sys.platform == "win32":
        return Path(os.environ.get("LOCALAPPDATA", Path.home() / "AppData" / "Local")) / APP_DIR
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support" / APP_DIR
    xdg = os.environ.get("XDG_DATA_HOME" if kind == "data" else "XDG_STATE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".local" / ("share" if kind == "data" else "state")
    return base / APP_DIR


@dataclass(frozen=True)
class Settings:
    """Everything the server needs to know; secrets are SecretStr so no repr shows them."""

    api_token: SecretStr | None = None
    api_host: str = DEFAULT_HOST
    project: str | None = None
    timeout_s: float = DEFAULT_TIMEOUT_S
    max_attempts: int = 4
    retry_budget_s: float = DEFAULT_BUDGET_S
    read_only: bool = False
    tools: tuple[str, ...] | None = None
    confirmation: Confirmation = "preview"
    confirmation_ttl_s: int = 600
    secret: SecretStr = field(default_factory=lambda: SecretStr(secrets.token_urlsafe(32)))
    elicitation: bool = True
    audit_log: Path | None = None
    sandbox: bool = False
    sandbox_db: str | None = None
    sandbox_seed: Path | None = None
    auth_token: SecretStr | None = None
    transport: Literal["stdio", "http"] = "stdio"
    host: str = "127.0.0.1"
    port: int = 8000
    stateless: bool = False
    allowed_hosts: tuple[str, ...] = ()
    allowed_origins: tuple[str, ...] = ()
    require_human: bool = False
    max_sessions: int = 1000
    session_idle_timeout_s: float = 600.0
    log_format: Literal["text", "json"] = "text"
    metrics_token: SecretStr | None = None
    oauth_issuer: str | None = None
    resource_url: str | None = None
    read_scope: str = "ubiops:read"
    write_scope: str = "ubiops:write"

    @property
    def uses_sandbox(self) -> bool:
        """The embedded sandbox serves when asked for, or when no UbiOps token is configured."""
        return self.sandbox or self.api_token is None

    @property
    def default_project(self) -> str | None:
        return self.project or (SANDBOX_PROJECT if self.uses_sandbox else None)

    @property
    def sandbox_db_path(self) -> str:
        return self.sandbox_db or str(_user_dir("data") / "sandbox.sqlite3")

    @property
    def audit_log_path(self) -> Path:
        return self.audit_log or _user_dir("state") / "audit.jsonl"

    @property
    def previews_path(self) -> Path:
        """Where recent previews are remembered (tools/confirmation.PreviewMemory): beside the audit log."""
        base = _user_dir("state") if self.audit_to_stdout else self.audit_log_path.parent
        return base / "previews.sqlite3"

    @property
    def audit_to_stdout(self) -> bool:
        """`UBIOPS_MCP_AUDIT_LOG=-`: audit lines go to stdout, for a log collector (HTTP transport only)."""
        return self.audit_log == Path(STDOUT)

    @property
    def http_allowed_hosts(self) -> tuple[str, ...]:
        """Host headers HTTP requests may carry: the allow list, else the bind address (any port)."""
        if self.allowed_hosts:
            return self.allowed_hosts
        if is_loopback(self.host):
            return ("127.0.0.1:*", "localhost:*", "[::1]:*")
        return (f"{self.host}:*",)

    @property
    def http_allowed_origins(self) -> tuple[str, ...]:
        """Origin headers HTTP requests may carry: the allow list, else the allowed hosts over http and https."""
        if self.allowed_origins:
            return self.allowed_origins
        hosts = self.http_allowed_hosts
        return tuple(f"http://{h}" for h in hosts) + tuple(f"https://{h}" for h in hosts)

    @property
    def enabled_tools(self) -> tuple[str, ...]:
        """Tools to register: the allow list, less every mutating tool in read-only mode."""
        chosen = self.tools if self.tools is not None else ALL_TOOLS
        return tuple(t for t in chosen if not (self.read_only and t in MUTATING_TOOLS))

    def api_config(self) -> ApiConfig:
        return ApiConfig(
            host=self.api_host,
            token=self.api_token,
            timeout_s=self.timeout_s,
            retry=RetryPolicy(max_attempts=self.max_attempts, total_s=self.retry_budget_s),
        )

    def with_overrides(self, **values: Any) -> Settings:
        return replace(self, **{k: v for k, v in values.items() if v is not None})


def is_loopback(host: str) -> bool:
    """Whether only this machine can reach an address (the HTTP transport's safe default)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
