"""Shared by the benchmark scripts: spawning servers (and always killing them), a raw stdio JSON-RPC
client, statistics, the machine description and the report every script hands to run_all.py."""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = ROOT / "benchmarks"
PYTHON = sys.executable
FLOOR_SCRIPT = BENCH_DIR / "floor_server.py"
PROTOCOL = "2025-11-25"  # the initialize handshake desktop clients speak today
PROJECT = "demo"
SERVICE = "bench-svc"
TOKEN = "bench"


def our_script() -> str:
    """The console script installed next to this interpreter (what a desktop client spawns)."""
    found = Path(PYTHON).parent / "ubiops-services-mcp"
    if found.exists():
        return str(found)
    return shutil.which("ubiops-services-mcp") or "ubiops-services-mcp"


def our_command(*args: str) -> list[str]:
    return [our_script(), *args]


def floor_command(*args: str) -> list[str]:
    return [PYTHON, str(FLOOR_SCRIPT), *args]


def clean_env(**extra: str) -> dict[str, str]:
    """This environment without any UbiOps setting (so a developer's token never leaks in), plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("UBIOPS_")}
    env["PYTHONUNBUFFERED"] = "1"
    return env | extra


# ---------------------------------------------------------------------------------------------- statistics


def median(samples: Sequence[float]) -> float:
    return statistics.median(samples)


def percentile(samples: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100), nearest rank: p99 of 100 samples is the 99th smallest."""
    ordered = sorted(samples)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms" if seconds >= 0.01 else f"{seconds * 1000:.3f} ms"


def us(seconds: float) -> str:
    return f"{seconds * 1e6:.0f} µs"


def times(value: float) -> str:
    return f"{value:.2f}x"


def kib(value: float) -> str:
    return f"{value / 1024:.1f} KiB"


def mib_kb(value_kb: float) -> str:
    return f"{value_kb / 1024:.1f} MiB"


# ---------------------------------------------------------------------------------------------- the report


@dataclass
class Target:
    """One target of issue 6: the measured ratio, the bound, whether it holds, and why not."""

    figure: str
    measure: str
    value: float
    bound: str
    met: bool
    note: str = ""
    if_missed: str = ""  # why it may be missed and what it would take; shown only when it is


@dataclass
class Report:
    """What one benchmark hands back: its markdown section and its targets."""

    title: str
    markdown: str
    targets: list[Target] = field(default_factory=list[Target])
    seconds: float = 0.0


def base_parser(doc: str | None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=(doc or "").strip().splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="tiny sizes: every code path in a few seconds (CI)")
    parser.add_argument("--json", type=Path, help="also write the report as JSON here (run_all.py reads it)")
    return parser


def emit(report: Report, json_path: Path | None) -> None:
    """Print the markdown section; write the JSON report for run_all.py when asked."""
    print(f"## {report.title}\n\n{report.markdown.strip()}\n", flush=True)
    if json_path is not None:
        json_path.write_text(json.dumps(asdict(report), ensure_ascii=False, indent=1))


def machine() -> dict[str, str]:
    """What the figures were measured on: they are only comparable on the same machine."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        nproc = str(len(os.sched_getaffinity(0)))
    except AttributeError:
        nproc = str(os.cpu_count())
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": nproc,
        "cpu": cpu,
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "os": f"{platform.system()} {platform.release()}",
    }


# ---------------------------------------------------------------------------------------------- processes


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_port(port: int, proc: subprocess.Popen[Any], timeout: float = 20.0) -> None:
    """Until something accepts on 127.0.0.1:port; fails early if the process died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before listening on {port}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.02)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


def stop(proc: subprocess.Popen[Any], grace: float = 5.0) -> None:
    """Close stdin (stdio servers exit on EOF), then terminate, then kill: never leave it running."""
    if proc.stdin is not None and not proc.stdin.closed:
        try:
            proc.stdin.close()
        except OSError:
            pass
    for signal_it in (None, proc.terminate, proc.kill):
        if signal_it is not None:
            signal_it()
        try:
            proc.wait(grace)
            break
        except subprocess.TimeoutExpired:
            continue
    for pipe in (proc.stdout, proc.stderr):
        if pipe is not None:
            pipe.close()


