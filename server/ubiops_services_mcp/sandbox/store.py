"""SQLite storage of the sandbox: projects, deployments, versions and services, safe across threads.

A seed file names what exists before any service does. Its shape (the keys shown are required; a deployment
may add description and labels, a version the facts of SeedVersion: status, instance bounds, ...)::

    {"projects": [{"name": "demo", "deployments": [
        {"name": "hello-world", "default_version": "v1",
         "versions": [{"id": "<uuid>", "version": "v1"}, {"id": "<uuid>", "version": "v2"}]}]}]}
"""

from __future__ import annotations

import json
import sqlite3
import threading
import uuid
from collections.abc import Callable, Generator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from . import catalog

T = TypeVar("T")
DEFAULT_SEED = Path(__file__).with_name("seed.json")
TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"

# Stored in the JSON column, with the default a new service gets; the rest are real columns.
OPTIONAL_DEFAULTS: dict[str, Any] = {
    "description": "",
    "authentication_method_token_enabled": True,
    "request_logging_excluded_paths": None,
    "request_logging_excluded_extensions": [],
    "health_check": None,
    "rate_limit_token": None,
    "rate_limit": None,
    "rate_limit_user_default": None,
    "concurrency_limit": None,
    "concurrency_limit_user_default": None,
    "authentication_header_pass_through": False,
}
SUMMARY_COLUMNS = ("id", "name", "deployment", "version", "port", "time_created", "time_updated")
LIST_COLUMNS = ", ".join(f"s.{column}" for column in (*SUMMARY_COLUMNS, "labels", "auth"))

SCHEMA = """
CREATE TABLE IF NOT EXISTS projects (name TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS deployments (
    project TEXT NOT NULL REFERENCES projects(name), name TEXT NOT NULL, default_version TEXT NOT NULL,
    PRIMARY KEY (project, name));
CREATE TABLE IF NOT EXISTS versions (
    id TEXT PRIMARY KEY, project TEXT NOT NULL, deployment TEXT NOT NULL, version TEXT NOT NULL,
    UNIQUE (project, deployment, version));
CREATE TABLE IF NOT EXISTS services (
    id TEXT PRIMARY KEY, project TEXT NOT NULL, name TEXT NOT NULL, deployment TEXT NOT NULL,
    version TEXT, port INTEGER NOT NULL, time_created TEXT NOT NULL, time_updated TEXT NOT NULL,
    labels TEXT NOT NULL, auth INTEGER NOT NULL, extra TEXT NOT NULL, UNIQUE (project, name));
CREATE INDEX IF NOT EXISTS services_version ON services (project, deployment, version);
CREATE TABLE IF NOT EXISTS service_labels (
    service_id TEXT NOT NULL REFERENCES services(id) ON DELETE CASCADE, project TEXT NOT NULL,
    key TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (service_id, key));
CREATE INDEX IF NOT EXISTS service_labels_filter ON service_labels (project, key, value, service_id);
"""


class NotFound(Exception):
    """Something the request names does not exist (HTTP 404)."""


class Conflict(Exception):
    """The request would break a uniqueness rule (HTTP 409)."""


class _SeedModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SeedPort(_SeedModel):
    public_port: int
    deployment_port: int
    protocol: str = "tcp"


class SeedVersion(_SeedModel):
    """One deployment version: its fixed id and name, and what the API says of it (plausible defaults)."""

    id: str
    version: str
    description: str = ""
    status: str = "available"
    minimum_instances: int = 0
    maximum_instances: int = 1
    maximum_idle_time: int = 300
    instance_type_group_name: str = "512 MB + 0.125 vCPU"
    ports: list[SeedPort] = Field(default_factory=list[SeedPort])
    labels: dict[str, str] = Field(default_factory=dict[str, str])


class SeedDeployment(_SeedModel):
    """A deployment, its versions and which one is the default."""

    name: str
    default_version: str
    versions: list[SeedVersion]
    description: str = ""
    labels: dict[str, str] = Field(default_factory=dict[str, str])


class SeedProject(_SeedModel):
    """A project and its deployments."""

    name: str
    deployments: list[SeedDeployment]


class Seed(_SeedModel):
    """What exists before the first request; see the module docstring for the JSON shape."""

    projects: list[SeedProject]


def load_seed(path: Path | None = None) -> Seed:
    """Read a seed file, the shipped one by default, so a bad file fails at start and not mid-request."""
    return Seed.model_validate_json((path or DEFAULT_SEED).read_bytes())


def _now() -> datetime:
    return datetime.now(UTC)


def _format(moment: datetime) -> str:
    return moment.strftime(TIME_FORMAT)


def _later_than(previous: str) -> str:
    """Now, or a microsecond after `previous` if the clock has not moved past it: strictly increasing."""
    floor = datetime.strptime(previous, TIME_FORMAT).replace(tzinfo=UTC) + timedelta(microseconds=1)
    return _format(max(_now(), floor))


