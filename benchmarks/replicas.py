"""Replicas: 1 and 3 `--stateless` replicas behind HAProxy, C concurrent MCP clients x M calls through it.

Every replica is the console script, `ubiops-services-mcp --transport http --stateless`, sharing one
UBIOPS_MCP_SECRET and one API: the standalone sandbox (`ubiops-services-mcp sandbox`, one SQLite file), as a team's
replicas share UbiOps. HAProxy (the Debian package) balances round robin and health-checks each replica's
/healthz every 200 ms. Each client is an `mcp.Client` (handshake protocol) calling `services_get` and
`services_list` in turn. Reported: calls, failed calls, p50/p99 latency and throughput per replica count.

All processes share this machine's cores (clients, HAProxy, the sandbox and the replicas): on 2 cores more
replicas cannot add CPU, so the figure shows what the balancing costs and that it spreads the load, not scaling.

    python benchmarks/replicas.py [--clients 20] [--calls 50] [--replicas 1,3] [--tiny] [--json FILE] [--out FILE]

The harness (Cluster, haproxy_config) is also what tests/load/test_replicas.py starts. Skipped, with a note in
the report, where `haproxy` is not installed.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

import anyio
import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from common import (
    SERVICE,
    Report,
    Target,
    base_parser,
    clean_env,
    emit,
    free_port,
    machine,
    our_command,
    percentile,
    spawned,
    wait_port,
)

SECRET = "replicas-share-this-secret-0123456789abcdefgh"  # 45 characters: every replica signs alike
API_TOKEN = "replica-token"  # the sandbox takes any token
PIN_HEADER = "x-replica"  # HAProxy sends a request carrying it to the replica it names
CALLS = (("services_get", {"service_name": SERVICE}), ("services_list", {}))


def haproxy() -> str | None:
    """The haproxy binary, or None where it is not installed."""
    return shutil.which("haproxy") or next((p for p in ("/usr/sbin/haproxy",) if Path(p).exists()), None)


def haproxy_config(front: int, replicas: dict[str, int]) -> str:
    """Round robin over the replicas with fast /healthz checks; `x-replica: NAME` pins a request to one."""
    pins = [f"    use-server {name} if {{ req.hdr({PIN_HEADER}) -m str {name} }}" for name in replicas]
    servers = [f"    server {name} 127.0.0.1:{port}" for name, port in replicas.items()]
    return "\n".join([
        "global",
        "    maxconn 4000",
        "    log stdout format raw local0 info",
        "defaults",
        "    mode http",
        "    log global",
        '    log-format "%b/%s %ST %HM %HU %Ta"',
        "    timeout connect 1s",
        "    timeout client 60s",
        "    timeout server 60s",
        "    retries 3",
        "    option redispatch 1",
        "frontend mcp",
        f"    bind 127.0.0.1:{front}",
        "    http-request set-header X-Forwarded-For %[src]",
        "    default_backend replicas",
        "backend replicas",
        "    balance roundrobin",
        "    option httpchk GET /healthz",
        "    http-check expect status 200",
        "    default-server check inter 200ms fastinter 100ms downinter 500ms fall 2 rise 1",
        *pins,
        *servers,
        "",
    ])  # fmt: skip


@dataclass
class Cluster:
    """The sandbox API, the replicas (by name) and HAProxy in front of them, all on loopback."""

    tmp: Path
    front: int
    ports: dict[str, int]
    procs: dict[str, subprocess.Popen[Any]] = field(default_factory=dict[str, subprocess.Popen[Any]])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.front}/mcp"

    def replica_url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}/mcp"

    def audit(self, name: str) -> Path:
        return self.tmp / f"audit-{name}.jsonl"

    @property
    def haproxy_log(self) -> Path:
        return self.tmp / "haproxy.log"

    def kill(self, name: str) -> None:
        """SIGKILL one replica: no goodbye, as a crashed machine."""
        self.procs[name].send_signal(signal.SIGKILL)
        self.procs[name].wait(10)

    def served_by(self) -> list[str]:
        """The replica HAProxy sent each logged request to, in order (from its log)."""
        lines = self.haproxy_log.read_text().splitlines() if self.haproxy_log.exists() else []
        return [line.split()[0].partition("/")[2] for line in lines if line.startswith("replicas/")]


@contextmanager
def cluster(count: int, limit_s: float = 900.0) -> Iterator[Cluster]:
    """Start the sandbox, `count` replicas and HAProxy; stop every one of them (by its own pid) afterwards."""
    binary = haproxy()
    if binary is None:
        raise RuntimeError("haproxy is not installed")
    with TemporaryDirectory(prefix="ubiops-replicas-") as name, ExitStack() as stack:
        tmp = Path(name)
        api = _sandbox(stack, tmp / "api.sqlite3", limit_s)
        _seed(api)
        ports = {f"r{n}": free_port() for n in range(1, count + 1)}
        nodes = Cluster(tmp, free_port(), ports)
        for replica, port in ports.items():
            env = clean_env(
                UBIOPS_API_HOST=api, UBIOPS_API_TOKEN=API_TOKEN, UBIOPS_PROJECT="demo", UBIOPS_MCP_SECRET=SECRET,
                UBIOPS_MCP_AUDIT_LOG=str(nodes.audit(replica)), UBIOPS_MCP_LOG_FORMAT="json",
                XDG_DATA_HOME=str(tmp), XDG_STATE_HOME=str(tmp),
            )  # fmt: skip
            command = our_command("--transport", "http", "--host", "127.0.0.1", "--port", str(port), "--stateless")
            log = tmp / f"{replica}.stderr"
            nodes.procs[replica] = stack.enter_context(spawned(command, env, limit_s=limit_s, stderr=log))
            stack.callback(_stop, nodes.procs[replica])  # SIGTERM at once (spawned's stop waits for stdin EOF first)
        for replica, port in ports.items():
            wait_port(port, nodes.procs[replica], timeout=60)
        config = tmp / "haproxy.cfg"
        config.write_text(haproxy_config(nodes.front, ports))
        log_file = stack.enter_context(nodes.haproxy_log.open("w"))
        proxy = subprocess.Popen([binary, "-f", str(config), "-db"], stdout=log_file, stderr=subprocess.STDOUT)
        stack.callback(_stop, proxy)
        wait_port(nodes.front, proxy)
        _wait_all_up(nodes)
        yield nodes


def _sandbox(stack: ExitStack, db: Path, limit_s: float) -> str:
    """`ubiops-services-mcp sandbox` on a free loopback port, stopped with the stack; its API base URL."""
    port = free_port()
    command = our_command("sandbox", "--host", "127.0.0.1", "--port", str(port))
    proc = stack.enter_context(spawned(command, clean_env(UBIOPS_SANDBOX_DB=str(db)), limit_s=limit_s))
    stack.callback(_stop, proc)
    wait_port(port, proc)
    return f"http://127.0.0.1:{port}/v2.1"


def _seed(api: str) -> None:
    """The service the load reads, created through the API (no event loop here: tests call this from theirs)."""
    body = {"name": SERVICE, "deployment": "hello-world", "port": 8080, "labels": {"team": "bench"}}
    headers = {"Authorization": f"Token {API_TOKEN}"}
    httpx2.post(f"{api}/projects/demo/services", json=body, headers=headers, timeout=10).raise_for_status()


def _stop(proc: subprocess.Popen[Any]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def _wait_all_up(nodes: Cluster, timeout: float = 20.0) -> None:
    """Until every replica answered /healthz through HAProxy's own checks (a pinned request reaches it)."""
    deadline = time.monotonic() + timeout
    for name in nodes.ports:
        while True:
            try:
                answer = httpx2.get(f"http://127.0.0.1:{nodes.front}/healthz", headers={PIN_HEADER: name}, timeout=5)
                if answer.status_code == 200:
                    break
            except httpx2.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"replica {name} not up behind HAProxy")
            time.sleep(0.1)


