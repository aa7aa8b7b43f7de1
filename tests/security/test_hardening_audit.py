"""Issue 18, items 1 (audit log), 4 (previews file) and 11 (symlinks, permissions): each attack reproduced.

1. A caller's raw arguments cannot forge audit fields, lines are bounded and pure ASCII, and an audit log that
   cannot be written refuses every change (nothing is sent) until a write works again.
4. A previews row that is edited, unsigned, signed with another secret or not JSON costs only the explanation.
11. Neither file is reached through a symbolic link, and both are made 0600 when they exist with wider modes.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from mcp import Client
from mcp.client.session import ClientRequestContext
from mcp.types import CallToolResult, ElicitRequestParams, ElicitResult

from tests.conftest import RecordingTransport, data, session
from tests.tools.test_what_changed import someone_else
from ubiops_services_mcp import audit
from ubiops_services_mcp.app import ServicesServer, create_server
from ubiops_services_mcp.audit import AuditLog
from ubiops_services_mcp.settings import Settings
from ubiops_services_mcp.tools import confirmation

pytestmark = pytest.mark.anyio

WEB = {"name": "web", "deployment": "hello-world", "port": 8080}
FORGED = {"outcome": "applied", "approved_by": "human", "sub": "alice"}


PREVIEW_TABLES = "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE '%previews'"


def audit_text(settings: Settings) -> str:
    return settings.audit_log_path.read_text(encoding="utf-8")


def audit_lines(settings: Settings) -> list[dict[str, Any]]:
    return [json.loads(line) for line in audit_text(settings).splitlines()]


# --- 1. bounded, validated, escaped fields ---------------------------------------------------------


async def test_raw_arguments_cannot_forge_an_applied_line(
    settings: Settings, wire: RecordingTransport, mode: str
) -> None:
    """The issue's line: an object where the service name belongs, and a raw U+202E in the project."""
    async with session(settings, wire, mode) as client:
        args = {"service_name": FORGED, "project_name": "\u202eomed", "confirm": True}
        result = await client.call_tool("services_delete", args)
    assert result.is_error
    assert data(result)["error"]["code"] == "invalid_arguments"
    assert wire.mutations == []
    text = audit_text(settings)
    assert '"outcome":"applied"' not in text  # what a grep for applied changes looks for
    assert '"approved_by":' not in text
    assert '"sub":' not in text
    assert text.isascii()
    assert "\\u202e" in text
    [line] = audit_lines(settings)
    assert (line["outcome"], line["error_code"]) == ("refused", "invalid_arguments")
    assert line["service"] is None
    assert line["malformed"]["service"]["type"] == "object"
    assert json.loads(line["malformed"]["service"]["json"]) == FORGED  # kept for the reader, as text only
    assert line["project"] == "\u202eomed"


async def test_a_project_that_is_not_a_string_is_not_recorded_as_the_default(
    settings: Settings, wire: RecordingTransport
) -> None:
    async with session(settings, wire) as client:
        await client.call_tool("services_create", {"data": WEB, "project_name": {"name": "demo", **FORGED}})
    [line] = audit_lines(settings)
    assert line["project"] is None
    assert line["malformed"]["project"]["type"] == "object"
    assert wire.requests == []


async def test_huge_arguments_give_a_bounded_line(settings: Settings, wire: RecordingTransport) -> None:
    async with session(settings, wire) as client:
        args = {"service_name": "x" * 200_000, "project_name": ["p" * 1000] * 100}
        await client.call_tool("services_delete", args)
    [raw] = audit_text(settings).splitlines()
    assert len(raw) < 2_000
    line = json.loads(raw)
    assert line["service"].startswith("x" * audit.TEXT_MAX + "…[")
    assert line["malformed"]["project"]["type"] == "array"


