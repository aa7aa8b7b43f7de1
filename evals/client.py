"""The chat client's view of the server: spawn it over stdio, list its tools, call one, keep what a model sees.

The client declares no elicitation (as a client that cannot ask its user), speaks the initialize handshake
(as Claude Desktop does), and knows nothing of the server's tools beyond what tools/list says.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.shared.exceptions import MCPError
from mcp.types import Implementation


@dataclass(frozen=True)
class ServerSpec:
    """How to start the server: command line, full environment, and where its stderr goes."""

    command: list[str]
    env: dict[str, str]
    log: Path


Connect = Callable[[ServerSpec], AbstractAsyncContextManager[Client]]
CLIENT_INFO = Implementation(name="ubiops-evals", version="1.0")


@asynccontextmanager
async def stdio(spec: ServerSpec) -> AsyncIterator[Client]:
    """A fresh server process per session; its stderr goes to the log, never to the agent."""
    params = StdioServerParameters(command=spec.command[0], args=spec.command[1:], env=spec.env)
    with spec.log.open("a") as log:
        async with Client(stdio_client(params, errlog=log), mode="legacy", client_info=CLIENT_INFO) as client:
            yield client


@dataclass(frozen=True)
class CallOutcome:
    """What the model sees of one call: the text content and whether the client flagged an error."""

    text: str
    is_error: bool


def model_tools(tools: list[Any]) -> list[dict[str, Any]]:
    """Name, description and input schema of each tool: all a chat client passes on to the model."""
    return [{"name": t.name, "description": t.description or "", "inputSchema": t.input_schema} for t in tools]


async def list_tools(spec: ServerSpec, connect: Connect = stdio) -> list[dict[str, Any]]:
    """Every page of tools/list, as the model sees the tools."""
    async with connect(spec) as client:
        tools, cursor = [], None
        while True:
            page = await client.list_tools(cursor=cursor)
            tools += page.tools
            cursor = page.next_cursor
            if cursor is None:
                return model_tools(tools)


def content_text(content: list[Any]) -> str:
    """The text parts joined; anything else shows as a placeholder, since a text model gets no image here."""
    parts = [item.text if getattr(item, "type", "") == "text" else f"[{item.type} content]" for item in content]
    return "\n".join(parts)


async def call_tool(spec: ServerSpec, tool: str, arguments: dict[str, Any], connect: Connect = stdio) -> CallOutcome:
    """One tools/call in its own session; protocol and output-schema errors come back as a client shows them."""
    async with connect(spec) as client:
        try:
            result = await client.call_tool(tool, arguments)
        except MCPError as error:
            return CallOutcome(text=f"MCP error {error.code}: {error}", is_error=True)
        except RuntimeError as error:
            return CallOutcome(text=f"Client error: {error}", is_error=True)
    return CallOutcome(text=content_text(result.content), is_error=bool(result.is_error))


def tool_bytes(tool: dict[str, Any]) -> int:
    """Model-facing size of one tool: UTF-8 bytes of name, description and compact input schema."""
    schema = json.dumps(tool["inputSchema"], separators=(",", ":"), ensure_ascii=False)
    return sum(len(part.encode()) for part in (tool["name"], tool["description"], schema))
