"""Concurrency: `services_get` from 100 concurrent clients over streamable HTTP, ours against the floor.

Ours is spawned as `ubiops-services-mcp --transport http --port P` on its embedded sandbox (a SQLite file
holding the service); the floor is `floor_server.py --transport http` whose one tool makes the same GET with
raw httpx to the same sandbox app in-process. The load generator is a bare JSON-RPC client on one
`httpx.AsyncClient` (no SDK): each of C workers opens its own MCP session, then calls in a loop. Rounds
alternate ours, floor, ours, floor...; throughput is calls / wall time per round (median of rounds), latency
percentiles are over every call of every round.

    python benchmarks/concurrency.py [--clients 100] [--calls 20] [--rounds 3] [--tiny]
"""

from __future__ import annotations

import json
import shutil
import ssl
import sys
import tempfile
import time
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import anyio
import httpx

from common import (
    PROTOCOL,
    SERVICE,
    Report,
    Target,
    base_parser,
    clean_env,
    emit,
    floor_command,
    free_port,
    initialize_params,
    median,
    ms,
    our_command,
    percentile,
    prepare_sandbox_db,
    spawned,
    times,
    wait_port,
)


class Session:
    """One MCP session over streamable HTTP, spoken by hand: POST a message, read the JSON or SSE answer."""

    def __init__(self, http: httpx.AsyncClient, url: str) -> None:
        self._http, self._url = http, url
        self._headers = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
        self._next = 0

    async def post(self, message: dict[str, Any]) -> dict[str, Any] | None:
        response = await self._http.post(self._url, content=json.dumps(message), headers=self._headers)
        response.raise_for_status()
        if "id" not in message:
            return None
        if response.headers.get("content-type", "").startswith("text/event-stream"):
            for line in response.text.splitlines():
                if line.startswith("data:"):
                    found = json.loads(line[5:])
                    if found.get("id") == message["id"]:
                        return found
            raise RuntimeError("no answer in the event stream")
        return response.json()

    async def initialize(self) -> None:
        self._next += 1
        message = {"jsonrpc": "2.0", "id": self._next, "method": "initialize", "params": initialize_params()}
        response = await self._http.post(self._url, content=json.dumps(message), headers=self._headers)
        response.raise_for_status()
        self._headers["mcp-session-id"] = response.headers["mcp-session-id"]
        self._headers["mcp-protocol-version"] = PROTOCOL
        await self.post({"jsonrpc": "2.0", "method": "notifications/initialized"})

    async def close(self) -> None:
        """End the session (DELETE), so sessions do not pile up in the server between rounds."""
        await self._http.delete(self._url, headers=self._headers)

    async def get(self) -> None:
        self._next += 1
        params = {"name": "services_get", "arguments": {"service_name": SERVICE}}
        answer = await self.post({"jsonrpc": "2.0", "id": self._next, "method": "tools/call", "params": params})
        if answer is None or "result" not in answer or answer["result"].get("isError"):
            raise RuntimeError(f"services_get failed: {answer}")


async def load(url: str, clients: int, calls: int) -> tuple[float, list[float]]:
    """Wall seconds for clients x calls, and every call's latency.

    One httpx client (one connection) per worker: a single pool of 100 connections costs httpcore O(n) work
    per request, which made the load generator, not the server, the bottleneck."""
    tls = ssl.create_default_context()  # unused on http://, but httpx would load the CA bundle for each client
    async with AsyncExitStack() as stack:
        sessions: list[Session] = []
        for _ in range(clients):
            http = await stack.enter_async_context(httpx.AsyncClient(timeout=60, verify=tls))
            sessions.append(Session(http, url))
        async with anyio.create_task_group() as tg:
            for session in sessions:
                tg.start_soon(session.initialize)
        for session in sessions[:5]:
            await session.get()  # warm-up
        latencies: list[float] = []

        async def worker(session: Session) -> None:
            for _ in range(calls):
                started = time.perf_counter()
                await session.get()
                latencies.append(time.perf_counter() - started)

        started = time.perf_counter()
        async with anyio.create_task_group() as tg:
            for session in sessions:
                tg.start_soon(worker, session)
        wall = time.perf_counter() - started
        async with anyio.create_task_group() as tg:
            for session in sessions:
                tg.start_soon(session.close)
        return wall, latencies


