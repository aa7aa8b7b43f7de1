"""Scorers, referenced by id from the tasks: strict on the final state, lenient on the answer's wording.

Each takes the Run and the task's `expect` and fills a Judge; `score` adds the figures every run reports.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from .judge import Judge, Run, check_common, check_untouched, config, hedges, new_values

Scorer = Callable[[Judge, Run, dict[str, Any]], None]
SCORERS: dict[str, Scorer] = {}


def scorer(fn: Scorer) -> Scorer:
    """Register a scorer under its function name, the id tasks refer to."""
    SCORERS[fn.__name__] = fn
    return fn


@scorer
def exact_changes(judge: Judge, run: Run, expect: dict[str, Any]) -> None:
    """Exactly these field changes and deletions, and nothing else anywhere."""
    diff, changes, removed = run.diff, expect.get("changes", {}), expect.get("removed", [])
    for key, fields in changes.items():
        got = diff.get(key, {})
        ok = "changed" in got and new_values(got) == fields
        judge.check(ok, f"{key}: expected {fields}, got {got or 'no change'}")
    for key in removed:
        judge.check(diff.get(key) == {"removed": True}, f"{key} should be deleted, but: {diff.get(key, 'still there')}")
    check_untouched(judge, diff, set(changes) | set(removed))


@scorer
def created_service(judge: Judge, run: Run, expect: dict[str, Any]) -> None:
    """One new service with the requested fields (and, when asked, health check and logging exclusion); `sent`:
    fields the create must have carried itself, not left to a default the sandbox happens to share."""
    diff, key = run.diff, expect["service"]
    check_untouched(judge, diff, {key})
    added = diff.get(key, {}).get("added")
    if not judge.check(added is not None, f"{key} was not created"):
        return
    for name, value in expect.get("fields", {}).items():
        judge.check(added.get(name) == value, f"{key}.{name} is {added.get(name)!r}, expected {value!r}")
    if "health_path" in expect:
        health = added.get("health_check") or {}
        judge.check(health.get("path") == expect["health_path"], f"health check is {health or 'not set'}")
    if "logging_excluded" in expect or "paths_excluded" in expect:
        check_paths_regex(judge, added.get("request_logging_excluded_paths"), expect)
    project, name = key.split("/", 1)
    payloads = [
        line.get("payload") or {}
        for line in run.audit
        if (line.get("tool"), line.get("project"), line.get("service"), line.get("outcome"))
        == ("services_create", project, name, "applied")
    ]
    for field, value in expect.get("sent", {}).items():
        ok = any(payload.get(field) == value for payload in payloads)
        judge.check(ok, f"the create did not send {field}={value!r} (left to the API's undocumented default)")


def check_paths_regex(judge: Judge, regex: Any, expect: dict[str, Any]) -> None:
    """The excluded-paths regex (re.search) matches every path to leave out and none to keep."""
    excluded = expect.get("logging_excluded") or expect.get("paths_excluded", [])
    kept = expect.get("logging_kept") or expect.get("paths_kept", [])
    if not judge.check(isinstance(regex, str) and bool(regex), f"request_logging_excluded_paths is {regex!r}"):
        return
    try:
        compiled = re.compile(regex)
    except re.error as error:
        judge.fail(f"request_logging_excluded_paths {regex!r} does not compile: {error}")
        return
    for path in excluded:
        judge.check(compiled.search(path) is not None, f"excluded paths {regex!r} do not match {path}")
    for path in kept:
        judge.check(compiled.search(path) is None, f"excluded paths {regex!r} also match {path}")


@scorer
def renamed(judge: Judge, run: Run, expect: dict[str, Any]) -> None:
    """The new name exists with the old one's whole configuration; the old name is gone."""
    diff, old, new = run.diff, expect["old"], expect["new"]
    check_untouched(judge, diff, {old, new})
    judge.check(diff.get(old) == {"removed": True}, f"{old} still exists")
    added = diff.get(new, {}).get("added")
    if not judge.check(added is not None, f"{new} does not exist"):
        return
    project, name = old.split("/", 1)
    before = config(run.initial[project][name])
    fields = (before.keys() | added.keys()) - {"name"}
    lost = {f: [before.get(f), added.get(f)] for f in sorted(fields) if before.get(f) != added.get(f)}
    judge.check(not lost, f"{new} differs from {old} in {lost}")
    new_project, new_name = new.split("/", 1)
    judge.details["same_id"] = run.final[new_project][new_name]["id"] == run.initial[project][name]["id"]


@scorer
def logging_exclusions(judge: Judge, run: Run, expect: dict[str, Any]) -> None:
    """Extensions listed without dots (any case) and a path regex that leaves out only what was asked."""
    diff, key = run.diff, expect["service"]
    check_untouched(judge, diff, {key})
    changed = new_values(diff.get(key, {}))
    allowed = {"request_logging_excluded_extensions", "request_logging_excluded_paths"}
    judge.check(set(changed) <= allowed, f"{key}: other fields changed: {sorted(set(changed) - allowed)}")
    project, name = key.split("/", 1)
    final = run.final.get(project, {}).get(name, {})
    extensions = [str(e).lower() for e in final.get("request_logging_excluded_extensions") or []]
    for wanted in expect["extensions"]:
        judge.check(wanted in extensions, f"excluded extensions {extensions} lack {wanted!r} (without a dot)")
    check_paths_regex(judge, final.get("request_logging_excluded_paths"), expect)


@scorer
def per_caller_rate_limit(judge: Judge, run: Run, expect: dict[str, Any]) -> None:
    """A per-caller limit: rate_limit_user_default (current API) or rate_limit_token (documented API)."""
    diff, key, limit = run.diff, expect["service"], expect["limit"]
    check_untouched(judge, diff, {key})
    changed = new_values(diff.get(key, {}))
    per_caller = {"rate_limit_user_default", "rate_limit_token"}
    judge.check(set(changed) <= per_caller, f"{key}: fields other than a per-caller limit changed: {changed}")
    used = sorted(f for f in per_caller if changed.get(f) == limit)
    judge.check(bool(used), f"{key}: no per-caller limit of {limit}; changes: {changed or 'none'}")
    wrong = {f: v for f, v in changed.items() if f in per_caller and v != limit}
    judge.check(not wrong, f"{key}: per-caller limit set to another value: {wrong}")
    judge.details["field"] = used


def score(run: Run) -> dict[str, Any]:
    """The task's scorer plus the common checks, and the figures the report aggregates."""
    task = run.task
    judge = Judge()
    SCORERS[task["scorer"]](judge, run, task["expect"])
    check_common(judge, run, task["expect"])
    matched = hedges(run.answer)
    return {
        "task": task["id"],
        "passed": judge.passed,
        "reasons": judge.reasons,
        "calls": len(run.transcript),
        "ideal_calls": task["ideal_calls"],
        "result_chars": sum(entry["result_chars"] for entry in run.transcript),
        "hedge": bool(matched),
        "hedge_matches": matched,
        "details": judge.details,
    }
