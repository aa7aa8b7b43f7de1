"""The sandbox's deployments and versions: read-only, from the seed, in the shape the current API returns them.

The seed's extra facts (description, status, instance bounds, ...) live in their own tables, so a database made
by an older sandbox gains them on its next start (the seed is applied on every start, INSERT OR IGNORE).
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .store import SeedDeployment, SeedVersion

SCHEMA = """
CREATE TABLE IF NOT EXISTS deployment_info (
    project TEXT NOT NULL, name TEXT NOT NULL, body TEXT NOT NULL, PRIMARY KEY (project, name));
CREATE TABLE IF NOT EXISTS version_info (id TEXT PRIMARY KEY, body TEXT NOT NULL);
"""
# Seeded things did not change since the sandbox was made: one fixed moment for all of them.
SEEDED_AT = "2025-01-06T09:00:00.000000Z"


class Missing(Exception):
    """A deployment or version the request names does not exist (HTTP 404)."""


def seed_deployment(db: sqlite3.Connection, project: str, dep: SeedDeployment) -> None:
    """Store what the API says of a seeded deployment and its versions, beyond their names."""
    body = {"description": dep.description, "labels": dep.labels}
    db.execute("INSERT OR IGNORE INTO deployment_info VALUES (?, ?, ?)", (project, dep.name, json.dumps(body)))
    rows = [(v.id, json.dumps(_version_facts(v))) for v in dep.versions]
    db.executemany("INSERT OR IGNORE INTO version_info VALUES (?, ?)", rows)


def _version_facts(version: SeedVersion) -> dict[str, Any]:
    return version.model_dump(exclude={"id", "version"})


def deployments(db: sqlite3.Connection, project: str) -> list[dict[str, Any]]:
    """Every deployment of the project, by name; the list endpoint has no default_version."""
    rows = db.execute("SELECT name FROM deployments WHERE project = ? ORDER BY name", (project,))
    return [_deployment(db, project, row["name"]) for row in rows.fetchall()]


def deployment(db: sqlite3.Connection, project: str, name: str) -> dict[str, Any]:
    """One deployment with its default_version."""
    body = _deployment(db, project, name)
    body["default_version"] = _default(db, project, name)
    return body


def versions(db: sqlite3.Connection, project: str, name: str) -> list[dict[str, Any]]:
    """A deployment's versions, by name, each saying whether it is the default."""
    default = _default(db, project, name)
    rows = db.execute(
        "SELECT v.id, v.version, i.body FROM versions v LEFT JOIN version_info i ON i.id = v.id"
        " WHERE v.project = ? AND v.deployment = ? ORDER BY v.version",
        (project, name),
    )
    return [_version(row, name, default) for row in rows.fetchall()]


def version(db: sqlite3.Connection, project: str, name: str, version_name: str) -> dict[str, Any]:
    found = [item for item in versions(db, project, name) if item["version"] == version_name]
    if not found:
        raise Missing("Version not found")
    return found[0]


def _default(db: sqlite3.Connection, project: str, name: str) -> str:
    row = db.execute("SELECT default_version FROM deployments WHERE project = ? AND name = ?", (project, name))
    found = row.fetchone()
    if found is None:
        raise Missing("Deployment not found")
    return str(found["default_version"])


def _deployment(db: sqlite3.Connection, project: str, name: str) -> dict[str, Any]:
    row = db.execute("SELECT body FROM deployment_info WHERE project = ? AND name = ?", (project, name)).fetchone()
    info: dict[str, Any] = json.loads(row["body"]) if row is not None else {}
    return {
        "id": _id(project, name),
        "name": name,
        "project": project,
        "description": info.get("description", ""),
        "input_type": "plain",
        "output_type": "plain",
        "input_fields": [],
        "output_fields": [],
        "labels": info.get("labels", {}),
        "supports_request_format": True,
        "creation_date": SEEDED_AT,
        "last_updated": SEEDED_AT,
    }


def _version(row: sqlite3.Row, deployment_name: str, default: str) -> dict[str, Any]:
    """The seeded facts (description, status, bounds, ports, ...) and what every sandbox version shares."""
    return {
        "id": row["id"],
        "deployment": deployment_name,
        "version": row["version"],
        "default": row["version"] == default,
        "environment_name": "python3-12",
        "creation_date": SEEDED_AT,
        "last_updated": SEEDED_AT,
        "request_retention_time": 604800,
        "request_retention_mode": "full",
        "maximum_queue_size": 100000,
        "restart_request_interruption": False,
        "scaling_strategy": "default",
        "instance_processes": 1,
        **(json.loads(row["body"]) if row["body"] is not None else {}),
    }


def _id(project: str, name: str) -> str:
    """A stable id per deployment: the sandbox stores none."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"ubiops-sandbox:{project}/{name}"))
