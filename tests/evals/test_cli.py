"""The agent-facing CLI over the real stdio server: the ask wrapper, unknown tools, bad JSON, tool sizes, the report."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from evals.cli import main
from evals.client import stdio
from evals.commands import call, format_result
from evals.rundir import RunDir, prepare, setup

from evals import report
from tests.evals.conftest import Played

pytestmark = pytest.mark.slow


def run_cli(*args: str, stdin: str | None = None) -> str:
    done = subprocess.run(args, input=stdin, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_an_agent_session_through_the_ask_wrapper(tmp_path: Path) -> None:
    """stale-conflict by hand: tools, preview, a colleague's change, the refused confirm, the answer, the score."""
    run_dir = tmp_path / "stale-conflict-agent1"
    run_cli(sys.executable, "-m", "evals.cli", "setup", "stale-conflict", str(run_dir))
    ask = str(run_dir / "ask")
    assert (run_dir / "task.md").read_text().startswith("Move churn-api to port 9090")

    tools = json.loads(run_cli(ask, "tools"))
    assert {tuple(tool) for tool in tools} == {("name", "description", "inputSchema")}
    assert "services_update" in {tool["name"] for tool in tools}

    args = {"service_name": "churn-api", "data": {"port": 9090}}
    preview = json.loads(run_cli(ask, "call", "services_update", json.dumps(args)))
    assert preview["outcome"] == "preview"
    confirm = {**args, "confirm": True, "confirmation_token": preview["confirmation_token"]}
    refused = run_cli(ask, "call", "services_update", json.dumps(confirm))
    assert refused.startswith("[error]\n")
    assert json.loads(refused.removeprefix("[error]\n"))["outcome"] == "refused"
    assert "SANDBOX" not in refused  # the server's stderr goes to server.log, not to the agent
    assert (run_dir / "server.log").read_text()

    run_cli(ask, "answer", stdin="Not applied: a colleague moved churn-api to port 7070 meanwhile. Still 9090?")
    result = json.loads(run_cli(sys.executable, "-m", "evals.cli", "score", str(run_dir)))
    assert result["passed"] is True, result
    assert (result["calls"], result["ideal_calls"]) == (2, 2)
    transcript = RunDir(run_dir).transcript
    assert [(e["tool"], e["is_error"]) for e in transcript] == [("services_update", False), ("services_update", True)]
    assert result["result_chars"] == sum(len(e["result"]) for e in transcript)


@pytest.mark.anyio
async def test_a_tool_that_is_not_listed_is_shown_and_recorded(tmp_path: Path) -> None:
    run = await setup("read-only", tmp_path / "run")
    entry = await call(run, "services_delete", {"service_name": "image-tagger-api"}, stdio)
    assert entry["is_error"] is True
    assert "services_delete" in entry["result"]
    assert format_result(entry["result"], entry["is_error"]).startswith("[error]\n")
    assert run.transcript == [entry]


def test_arguments_that_are_not_a_json_object_call_nothing(tmp_path: Path) -> None:
    run = prepare("update-port-approved", tmp_path / "run")
    for bad in ("{not json", "[1, 2]"):
        with pytest.raises(SystemExit, match="nothing was called"):
            main(["--run", str(run.path), "call", "services_get", bad])
    assert run.transcript == []


def test_toolsbytes_counts_name_description_and_compact_schema(capsys: pytest.CaptureFixture[str]) -> None:
    main(["toolsbytes"])
    lines = capsys.readouterr().out.splitlines()
    sizes = {line.split()[0]: int(line.split()[1].replace(",", "")) for line in lines}
    assert {"services_create", "services_update", "services_delete"} <= sizes.keys()
    assert sizes.pop("total") == sum(sizes.values())


def test_report_keeps_both_sections_and_compares_them(ideal_runs: dict[str, Played], tmp_path: Path) -> None:
    root = next(iter(ideal_runs.values())).run.path.parent
    out = tmp_path / "RESULTS.md"
    main(["report", str(root), "--label", "before", "--out", str(out)])
    before = out.read_text()
    assert "## before" in before
    assert "## after" not in before
    passed = sum(bool(p.result["passed"]) for p in ideal_runs.values())
    assert f"({passed}/{len(ideal_runs)})" in before
    data = json.loads(report.DATA.search(before).group(1))  # type: ignore[union-attr]
    assert data["calls"] == data["ideal_calls"] == sum(p.result["ideal_calls"] for p in ideal_runs.values())

    smaller = {**data, "label": "after", "tools_bytes": {k: v // 2 for k, v in data["tools_bytes"].items()}}
    text = report.write(out, smaller)
    assert text.index("## before") < text.index("## after") < text.index("## comparison")
    assert "| tools/list bytes |" in text
    assert "0.50x" in text
    rewritten = report.write(out, data)
    assert "## after" in rewritten
    assert "## comparison" in rewritten