# ---------------------------------------------------------------------------------------------- the load


@dataclass
class Results:
    latencies_s: list[float] = field(default_factory=list[float])
    failures: list[str] = field(default_factory=list[str])
    wall_s: float = 0.0

    @property
    def calls(self) -> int:
        return len(self.latencies_s) + len(self.failures)

    def row(self, replicas: int, clients: int, per_client: int) -> dict[str, Any]:
        lat = self.latencies_s or [0.0]
        return {
            "replicas": replicas, "clients": clients, "calls_per_client": per_client, "calls": self.calls,
            "failed": len(self.failures), "p50_ms": round(percentile(lat, 50) * 1000, 1),
            "p99_ms": round(percentile(lat, 99) * 1000, 1), "calls_per_s": round(self.calls / self.wall_s, 1),
        }  # fmt: skip


async def worker(url: str, calls: int, results: Results, headers: dict[str, str] | None = None) -> None:
    """One client making `calls` calls; a failed call is counted and the client reconnects (a fresh session)."""
    done = 0
    while done < calls:
        recorded = done  # calls with a result (latency or failure) so far
        try:
            async with httpx2.AsyncClient(timeout=httpx2.Timeout(30, read=60), headers=headers) as http:
                async with Client(streamable_http_client(url, http_client=http), mode="legacy") as client:
                    while done < calls:
                        tool, arguments = CALLS[done % len(CALLS)]
                        done += 1
                        started = time.perf_counter()
                        result = await client.call_tool(tool, arguments)
                        recorded = done
                        if result.is_error:
                            results.failures.append(f"{tool}: {result.structured_content}")
                        else:
                            results.latencies_s.append(time.perf_counter() - started)
        except Exception as exc:  # a load test counts failures instead of stopping at the first
            if done == recorded == calls:
                break  # closing the session failed after the last call: every call has its result
            results.failures.append(f"{type(exc).__name__}: {exc}"[:300])
            done = recorded + 1  # the call that failed (or the connection that did) counts once


