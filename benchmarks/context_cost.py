"""Context cost: the bytes a model may read, ours against a reference measured in the same run.

- `tools/list`: per tool, the bytes of description, inputSchema and outputSchema, against the same tools with
  the schemas pydantic generates before our compaction (tools/schema.py), built in this process.
- `services_list` of N services (default 1,000, two labels each): the text content and the structuredContent
  of the result, with the default `limit` (100) and with `limit` = N, against the raw API JSON of the same list.

Bytes are UTF-8 of compact JSON; tokens are estimated as bytes / 4.

    python benchmarks/context_cost.py [--services 1000] [--tiny]
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import anyio
import httpx
from mcp import Client
from pydantic import SecretStr

from common import PROJECT, TOKEN, Report, Target, base_parser, emit, service_bodies, times
from ubiops_services_mcp.app import create_server
from ubiops_services_mcp.sandbox import create_app
from ubiops_services_mcp.settings import Settings
from ubiops_services_mcp.tools import services as services_tools

TARGET = 0.5


def size(value: Any) -> int:
    """Bytes of `value` as compact UTF-8 JSON (a string counts as its own bytes)."""
    if isinstance(value, str):
        return len(value.encode())
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())


def tok(n: int) -> str:
    return f"{n:,} B (~{n // 4:,} tok)"


@contextmanager
def uncompacted() -> Iterator[None]:
    """build_tools without our compaction: the schemas as pydantic generates them (the reference)."""
    original = services_tools.compact_schema

    def identity(schema: dict[str, Any], *, output: bool = False) -> dict[str, Any]:
        return schema

    services_tools.compact_schema = identity  # type: ignore[assignment]
    try:
        yield
    finally:
        services_tools.compact_schema = original  # type: ignore[assignment]


async def list_tools(settings: Settings) -> tuple[list[dict[str, Any]], int]:
    """tools/list as the wire carries it: each tool, and the whole result's bytes."""
    async with Client(create_server(settings), mode="legacy") as client:
        result = await client.list_tools()
    tools = [tool.model_dump(mode="json", by_alias=True, exclude_none=True) for tool in result.tools]
    return tools, size(result.model_dump(mode="json", by_alias=True, exclude_none=True))


async def tools_section() -> tuple[list[str], float]:
    settings = Settings(api_token=SecretStr(TOKEN), project=PROJECT)
    tools, total = await list_tools(settings)
    with uncompacted():
        ref_tools, ref_total = await list_tools(settings)
    reference = {tool["name"]: tool for tool in ref_tools}
    lines = [
        "| tool | description | inputSchema (uncompacted) | outputSchema (uncompacted) | whole tool (uncompacted) |",
        "|---|---:|---:|---:|---:|",
    ]
    for tool in tools:
        ref = reference[tool["name"]]
        lines.append(
            f"| `{tool['name']}` | {size(tool.get('description', ''))} "
            f"| {size(tool['inputSchema'])} ({size(ref['inputSchema'])}) "
            f"| {size(tool.get('outputSchema', {}))} ({size(ref.get('outputSchema', {}))}) "
            f"| {size(tool)} ({size(ref)}) |"
        )
    ratio = total / ref_total
    lines += [
        f"| **tools/list result** | | | | **{tok(total)}** ({tok(ref_total)}) |",
        "",
        f"tools/list: {tok(total)}, **{times(ratio)}** of the same tools with uncompacted schemas "
        f"({tok(ref_total)}). Bytes in parentheses are the uncompacted reference.",
    ]
    return lines, ratio


async def list_section(count: int) -> tuple[list[str], float]:
    app = create_app(":memory:")
    transport = httpx.ASGITransport(app=app)
    headers = {"Authorization": f"Token {TOKEN}"}
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://sandbox/v2.1/", headers=headers) as http:
            for body in service_bodies(count):
                (await http.post(f"projects/{PROJECT}/services", json=body)).raise_for_status()
            raw = (await http.get(f"projects/{PROJECT}/services")).content
        settings = Settings(api_token=SecretStr(TOKEN), project=PROJECT, sandbox=True)
        results: dict[str, tuple[int, int]] = {}
        async with Client(create_server(settings, transport), mode="legacy") as client:
            for label, args in (("default (limit 100)", {}), (f"limit={count}", {"limit": count})):
                result = await client.call_tool("services_list", args)
                assert not result.is_error
                assert result.structured_content is not None
                text = "".join(getattr(block, "text", "") for block in result.content)
                results[label] = (size(text), size(result.structured_content))
    finally:
        app.state.store.close()
    raw_bytes = len(raw)
    lines = [
        f"`services_list` of {count:,} services (two labels and a description each) against the raw API JSON "
        f"of the same list ({tok(raw_bytes)}).",
        "",
        "| result | text content | ratio to raw | structuredContent | ratio to raw |",
        "|---|---:|---:|---:|---:|",
        f"| raw API JSON (`GET /projects/{PROJECT}/services`) | {tok(raw_bytes)} | 1.00x | | |",
    ]
    for label, (text_bytes, structured_bytes) in results.items():
        lines.append(
            f"| `services_list` {label} | {tok(text_bytes)} | {times(text_bytes / raw_bytes)} "
            f"| {tok(structured_bytes)} | {times(structured_bytes / raw_bytes)} |"
        )
    full_text = results[f"limit={count}"][0]
    return lines, full_text / raw_bytes


async def measure(count: int) -> Report:
    tool_lines, tools_ratio = await tools_section()
    list_lines, list_ratio = await list_section(count)
    body = ["### tools/list", "", *tool_lines, "", "### services_list", "", *list_lines]
    targets = [
        Target(
            "4. context cost",
            f"services_list text, limit={count} / raw API JSON",
            list_ratio,
            f"≤ {TARGET}x",
            list_ratio <= TARGET,
            if_missed="see Findings (services_list size) for what would close the gap.",
        ),
        Target(
            "4. context cost",
            "tools/list bytes / uncompacted schemas",
            tools_ratio,
            "as small as clear allows",
            tools_ratio < 1,
            "informational: no fixed bound",
        ),
    ]
    return Report("4. Context cost", "\n".join(body), targets)


def main() -> None:
    parser = base_parser(__doc__)
    parser.add_argument("--services", type=int, default=1000, help="services in the listed project")
    args = parser.parse_args()
    started = time.perf_counter()
    report = anyio.run(measure, 50 if args.tiny else max(args.services, 1))
    report.seconds = time.perf_counter() - started
    emit(report, args.json)


if __name__ == "__main__":
    sys.exit(main())
