"""The SDK's floor: a minimal one-tool `MCPServer`, the reference every benchmark divides by.

Its one tool, `services_get`, makes the same GET as ours with a raw `httpx.AsyncClient` (one per process,
made in the lifespan) and returns the JSON as it came. With neither `--api` nor `--sandbox-db` it has no
client at all and does not even import httpx: the cold-start floor is the SDK and one tool, nothing else.

    python benchmarks/floor_server.py                                  # stdio, no API (cold start)
    python benchmarks/floor_server.py --api http://127.0.0.1:P/v2.1    # GET over loopback
    python benchmarks/floor_server.py --sandbox-db PATH                # GET to the in-process sandbox app
    python benchmarks/floor_server.py --transport http --port P ...    # streamable HTTP at /mcp

Logging is set to WARNING, as ours is, so both do the same per-request work.
"""

from __future__ import annotations

import argparse
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from mcp.server.mcpserver import Context, MCPServer

SANDBOX_URL = "http://sandbox.invalid/v2.1/"
HEADERS = {"Authorization": "Token bench", "Accept": "application/json"}


def build(api: str | None = None, sandbox_db: str | None = None, transport: Any = None) -> MCPServer[Any]:
    """The floor server; `api` is a base URL, `sandbox_db` serves the sandbox app in-process, `transport`
    replaces the network (an httpx transport, as create_server takes one)."""

    @asynccontextmanager
    async def lifespan(_: MCPServer[Any]) -> AsyncIterator[Any]:
        if api is None and sandbox_db is None:
            yield None
            return
        import httpx  # only a floor that makes requests pays for the client

        network = transport
        if sandbox_db is not None:
            from ubiops_services_mcp.sandbox import create_app

            network = httpx.ASGITransport(app=create_app(sandbox_db))
        base_url = SANDBOX_URL if api is None else api.rstrip("/") + "/"
        async with httpx.AsyncClient(base_url=base_url, headers=HEADERS, transport=network) as client:
            yield client

    server: MCPServer[Any] = MCPServer("floor", lifespan=lifespan, log_level="WARNING")

    @server.tool()
    async def services_get(service_name: str, ctx: Context, project_name: str = "demo") -> dict[str, Any]:
        """Get one service."""
        client = ctx.request_context.lifespan_context
        if client is None:
            return {"service_name": service_name}
        response = await client.get(f"projects/{project_name}/services/{service_name}")
        response.raise_for_status()
        return response.json()

    return server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--api", help="API base URL for the GET")
    parser.add_argument("--sandbox-db", help="serve the sandbox app in-process from this database")
    parser.add_argument("--transport", choices=("stdio", "http"), default="stdio")
    parser.add_argument("--port", type=int, default=8001)
    args = parser.parse_args()
    server = build(args.api, args.sandbox_db)
    if args.transport == "stdio":
        server.run()
        return
    import anyio
    import uvicorn

    app = server.streamable_http_app(streamable_http_path="/mcp", host="127.0.0.1")
    config = uvicorn.Config(app, host="127.0.0.1", port=args.port, log_level="warning", lifespan="on")
    anyio.run(uvicorn.Server(config).serve)


if __name__ == "__main__":
    main()
