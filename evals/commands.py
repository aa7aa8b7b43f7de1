"""What the CLI's subcommands do, as functions the tests call directly."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .client import Connect, ServerSpec, call_tool, list_tools, stdio, tool_bytes
from .events import fire_due_events
from .judge import load_run
from .rundir import RunDir, server_env
from .scorers import score


def format_tools(tools: list[dict[str, Any]]) -> str:
    """The tools as a chat client hands them to a model: name, description, input schema."""
    return json.dumps(tools, indent=2, ensure_ascii=False)


def format_result(text: str, is_error: bool) -> str:
    return f"[error]\n{text}" if is_error else text


async def call(run: RunDir, tool: str, arguments: dict[str, Any], connect: Connect = stdio) -> dict[str, Any]:
    """One call as the agent makes it: recorded in the transcript, then any event it triggers."""
    outcome = await call_tool(run.spec(), tool, arguments, connect)
    entry = run.record_call(tool, arguments, outcome.text, outcome.is_error)
    await fire_due_events(run)
    return entry


def save_answer(run: RunDir, text: str) -> None:
    """The agent's final reply to the user; the last one given wins."""
    run.file("answer.md").write_text(text.rstrip("\n") + "\n")


async def score_run(run: RunDir) -> dict[str, Any]:
    """Score the run and keep the result next to it for the report."""
    result = score(await load_run(run))
    run.file("score.json").write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    return result


def saved_score(run: RunDir) -> dict[str, Any] | None:
    path = run.file("score.json")
    return json.loads(path.read_text()) if path.exists() else None


async def tools_bytes(spec: ServerSpec, connect: Connect = stdio) -> dict[str, int]:
    """Model-facing bytes of each tool in tools/list."""
    return {tool["name"]: tool_bytes(tool) for tool in await list_tools(spec, connect)}


def scratch_spec(server: list[str], scratch: Path) -> ServerSpec:
    """A server on a throwaway sandbox, for measuring tools/list outside any run."""
    settings = {"UBIOPS_SANDBOX_DB": ":memory:", "UBIOPS_MCP_AUDIT_LOG": str(scratch / "audit.jsonl")}
    return ServerSpec(command=server, env=server_env(settings), log=scratch / "server.log")