async def load(url: str, clients: int, calls: int) -> Results:
    results = Results()
    await worker(url, 4, Results())  # warm-up: every replica's first requests, HAProxy's connections
    started = time.perf_counter()
    async with anyio.create_task_group() as group:
        for _ in range(clients):
            group.start_soon(worker, url, calls, results)
    results.wall_s = time.perf_counter() - started
    return results


def measure(counts: list[int], clients: int, calls: int) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for count in counts:
        with cluster(count) as nodes:
            results = anyio.run(load, nodes.url, clients, calls)
            served = nodes.served_by()
        row = results.row(count, clients, calls)
        row["replicas_used"] = len(set(served))
        row["first_failures"] = results.failures[:3]
        rows.append(row)
    return rows


def markdown(rows: list[dict[str, Any]]) -> str:
    lines = [
        "Replicas: `ubiops-services-mcp --transport http --stateless`, one shared UBIOPS_MCP_SECRET, one shared API "
        "(the standalone sandbox); HAProxy round robin with /healthz checks every 200 ms; clients: `mcp.Client` "
        "(handshake protocol), `services_get` and `services_list` in turn, all through HAProxy.",
        "",
        "| replicas | clients x calls | calls | failed | p50 | p99 | throughput | replicas that served |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['replicas']} | {r['clients']} x {r['calls_per_client']} | {r['calls']} | {r['failed']} "
            f"| {r['p50_ms']} ms | {r['p99_ms']} ms | {r['calls_per_s']} calls/s | {r['replicas_used']} |"
        )
    for r in rows:
        if r["first_failures"]:
            lines += ["", f"First failures with {r['replicas']} replica(s):", *[f"- {f}" for f in r["first_failures"]]]
    return "\n".join(lines) + "\n"


def report(rows: list[dict[str, Any]]) -> Report:
    targets: list[Target] = []
    if len(rows) > 1 and rows[0]["calls_per_s"]:
        ratio = rows[-1]["calls_per_s"] / rows[0]["calls_per_s"]
        measure_ = f"throughput, {rows[-1]['replicas']} replicas / {rows[0]['replicas']}"
        targets.append(Target("8. replicas", measure_, ratio, "reported", True, "no fixed bound: 2 shared cores"))
    return Report("8. Replicas behind HAProxy", markdown(rows), targets)


def main(argv: list[str] | None = None) -> int:
    parser = base_parser(__doc__)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--calls", type=int, default=50, help="calls per client")
    parser.add_argument("--replicas", default="1,3", help="comma-separated replica counts to measure")
    parser.add_argument("--out", type=Path, help="also write the results, with the machine, here (REPLICAS_RESULTS.md)")
    args = parser.parse_args(argv)
    if args.tiny:
        args.clients, args.calls = 3, 4
    if haproxy() is None:
        emit(Report("8. Replicas behind HAProxy", "Skipped: `haproxy` is not installed (apt-get install haproxy)."),
             args.json)  # fmt: skip
        return 0
    rows = measure([int(n) for n in args.replicas.split(",")], args.clients, args.calls)
    emit(report(rows), args.json)
    if args.out is not None:
        box = machine()
        args.out.write_text(
            f"# Replica results\n\nMachine: {box['nproc']} CPU(s), {box['cpu']}, {box['python']}, {box['os']}; "
            f"{box['date']}.\nCommand: `python benchmarks/replicas.py --clients {args.clients} --calls {args.calls} "
            f"--replicas {args.replicas}`.\n\n{markdown(rows)}"
        )
    return 1 if any(r["failed"] for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