def _summary(row: sqlite3.Row) -> dict[str, Any]:
    body: dict[str, Any] = {key: row[key] for key in SUMMARY_COLUMNS}
    body["labels"] = json.loads(row["labels"])
    body["authentication_required"] = bool(row["auth"])
    return body


def _detail(row: sqlite3.Row) -> dict[str, Any]:
    body = _summary(row)
    body.update(json.loads(row["extra"]))
    body["endpoint"] = f"https://{row['id']}.services.sandbox.invalid"
    return body


def _list_query(project: str, labels: Sequence[tuple[str, str]], version_ids: Sequence[str]) -> tuple[str, list[str]]:
    """The list SQL: a version filter resolves a null version to the deployment's default."""
    sql, where, params = f"SELECT {LIST_COLUMNS} FROM services s", ["s.project = ?"], [project]
    if version_ids:
        sql += (
            " JOIN deployments d ON d.project = s.project AND d.name = s.deployment"
            " JOIN versions v ON v.project = s.project AND v.deployment = s.deployment"
            " AND v.version = COALESCE(s.version, d.default_version)"
        )
        where.append(f"v.id IN ({', '.join('?' * len(version_ids))})")
        params += version_ids
    if labels:
        pairs = " OR ".join("(l.key = ? AND l.value = ?)" for _ in labels)
        where.append(f"s.id IN (SELECT l.service_id FROM service_labels l WHERE l.project = ? AND ({pairs}))")
        params += [project, *(item for pair in labels for item in pair)]
    return f"{sql} WHERE {' AND '.join(where)} ORDER BY s.name", params


