"""Run every benchmark and write benchmarks/RESULTS.md: each figure a ratio against a reference measured in the
same run, with the machine and the date at the top.

    python benchmarks/run_all.py                 # full sizes (about 7 minutes on 2 cores), writes RESULTS.md
    python benchmarks/run_all.py --tiny          # every benchmark on a tiny size in well under a minute (CI);
                                                 # writes to a temporary file unless --out is given
    python benchmarks/run_all.py --only cold_start,memory --out /tmp/partial.md

Each benchmark runs as its own process (`python benchmarks/<name>.py`, which also works alone), so one
cannot warm or pollute another. The exit status is non-zero if any benchmark failed; unmet targets are
reported, not failed: timings on a shared machine are not a test.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from common import BENCH_DIR, PYTHON, ROOT, machine


@dataclass(frozen=True)
class Bench:
    name: str
    title: str
    full: tuple[str, ...]
    tiny: tuple[str, ...] = ("--tiny",)
    reports_json: bool = True


BENCHES = (
    Bench("cold_start", "1. Cold start (stdio)", ("--runs", "15")),
    Bench("call_overhead", "2. Call overhead (services_get)", ("--calls", "1000")),
    Bench("concurrency", "3. Concurrency (streamable HTTP)", ("--clients", "100", "--calls", "20", "--rounds", "3")),
    Bench("context_cost", "4. Context cost", ("--services", "1000")),
    Bench("memory", "5. Memory", ("--calls", "10000")),
    Bench(
        "sandbox_scale",
        "6. Sandbox scale",
        ("--sizes", "100,1000,10000", "--repeat", "5"),
        ("--sizes", "10,50", "--repeat", "2"),
        reports_json=False,
    ),
    Bench("sessions", "7. Sessions (streamable HTTP)", ("--sessions", "10000")),
    Bench("replicas", "8. Replicas behind HAProxy", ("--clients", "20", "--calls", "50")),
)


NOTES = """
## How to read these figures

- **The floor** is `benchmarks/floor_server.py`: a minimal `MCPServer` with one tool, logging at WARNING like
  ours. For cold start it has no HTTP client at all; elsewhere its tool makes the same GET as ours with a raw
  `httpx.AsyncClient` made once in its lifespan, against the same API (the standalone sandbox on loopback for
  call overhead; the sandbox app in-process for concurrency and memory, as ours has it by default).
- Each benchmark runs in its own process; variants are interleaved (A, B, A, B...) so drift on a shared machine
  hits them alike, and medians are reported. On this shared 2-core machine the call-overhead ratios moved by up
  to +-0.1 between full runs; the others by a few percent.
- The concurrency load generator is a bare JSON-RPC client with one `httpx.AsyncClient` per worker (a single
  100-connection httpcore pool costs O(n) per request and was the bottleneck) and shares the 2 cores with the
  server; sessions are closed (DELETE) after each round.

## What was changed in the server for these figures

- `cli.py`: `main()` imports the server (and so the SDK) with the garbage collector paused, then `gc.freeze()`s
  what the imports built and turns the collector back on. Those ~130k objects live as long as the process, so
  collecting them was wasted work (about 10% of start-up), and a full collection no longer walks them (one
  over the start-up heap takes ~65 ms here). The cold-start table shows ours with and without the pause and
  the floor given the same pause. No change in idle or peak memory was measurable (see 5).
- `tools/schema.py`: `compact_schema` also drops `default: null` and `additionalProperties: true` (both the
  JSON Schema default) and, in output schemas, puts a definition used exactly once where it is used (unless a
  keyword beside the `$ref`, such as its own description, differs). Same meaning; tools/list went from
  27,466 to 25,824 bytes (-6%, ~410 tokens) on the models of 2026-11-27, and a client's jsonschema
  validation of a result ~10% faster (one `$ref` lookup less per level).

## Findings outside this change (what it would take)

