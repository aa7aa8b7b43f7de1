"""Spawning the real `ubiops-services-mcp` console script: on a loopback port, stopped by its own pid."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

SCRIPT = Path(sys.executable).parent / "ubiops-services-mcp"


def base_env(tmp: Path, **extra: str) -> dict[str, str]:
    """The test process's environment without any UBIOPS_ setting, with private data and state dirs."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("UBIOPS_")}
    env |= {
        "XDG_DATA_HOME": str(tmp / "data"),
        "XDG_STATE_HOME": str(tmp / "state"),
        "UBIOPS_SANDBOX_DB": ":memory:",
        "UBIOPS_MCP_AUDIT_LOG": str(tmp / "audit.jsonl"),
        "PYTHONUNBUFFERED": "1",
    }
    return env | extra


@dataclass
class Spawned:
    process: subprocess.Popen[bytes]
    port: int
    stderr_path: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/mcp"

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def status(self) -> dict[str, int]:
        """VmRSS and VmHWM (peak) of the process in KiB, from /proc (Linux)."""
        values: dict[str, int] = {}
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                values[key] = int(rest.split()[0])
        return values


def run(args: list[str], env: Mapping[str, str], timeout: float = 20) -> subprocess.CompletedProcess[str]:
    """Run the console script to completion (for commands that must exit)."""
    return subprocess.run([str(SCRIPT), *args], env=dict(env), capture_output=True, text=True, timeout=timeout)


@contextmanager
def serving(args: list[str], env: Mapping[str, str], port: int, stderr_path: Path) -> Iterator[Spawned]:
    """Start the server, wait until it accepts connections on 127.0.0.1:port, and stop it afterwards."""
    with stderr_path.open("wb") as stderr:
        process = subprocess.Popen([str(SCRIPT), *args], env=dict(env), stdin=subprocess.DEVNULL,
                                   stdout=subprocess.DEVNULL, stderr=stderr)  # fmt: skip
    spawned = Spawned(process, port, stderr_path)
    try:
        wait_listening(spawned)
        yield spawned
    finally:
        stop(process)


def wait_listening(spawned: Spawned, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if spawned.process.poll() is not None:
            raise RuntimeError(f"the server exited with {spawned.process.returncode}: {spawned.stderr}")
        try:
            with socket.create_connection(("127.0.0.1", spawned.port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"the server did not listen on 127.0.0.1:{spawned.port}: {spawned.stderr}")


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM this one process, then SIGKILL it if it does not go."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


def listening_addresses(port: int) -> set[str]:
    """Local addresses with a TCP socket listening on `port`, from /proc/net/tcp{,6} (Linux)."""
    found: set[str] = set()
    for name, width in (("tcp", 8), ("tcp6", 32)):
        table = Path(f"/proc/net/{name}")
        if not table.exists():
            continue
        for line in table.read_text().splitlines()[1:]:
            fields = line.split()
            address, _, port_hex = fields[1].partition(":")
            if fields[3] == "0A" and int(port_hex, 16) == port:  # 0A: LISTEN
                found.add(_address(address, width))
    return found


def _address(hex_address: str, width: int) -> str:
    raw = bytes.fromhex(hex_address)
    if width == 8:
        return socket.inet_ntop(socket.AF_INET, raw[::-1])
    words = b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4))
    return socket.inet_ntop(socket.AF_INET6, words)
