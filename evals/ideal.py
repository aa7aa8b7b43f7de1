"""Run a task's scripted ideal transcript through the same code path as an agent's calls."""

from __future__ import annotations

import json
from typing import Any

from .client import Connect, stdio
from .commands import call
from .rundir import RunDir

TOKEN = "$token"


def find_token(value: Any) -> str | None:
    """The first `confirmation_token` anywhere in a result, so bulk and single results both work."""
    if isinstance(value, dict):
        if isinstance(value.get("confirmation_token"), str):
            return value["confirmation_token"]
        value = list(value.values())
    if isinstance(value, list):
        for item in value:
            found = find_token(item)
            if found is not None:
                return found
    return None


def fill(value: Any, token: str | None) -> Any:
    """Replace every "$token" with the latest confirmation_token seen (left as is when there is none)."""
    if value == TOKEN and token is not None:
        return token
    if isinstance(value, dict):
        return {k: fill(v, token) for k, v in value.items()}
    if isinstance(value, list):
        return [fill(v, token) for v in value]
    return value


def parse(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


async def run_ideal(run: RunDir, connect: Connect = stdio) -> None:
    """Every scripted call in order, then the ideal answer."""
    script, token = run.task["ideal"], None
    for step in script["calls"]:
        entry = await call(run, step["tool"], fill(step["arguments"], token), connect)
        token = find_token(parse(entry["result"])) or token
    run.file("answer.md").write_text(script["answer"] + "\n")
