"""Cold start over stdio: process spawn -> `initialize` answered -> `tools/list` answered, ours against the floor.

Ours is the console script on its default, the embedded sandbox (UBIOPS_SANDBOX_DB=:memory:, audit log in a
temporary directory); the floor is benchmarks/floor_server.py (the SDK and one tool). Two more rows show the
start-up GC pause (cli.main imports the SDK with the collector off) on its own: the floor given the same pause,
and ours with it made a no-op. Runs alternate A, B, C, D, A... after two untimed warm-ups each; medians are
reported. Then ours and the floor start three more times under `python -X importtime` to show what our
start-up imports beyond the floor.

    python benchmarks/cold_start.py [--runs 15] [--tiny]
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from common import (
    FLOOR_SCRIPT,
    PYTHON,
    Report,
    StdioRpc,
    Target,
    base_parser,
    clean_env,
    emit,
    floor_command,
    median,
    ms,
    our_command,
    percentile,
    spawned,
    times,
)

TARGET = 1.15
# Ours as it was before the pause: gc.disable/gc.freeze made no-ops, so the SDK is imported with the collector on.
OURS_GC_ON = (
    "import gc, sys; gc.disable = gc.freeze = lambda: None; from ubiops_services_mcp.cli import main; sys.exit(main())"
)
# What start-up might load without needing it: the official client must never be imported at run time.
WATCHED = ("ubiops", "uvicorn", "starlette", "httpx", "sqlite3", "ubiops_services_mcp.sandbox", "jsonschema")
# The floor with the start-up GC pause ours has (cli.main imports the SDK with the collector off, then freezes
# what it built): shows how much of our ratio is that pause rather than our own code.
FLOOR_GC_PAUSED = (
    "import gc, runpy, sys; gc.disable(); import mcp.server.mcpserver; gc.freeze(); gc.enable(); "
    "sys.argv = [sys.argv[1]]; runpy.run_path(sys.argv[0], run_name='__main__')"
)


def handshake(cmd: list[str], env: dict[str, str]) -> tuple[float, float, int]:
    """Seconds from spawn to the initialize answer and to the tools/list answer; and the tool count."""
    started = time.perf_counter()
    with spawned(cmd, env, stdio=True, limit_s=60) as proc:
        rpc = StdioRpc(proc)
        rpc.initialize()
        initialized = time.perf_counter()
        tools = rpc.request("tools/list")["tools"]
        listed = time.perf_counter()
    return initialized - started, listed - started, len(tools)


def import_times(cmd: list[str], env: dict[str, str]) -> dict[str, int]:
    """Self import time (µs) per module while the server starts and answers tools/list."""
    with tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err, env=env)
        try:
            rpc = StdioRpc(proc)
            rpc.initialize()
            rpc.request("tools/list")
        finally:
            assert proc.stdin is not None
            proc.stdin.close()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            assert proc.stdout is not None
            proc.stdout.close()
        err.seek(0)
        found: dict[str, int] = {}
        for line in err:
            if line.startswith("import time:") and "self [us]" not in line:
                head, _, name = line.split("|")
                found[name.strip()] = int(head.split(":")[1])
        return found


def median_imports(cmd: list[str], env: dict[str, str], repeat: int) -> dict[str, float]:
    runs = [import_times(cmd, env) for _ in range(repeat)]
    names = {name for run in runs for name in run}
    return {name: median([run.get(name, 0) for run in runs]) for name in names}


def group(module: str) -> str:
    """Our own modules by subpackage, everything else by top-level package."""
    parts = module.split(".")
    return ".".join(parts[:2]) if parts[0] == "ubiops_services_mcp" else parts[0]


def import_report(ours: dict[str, float], floor: dict[str, float]) -> str:
    extra = {name: cost for name, cost in ours.items() if name not in floor}
    by_group: dict[str, float] = defaultdict(float)
    for name, cost in extra.items():
        by_group[group(name)] += cost
    total_ours, total_floor = sum(ours.values()) / 1e6, sum(floor.values()) / 1e6
    lines = [
        f"Import time (sum of self times, median of runs): ours {ms(total_ours)}, floor {ms(total_floor)} "
        f"({times(total_ours / total_floor)}); {len(extra)} modules beyond the floor cost "
        f"{ms(sum(extra.values()) / 1e6)}.",
        "",
        "| imported beyond the floor | self time | share of our import time |",
        "|---|---:|---:|",
    ]
    for name, cost in sorted(by_group.items(), key=lambda item: -item[1])[:12]:
        lines.append(f"| `{name}` | {ms(cost / 1e6)} | {cost / 1e6 / total_ours:.1%} |")
    lines += ["", "| package | imported by ours at start-up | by the floor |", "|---|---|---|"]
    for package in WATCHED:
        lines.append(f"| `{package}` | {_imported(package, ours)} | {_imported(package, floor)} |")
    return "\n".join(lines)


def _imported(package: str, modules: dict[str, float]) -> str:
    found = [cost for name, cost in modules.items() if name == package or name.startswith(package + ".")]
    return f"yes ({ms(sum(found) / 1e6)})" if found else "no"


def run(runs: int, import_runs: int, warmups: int = 2) -> Report:
    with tempfile.TemporaryDirectory() as tmp:
        env = clean_env(UBIOPS_SANDBOX_DB=":memory:", UBIOPS_MCP_AUDIT_LOG=str(Path(tmp) / "audit.jsonl"))
        variants = {
            "ours": our_command(),
            "floor": floor_command(),
            "floor, GC paused": [PYTHON, "-c", FLOOR_GC_PAUSED, str(FLOOR_SCRIPT)],
            "ours, without the GC pause": [PYTHON, "-c", OURS_GC_ON],
        }
        samples: dict[str, list[tuple[float, float]]] = {name: [] for name in variants}
        counts: dict[str, int] = {}
        for round_ in range(runs + warmups):
            for name, cmd in variants.items():  # interleaved: A, B, A, B...
                init_s, list_s, counts[name] = handshake(cmd, env)
                if round_ >= warmups:  # untimed warm-ups first: bytecode caches, page cache
                    samples[name].append((init_s, list_s))
        ours_imports = median_imports([PYTHON, "-X", "importtime", "-m", "ubiops_services_mcp"], env, import_runs)
        floor_imports = median_imports([PYTHON, "-X", "importtime", str(FLOOR_SCRIPT)], env, import_runs)

    stats = {
        name: {
            "init": median([s[0] for s in rows]),
            "list": median([s[1] for s in rows]),
            "p90": percentile([s[1] for s in rows], 90),
        }
        for name, rows in samples.items()
    }
    ratio = stats["ours"]["list"] / stats["floor"]["list"]
    lines = [
        f"Spawn -> `initialize` -> `tools/list` answered over stdio; {runs} interleaved runs each, medians. "
        f"Ours: `ubiops-services-mcp` (embedded sandbox, `:memory:`, {counts['ours']} tools); "
        f'floor: `benchmarks/floor_server.py` (SDK + {counts["floor"]} tool); "floor, GC paused": the same '
        "floor with the start-up GC pause ours has (the SDK imported with the collector off, then frozen); "
        '"ours, without the GC pause": ours with that pause made a no-op, as it was before the pause was added.',
        "",
        "| server | to `initialize` | to `tools/list` | p90 to `tools/list` | ratio to floor |",
        "|---|---:|---:|---:|---:|",
    ]
    for name in ("floor", "floor, GC paused", "ours", "ours, without the GC pause"):
        row = stats[name]
        lines.append(
            f"| {name} | {ms(row['init'])} | {ms(row['list'])} | {ms(row['p90'])} | "
            f"{times(row['list'] / stats['floor']['list'])} |"
        )
    own = stats["ours"]["list"] / stats["floor, GC paused"]["list"]
    lines += [
        "",
        f"Ours / floor: **{times(ratio)}**; ours / floor with the same GC pause: {times(own)} (what our own "
        "imports and set-up cost).",
        "",
        import_report(ours_imports, floor_imports),
    ]
    target = Target(
        "1. cold start",
        "spawn -> tools/list, ours / floor",
        ratio,
        f"≤ {TARGET}x",
        ratio <= TARGET,
        if_missed="nearly all of start-up is importing the SDK, which the floor pays too; see the import table "
        "above and Findings (start-up) for what is ours and what cutting it would take.",
    )
    return Report("1. Cold start (stdio)", "\n".join(lines), [target])


def main() -> None:
    parser = base_parser(__doc__)
    parser.add_argument("--runs", type=int, default=15, help="timed runs of each server (at least 15 for the report)")
    args = parser.parse_args()
    runs = 3 if args.tiny else max(args.runs, 1)
    started = time.perf_counter()
    report = run(runs, 1 if args.tiny else 3, 1 if args.tiny else 2)
    report.seconds = time.perf_counter() - started
    emit(report, args.json)


if __name__ == "__main__":
    sys.exit(main())
