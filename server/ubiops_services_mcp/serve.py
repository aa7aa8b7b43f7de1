"""Running the MCP server on stdio or streamable HTTP, with the HTTP transport locked down by default."""

from __future__ import annotations

import ipaddress
import sys
from typing import Any

import anyio

from .app import create_server
from .http_auth import BearerGuard, CallerContext
from .settings import Settings


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def announce(settings: Settings) -> None:
    """One plain line on stderr saying what this process talks to (stdout is the protocol on stdio)."""
    if settings.uses_sandbox:
        print(
            "ubiops-services-mcp: SANDBOX mode: no UBIOPS_API_TOKEN set (or --sandbox): serving a local sandbox "
            f"of the UbiOps API, not UbiOps. Data in {settings.sandbox_db_path}.",
            file=sys.stderr,
        )
    else:
        print(f"ubiops-services-mcp: serving UbiOps at {settings.api_host}.", file=sys.stderr)


def run(settings: Settings) -> int:
    if settings.transport == "http" and not _is_loopback(settings.host) and settings.auth_token is None:
        print(
            f"ubiops-services-mcp: refusing to listen on {settings.host}: a non-loopback address needs "
            "UBIOPS_MCP_AUTH_TOKEN (or --auth-token) so that callers must authenticate.",
            file=sys.stderr,
        )
        return 2
    announce(settings)
    if settings.transport == "http" and not _is_loopback(settings.host) and not settings.allowed_hosts:
        print(
            f"ubiops-services-mcp: only requests with Host {settings.host}:<port> are accepted; set "
            "UBIOPS_MCP_ALLOWED_HOSTS (and UBIOPS_MCP_ALLOWED_ORIGINS) to the names clients use.",
            file=sys.stderr,
        )
    server = create_server(settings)
    if settings.transport == "stdio":
        anyio.run(server.run_stdio_async)
        return 0
    anyio.run(_serve_http, settings, server)
    return 0


async def _serve_http(settings: Settings, server: Any) -> None:
    import uvicorn

    app = http_app(settings, server)
    config = uvicorn.Config(app, host=settings.host, port=settings.port, log_level="warning", lifespan="on")
    await uvicorn.Server(config).serve()


def http_app(settings: Settings, server: Any) -> Any:
    """The streamable-HTTP ASGI app at /mcp: Host/Origin allow lists always on, bearer auth when configured.

    Each request may carry the caller's own UbiOps token in `X-UbiOps-Token` (see http_auth.CallerContext).
    """
    from mcp.server.transport_security import TransportSecuritySettings

    hosts = list(settings.allowed_hosts) or _default_hosts(settings.host)
    origins = list(settings.allowed_origins) or [f"http://{h}" for h in hosts] + [f"https://{h}" for h in hosts]
    security = TransportSecuritySettings(
        enable_dns_rebinding_protection=True, allowed_hosts=hosts, allowed_origins=origins
    )
    app = server.streamable_http_app(
        streamable_http_path="/mcp",
        stateless_http=settings.stateless,
        transport_security=security,
        host=settings.host,
        max_request_body_size=1024 * 1024,
    )
    app = CallerContext(app)
    if settings.auth_token is not None:
        return BearerGuard(app, settings.auth_token.get_secret_value())
    return app


def _default_hosts(host: str) -> list[str]:
    if _is_loopback(host):
        return ["127.0.0.1:*", "localhost:*", "[::1]:*"]
    return [f"{host}:*"]
