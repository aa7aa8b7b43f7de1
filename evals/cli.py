"""The eval kit's command line: set up a run, let an agent list tools / call them / answer, then score and report.

python -m evals.cli setup TASK_ID RUN_DIR [--server CMD]
RUN_DIR/ask tools | RUN_DIR/ask call TOOL 'JSON' | RUN_DIR/ask answer 'TEXT'
python -m evals.cli score RUN_DIR
python -m evals.cli report RUNS_ROOT --label before|after --out evals/RESULTS.md
python -m evals.cli toolsbytes [--server CMD]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import anyio

from . import commands, report
from .client import list_tools
from .ideal import run_ideal
from .rundir import RunDir, server_command, setup
from .tasks import all_tasks


def parse_arguments(raw: str | None) -> dict[str, Any]:
    """The call's JSON object, from the argument or stdin; anything else is a usage error, not a tool call."""
    text = sys.stdin.read() if raw in (None, "-") else raw
    try:
        value = json.loads(text or "{}")
    except ValueError as error:
        raise SystemExit(f"ask call: the arguments are not valid JSON ({error}); nothing was called") from None
    if not isinstance(value, dict):
        raise SystemExit("ask call: the arguments must be a JSON object; nothing was called")
    return value


async def cmd_setup(args: argparse.Namespace) -> None:
    run = await setup(args.task_id, Path(args.run_dir), args.server)
    print(f"{run.path}\n  prompt for the agent: {run.file('prompt.md')}\n  agent entry point: {run.file('ask')}")


async def cmd_tools(args: argparse.Namespace) -> None:
    print(commands.format_tools(await list_tools(RunDir(args.run).spec())))


async def cmd_call(args: argparse.Namespace) -> None:
    entry = await commands.call(RunDir(args.run), args.tool, parse_arguments(args.json))
    print(commands.format_result(entry["result"], entry["is_error"]))


async def cmd_answer(args: argparse.Namespace) -> None:
    text = sys.stdin.read() if args.text in (None, "-") else args.text
    commands.save_answer(RunDir(args.run), text)
    print("Answer recorded.")


async def cmd_score(args: argparse.Namespace) -> None:
    print(json.dumps(await commands.score_run(RunDir(Path(args.run_dir))), indent=2, ensure_ascii=False))


async def cmd_ideal(args: argparse.Namespace) -> None:
    """Play the task's ideal script in a run just set up (a check of the kit and of a server's interface)."""
    run = RunDir(Path(args.run_dir))
    if run.transcript:
        raise SystemExit(f"{run.path} already has calls; set up a fresh run directory for the ideal script")
    await run_ideal(run)
    print(json.dumps(await commands.score_run(run), indent=2, ensure_ascii=False))


def runs_under(root: Path) -> list[RunDir]:
    """Every run directory (one with run.json) directly under `root`."""
    runs = [RunDir(config.parent) for config in sorted(root.glob("*/run.json"))]
    if not runs:
        raise SystemExit(f"no runs under {root} (each run is a directory with run.json)")
    return runs


async def scores_of(runs: list[RunDir], rescore: bool) -> list[dict[str, Any]]:
    """The score of each run, scoring the runs not scored yet (or all of them with `rescore`)."""
    found = []
    for run in runs:
        saved = commands.saved_score(run)
        found.append(saved if saved is not None and not rescore else await commands.score_run(run))
    return found


def tools_server(runs: list[RunDir], server: str | None) -> list[str]:
    """The server to measure: --server, else the command of a run with every tool (no server options)."""
    if server:
        return server_command(server)
    full = [run for run in runs if not run.task.get("server_env")] or runs
    return full[0].config["server"]


async def measured_tools(command: list[str]) -> dict[str, int]:
    with tempfile.TemporaryDirectory() as scratch:
        return await commands.tools_bytes(commands.scratch_spec(command, Path(scratch)))


