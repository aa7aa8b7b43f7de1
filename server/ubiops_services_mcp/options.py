"""The settings a user can set, each as an environment variable and a flag: how each is read and checked."""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal
from urllib.parse import urlsplit

from pydantic import SecretStr

from .api.client import DEFAULT_HOST
from .settings import (
    ALL_TOOLS,
    KEY_HINT,
    MIN_KEY_CHARS,
    Confirmation,
    Settings,
    SettingsError,
    is_loopback,
)

HEADER_SAFE: Final = re.compile(r"^[\x21-\x7e]+$")  # visible ASCII: what a client can send in a header


def _bool(name: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise SettingsError(f"{name} must be 1/0, true/false, yes/no or on/off, not {raw!r}")


def _positive(kind: type[int] | type[float]) -> Callable[[str, str], Any]:
    def parse(name: str, raw: str) -> Any:
        try:
            value = kind(raw)
        except ValueError:
            raise SettingsError(f"{name} must be a number, not {raw!r}") from None
        if not math.isfinite(value):
            raise SettingsError(f"{name} must be a finite number, not {raw!r}")
        if value <= 0:
            raise SettingsError(f"{name} must be greater than 0, not {raw!r}")
        return value

    return parse


def parse_tools(name: str, raw: str) -> tuple[str, ...]:
    """A comma-separated allow list; an unknown tool name is an error, not a silent no-op."""
    chosen = tuple(t.strip() for t in raw.split(",") if t.strip())
    unknown = [t for t in chosen if t not in ALL_TOOLS]
    if unknown:
        raise SettingsError(f"{name}: unknown tool(s) {', '.join(unknown)}; known: {', '.join(ALL_TOOLS)}")
    return chosen


def _csv(name: str, raw: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in raw.split(",") if v.strip())


def _confirmation(name: str, raw: str) -> Confirmation:
    if raw in ("preview", "flag"):
        return raw
    raise SettingsError(f"{name} must be 'preview' or 'flag', not {raw!r}")


def _secret(name: str, raw: str) -> SecretStr:
    return SecretStr(raw)


def _key(name: str, raw: str) -> SecretStr:
    """A key that guards something: empty or short, it would guard nothing, so it is refused (never echoed)."""
    length = len(raw.strip())
    if length < MIN_KEY_CHARS:
        found = "it is empty" if length == 0 else f"it has {length}"
        raise SettingsError(f"{name} must be at least {MIN_KEY_CHARS} characters ({found}); {KEY_HINT}")
    return SecretStr(raw)


def _bearer(name: str, raw: str) -> SecretStr:
    """A strong key that clients can also send: `Authorization: Bearer <token>` carries visible ASCII only."""
    key = _key(name, raw)
    if not HEADER_SAFE.match(raw):
        raise SettingsError(f"{name} must be visible ASCII without spaces, so clients can send it; {KEY_HINT}")
    return key


def _text(name: str, raw: str) -> str:
    return raw


def _api_host(name: str, raw: str) -> str:
    """The API's base URL: an http(s) URL with a host, so a typo fails at start, not on the first call."""
    if not _is_http_url(raw.strip()):
        raise SettingsError(
            f"{name} must be an http(s) URL such as {DEFAULT_HOST} (without query or fragment), not {raw!r}"
        )
    return raw.strip()


def _is_http_url(text: str) -> bool:
    try:
        url = urlsplit(text)
        port = url.port  # raises on a port that is not a number in range
    except ValueError:
        return False
    plain = not url.query and not url.fragment and port != 0
    return url.scheme in ("http", "https") and bool(url.hostname) and plain


def _public_url(name: str, raw: str) -> str:
    """An https URL (http only on loopback, for tests), without query or fragment: OAuth compares them exactly."""
    url = urlsplit(raw.strip())
    local = url.scheme == "http" and is_loopback(url.hostname or "")
    if not url.hostname or url.query or url.fragment or not (url.scheme == "https" or local):
        raise SettingsError(f"{name} must be an https URL without query or fragment (http on loopback), not {raw!r}")
    return raw.strip()


def _scope_name(name: str, raw: str) -> str:
    """One OAuth scope: visible ASCII without spaces or quotes (it goes into WWW-Authenticate)."""
    if not HEADER_SAFE.match(raw) or any(c in raw for c in '"\\'):
        raise SettingsError(f"{name} must be one scope name: visible ASCII without spaces or quotes, not {raw!r}")
    return raw


def _path(name: str, raw: str) -> Path:
    return Path(raw).expanduser()


def _log_format(name: str, raw: str) -> Literal["text", "json"]:
    if raw in ("text", "json"):
        return raw
    raise SettingsError(f"{name} must be 'text' or 'json', not {raw!r}")


def _log_file(name: str, raw: str) -> Path:
    """An empty path would audit nowhere (or into the working directory); it is refused, not guessed at."""
    if not raw.strip():
        raise SettingsError(f"{name} is empty: name the audit log file, or unset it for the default")
    return _path(name, raw)


@dataclass(frozen=True)
class Option:
    """One setting: its variable, its flag, how to read it, and the help a user sees."""

    env: str
    field: str
    flag: str
    parse: Callable[[str, str], Any]
    help: str
    switch: bool = False
    protective: bool = False  # an explicitly empty variable is refused, not taken for unset


OPTIONS: Final = (
    Option(
        "UBIOPS_API_TOKEN",
        "api_token",
        "--api-token",
        _secret,
        "UbiOps API token (secret; prefer the variable: flags show in process lists). "
        "Unset: the embedded sandbox serves.",
    ),
    Option("UBIOPS_API_HOST", "api_host", "--api-host", _api_host, f"UbiOps API base URL (default {DEFAULT_HOST})."),
    Option(
        "UBIOPS_PROJECT",
        "project",
        "--project",
        _text,
        "Default project for tools called without project_name ('demo' in the sandbox).",
    ),
    Option(
        "UBIOPS_TIMEOUT",
        "timeout_s",
        "--timeout",
        _positive(float),
        "Seconds to wait for one API answer (default 10).",
    ),
    Option(
        "UBIOPS_MAX_ATTEMPTS",
        "max_attempts",
        "--max-attempts",
        _positive(int),
        "Attempts per API request, retries included (default 4).",
    ),
    Option(
        "UBIOPS_RETRY_BUDGET",
        "retry_budget_s",
        "--retry-budget",
        _positive(float),
        "Seconds one API request may take, retries and waits included (default 25: two fit in the 60 s "
        "most MCP clients wait for a tool call).",
    ),
    Option(
        "UBIOPS_MCP_READ_ONLY",
        "read_only",
        "--read-only",
        _bool,
        "Serve only the read-only tools (get, list, status).",
        switch=True,
    ),
    Option(
        "UBIOPS_MCP_TOOLS",
        "tools",
        "--tools",
        parse_tools,
        f"Comma-separated allow list of tools to serve ({', '.join(ALL_TOOLS)}).",
    ),
    Option(
        "UBIOPS_MCP_CONFIRMATION",
        "confirmation",
        "--confirmation",
        _confirmation,
        "'preview' (default): update/delete need the confirmation_token of a preview; "
        "'flag': confirm=true alone applies.",
    ),
    Option(
        "UBIOPS_MCP_CONFIRMATION_TTL",
        "confirmation_ttl_s",
        "--confirmation-ttl",
        _positive(int),
        "Seconds a confirmation_token stays valid (default 600).",
    ),
    Option(
        "UBIOPS_MCP_SECRET",
        "secret",
        "--secret",
        _key,
        "HMAC key signing confirmation tokens, at least 32 characters; share it between replicas "
        "(default: random per process).",
        protective=True,
    ),
    Option(
        "UBIOPS_MCP_ELICITATION",
        "elicitation",
        "--no-elicitation",
        _bool,
        "Do not ask the human through MCP elicitation before applying a change.",
        switch=True,
    ),
    Option(
        "UBIOPS_MCP_AUDIT_LOG",
        "audit_log",
        "--audit-log",
        _log_file,
        "JSON-lines audit log of every mutating attempt (default: user state dir/audit.jsonl; "
        "'-': stdout, HTTP transport only).",
        protective=True,
    ),
    Option(
        "UBIOPS_MCP_AUTH_TOKEN",
        "auth_token",
        "--auth-token",
        _bearer,
        "Bearer token HTTP clients must send, at least 32 characters; required to listen on a non-loopback address.",
        protective=True,
    ),
    Option(
        "UBIOPS_MCP_SANDBOX",
        "sandbox",
        "--sandbox",
        _bool,
        "Use the embedded sandbox even when a UbiOps token is set.",
        switch=True,
    ),
    Option(
        "UBIOPS_SANDBOX_DB",
        "sandbox_db",
        "--sandbox-db",
        _text,
        "SQLite file of the sandbox (default: user data dir/sandbox.sqlite3; ':memory:' for none).",
    ),
    Option(
        "UBIOPS_SANDBOX_SEED",
        "sandbox_seed",
        "--sandbox-seed",
        _path,
        "JSON seed file for the sandbox (default: project demo, deployment hello-world).",
    ),
    Option(
        "UBIOPS_MCP_ALLOWED_HOSTS",
        "allowed_hosts",
        "--allowed-hosts",
        _csv,
        "HTTP transport: Host header allow list, comma-separated (default: the bind address).",
    ),
    Option(
        "UBIOPS_MCP_ALLOWED_ORIGINS",
        "allowed_origins",
        "--allowed-origins",
        _csv,
        "HTTP transport: Origin header allow list, comma-separated (default: the bind address).",
    ),
    Option(
        "UBIOPS_MCP_REQUIRE_HUMAN",
        "require_human",
        "--require-human",
        _bool,
        "Refuse updates and deletes that no human can approve (the client cannot elicit, or elicitation is off).",
        switch=True,
    ),
    Option(
        "UBIOPS_MCP_MAX_SESSIONS",
        "max_sessions",
        "--max-sessions",
        _positive(int),
        "HTTP transport: most sessions open at once; at the limit the oldest idle one is closed (default 1000).",
    ),
    Option(
        "UBIOPS_MCP_SESSION_IDLE_TIMEOUT",
        "session_idle_timeout_s",
        "--session-idle-timeout",
        _positive(float),
        "HTTP transport: seconds an idle session lives before it is closed (default 600).",
    ),
    Option(
        "UBIOPS_MCP_LOG_FORMAT",
        "log_format",
        "--log-format",
        _log_format,
        "'text' (default) or 'json': one JSON object per line on stderr (time, level, logger, message).",
    ),
    Option(
        "UBIOPS_MCP_METRICS_TOKEN",
        "metrics_token",
        "--metrics-token",
        _bearer,
        "HTTP transport: bearer token for /metrics, at least 32 characters (default: UBIOPS_MCP_AUTH_TOKEN; "
        "with neither, /metrics is open on loopback only).",
        protective=True,
    ),
    Option(
        "UBIOPS_MCP_OAUTH_ISSUER",
        "oauth_issuer",
        "--oauth-issuer",
        _public_url,
        "HTTP transport: accept OAuth access tokens (JWTs) from this authorization server (its issuer URL); "
        "needs UBIOPS_MCP_RESOURCE_URL, excludes UBIOPS_MCP_AUTH_TOKEN.",
    ),
    Option(
        "UBIOPS_MCP_RESOURCE_URL",
        "resource_url",
        "--resource-url",
        _public_url,
        "HTTP transport with OAuth: this server's public MCP URL (e.g. https://mcp.example.com/mcp), "
        "the audience access tokens must name.",
    ),
    Option(
        "UBIOPS_MCP_READ_SCOPE",
        "read_scope",
        "--read-scope",
        _scope_name,
        "OAuth scope that allows reading: get, list, status, resources, prompts (default ubiops:read).",
    ),
    Option(
        "UBIOPS_MCP_WRITE_SCOPE",
        "write_scope",
        "--write-scope",
        _scope_name,
        "OAuth scope that allows create, update and delete too (default ubiops:write).",
    ),
)
"""The settings a user can set; the switch of --no-elicitation turns elicitation off."""


def from_env(env: Mapping[str, str] | None = None) -> Settings:
    """Settings from environment variables; unset or empty ones keep their defaults, but a protective one set empty
    is refused: an empty secret, auth token or audit log would silently switch its protection off."""
    source = os.environ if env is None else env
    values: dict[str, Any] = {}
    for option in OPTIONS:
        raw = source.get(option.env)
        if raw is not None and (raw != "" or option.protective):
            values[option.field] = option.parse(option.env, raw)
    return Settings(**values)


def check_keys(settings: Settings) -> None:
    """Refuse weak keys however the settings were built; serve.run calls this before it listens."""
    for option in OPTIONS:
        value = getattr(settings, option.field)
        if option.protective and isinstance(value, SecretStr):
            option.parse(f"{option.env} ({option.flag})", value.get_secret_value())
