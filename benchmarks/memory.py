"""Memory: resident set of the server process idle and after N `services_get` calls, ours against the floor.

Both are spawned over stdio and read from /proc/<pid>/status (VmRSS now, VmHWM the peak). Ours runs on its
default, the embedded sandbox (a SQLite file holding the service); the floor runs its one tool against the
same sandbox app in-process, through raw httpx (`floor_server.py --sandbox-db`), so both do the same work.
The bare floor (SDK and one tool, no client, no sandbox) is shown idle for scale.

    python benchmarks/memory.py [--calls 10000] [--tiny]
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from pathlib import Path

from common import (
    SERVICE,
    Report,
    StdioRpc,
    Target,
    base_parser,
    clean_env,
    emit,
    floor_command,
    mib_kb,
    our_command,
    prepare_sandbox_db,
    read_status_kb,
    spawned,
    times,
)


def profile(cmd: list[str], env: dict[str, str], calls: int, stderr: Path) -> dict[str, int]:
    """VmRSS/VmHWM in kB after the handshake and after `calls` calls, and the lines the server logged."""
    with spawned(cmd, env, stdio=True, limit_s=900, stderr=stderr) as proc:
        rpc = StdioRpc(proc)
        rpc.initialize()
        rpc.request("tools/list")
        idle = read_status_kb(proc.pid)
        for _ in range(calls):
            rpc.call_tool("services_get", {"service_name": SERVICE})
        busy = read_status_kb(proc.pid)
    logged = len(stderr.read_text().splitlines())
    return {"idle_rss": idle["VmRSS"], "idle_hwm": idle["VmHWM"], "rss": busy["VmRSS"], "hwm": busy["VmHWM"],
            "logged": logged}  # fmt: skip


def run(calls: int) -> Report:
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp) / "base.sqlite3"
        prepare_sandbox_db(base)
        dbs = {name: Path(tmp) / f"{name}.sqlite3" for name in ("ours", "floor")}
        for db in dbs.values():
            shutil.copy(base, db)
        audit = str(Path(tmp) / "audit.jsonl")
        env = clean_env(UBIOPS_SANDBOX_DB=str(dbs["ours"]), UBIOPS_MCP_AUDIT_LOG=audit)
        ours = profile(our_command(), env, calls, Path(tmp) / "ours.log")
        floor = profile(floor_command("--sandbox-db", str(dbs["floor"])), clean_env(), calls, Path(tmp) / "floor.log")
        bare = profile(floor_command(), clean_env(), 0, Path(tmp) / "bare.log")
    lines = [
        f"Resident memory of the spawned server (stdio), idle after the handshake and after {calls:,} "
        "`services_get` calls on the same sandbox data. VmHWM is the peak.",
        "",
        "| server | idle VmRSS | idle VmHWM | VmRSS after calls | VmHWM after calls | growth |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, row in (("bare floor (SDK + 1 tool, no client)", bare), ("floor + sandbox", floor), ("ours", ours)):
        growth = f"{mib_kb(row['rss'] - row['idle_rss'])}" if name != "bare floor (SDK + 1 tool, no client)" else ""
        lines.append(
            f"| {name} | {mib_kb(row['idle_rss'])} | {mib_kb(row['idle_hwm'])} | {mib_kb(row['rss'])} "
            f"| {mib_kb(row['hwm'])} | {growth} |"
        )
    idle_ratio = ours["idle_hwm"] / floor["idle_hwm"]
    peak_ratio = ours["hwm"] / floor["hwm"]
    lines += [
        "",
        f"- ours / floor + sandbox: idle peak **{times(idle_ratio)}**, peak after {calls:,} calls "
        f"**{times(peak_ratio)}**; ours / bare floor idle: {times(ours['idle_hwm'] / bare['idle_hwm'])}.",
        f"- stderr lines after {calls:,} calls: ours {ours['logged']} (the start-up line saying what it serves), "
        f"floor {floor['logged']}: nothing is logged per request at the servers' log level (WARNING).",
    ]
    targets = [
        Target("5. memory", "peak RSS idle, ours / floor + sandbox", idle_ratio, "report", True, "no fixed bound"),
        Target(
            "5. memory",
            f"peak RSS after {calls:,} calls, ours / floor + sandbox",
            peak_ratio,
            "report",
            True,
            "no fixed bound",
        ),
    ]
    return Report("5. Memory", "\n".join(lines), targets)


def main() -> None:
    parser = base_parser(__doc__)
    parser.add_argument("--calls", type=int, default=10000, help="services_get calls before the second reading")
    args = parser.parse_args()
    started = time.perf_counter()
    report = run(200 if args.tiny else max(args.calls, 1))
    report.seconds = time.perf_counter() - started
    emit(report, args.json)


if __name__ == "__main__":
    sys.exit(main())
