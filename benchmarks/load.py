"""Load: N concurrent MCP clients x M calls over streamable HTTP against the spawned server on its sandbox.

The server is the console script, `ubiops-services-mcp --transport http --port P`, on its embedded sandbox
(in-memory database), bound to 127.0.0.1 and stopped at the end. Each client is an `mcp.Client` with its
own session, calling `services_get` and `services_list` in turn. Reported: failed calls (the target is
zero), p50/p99/max latency, throughput, and the server's memory from /proc/<pid>/status: VmRSS before and
after, VmHWM (the peak). Then one client makes K more calls and the resident set is sampled along the way,
to show whether memory comes back near its start (reported, not asserted); last, rounds of N new sessions at
once, to show whether memory follows the number of sessions ever opened.

The clients share this one Python process, so latency includes the client side's own work.

    python benchmarks/load.py [--clients 50] [--calls 100] [--memory-calls 10000] [--churn-rounds 20] [--tiny]
                              [--stateless] [--mode legacy|auto] [--out FILE] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import anyio
import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

SCRIPT = Path(sys.executable).parent / "ubiops-services-mcp"
SERVICE = "load-svc"
CALLS = (("services_get", {"service_name": SERVICE}), ("services_list", {}))


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/mcp"

    def memory_kib(self) -> dict[str, int]:
        """VmRSS (now) and VmHWM (peak) of the server process, KiB (Linux /proc)."""
        values: dict[str, int] = {}
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                values[key] = int(rest.split()[0])
        return values


@dataclass
class Results:
    clients: int
    calls_per_client: int
    latencies_s: list[float] = field(default_factory=list[float])
    failures: list[str] = field(default_factory=list[str])
    wall_s: float = 0.0
    rss_start_kib: int = 0
    rss_after_load_kib: int = 0
    hwm_after_load_kib: int = 0
    memory_calls: int = 0
    rss_samples_kib: list[tuple[int, int]] = field(default_factory=list[tuple[int, int]])
    hwm_end_kib: int = 0
    churn_rounds: int = 0
    churn_samples_kib: list[tuple[int, int]] = field(default_factory=list[tuple[int, int]])

    @property
    def calls(self) -> int:
        return len(self.latencies_s) + len(self.failures)

    def percentile_ms(self, q: float) -> float:
        ordered = sorted(self.latencies_s)
        rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
        return ordered[rank - 1] * 1000

    def summary(self) -> dict[str, Any]:
        return {
            "clients": self.clients,
            "calls_per_client": self.calls_per_client,
            "calls": self.calls,
            "failed": len(self.failures),
            "p50_ms": round(self.percentile_ms(50), 2),
            "p99_ms": round(self.percentile_ms(99), 2),
            "max_ms": round(max(self.latencies_s) * 1000, 2),
            "mean_ms": round(statistics.fmean(self.latencies_s) * 1000, 2),
            "calls_per_s": round(self.calls / self.wall_s, 1),
            "rss_start_mib": mib(self.rss_start_kib),
            "rss_after_load_mib": mib(self.rss_after_load_kib),
            "peak_rss_after_load_mib": mib(self.hwm_after_load_kib),
            "memory_calls": self.memory_calls,
            "rss_end_mib": mib(self.rss_samples_kib[-1][1]) if self.rss_samples_kib else None,
            "peak_rss_end_mib": mib(self.hwm_end_kib),
            "churn_sessions": self.churn_rounds * self.clients,
            "rss_after_churn_mib": mib(self.churn_samples_kib[-1][1]) if self.churn_samples_kib else None,
        }


def mib(kib: int) -> float:
    return round(kib / 1024, 1)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def spawn_server(tmp: Path, *extra: str) -> Iterator[Server]:
    """The console script on the sandbox, on 127.0.0.1; terminated (then killed) by its pid afterwards."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("UBIOPS_")}
    env |= {"UBIOPS_SANDBOX_DB": ":memory:", "UBIOPS_MCP_AUDIT_LOG": str(tmp / "audit.jsonl"),
            "XDG_DATA_HOME": str(tmp), "XDG_STATE_HOME": str(tmp), "PYTHONUNBUFFERED": "1"}  # fmt: skip
    port = free_port()
    with (tmp / "server.stderr").open("wb") as stderr:
        process = subprocess.Popen(
            [str(SCRIPT), "--transport", "http", "--host", "127.0.0.1", "--port", str(port), *extra],
            env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"the server exited: {(tmp / 'server.stderr').read_text()}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        yield Server(process, port)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)


async def call_loop(url: str, calls: int, mode: str, results: Results, *, record: bool = True) -> None:
    """One MCP session making `calls` calls; each failure (error result or exception) is recorded."""
    async with httpx2.AsyncClient(timeout=httpx2.Timeout(60, read=120)) as http:
        async with Client(streamable_http_client(url, http_client=http), mode=mode) as client:
            for n in range(calls):
                tool, arguments = CALLS[n % len(CALLS)]
                started = time.perf_counter()
                try:
                    result = await client.call_tool(tool, arguments)
                except Exception as exc:  # a load test counts failures instead of stopping at the first
                    results.failures.append(f"{tool}: {type(exc).__name__}: {exc}")
                    continue
                elapsed = time.perf_counter() - started
                if result.is_error:
                    results.failures.append(f"{tool}: {result.structured_content or result.content}")
                elif record:
                    results.latencies_s.append(elapsed)


async def seed(url: str) -> None:
    async with httpx2.AsyncClient(timeout=60) as http, Client(streamable_http_client(url, http_client=http)) as c:
        result = await c.call_tool("services_create", {"data": {"name": SERVICE, "deployment": "hello-world",
                                                                 "port": 8080}})  # fmt: skip
        if result.is_error:
            raise RuntimeError(f"could not create {SERVICE}: {result.structured_content}")


async def churn(server: Server, results: Results, rounds: int, mode: str) -> None:
    """`rounds` times, `clients` new sessions at once making 2 calls each: does memory follow the session count?"""
    results.churn_rounds = rounds
    sink = Results(results.clients, 2)
    for done in range(1, rounds + 1):
        async with anyio.create_task_group() as group:
            for _ in range(results.clients):
                group.start_soon(partial(call_loop, server.url, 2, mode, sink, record=False))
        if done % max(rounds // 5, 1) == 0 or done == rounds:
            results.churn_samples_kib.append((done * results.clients, server.memory_kib()["VmRSS"]))
    results.failures += sink.failures


async def measure(server: Server, clients: int, calls: int, memory_calls: int, mode: str, rounds: int) -> Results:
    results = Results(clients, calls)
    await seed(server.url)
    await call_loop(server.url, 20, mode, Results(1, 20), record=False)  # warm-up: imports, caches, pools
    results.rss_start_kib = server.memory_kib()["VmRSS"]
    started = time.perf_counter()
    async with anyio.create_task_group() as group:
        for _ in range(clients):
            group.start_soon(call_loop, server.url, calls, mode, results)
    results.wall_s = time.perf_counter() - started
    memory = server.memory_kib()
    results.rss_after_load_kib, results.hwm_after_load_kib = memory["VmRSS"], memory["VmHWM"]
    results.memory_calls = memory_calls
    step = max(memory_calls // 10, 1)
    done = 0
    sink = Results(1, step)
    while done < memory_calls:
        batch = min(step, memory_calls - done)
        await call_loop(server.url, batch, mode, sink, record=False)
        done += batch
        results.rss_samples_kib.append((done, server.memory_kib()["VmRSS"]))
    results.failures += sink.failures
    await churn(server, results, rounds, mode)
    results.hwm_end_kib = server.memory_kib()["VmHWM"]
    return results


def run(
    clients: int, calls: int, memory_calls: int, mode: str = "legacy", stateless: bool = False, rounds: int = 0
) -> Results:
    """Spawn the server, load it, stop it; the figures of one run."""
    with tempfile.TemporaryDirectory(prefix="ubiops-load-") as tmp:
        with spawn_server(Path(tmp), *(["--stateless"] if stateless else [])) as server:
            return anyio.run(measure, server, clients, calls, memory_calls, mode, rounds)


def machine() -> str:
    try:
        nproc = len(os.sched_getaffinity(0))
    except AttributeError:
        nproc = os.cpu_count() or 0
    cpu = platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    date = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"Machine: `nproc` = {nproc} ({cpu}), Python {platform.python_version()}, {platform.system()}; {date}."


def markdown(results: Results, mode: str, stateless: bool) -> str:
    s = results.summary()
    transport = "streamable HTTP" + (", stateless" if stateless else ", with sessions")
    lines = [
        f"Server: `ubiops-services-mcp --transport http` on its sandbox ({transport}); clients: `mcp.Client` "
        f"(mode `{mode}`), `services_get` and `services_list` in turn, all in one client process.",
        "",
        "| clients x calls | calls | failed | p50 | p99 | max | throughput | server RSS before → after | peak RSS |",
        "|---|---|---|---|---|---|---|---|---|",
        f"| {s['clients']} x {s['calls_per_client']} | {s['calls']} | {s['failed']} | {s['p50_ms']} ms "
        f"| {s['p99_ms']} ms | {s['max_ms']} ms | {s['calls_per_s']} calls/s "
        f"| {s['rss_start_mib']} → {s['rss_after_load_mib']} MiB | {s['peak_rss_after_load_mib']} MiB |",
    ]
    if results.rss_samples_kib:
        lines += [
            "",
            f"Memory over {results.memory_calls} further calls (one client, sequential): resident set after every "
            f"{results.memory_calls // len(results.rss_samples_kib)} calls, MiB.",
            "",
            "| calls | " + " | ".join(str(n) for n, _ in results.rss_samples_kib) + " |",
            "|---|" + "---|" * len(results.rss_samples_kib),
            "| RSS | " + " | ".join(str(mib(kib)) for _, kib in results.rss_samples_kib) + " |",
            "",
            f"Peak (VmHWM) at the end of the run, churn included: {s['peak_rss_end_mib']} MiB; "
            f"RSS at the start of the load: {s['rss_start_mib']} MiB, after the memory calls: {s['rss_end_mib']} MiB.",
        ]
    if results.churn_samples_kib:
        lines += [
            "",
            f"Session churn: {results.churn_rounds} rounds of {results.clients} new sessions at once (2 calls each); "
            "resident set by sessions opened and closed so far, MiB.",
            "",
            "| sessions | " + " | ".join(str(n) for n, _ in results.churn_samples_kib) + " |",
            "|---|" + "---|" * len(results.churn_samples_kib),
            "| RSS | " + " | ".join(str(mib(kib)) for _, kib in results.churn_samples_kib) + " |",
        ]
    if results.failures:
        lines += ["", "Failures (first 5):", *[f"- {f}" for f in results.failures[:5]]]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").strip().splitlines()[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--calls", type=int, default=100, help="calls per client")
    parser.add_argument("--memory-calls", type=int, default=10_000, help="further calls for the memory check")
    parser.add_argument("--churn-rounds", type=int, default=20, help="rounds of --clients new sessions (memory)")
    parser.add_argument("--mode", default="legacy", choices=("legacy", "auto"), help="MCP protocol negotiation")
    parser.add_argument("--stateless", action="store_true", help="run the server with --stateless")
    parser.add_argument("--tiny", action="store_true", help="5 clients x 10 calls, 200 memory calls, 2 rounds (CI)")
    parser.add_argument("--out", type=Path, help="also write the markdown (with the machine line) here")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON here")
    args = parser.parse_args(argv)
    if args.tiny:
        args.clients, args.calls, args.memory_calls, args.churn_rounds = 5, 10, 200, 2
    results = run(args.clients, args.calls, args.memory_calls, args.mode, args.stateless, args.churn_rounds)
    text = f"## Load over streamable HTTP\n\n{machine()}\n\n{markdown(results, args.mode, args.stateless)}"
    print(text, flush=True)
    if args.out is not None:
        args.out.write_text(f"# Load results\n\n{text}")
    if args.json is not None:
        samples = [{"calls": n, "rss_mib": mib(kib)} for n, kib in results.rss_samples_kib]
        args.json.write_text(json.dumps({"summary": results.summary(), "rss_samples": samples}, indent=1))
    return 1 if results.failures else 0


if __name__ == "__main__":
    sys.exit(main())
