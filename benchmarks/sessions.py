"""Sessions: N `initialize` handshakes over streamable HTTP that are never closed, as a flood would leave them.

Ours is spawned as `ubiops-services-mcp --transport http --port P` (embedded sandbox, in-memory) twice: with its
session limits (`--max-sessions`, default 1000, the oldest idle session closed at the limit) and with the SDK's
own defaults (10,000 sessions, 30 minutes idle), which is what the server ran with before it set limits. A bare
JSON-RPC client opens N sessions from W workers (initialize + notifications/initialized each, no DELETE). Reported:
the time per 1,000 sessions, the server's RSS growth per 1,000 sessions (VmRSS after minus before, from /proc), the
peak (VmHWM), and whether a fresh client can then still open a session and call `services_list`.

    python benchmarks/sessions.py [--sessions 10000] [--limit 1000] [--workers 8] [--tiny]
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path
from tempfile import TemporaryDirectory

import anyio
import httpx

from common import (
    Report,
    Target,
    base_parser,
    clean_env,
    emit,
    free_port,
    mib_kb,
    our_command,
    read_status_kb,
    spawned,
    times,
    wait_port,
)
from concurrency import Session

SDK_LIMITS = ("--max-sessions", "10000", "--session-idle-timeout", "1800")


@dataclass
class Flood:
    """What N undeleted sessions did to one server."""

    label: str
    sessions: int
    seconds: float
    rss_before_kb: int
    rss_after_kb: int
    hwm_kb: int
    refused: int
    fresh_client_served: bool

    @property
    def kb_per_1000(self) -> float:
        return (self.rss_after_kb - self.rss_before_kb) * 1000 / self.sessions

    @property
    def seconds_per_1000(self) -> float:
        return self.seconds * 1000 / self.sessions


async def open_sessions(url: str, count: int, workers: int) -> int:
    """Open `count` sessions from `workers` clients and leave them open; how many the server refused."""
    refused = 0

    async def worker(share: int) -> None:
        nonlocal refused
        async with httpx.AsyncClient(timeout=60) as http:
            for _ in range(share):
                try:
                    await Session(http, url).initialize()
                except httpx.HTTPStatusError:
                    refused += 1

    async with anyio.create_task_group() as group:
        for n in range(workers):
            group.start_soon(worker, count // workers + (1 if n < count % workers else 0))
    return refused


async def fresh_client_served(url: str) -> bool:
    """Whether a new client still gets a session and a working tool call."""
    async with httpx.AsyncClient(timeout=60) as http:
        session = Session(http, url)
        try:
            await session.initialize()
            params = {"name": "services_list", "arguments": {}}
            answer = await session.post({"jsonrpc": "2.0", "id": 99, "method": "tools/call", "params": params})
        except httpx.HTTPStatusError:
            return False
        return answer is not None and "result" in answer and not answer["result"].get("isError")


def flood(label: str, extra: tuple[str, ...], count: int, workers: int, tmp: Path) -> Flood:
    """Spawn the server with `extra` flags, open `count` sessions, and read its memory before and after."""
    port = free_port()
    env = clean_env(UBIOPS_SANDBOX_DB=":memory:", UBIOPS_MCP_AUDIT_LOG=str(tmp / "audit.jsonl"))
    cmd = our_command("--transport", "http", "--host", "127.0.0.1", "--port", str(port), *extra)
    url = f"http://127.0.0.1:{port}/mcp"
    with spawned(cmd, env, limit_s=900) as proc:
        wait_port(port, proc)
        anyio.run(open_sessions, url, 1, 1)  # warm-up: the first session pays for lazy imports
        before = read_status_kb(proc.pid)["VmRSS"]
        started = time.perf_counter()
        refused = anyio.run(open_sessions, url, count, workers)
        seconds = time.perf_counter() - started
        after = read_status_kb(proc.pid)
        served = anyio.run(fresh_client_served, url)
    return Flood(label, count, seconds, before, after["VmRSS"], after["VmHWM"], refused, served)


def run(count: int, limit: int, workers: int) -> Report:
    with TemporaryDirectory() as tmp:
        ours = flood(f"ours (--max-sessions {limit}, 600 s idle)", ("--max-sessions", str(limit)), count, workers,
                     Path(tmp))  # fmt: skip
        sdk = flood("the SDK's limits (10,000 sessions, 1800 s idle)", SDK_LIMITS, count, workers, Path(tmp))
    lines = [
        f"{count:,} `initialize` handshakes from {workers} workers over loopback HTTP, none closed afterwards.",
        "",
        "| server | time / 1,000 sessions | RSS growth / 1,000 sessions | RSS after | peak RSS | refused "
        "| fresh client served |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for row in (ours, sdk):
        lines.append(
            f"| {row.label} | {row.seconds_per_1000:.2f} s | {mib_kb(row.kb_per_1000)} | {mib_kb(row.rss_after_kb)} "
            f"| {mib_kb(row.hwm_kb)} | {row.refused} | {'yes' if row.fresh_client_served else '**no**'} |"
        )
    ratio = ours.rss_after_kb / sdk.rss_after_kb
    lines += [
        "",
        f"- RSS after the flood, ours / the SDK's limits: **{times(ratio)}**.",
        "- Before the server set its own limits it ran with the SDK's, without closing idle sessions at the limit: "
        "from the 10,000th open session on, every new client got `503 Too many open sessions` until sessions "
        "idled out (30 minutes). Both rows now close the oldest idle session instead, so the fresh client is served.",
        f"- Ours' time includes tearing down the {max(count + 1 - limit, 0):,} sessions it replaced; with the SDK's "
        "limits every session stays open, so that work (and the memory) is only deferred.",
    ]
    targets = [
        Target("7. sessions", f"RSS after {count:,} sessions, ours / the SDK's limits", ratio, "<= 1.00x", ratio <= 1),
        Target(
            "7. sessions",
            "a fresh client is served after the flood (1 = yes)",
            float(ours.fresh_client_served),
            "1",
            ours.fresh_client_served,
            if_missed="new clients are refused until sessions idle out",
        ),
    ]
    return Report("7. Sessions (streamable HTTP)", "\n".join(lines), targets)


def main() -> None:
    parser = base_parser(__doc__)
    parser.add_argument("--sessions", type=int, default=10000, help="sessions to open (and leave open)")
    parser.add_argument("--limit", type=int, default=1000, help="ours: --max-sessions (default: the default)")
    parser.add_argument("--workers", type=int, default=8, help="concurrent clients opening sessions")
    args = parser.parse_args()
    started = time.perf_counter()
    if args.tiny:
        report = run(300, 100, 4)
    else:
        report = run(max(args.sessions, 1), max(args.limit, 1), max(args.workers, 1))
    report.seconds = time.perf_counter() - started
    emit(report, args.json)


if __name__ == "__main__":
    sys.exit(main())