def test_every_field_is_bounded_and_typed(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.jsonl")
    deep: Any = []
    for _ in range(100_000):
        deep = [deep]
    log.record(tool="services_update", service="s\ud800", project=10**5000, outcome=float("nan"), payload=deep)
    log.record(tool="services_update", service="s", payload={"description": "d" * (audit.PAYLOAD_MAX + 1)})
    log.record(tool="t", client={"name": FORGED, "version": "v" * 10_000}, reason="r" * 5_000)
    log.close()
    raw = (tmp_path / "audit.jsonl").read_text(encoding="ascii").splitlines()
    first, second, third = (json.loads(line) for line in raw)
    assert first["service"] == "s\ud800"  # a lone surrogate once broke the write (UnicodeEncodeError)
    assert (first["project"], first["outcome"], first["payload"]) == (None, None, None)
    assert set(first["malformed"]) == {"project", "outcome", "payload"}
    assert second["payload"] is None
    assert second["payload_omitted"]["characters"] > audit.PAYLOAD_MAX
    assert len(second["payload_omitted"]["sha256"]) == 64
    assert third["client"]["name"] is None
    assert third["malformed"]["client.name"]["type"] == "object"
    assert len(third["client"]["version"]) < audit.TEXT_MAX + 40
    assert 2_000 <= len(third["reason"]) < 2_040
    assert all(len(line) < audit.PAYLOAD_MAX for line in raw)


def test_no_invisible_character_lands_in_the_file(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.jsonl")
    hidden = "\u202e\u200b\ufe0f\U000e0100\u2028\x85\x7f\x00"
    log.record(service=f"web{hidden}", payload={"description": hidden, "labels": {hidden: hidden}})
    log.close()
    raw = (tmp_path / "audit.jsonl").read_bytes()
    assert all(0x20 <= byte < 0x7F for byte in raw[:-1])
    assert raw.endswith(b"\n")
    assert json.loads(raw)["payload"]["labels"] == {hidden: hidden}


# --- 1. a failing audit log fails closed ----------------------------------------------------------


@asynccontextmanager
async def served(
    settings: Settings, wire: RecordingTransport, **client_args: Any
) -> AsyncIterator[tuple[ServicesServer, Client]]:
    server = create_server(settings, wire)
    async with Client(server, mode=client_args.pop("mode", "legacy"), **client_args) as client:
        yield server, client


def break_log(server: ServicesServer, settings: Settings) -> None:
    """The disk fills under the open log (writes fail with ENOSPC), and its path cannot be opened again either."""
    assert server.state is not None
    audit = server.state.audit
    full = os.open("/dev/full", os.O_WRONLY)
    os.dup2(full, audit._fd)  # pyright: ignore[reportPrivateUsage, reportArgumentType]
    os.close(full)
    path = settings.audit_log_path
    path.rename(path.with_name("audit.kept"))
    path.symlink_to(path.with_name("audit.kept"))  # never followed: opening it again fails too


def mend_log(settings: Settings) -> None:
    path = settings.audit_log_path
    path.unlink()
    path.with_name("audit.kept").rename(path)


def error(result: CallToolResult) -> dict[str, Any]:
    assert result.is_error
    return data(result)["error"]


async def test_a_failed_write_refuses_every_change_until_a_write_works(
    settings: Settings, wire: RecordingTransport, caplog: pytest.LogCaptureFixture
) -> None:
    update = {"service_name": "web", "data": {"port": 9090}}
    async with served(settings, wire) as (server, client):
        await client.call_tool("services_create", {"data": WEB})
        break_log(server, settings)
        preview = data(await client.call_tool("services_update", update))  # previews go on: reads only
        assert preview["outcome"] == "preview"
        assert server.state is not None
        assert server.state.audit.failing
        wire.clear()
        token = preview["confirmation_token"]
        refused = [
            error(await client.call_tool("services_update", {**update, "confirm": True, "confirmation_token": token})),
            error(await client.call_tool("services_delete", {"service_name": "web", "confirm": True})),
            error(await client.call_tool("services_create", {"data": {**WEB, "name": "api"}})),
        ]
        assert wire.requests == []  # nothing at all was sent while the log could not be written
        assert {(e["code"], e["retryable"]) for e in refused} == {("audit_unavailable", False)}
        mend_log(settings)
        again = error(await client.call_tool("services_create", {"data": {**WEB, "name": "api"}}))
        assert (again["code"], again["retryable"]) == ("audit_unavailable", True)  # its line was the retry
        assert wire.requests == []
        created = await client.call_tool("services_create", {"data": {**WEB, "name": "api"}})
        assert not created.is_error
    assert [r.line for r in wire.mutations] == ["POST /v2.1/projects/demo/services"]
    lines = audit_lines(settings)
    assert [(line["tool"], line["outcome"], line.get("error_code")) for line in lines] == [
        ("services_create", "applied", None),
        ("services_create", "refused", "audit_unavailable"),
        ("services_create", "applied", None),
    ]
    messages = [r.getMessage() for r in caplog.records if r.name == "ubiops_services_mcp.audit"]
    assert any("cannot be written" in m and "changes are refused" in m for m in messages)
    assert any("audit line not written" in m and '"outcome":"preview"' in m for m in messages)  # kept on stderr
    assert any("can be written again" in m for m in messages)


async def test_a_log_that_fails_while_the_human_answers_stops_the_change(
    settings: Settings, wire: RecordingTransport
) -> None:
    holder: list[ServicesServer] = []

    async def accept_while_the_disk_fills(context: ClientRequestContext, params: ElicitRequestParams) -> ElicitResult:
        break_log(holder[0], settings)
        assert holder[0].state is not None
        holder[0].state.audit.record(tool="services_update", outcome="preview")  # another call's line fails
        return ElicitResult(action="accept", content={"approve": True})

    update = {"service_name": "web", "data": {"port": 9090}}
    async with served(settings, wire, elicitation_callback=accept_while_the_disk_fills) as (server, client):
        holder.append(server)
        await client.call_tool("services_create", {"data": WEB})
        token = data(await client.call_tool("services_update", update))["confirmation_token"]
        wire.clear()
        result = await client.call_tool("services_update", {**update, "confirm": True, "confirmation_token": token})
    assert error(result)["code"] == "audit_unavailable"
    assert wire.mutations == []


# --- 4. the previews file is authenticated -----------------------------------------------------------


def previews_path(settings: Settings) -> Path:
    return settings.audit_log_path.parent / "previews.sqlite3"


def edit_rows(settings: Settings, column: str, value: object) -> int:
    """What an attacker with write access to the file does, in whichever table holds the previews."""
    db = sqlite3.connect(previews_path(settings))
    try:
        tables = [row[0] for row in db.execute(PREVIEW_TABLES)]
        edited = 0
        for table in tables:
            columns = [row[1] for row in db.execute(f"PRAGMA table_info({table})")]
            if "services" in columns and column in columns:
                edited += db.execute(f"UPDATE {table} SET {column} = ?", (value,)).rowcount
        db.commit()
        return edited
    finally:
        db.close()


def row_services(settings: Settings) -> dict[str, Any]:
    db = sqlite3.connect(previews_path(settings))
    try:
        tables = [row[0] for row in db.execute(PREVIEW_TABLES)]
        [found] = [row for table in tables for row in db.execute(f"SELECT services FROM {table}")]
        return json.loads(found[0])
    finally:
        db.close()


async def stale_confirm(settings: Settings, wire: RecordingTransport, tamper: Any) -> dict[str, Any]:
    """Preview a port change; someone turns authentication off; `tamper` edits the file; then confirm."""
    update = {"service_name": "web", "data": {"port": 9090}}
    async with session(settings, wire) as client:
        await client.call_tool("services_create", {"data": WEB})
        token = data(await client.call_tool("services_update", update))["confirmation_token"]
        await someone_else(wire, "PATCH", "web", {"authentication_required": False})
        tamper()
        wire.clear()
        result = await client.call_tool("services_update", {**update, "confirm": True, "confirmation_token": token})
    assert wire.mutations == []
    return data(result)


def cannot_be_listed(result: dict[str, Any]) -> None:
    assert result["outcome"] == "refused"
    assert "cannot be listed" in result["message"]
    assert "changed_since_preview" not in result
    assert "do not touch" not in result["message"]


async def test_untampered_previews_still_name_the_change(settings: Settings, wire: RecordingTransport) -> None:
    result = await stale_confirm(settings, wire, lambda: None)
    assert result["changed_since_preview"] == [{"field": "authentication_required", "at_preview": True, "now": False}]


async def test_an_edited_row_cannot_hide_what_changed(settings: Settings, wire: RecordingTransport) -> None:
    """The issue's first attack: the row rewritten to show authentication already off, so nothing seems changed."""

    def hide_the_change() -> None:
        services = row_services(settings)
        services["web"]["authentication_required"] = False
        assert edit_rows(settings, "services", json.dumps(services)) == 1

    cannot_be_listed(await stale_confirm(settings, wire, hide_the_change))


async def test_a_row_that_is_not_json_costs_only_the_explanation(settings: Settings, wire: RecordingTransport) -> None:
    """The issue's second attack: once `outcome_unknown` ("may or may not have been applied") for a refusal."""
    cannot_be_listed(await stale_confirm(settings, wire, lambda: edit_rows(settings, "services", "{not json")))


async def test_an_unsigned_row_is_not_trusted(settings: Settings, wire: RecordingTransport) -> None:
    cannot_be_listed(await stale_confirm(settings, wire, lambda: edit_rows(settings, "mac", None)))


async def test_a_row_signed_with_another_secret_is_not_trusted(settings: Settings, wire: RecordingTransport) -> None:
    """A server with another secret (or someone who guessed the scheme but not the key) signs the edited row."""
    other = confirmation.PreviewMemory(key=b"k" * 32)

    def sign_with_another_key() -> None:
        services = row_services(settings)
        services["web"]["authentication_required"] = False
        shown = json.dumps(services, separators=(",", ":"))
        db = sqlite3.connect(previews_path(settings))
        try:
            table = confirmation._TABLE  # pyright: ignore[reportPrivateUsage]
            [(key, expires)] = db.execute(f"SELECT token, expires FROM {table}").fetchall()
            mac = other._mac(key, expires, shown)  # pyright: ignore[reportPrivateUsage]
            db.execute(f"UPDATE {table} SET services = ?, mac = ?", (shown, mac))
            db.commit()
        finally:
            db.close()

    try:
        cannot_be_listed(await stale_confirm(settings, wire, sign_with_another_key))
    finally:
        other.close()


# --- 11. symbolic links and permissions ---------------------------------------------------------------


async def test_an_audit_log_symlink_is_not_followed_and_changes_are_refused(
    settings: Settings, wire: RecordingTransport, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    target = tmp_path / "elsewhere.txt"
    target.write_text("someone else's file\n")
    settings.audit_log_path.symlink_to(target)
    with caplog.at_level(logging.ERROR, "ubiops_services_mcp.audit"):
        async with session(settings, wire) as client:
            assert any("symbolic link" in r.getMessage() for r in caplog.records), "reported at start"
            result = await client.call_tool("services_create", {"data": WEB})
    assert error(result)["code"] == "audit_unavailable"
    assert wire.requests == []
    assert target.read_text() == "someone else's file\n"
    assert settings.audit_log_path.is_symlink()


async def test_an_existing_audit_log_with_wide_permissions_is_made_private(
    settings: Settings, wire: RecordingTransport
) -> None:
    path = settings.audit_log_path
    path.write_text("")
    path.chmod(0o644)
    async with session(settings, wire) as client:
        await client.call_tool("services_create", {"data": WEB})
    assert path.stat().st_mode & 0o777 == 0o600
    assert [line["outcome"] for line in audit_lines(settings)] == ["applied"]


async def test_a_previews_symlink_is_not_followed(
    settings: Settings, wire: RecordingTransport, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    target = tmp_path / "elsewhere.db"
    target.write_bytes(b"")
    target.chmod(0o644)
    previews = previews_path(settings)
    previews.parent.mkdir(parents=True, exist_ok=True)
    previews.symlink_to(target)
    result = await stale_confirm(settings, wire, lambda: None)
    assert result["changed_since_preview"]  # this process remembers in memory
    assert target.read_bytes() == b""
    assert target.stat().st_mode & 0o777 == 0o644
    assert any("symbolic link" in r.getMessage() for r in caplog.records)


async def test_a_previews_journal_symlink_is_not_followed(settings: Settings, tmp_path: Path) -> None:
    target = tmp_path / "elsewhere.journal"
    previews = previews_path(settings)
    previews.parent.mkdir(parents=True, exist_ok=True)
    previews.with_name("previews.sqlite3-journal").symlink_to(target)
    memory = confirmation.PreviewMemory(previews)
    memory.remember("t", {"web": {"port": 1}})
    memory.close()
    assert not target.exists()
    assert not previews.exists() or previews.stat().st_size == 0


async def test_an_existing_previews_file_with_wide_permissions_is_made_private(
    settings: Settings, wire: RecordingTransport
) -> None:
    previews = previews_path(settings)
    previews.parent.mkdir(parents=True, exist_ok=True)
    sqlite3.connect(previews).close()
    previews.chmod(0o644)
    await stale_confirm(settings, wire, lambda: None)
    assert previews.stat().st_mode & 0o777 == 0o600


# --- issue 19, item 3: no connection is left open ----------------------------------------------------


def test_a_connection_whose_table_cannot_be_made_is_closed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    closed: list[str] = []

    class Broken(sqlite3.Connection):
        def execute(self, *args: Any, **kwargs: Any) -> sqlite3.Cursor:
            raise sqlite3.DatabaseError("file is not a database")

        def close(self) -> None:
            closed.append("closed")
            super().close()

    real = sqlite3.connect
    monkeypatch.setattr(confirmation.sqlite3, "connect", lambda *a, **k: real(*a, **{**k, "factory": Broken}))
    with pytest.raises(sqlite3.DatabaseError):
        confirmation.PreviewMemory(tmp_path / "previews.sqlite3")  # the file, then memory: both fail here
    assert closed == ["closed", "closed"]
