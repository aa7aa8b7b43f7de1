"""The tasks, read from evals/tasks/*.json, and the sandbox seed each one needs."""

from __future__ import annotations

import json
import uuid
from functools import cache
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
TASKS_DIR = HERE / "tasks"
WORLD = HERE / "world.json"
DEFAULT_PROJECT = "demo"
REQUIRED = ("id", "request", "services", "ideal_calls", "scorer", "expect", "ideal")

Task = dict[str, Any]


@cache
def all_tasks() -> dict[str, Task]:
    """Every task by id, in file order; a malformed file fails loudly rather than silently dropping a task."""
    tasks: dict[str, Task] = {}
    for path in sorted(TASKS_DIR.glob("*.json")):
        task = json.loads(path.read_text())
        missing = [key for key in REQUIRED if key not in task]
        if missing:
            raise ValueError(f"{path.name}: missing {', '.join(missing)}")
        if task["id"] in tasks:
            raise ValueError(f"{path.name}: duplicate task id {task['id']!r}")
        tasks[task["id"]] = task
    return tasks


def get_task(task_id: str) -> Task:
    """One task; the error lists the known ids so a typo is easy to fix."""
    tasks = all_tasks()
    if task_id not in tasks:
        raise KeyError(f"unknown task {task_id!r}; known: {', '.join(tasks)}")
    return tasks[task_id]


def projects(task: Task) -> dict[str, Any]:
    """The task's projects and deployments: its own `projects`, else the shared world."""
    return task.get("projects") or json.loads(WORLD.read_text())


def version_id(project: str, deployment: str, version: str) -> str:
    """A stable id per version, so runs of the same task see the same ids."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"ubiops-eval:{project}/{deployment}/{version}"))


def seed(task: Task) -> dict[str, Any]:
    """The sandbox seed file (store.py's format) for the task's projects."""
    return {
        "projects": [
            {
                "name": project,
                "deployments": [
                    {
                        "name": name,
                        "default_version": dep["default"],
                        "versions": [_version(project, name, v) for v in dep["versions"]],
                    }
                    for name, dep in deployments.items()
                ],
            }
            for project, deployments in projects(task).items()
        ]
    }


def _version(project: str, deployment: str, given: str | dict[str, Any]) -> dict[str, Any]:
    """A seed version from the world's name, or its object of facts (status, instance bounds, ...)."""
    facts = {"version": given} if isinstance(given, str) else dict(given)
    return {"id": version_id(project, deployment, facts["version"]), **facts}


def service_key(project: str, name: str) -> str:
    """How scorers and expectations name a service: 'project/name'."""
    return f"{project}/{name}"


def split_service(service: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """A seeded service's project and its create body."""
    body = {k: v for k, v in service.items() if k != "project"}
    return service.get("project", DEFAULT_PROJECT), body