async def cmd_report(args: argparse.Namespace) -> None:
    runs = runs_under(Path(args.runs_root))
    scores = await scores_of(runs, args.rescore)
    command = tools_server(runs, args.server)
    server = args.server_label or " ".join(command)  # a label says which code ran, without this machine's paths
    summary = report.summarize(args.label, scores, await measured_tools(command), server)
    out = Path(args.out)
    report.write(out, summary)
    print(f"{out}: {args.label}: {summary['passed']}/{summary['runs']} passed, {summary['calls']} calls")


async def cmd_toolsbytes(args: argparse.Namespace) -> None:
    command = RunDir(args.run).config["server"] if args.run and not args.server else server_command(args.server)
    sizes = await measured_tools(command)
    width = max(map(len, sizes), default=5)
    for name, size in sizes.items():
        print(f"{name:<{width}}  {size:>7,}")
    print(f"{'total':<{width}}  {sum(sizes.values()):>7,}")


async def cmd_tasks(args: argparse.Namespace) -> None:
    for task in all_tasks().values():
        print(f"{task['id']:<26} ideal {task['ideal_calls']}  {task['request']}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m evals.cli", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("--run", type=Path, help="run directory (the ask wrapper passes it)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    p = sub.add_parser("setup", help="create a run directory for one task")
    p.add_argument("task_id")
    p.add_argument("run_dir")
    p.add_argument("--server", help="server command (default: this Python -m ubiops_services_mcp)")
    sub.add_parser("tools", help="the tools as a model sees them")
    p = sub.add_parser("call", help="call one tool: TOOL 'JSON arguments' (or JSON on stdin)")
    p.add_argument("tool")
    p.add_argument("json", nargs="?")
    p = sub.add_parser("answer", help="record the final answer to the user (TEXT or stdin)")
    p.add_argument("text", nargs="?")
    p = sub.add_parser("score", help="score a run")
    p.add_argument("run_dir")
    p = sub.add_parser("ideal", help="play the task's ideal script in a fresh run directory, then score it")
    p.add_argument("run_dir")
    p = sub.add_parser("report", help="aggregate scored runs into a Markdown section")
    p.add_argument("runs_root")
    p.add_argument("--label", choices=report.LABELS, required=True)
    p.add_argument("--out", default="evals/RESULTS.md")
    p.add_argument("--server", help="server whose tools/list to measure (default: the runs' server)")
    p.add_argument("--rescore", action="store_true", help="score every run again, even if already scored")
    p.add_argument("--server-label", help="what the report calls the server (e.g. 'main at 58ba707'), not its path")
    p = sub.add_parser("toolsbytes", help="model-facing bytes of each tool in tools/list")
    p.add_argument("--server", help="server command (default: the run's, else this Python's)")
    sub.add_parser("tasks", help="list the tasks")
    return parser


HANDLERS = {
    "setup": cmd_setup, "tools": cmd_tools, "call": cmd_call, "answer": cmd_answer, "score": cmd_score,
    "ideal": cmd_ideal, "report": cmd_report, "toolsbytes": cmd_toolsbytes, "tasks": cmd_tasks,
}  # fmt: skip
NEEDS_RUN = ("tools", "call", "answer")


def leaves(error: BaseException) -> list[BaseException]:
    """The innermost exceptions of a (nested) exception group."""
    if isinstance(error, BaseExceptionGroup):
        return [leaf for inner in error.exceptions for leaf in leaves(inner)]
    return [error]


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command in NEEDS_RUN and args.run is None:
        parser.error(f"{args.command} needs --run RUN_DIR (or use RUN_DIR/ask)")
    try:
        anyio.run(HANDLERS[args.command], args)
    except Exception as error:  # a harness failure: one readable line, not a task-group traceback
        if os.environ.get("EVALS_DEBUG"):
            raise
        causes = "; ".join(f"{type(e).__name__}: {e}" for e in leaves(error))
        log = f"; server stderr in {args.run / 'server.log'}" if args.run else ""
        print(f"evals {args.command} failed: {causes}{log} (EVALS_DEBUG=1 for the traceback)", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