class Store:
    """One sqlite3 connection behind a lock: the sandbox is small, so serialising is simple and fast."""

    def __init__(self, db_path: str, seed: Seed) -> None:
        if db_path != ":memory:" and not db_path.startswith("file:"):
            Path(db_path).parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(db_path, check_same_thread=False, isolation_level=None)
        self._conn.row_factory = sqlite3.Row
        self._conn.execute("PRAGMA foreign_keys = ON")
        self._conn.execute("PRAGMA busy_timeout = 5000")
        if db_path != ":memory:":
            self._conn.execute("PRAGMA journal_mode = WAL")
        self._conn.executescript(SCHEMA + catalog.SCHEMA)
        self._seed(seed)

    def close(self) -> None:
        """Release the database file; safe to call twice."""
        with self._lock:
            self._conn.close()

    @contextmanager
    def _tx(self, *, write: bool = False) -> Generator[sqlite3.Connection]:
        """One transaction under the lock, so a read-check-write sequence is atomic."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            try:
                yield self._conn
            except BaseException:
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def _seed(self, seed: Seed) -> None:
        with self._tx(write=True) as db:
            for project in seed.projects:
                db.execute("INSERT OR IGNORE INTO projects VALUES (?)", (project.name,))
                for dep in project.deployments:
                    db.execute(
                        "INSERT OR IGNORE INTO deployments VALUES (?, ?, ?)",
                        (project.name, dep.name, dep.default_version),
                    )
                    db.executemany(
                        "INSERT OR IGNORE INTO versions VALUES (?, ?, ?, ?)",
                        [(v.id, project.name, dep.name, v.version) for v in dep.versions],
                    )
                    catalog.seed_deployment(db, project.name, dep)

    # -- checks shared by the operations ------------------------------------------------------------

    @staticmethod
    def _project(db: sqlite3.Connection, project: str) -> None:
        if db.execute("SELECT 1 FROM projects WHERE name = ?", (project,)).fetchone() is None:
            raise NotFound("Project not found")

    @staticmethod
    def _target(db: sqlite3.Connection, project: str, deployment: str, version: str | None) -> None:
        """Refuse a service that points at a deployment or version that does not exist."""
        found = db.execute("SELECT 1 FROM deployments WHERE project = ? AND name = ?", (project, deployment))
        if found.fetchone() is None:
            raise NotFound("Deployment not found")
        query = "SELECT 1 FROM versions WHERE project = ? AND deployment = ? AND version = ?"
        if version is not None and db.execute(query, (project, deployment, version)).fetchone() is None:
            raise NotFound("Version not found")

    @staticmethod
    def _name_free(db: sqlite3.Connection, project: str, name: str) -> None:
        if db.execute("SELECT 1 FROM services WHERE project = ? AND name = ?", (project, name)).fetchone():
            raise Conflict(f"A service with name '{name}' already exists in this project")

    @staticmethod
    def _row(db: sqlite3.Connection, project: str, name: str) -> sqlite3.Row:
        found = db.execute("SELECT * FROM services WHERE project = ? AND name = ?", (project, name)).fetchone()
        if found is None:
            raise NotFound("Service not found")
        return found

    @staticmethod
    def _set_labels(db: sqlite3.Connection, project: str, service_id: str, labels: dict[str, str]) -> None:
        db.execute("DELETE FROM service_labels WHERE service_id = ?", (service_id,))
        rows = [(service_id, project, key, value) for key, value in labels.items()]
        db.executemany("INSERT INTO service_labels VALUES (?, ?, ?, ?)", rows)

    # -- operations -----------------------------------------------------------------------------------

    def require_project(self, project: str) -> None:
        """Fail with 404 before a body is read, as the API checks the path first."""
        with self._tx() as db:
            self._project(db, project)

    def create(self, project: str, fields: dict[str, Any]) -> dict[str, Any]:
        """Insert a service from validated create fields; defaults fill what was left out."""
        service_id, stamp = str(uuid.uuid4()), _format(_now())
        labels: dict[str, str] = fields.get("labels", {})
        extra = {key: fields.get(key, default) for key, default in OPTIONAL_DEFAULTS.items()}
        with self._tx(write=True) as db:
            self._project(db, project)
            self._target(db, project, fields["deployment"], fields.get("version"))
            self._name_free(db, project, fields["name"])
            db.execute(
                "INSERT INTO services VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (service_id, project, fields["name"], fields["deployment"], fields.get("version"),
                 fields["port"], stamp, stamp, json.dumps(labels),
                 int(fields.get("authentication_required", True)), json.dumps(extra)),
            )  # fmt: skip
            self._set_labels(db, project, service_id, labels)
            return _detail(self._row(db, project, fields["name"]))

    def get(self, project: str, name: str) -> dict[str, Any]:
        """One service in full."""
        with self._tx() as db:
            self._project(db, project)
            return _detail(self._row(db, project, name))

    def update(self, project: str, name: str, changes: dict[str, Any]) -> dict[str, Any]:
        """Apply only the given fields; time_updated always moves forward."""
        with self._tx(write=True) as db:
            self._project(db, project)
            current = _detail(self._row(db, project, name))
            merged = {**current, **changes}
            if merged["deployment"] != current["deployment"] or "version" in changes:
                self._target(db, project, merged["deployment"], merged["version"])
            if merged["name"] != name:
                self._name_free(db, project, merged["name"])
            extra = {key: merged[key] for key in OPTIONAL_DEFAULTS}
            db.execute(
                "UPDATE services SET name = ?, deployment = ?, version = ?, port = ?, time_updated = ?,"
                " labels = ?, auth = ?, extra = ? WHERE id = ?",
                (merged["name"], merged["deployment"], merged["version"], merged["port"],
                 _later_than(current["time_updated"]), json.dumps(merged["labels"]),
                 int(merged["authentication_required"]), json.dumps(extra), current["id"]),
            )  # fmt: skip
            if "labels" in changes:
                self._set_labels(db, project, current["id"], merged["labels"])
            return _detail(self._row(db, project, merged["name"]))

    def delete(self, project: str, name: str) -> None:
        """Remove a service and its labels."""
        with self._tx(write=True) as db:
            self._project(db, project)
            db.execute("DELETE FROM services WHERE id = ?", (self._row(db, project, name)["id"],))

    def list_services(
        self, project: str, labels: Sequence[tuple[str, str]] = (), version_ids: Sequence[str] = ()
    ) -> list[dict[str, Any]]:
        """Services ordered by name: any of `labels` (OR), and in one of `version_ids`, when given."""
        sql, params = _list_query(project, labels, version_ids)
        with self._tx() as db:
            self._project(db, project)
            return [_summary(row) for row in db.execute(sql, params)]

    def deployments(self, project: str) -> list[dict[str, Any]]:
        """The project's deployments (without default_version, as the list endpoint)."""
        with self._tx() as db:
            self._project(db, project)
            return catalog.deployments(db, project)

    def deployment(self, project: str, deployment: str) -> dict[str, Any]:
        with self._tx() as db:
            self._project(db, project)
            return self._found(catalog.deployment, db, project, deployment)

    def versions(self, project: str, deployment: str) -> list[dict[str, Any]]:
        """The versions of a deployment: which is the default, status, instance bounds, and the ids the list
        filter takes."""
        with self._tx() as db:
            self._project(db, project)
            return self._found(catalog.versions, db, project, deployment)

    def version(self, project: str, deployment: str, version: str) -> dict[str, Any]:
        with self._tx() as db:
            self._project(db, project)
            return self._found(catalog.version, db, project, deployment, version)

    @staticmethod
    def _found(read: Callable[..., T], *args: Any) -> T:
        try:
            return read(*args)
        except catalog.Missing as missing:
            raise NotFound(str(missing)) from None
