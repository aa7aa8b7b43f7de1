"""Aggregate scored runs into one Markdown section per label (before / after) and a comparison table."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .tasks import all_tasks

TITLE = "# Agent evals: results\n\nWritten by `python -m evals.cli report`; see evals/README.md.\n"
LABELS = ("before", "after")
DATA = re.compile(r"<!-- evals-data (\{.*?\}) -->")
SECTION = re.compile(r"<!-- begin (\w+) -->\n(.*?)<!-- end \1 -->\n", re.DOTALL)


def task_order(task_id: str) -> tuple[int, str]:
    """Tasks in file order, unknown ones last."""
    ids = list(all_tasks())
    return (ids.index(task_id) if task_id in ids else len(ids), task_id)


def summarize(label: str, scores: list[dict[str, Any]], tools: dict[str, int], server: str) -> dict[str, Any]:
    """Per-task and total figures of one label's runs."""
    per_task: dict[str, dict[str, Any]] = {}
    for result in scores:
        row = per_task.setdefault(
            result["task"],
            {"runs": 0, "passed": 0, "calls": 0, "ideal_calls": result["ideal_calls"], "result_chars": 0, "hedges": 0},
        )
        row["runs"] += 1
        row["passed"] += int(result["passed"])
        row["calls"] += result["calls"]
        row["result_chars"] += result["result_chars"]
        row["hedges"] += int(result["hedge"])
    return {
        "label": label,
        "server": server,
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
        "runs": len(scores),
        "passed": sum(int(r["passed"]) for r in scores),
        "calls": sum(r["calls"] for r in scores),
        "ideal_calls": sum(r["ideal_calls"] for r in scores),
        "result_chars": sum(r["result_chars"] for r in scores),
        "tasks": dict(sorted(per_task.items(), key=lambda item: task_order(item[0]))),
        "tools_bytes": tools,
    }


def ratio(part: float, whole: float) -> str:
    return f"{part / whole:.2f}x" if whole else "n/a"


def percent(part: int, whole: int) -> str:
    return f"{100 * part / whole:.0f}%" if whole else "n/a"


def section(summary: dict[str, Any]) -> str:
    """One label's Markdown: a per-task table, the totals, and tools/list bytes per tool."""
    s = summary
    lines = [
        f"## {s['label']}",
        "",
        f"Server: {s['server']}; {s['runs']} runs over {len(s['tasks'])} tasks, {s['date']}.",
        "",
        "| task | passed | mean calls (ideal) | mean result chars | hedges |",
        "|---|---:|---:|---:|---:|",
    ]
    for task, row in s["tasks"].items():
        n = row["runs"]
        lines.append(
            f"| {task} | {row['passed']}/{n} | {row['calls'] / n:.1f} ({row['ideal_calls']}) "
            f"| {row['result_chars'] / n:,.0f} | {row['hedges']} |"
        )
    tools_total = sum(s["tools_bytes"].values())
    lines += [
        "",
        f"**Totals:** pass rate {percent(s['passed'], s['runs'])} ({s['passed']}/{s['runs']}); "
        f"calls {s['calls']} / ideal {s['ideal_calls']} ({ratio(s['calls'], s['ideal_calls'])}); "
        f"result chars {s['result_chars']:,}; tools/list {tools_total:,} bytes.",
        "",
        "| tool | model-facing bytes |",
        "|---|---:|",
        *(f"| {name} | {size:,} |" for name, size in s["tools_bytes"].items()),
        f"| **total** | **{tools_total:,}** |",
        "",
        f"<!-- evals-data {json.dumps(s, separators=(',', ':'))} -->",
        "",
    ]
    return "\n".join(lines)


def comparison(before: dict[str, Any], after: dict[str, Any]) -> str:
    """Before and after side by side, with after/before ratios."""

    def figures(s: dict[str, Any]) -> dict[str, float]:
        return {
            "pass rate": s["passed"] / s["runs"] if s["runs"] else 0.0,
            "calls / ideal": s["calls"] / s["ideal_calls"] if s["ideal_calls"] else 0.0,
            "result chars per run": s["result_chars"] / s["runs"] if s["runs"] else 0.0,
            "tools/list bytes": float(sum(s["tools_bytes"].values())),
        }

    b, a = figures(before), figures(after)
    lines = ["## comparison", "", "| figure | before | after | after / before |", "|---|---:|---:|---:|"]
    for name in b:
        fmt = "{:.0%}" if name == "pass rate" else "{:.2f}" if name == "calls / ideal" else "{:,.0f}"
        lines.append(f"| {name} | {fmt.format(b[name])} | {fmt.format(a[name])} | {ratio(a[name], b[name])} |")
    return "\n".join([*lines, "", *per_task_comparison(before, after), ""])


def per_task_comparison(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """Passes and mean calls per task, side by side."""

    def cell(row: dict[str, Any] | None) -> tuple[str, str]:
        if row is None:
            return "-", "-"
        return f"{row['passed']}/{row['runs']}", f"{row['calls'] / row['runs']:.1f}"

    lines = [
        "| task | ideal calls | passed before | passed after | mean calls before | mean calls after |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for task in sorted(before["tasks"].keys() | after["tasks"].keys(), key=task_order):
        row_b, row_a = before["tasks"].get(task), after["tasks"].get(task)
        ideal = (row_a or row_b or {}).get("ideal_calls", "")
        (pass_b, calls_b), (pass_a, calls_a) = cell(row_b), cell(row_a)
        lines.append(f"| {task} | {ideal} | {pass_b} | {pass_a} | {calls_b} | {calls_a} |")
    return lines


def write(out: Path, summary: dict[str, Any]) -> str:
    """Replace this label's section in `out`, keep the other label's, and redo the comparison."""
    sections = dict(SECTION.findall(out.read_text())) if out.exists() else {}
    sections[summary["label"]] = section(summary)
    data = {label: json.loads(m.group(1)) for label in LABELS if (m := DATA.search(sections.get(label, "")))}
    if len(data) == len(LABELS):
        sections["comparison"] = comparison(data["before"], data["after"])
    parts = [TITLE]
    for label in (*LABELS, "comparison", "notes"):  # notes: written by hand between the markers, kept as they are
        if label in sections:
            parts.append(f"<!-- begin {label} -->\n{sections[label]}<!-- end {label} -->\n")
    text = "\n".join(parts)
    out.write_text(text)
    return text
