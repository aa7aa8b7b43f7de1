"""A run directory: one agent's attempt at one task, with its sandbox, logs, transcript and answer."""

from __future__ import annotations

import json
import os
import secrets
import shlex
import stat
import sys
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from . import tasks
from .client import ServerSpec
from .sandbox import Sandbox, State, open_sandbox

REPO = Path(__file__).resolve().parent.parent
DEFAULT_SERVER = (sys.executable, "-m", "ubiops_services_mcp")
STRIPPED_ENV = ("PYTHONPATH",)  # the kit's own import path must not leak into another checkout's server


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Every line of a JSON-lines file; a missing file is an empty log."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def append_jsonl(path: Path, entry: dict[str, Any]) -> None:
    with path.open("a") as file:
        file.write(json.dumps(entry, ensure_ascii=False) + "\n")


@dataclass(frozen=True)
class RunDir:
    """Paths and records of one run; every file lives in the directory, so runs never share state."""

    path: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", self.path.resolve())

    def file(self, name: str) -> Path:
        return self.path / name

    @property
    def task(self) -> tasks.Task:
        """The task as it was when the run was set up (a copy, so later edits do not move the goalposts)."""
        return json.loads(self.file("task.json").read_text())

    @property
    def config(self) -> dict[str, Any]:
        return json.loads(self.file("run.json").read_text())

    def spec(self) -> ServerSpec:
        """The server command with the run's environment."""
        config = self.config
        return ServerSpec(command=config["server"], env=server_env(config["env"]), log=self.file("server.log"))

    @property
    def transcript(self) -> list[dict[str, Any]]:
        return read_jsonl(self.file("transcript.jsonl"))

    @property
    def audit(self) -> list[dict[str, Any]]:
        return read_jsonl(self.file("audit.jsonl"))

    @property
    def answer(self) -> str:
        path = self.file("answer.md")
        return path.read_text() if path.exists() else ""

    @property
    def initial_state(self) -> State:
        return json.loads(self.file("initial_state.json").read_text())

    def record_call(self, tool: str, arguments: dict[str, Any], text: str, is_error: bool) -> dict[str, Any]:
        entry = {
            "n": len(self.transcript) + 1,
            "time": now(),
            "tool": tool,
            "arguments": arguments,
            "is_error": is_error,
            "result": text,
            "result_chars": len(text),
        }
        append_jsonl(self.file("transcript.jsonl"), entry)
        return entry

    def sandbox(self) -> AbstractAsyncContextManager[Sandbox]:
        return open_sandbox(self.file("sandbox.sqlite3"), self.file("seed.json"))

    async def state(self) -> State:
        async with self.sandbox() as box:
            return await box.state(list(tasks.projects(self.task)))


def server_env(settings: dict[str, str]) -> dict[str, str]:
    """This process's environment without any UbiOps settings (so the sandbox serves), plus `settings`."""
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("UBIOPS") and k not in STRIPPED_ENV}
    return {**inherited, **settings}


def server_command(server: str | None) -> list[str]:
    """`--server` split like a shell would, or this interpreter running the server package."""
    if not server:
        return list(DEFAULT_SERVER)
    command = shlex.split(server)
    if os.sep in command[0]:  # a path: absolute, so `ask` works from any directory
        command[0] = str(Path(command[0]).resolve())
    return command


def run_env(run: RunDir, task: tasks.Task) -> dict[str, str]:
    """The server's settings for this run; the secret is fresh per run so tokens never cross runs."""
    return {
        "UBIOPS_SANDBOX_DB": str(run.file("sandbox.sqlite3")),
        "UBIOPS_SANDBOX_SEED": str(run.file("seed.json")),
        "UBIOPS_MCP_AUDIT_LOG": str(run.file("audit.jsonl")),
        "UBIOPS_MCP_SECRET": secrets.token_urlsafe(48),
        **task.get("server_env", {}),
    }


PROMPT = """\
You are an AI assistant connected to a tool server that manages UbiOps services. A user sent you this request:

<request>
{request}
</request>

Your only way to act is the command {ask}:

- `{ask} tools` lists the tools you can call: name, description and input schema.
- `{ask} call TOOL 'JSON'` calls one tool with a JSON object of arguments and prints the result; a first
  line "[error]" means the tool reported an error.
- `{ask} answer 'TEXT'` records your final reply to the user (or pass the text on stdin).

Work as you would in a chat: the user will not reply before your final answer, so do what they asked if you
can, then answer once, saying what you did or why you did not. Make one call at a time. Use only this command:
do not read or change any other file, and do not look for the server's source code.
"""


def agent_prompt(run: RunDir, request: str) -> str:
    """The prompt to give the agent, with this run's paths filled in."""
    return PROMPT.format(request=request.strip(), ask=run.file("ask"))


def ask_script(run: RunDir) -> str:
    """The agent's only entry point: `ask tools`, `ask call TOOL JSON`, `ask answer TEXT`."""
    return (
        "#!/bin/sh\n"
        "# Usage: ask tools | ask call TOOL 'JSON' | ask answer 'TEXT' (or the text on stdin)\n"
        f"PYTHONPATH={shlex.quote(str(REPO))} exec {shlex.quote(sys.executable)} -m evals.cli "
        f'--run {shlex.quote(str(run.path))} "$@"\n'
    )


def prepare(task_id: str, path: Path, server: str | None = None) -> RunDir:
    """The run directory's files: task, seed, settings, empty logs, the ask wrapper and the user's request."""
    task = tasks.get_task(task_id)
    if path.exists() and any(path.iterdir()):
        raise FileExistsError(f"{path} exists and is not empty; each run needs its own directory")
    path.mkdir(parents=True, exist_ok=True)
    run = RunDir(path)
    run.file("task.json").write_text(json.dumps(task, indent=2, ensure_ascii=False) + "\n")
    run.file("seed.json").write_text(json.dumps(tasks.seed(task), indent=2) + "\n")
    for name in ("audit.jsonl", "transcript.jsonl", "events.jsonl"):
        run.file(name).touch()
    config = {"task": task_id, "created": now(), "server": server_command(server), "env": run_env(run, task)}
    run.file("run.json").write_text(json.dumps(config, indent=2) + "\n")
    run.file("run.json").chmod(0o600)
    run.file("task.md").write_text(task["request"] + "\n")
    run.file("prompt.md").write_text(agent_prompt(run, task["request"]))
    ask = run.file("ask")
    ask.write_text(ask_script(run))
    ask.chmod(ask.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return run


async def setup(task_id: str, path: Path, server: str | None = None) -> RunDir:
    """A ready run: its files, then the task's services created through the sandbox API, then a state snapshot."""
    run = prepare(task_id, path, server)
    task = run.task
    async with run.sandbox() as box:
        for service in task["services"]:
            await box.create(*tasks.split_service(service))
        initial = await box.state(list(tasks.projects(task)))
    run.file("initial_state.json").write_text(json.dumps(initial, indent=2) + "\n")
    return run
