"""Events: what other people do to the sandbox during a run, applied right after a given call returns."""

from __future__ import annotations

import re
from typing import Any

from .rundir import RunDir, append_jsonl, now, read_jsonl
from .sandbox import Sandbox
from .tasks import DEFAULT_PROJECT


def due(trigger: dict[str, Any], transcript: list[dict[str, Any]]) -> bool:
    """True right after the nth call of `tool` (counting only results matching `result_matches`, if given)."""
    pattern = trigger.get("result_matches")
    matching = [
        entry
        for entry in transcript
        if entry["tool"] == trigger["tool"] and (pattern is None or re.search(pattern, entry["result"]))
    ]
    return len(matching) == trigger.get("nth", 1) and bool(transcript) and matching[-1] is transcript[-1]


async def apply_patch(box: Sandbox, patch: dict[str, Any]) -> dict[str, Any]:
    """PATCH the service; `labels_set` merges into the current labels, as the API replaces them all."""
    project, name = patch.get("project", DEFAULT_PROJECT), patch["service"]
    body = dict(patch.get("body", {}))
    if "labels_set" in patch:
        current = await box.get(project, name)
        body["labels"] = {**(current.get("labels") or {}), **patch["labels_set"]}
    return await box.patch(project, name, body)


async def fire_due_events(run: RunDir) -> list[dict[str, Any]]:
    """Apply each event whose moment has come, once; what fired goes to events.jsonl, never to the agent."""
    events = run.task.get("events", [])
    fired = {entry["index"] for entry in read_jsonl(run.file("events.jsonl"))}
    transcript = run.transcript
    todo = [(i, e) for i, e in enumerate(events) if i not in fired and due(e["after"], transcript)]
    done: list[dict[str, Any]] = []
    if not todo:
        return done
    async with run.sandbox() as box:
        for index, event in todo:
            service = await apply_patch(box, event["patch"])
            entry = {"index": index, "time": now(), "after_call": len(transcript), "who": event.get("who", "")}
            append_jsonl(run.file("events.jsonl"), {**entry, "time_updated": service.get("time_updated")})
            done.append(entry)
    return done
