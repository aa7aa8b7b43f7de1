"""Running the MCP server on stdio or streamable HTTP, with the HTTP transport locked down by default."""

from __future__ import annotations

import sys
from typing import Any

import anyio

from ..app import create_server
from ..options import check_keys
from ..settings import Settings, SettingsError, is_loopback
from . import logs
from .oauth.config import check_oauth


def announce(settings: Settings) -> None:
    """One plain line on stderr saying what this process talks to (stdout is the protocol on stdio)."""
    if settings.uses_sandbox:
        logs.notice(
            settings,
            "SANDBOX mode: no UBIOPS_API_TOKEN set (or --sandbox): serving a local sandbox "
            f"of the UbiOps API, not UbiOps. Data in {settings.sandbox_db_path}.",
        )
    else:
        logs.notice(settings, f"serving UbiOps at {settings.api_host}.")
    if settings.transport == "http":
        logs.notice(settings, f"MCP endpoint (streamable HTTP): {mcp_url(settings)}")
    elif sys.stdin.isatty():  # a person ran it by hand: stdout is the protocol, so the hint goes to stderr
        logs.notice(settings, stdio_hint())


def stdio_hint() -> str:
    """What a person who started the stdio server by hand can do with it (it waits for a client on stdin)."""
    command = sys.argv[0] if sys.argv[0].endswith("ubiops-services-mcp") else "ubiops-services-mcp"
    return (
        "speaking MCP on stdin/stdout, waiting for a client: an MCP client starts this command itself. "
        f"Point one at it (README: clients), try it with `npx @modelcontextprotocol/inspector@2.12.0 {command}` "
        "(Node.js 22.19+), or serve HTTP with --transport http. Ctrl-C stops."
    )


def mcp_url(settings: Settings) -> str:
    """The URL clients connect to; an IPv6 address goes in brackets."""
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    return f"http://{host}:{settings.port}/mcp"


def run(settings: Settings) -> int:
    try:
        check_keys(settings)
    except SettingsError as error:
        print(f"ubiops-services-mcp: {error}", file=sys.stderr)
        return 2
    if (problem := check_oauth(settings)) is not None:
        print(f"ubiops-services-mcp: {problem}", file=sys.stderr)
        return 2
    authenticated = settings.auth_token is not None or settings.oauth_issuer is not None
    if settings.transport == "http" and not is_loopback(settings.host) and not authenticated:
        print(
            f"ubiops-services-mcp: refusing to listen on {settings.host}: a non-loopback address needs "
            "UBIOPS_MCP_AUTH_TOKEN (or --auth-token) or UBIOPS_MCP_OAUTH_ISSUER with UBIOPS_MCP_RESOURCE_URL "
            "so that callers must authenticate.",
            file=sys.stderr,
        )
        return 2
    if settings.audit_to_stdout and settings.transport == "stdio":
        print(
            "ubiops-services-mcp: UBIOPS_MCP_AUDIT_LOG=- (stdout) works only with --transport http: "
            "on stdio, stdout carries the MCP protocol. Name a file instead.",
            file=sys.stderr,
        )
        return 2
    logs.configure(settings)
    announce(settings)
    if settings.transport == "http" and not is_loopback(settings.host) and not settings.allowed_hosts:
        logs.notice(
            settings,
            f"only requests with Host {settings.host}:<port> are accepted; set "
            "UBIOPS_MCP_ALLOWED_HOSTS (and UBIOPS_MCP_ALLOWED_ORIGINS) to the names clients use.",
        )
    server = create_server(settings)
    if settings.transport == "stdio":
        anyio.run(server.run_stdio_async)
        return 0
    anyio.run(_serve_http, settings, server)
    return 0


async def _serve_http(settings: Settings, server: Any) -> None:
    import uvicorn
    from uvicorn.config import LOGGING_CONFIG

    from .probes import Operability

    app = Operability(http_app(settings, server), settings, server)  # /healthz, /readyz, /metrics
    log_config = None if settings.log_format == "json" else LOGGING_CONFIG
    config = uvicorn.Config(
        app, host=settings.host, port=settings.port, log_level="warning", lifespan="on", log_config=log_config
    )
    await uvicorn.Server(config).serve()


def http_app(settings: Settings, server: Any, issuer_transport: Any = None) -> Any:
    """The streamable-HTTP ASGI app at /mcp: Host/Origin allow lists always on, bearer auth or OAuth when configured.

    Each request may carry the caller's own UbiOps token in `X-UbiOps-Token` (see http_auth.CallerContext); a
    session answers only the caller that opened it. Sessions are bounded in number and idle time (http_sessions).
    `issuer_transport` replaces the network to the OAuth issuer (tests).
    """
    # HTTP only, so stdio's cold start does not pay for them (PyJWT and cryptography among them).
    from mcp.server.transport_security import TransportSecuritySettings

    from .http_auth import BearerGuard, CallerContext
    from .http_sessions import OldestIdleFirst
    from .oauth.gate import oauth_gate

    security = TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=list(settings.http_allowed_hosts),
        allowed_origins=list(settings.http_allowed_origins),
    )
    app = server.streamable_http_app(
        streamable_http_path="/mcp",
        stateless_http=settings.stateless,
        transport_security=security,
        host=settings.host,
        max_request_body_size=1024 * 1024,
        max_sessions=settings.max_sessions,
        session_idle_timeout=settings.session_idle_timeout_s,
    )
    app = CallerContext(OldestIdleFirst(app, server.session_manager))
    if settings.auth_token is not None:
        return BearerGuard(app, settings.auth_token.get_secret_value())
    if settings.oauth_issuer is not None:
        return oauth_gate(settings, app, issuer_transport)
    return app