def run(clients: int, calls: int, rounds: int) -> Report:
    results: dict[str, dict[str, list[float]]] = {name: {"rate": [], "lat": []} for name in ("ours", "floor")}
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp) / "base.sqlite3"
        prepare_sandbox_db(base)
        ports = {"ours": free_port(), "floor": free_port()}
        dbs = {name: Path(tmp) / f"{name}.sqlite3" for name in ports}
        for db in dbs.values():
            shutil.copy(base, db)
        env = clean_env(UBIOPS_SANDBOX_DB=str(dbs["ours"]), UBIOPS_MCP_AUDIT_LOG=str(Path(tmp) / "audit.jsonl"))
        ours_cmd = our_command("--transport", "http", "--host", "127.0.0.1", "--port", str(ports["ours"]))
        floor_cmd = floor_command(
            "--transport", "http", "--port", str(ports["floor"]), "--sandbox-db", str(dbs["floor"])
        )
        logs = {name: Path(tmp) / f"{name}.log" for name in ports}
        with (
            spawned(ours_cmd, env, stderr=logs["ours"]) as ours,
            spawned(floor_cmd, clean_env(), stderr=logs["floor"]) as floor,
        ):
            wait_port(ports["ours"], ours)
            wait_port(ports["floor"], floor)
            for _ in range(rounds):
                for name in ("ours", "floor"):
                    url = f"http://127.0.0.1:{ports[name]}/mcp"
                    wall, latencies = anyio.run(load, url, clients, calls)
                    results[name]["rate"].append(len(latencies) / wall)
                    results[name]["lat"].extend(latencies)
        logged = {name: len(log.read_text().splitlines()) for name, log in logs.items()}
    stats = {
        name: {
            "rate": median(row["rate"]),
            "p50": percentile(row["lat"], 50),
            "p99": percentile(row["lat"], 99),
        }
        for name, row in results.items()
    }
    rate_ratio = stats["ours"]["rate"] / stats["floor"]["rate"]
    p99_ratio = stats["ours"]["p99"] / stats["floor"]["p99"]
    lines = [
        f"{clients} concurrent clients (one MCP session each) x {calls} `services_get` calls, {rounds} alternating "
        "rounds per server, over streamable HTTP on loopback.",
        "",
        "| server | throughput (calls/s, median of rounds) | p50 | p99 | throughput ratio | p99 ratio |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name in ("floor", "ours"):
        row = stats[name]
        lines.append(
            f"| {name} | {row['rate']:.0f} | {ms(row['p50'])} | {ms(row['p99'])} "
            f"| {times(row['rate'] / stats['floor']['rate'])} | {times(row['p99'] / stats['floor']['p99'])} |"
        )
    lines += [
        "",
        f"stderr lines after {rounds * clients * calls:,} calls and {rounds * clients} sessions: ours "
        f"{logged['ours']} (the start-up line), floor {logged['floor']}: no per-request or per-session logging.",
    ]
    targets = [
        Target(
            "3. concurrency",
            f"throughput at {clients} clients, ours / floor",
            rate_ratio,
            "report (higher is better)",
            True,
            "no fixed bound",
        ),
        Target(
            "3. concurrency",
            f"p99 at {clients} clients, ours / floor",
            p99_ratio,
            "report (lower is better)",
            True,
            "no fixed bound",
        ),
    ]
    return Report("3. Concurrency (streamable HTTP)", "\n".join(lines), targets)


def main() -> None:
    parser = base_parser(__doc__)
    parser.add_argument("--clients", type=int, default=100, help="concurrent clients, one session each")
    parser.add_argument("--calls", type=int, default=20, help="calls per client per round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per server")
    args = parser.parse_args()
    clients, calls, rounds = (10, 3, 1) if args.tiny else (args.clients, args.calls, args.rounds)
    started = time.perf_counter()
    report = run(max(clients, 1), max(calls, 1), max(rounds, 1))
    report.seconds = time.perf_counter() - started
    emit(report, args.json)


if __name__ == "__main__":
    sys.exit(main())