@contextmanager
def spawned(
    cmd: list[str], env: dict[str, str], *, stdio: bool = False, limit_s: float = 600.0, stderr: Path | None = None
) -> Iterator[subprocess.Popen[Any]]:
    """A child process, killed on exit and by a watchdog after `limit_s` (a stuck read then ends in EOF).

    Its stderr goes to `stderr` (a temporary file by default), shown if the block fails."""
    with open(stderr, "w+") if stderr is not None else tempfile.TemporaryFile("w+") as errors:
        pipe = subprocess.PIPE if stdio else subprocess.DEVNULL
        proc = subprocess.Popen(cmd, stdin=pipe, stdout=pipe, stderr=errors, env=env)
        watchdog = threading.Timer(limit_s, proc.kill)
        watchdog.daemon = True
        watchdog.start()
        try:
            yield proc
        except BaseException:
            stop(proc, grace=2.0)
            errors.seek(0)
            tail = errors.read()[-3000:]
            if tail:
                print(f"--- stderr of {' '.join(cmd)}:\n{tail}", file=sys.stderr)
            raise
        finally:
            watchdog.cancel()
            stop(proc)


class StdioRpc:
    """A bare JSON-RPC client on a process's stdin/stdout: no SDK in the measurement, one line per message."""

    def __init__(self, proc: subprocess.Popen[Any]) -> None:
        assert proc.stdin is not None
        assert proc.stdout is not None
        self._in: IO[bytes] = proc.stdin
        self._out: IO[bytes] = proc.stdout
        self._next = 0

    def send(self, message: dict[str, Any]) -> None:
        self._in.write(json.dumps(message, separators=(",", ":")).encode() + b"\n")
        self._in.flush()

    def request(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        self._next += 1
        self.send({"jsonrpc": "2.0", "id": self._next, "method": method, "params": params or {}})
        while True:
            line = self._out.readline()
            if not line:
                raise RuntimeError(f"the server closed stdout while {method} was pending")
            message = json.loads(line)
            if message.get("id") == self._next:
                if "error" in message:
                    raise RuntimeError(f"{method} failed: {message['error']}")
                return message["result"]

    def notify(self, method: str, params: dict[str, Any] | None = None) -> None:
        self.send({"jsonrpc": "2.0", "method": method, "params": params or {}})

    def initialize(self) -> dict[str, Any]:
        result = self.request("initialize", initialize_params())
        self.notify("notifications/initialized")
        return result

    def call_tool(self, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
        result = self.request("tools/call", {"name": name, "arguments": arguments})
        if result.get("isError"):
            raise RuntimeError(f"{name} failed: {result['content']}")
        return result


def initialize_params() -> dict[str, Any]:
    return {
        "protocolVersion": PROTOCOL,
        "capabilities": {},
        "clientInfo": {"name": "ubiops-services-mcp-bench", "version": "1"},
    }


# ---------------------------------------------------------------------------------------------- the sandbox


def prepare_sandbox_db(path: Path, count: int = 1, labels: bool = True) -> None:
    """A sandbox database file holding SERVICE (and `count - 1` more), written through the sandbox app."""
    import anyio
    import httpx

    from ubiops_services_mcp.sandbox import create_app

    async def fill() -> None:
        app = create_app(str(path))
        transport = httpx.ASGITransport(app=app)
        headers = {"Authorization": f"Token {TOKEN}"}
        try:
            async with httpx.AsyncClient(transport=transport, base_url="http://s/v2.1", headers=headers) as client:
                for body in service_bodies(count, labels):
                    (await client.post(f"/projects/{PROJECT}/services", json=body)).raise_for_status()
        finally:
            app.state.store.close()

    anyio.run(fill)


def service_bodies(count: int, labels: bool = True) -> list[dict[str, Any]]:
    """SERVICE first, then svc-000001...: realistic bodies with two labels and a description."""
    bodies: list[dict[str, Any]] = []
    for n in range(count):
        body: dict[str, Any] = {
            "name": SERVICE if n == 0 else f"svc-{n:06d}",
            "deployment": "hello-world",
            "port": 8080,
            "description": "Benchmark service",
        }
        if labels:
            body["labels"] = {"team": f"team-{n % 7}", "env": "prod" if n % 2 else "staging"}
        bodies.append(body)
    return bodies


@contextmanager
def standalone_sandbox(db: Path, limit_s: float = 900.0) -> Iterator[str]:
    """`ubiops-services-mcp sandbox` (uvicorn) on a free loopback port; yields its API base URL."""
    port = free_port()
    env = clean_env(UBIOPS_SANDBOX_DB=str(db))
    with spawned(our_command("sandbox", "--host", "127.0.0.1", "--port", str(port)), env, limit_s=limit_s) as proc:
        wait_port(port, proc)
        yield f"http://127.0.0.1:{port}/v2.1"


def read_status_kb(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak RSS) of a process, in kB, from /proc/<pid>/status."""
    values: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0])
    return values