- **Call overhead vs the official client.** Through an MCP session the SDK's own round trip (session, JSON-RPC,
  and `mcp.Client` validating `structuredContent` against the outputSchema with jsonschema) costs more than the
  official client's whole GET, for the floor too; like for like, our API layer (`ServicesApi.get`) is faster
  than `ubiops.CoreApi.services_get`. Most of what ours costs over the floor in-memory is that client-side
  validation (~80 us per call against our detailed outputSchema, ~6 us against the floor's open object):
  profiled over stdio, the two server processes do about the same work per call, and with a bare JSON-RPC
  client the ratio is close to 1 (1.0-1.07 in our runs). Our API layer adds ~80 us over a raw httpx GET (auth,
  retries, body cap, validation). Desktop clients compile their validators (ajv), which is far cheaper.
- **httpcore imports `sniffio` on every request**; when it is not installed each failed import walks
  `sys.path`, ~30 us x 4 per HTTP request (~0.12 ms), in ours, the floor and raw httpx alike. `sniffio` is now
  a dependency of this project, which removes it here.
- **services_list size.** The list leaves out null values (no `version` means the deployment's default),
  which brought the limit=1000 result from ~0.53x to ~0.47x of the raw JSON.
- **Start-up.** Nearly all of it is importing the SDK (mcp, mcp_types, pydantic, starlette, and uvicorn through
  sse_starlette), which the floor pays too. Of ours beyond the floor the largest parts are building the six
  tools' schemas (~30 ms; `build_tools` generates each output schema twice: once by the SDK from the return
  annotation, then again as result | ToolFailure) and importing our models. The sandbox (import, SQLite open
  and seed: ~4 ms) is still opened at start-up: deferring it would save ~1% and move a bad database path or
  seed file from a start-up error to a failed first call. `ubiops` is never imported at run time.
- **HTTP sessions.** The SDK keeps a session until it is deleted or idles out; 100 undeleted sessions per
  round raised the floor's CPU per call from ~3.0 to ~4.2 ms after five rounds.
"""


def run_bench(bench: Bench, tiny: bool, workdir: Path) -> dict[str, Any]:
    """One benchmark in its own process; its markdown, targets and how long it took."""
    script = BENCH_DIR / f"{bench.name}.py"
    out_json = workdir / f"{bench.name}.json"
    args = [PYTHON, str(script), *(bench.tiny if tiny else bench.full)]
    if bench.reports_json:
        args += ["--json", str(out_json)]
    print(f"run_all: {bench.name} ...", file=sys.stderr, flush=True)
    started = time.perf_counter()
    done = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=900, check=False)
    seconds = time.perf_counter() - started
    print(f"run_all: {bench.name} done in {seconds:.0f} s (exit {done.returncode})", file=sys.stderr, flush=True)
    if done.returncode != 0:
        print(done.stdout[-3000:], done.stderr[-5000:], sep="\n", file=sys.stderr)
        return {"title": bench.title, "markdown": f"FAILED (exit {done.returncode}); see the run's stderr.",
                "targets": [], "seconds": seconds, "failed": True}  # fmt: skip
    if bench.reports_json:
        report = json.loads(out_json.read_text())
    else:
        report = {"title": bench.title, "markdown": done.stdout, "targets": []}
    report["seconds"] = seconds
    return report


def strip_heading(markdown: str) -> str:
    """A benchmark prints its own '## title'; run_all writes the headings itself."""
    lines = markdown.strip().splitlines()
    return "\n".join(lines[1:] if lines and lines[0].startswith("## ") else lines).strip()


def summary(reports: list[dict[str, Any]]) -> list[str]:
    lines = ["| figure | measure | ratio | target | met |", "|---|---|---:|---|---|"]
    for report in reports:
        for target in report["targets"]:
            met = "yes" if target["met"] else "**no**"
            if target.get("note"):
                met = "n/a" if "no fixed bound" in target["note"] else met
                met = f"{met} ({target['note']})"
            lines.append(
                f"| {target['figure']} | {target['measure']} | {target['value']:.2f}x | {target['bound']} | {met} |"
            )
    missed = [t for r in reports for t in r["targets"] if not t["met"] and t.get("if_missed")]
    if missed:
        lines.append("")
    for target in missed:
        lines.append(f"- Not met: {target['figure']}, {target['measure']}: {target['if_missed']}")
    return lines


def render(reports: list[dict[str, Any]], tiny: bool, seconds: float, notes: str) -> str:
    box = machine()
    mode = "tiny sizes (CI smoke run: figures are not meaningful)" if tiny else "full sizes"
    lines = [
        "# Benchmark results",
        "",
        f"Measured {box['date']} on {box['nproc']} CPU(s), {box['cpu']}, {box['python']}, {box['os']}; {mode}; "
        f"the whole run took {seconds:.0f} s. Regenerate with `python benchmarks/run_all.py` (or `make bench`).",
        "",
        "Every figure is a ratio against a reference measured in the same run on the same machine; absolute times "
        "appear only next to their ratio and mean little elsewhere.",
        "",
        "## Targets",
        "",
        *summary(reports),
        "",
    ]
    for report in reports:
        lines += [f"## {report['title']}", "", strip_heading(report["markdown"]), ""]
    if notes:
        lines += [notes.strip(), ""]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="tiny sizes, for CI (default output: a temporary file)")
    parser.add_argument("--out", type=Path, help="where to write the results (default benchmarks/RESULTS.md)")
    parser.add_argument("--only", help="comma-separated benchmark names: " + ", ".join(b.name for b in BENCHES))
    args = parser.parse_args()
    chosen = [b for b in BENCHES if args.only is None or b.name in args.only.split(",")]
    if args.only and len(chosen) != len(set(args.only.split(","))):
        parser.error(f"--only: known benchmarks are {', '.join(b.name for b in BENCHES)}")
    out = args.out
    if out is None:
        out = Path(tempfile.mkdtemp(prefix="ubiops-bench-")) / "RESULTS.md" if args.tiny else BENCH_DIR / "RESULTS.md"
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="ubiops-bench-") as tmp:
        reports = [run_bench(bench, args.tiny, Path(tmp)) for bench in chosen]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render(reports, args.tiny, time.perf_counter() - started, NOTES))
    print(f"run_all: wrote {out}", file=sys.stderr)
    return 1 if any(r.get("failed") for r in reports) else 0


if __name__ == "__main__":
    sys.exit(main())
