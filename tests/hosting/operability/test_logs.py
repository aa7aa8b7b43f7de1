"""JSON logs on stderr (one object per line, never a secret) and the audit log on stdout for log collectors."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from ubiops_services_mcp.audit import AuditLog
from ubiops_services_mcp.hosting import logs, serve
from ubiops_services_mcp.options import from_env
from ubiops_services_mcp.settings import Settings, SettingsError

SECRET_TOKEN = "api-token-that-must-never-show-0123456789"


@pytest.fixture
def root_logging() -> Iterator[None]:
    """Whatever a test does to the root logger is undone afterwards; uvicorn's loggers start as the server leaves
    them with --log-format json (an in-process uvicorn of an earlier test gives them handlers of their own)."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    servers = [logging.getLogger(name) for name in ("uvicorn", "uvicorn.error")]
    saved = [(logger.handlers[:], logger.propagate, logger.level) for logger in servers]
    for logger in servers:
        logger.handlers[:], logger.propagate = [], True
        logger.setLevel(logging.NOTSET)
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    for logger, (kept, propagate, kept_level) in zip(servers, saved, strict=True):
        logger.handlers[:], logger.propagate = kept, propagate
        logger.setLevel(kept_level)


def record(message: str, *args: object, exc: bool = False) -> logging.LogRecord:
    exc_info = None
    if exc:
        try:
            raise ValueError(f"bad\nvalue {SECRET_TOKEN}")
        except ValueError:
            exc_info = sys.exc_info()
    return logging.LogRecord("ubiops_services_mcp.x", logging.ERROR, __file__, 1, message, args, exc_info)


def test_one_json_object_per_line_with_the_fields() -> None:
    line = logs.JsonFormatter().format(record("two\nlines %s", "here"))
    assert "\n" not in line
    entry = json.loads(line)
    assert set(entry) == {"time", "level", "logger", "message"}
    assert (entry["level"], entry["logger"], entry["message"]) == ("error", "ubiops_services_mcp.x", "two\nlines here")
    assert entry["time"].endswith("Z")


def test_secrets_are_redacted_in_messages_and_tracebacks() -> None:
    settings = Settings(api_token=SecretStr(f"Token {SECRET_TOKEN}"))
    formatter = logs.JsonFormatter(logs.secrets_of(settings))
    line = formatter.format(record("calling with %s", SECRET_TOKEN, exc=True))
    assert SECRET_TOKEN not in line
    entry = json.loads(line)
    assert entry["message"] == f"calling with {logs.REDACTED}"
    assert "ValueError" in entry["exception"]


@pytest.mark.usefixtures("root_logging")
def test_configure_json_puts_every_logger_on_json(capsys: pytest.CaptureFixture[str]) -> None:
    settings = Settings(log_format="json", secret=SecretStr("s" * 40))
    logs.configure(settings)
    logging.getLogger("uvicorn.error").warning("port %d busy", 80)
    logs.notice(settings, "SANDBOX mode")
    lines = capsys.readouterr().err.splitlines()
    assert [json.loads(line)["message"] for line in lines] == ["port 80 busy", "SANDBOX mode"]


def test_text_notices_stay_plain(capsys: pytest.CaptureFixture[str]) -> None:
    logs.notice(Settings(), "hello")
    assert capsys.readouterr().err == "ubiops-services-mcp: hello\n"


def test_log_format_setting() -> None:
    assert from_env({"UBIOPS_MCP_LOG_FORMAT": "json"}).log_format == "json"
    assert from_env({}).log_format == "text"
    with pytest.raises(SettingsError, match="UBIOPS_MCP_LOG_FORMAT must be 'text' or 'json'"):
        from_env({"UBIOPS_MCP_LOG_FORMAT": "xml"})


def test_audit_dash_means_stdout(capfd: pytest.CaptureFixture[str]) -> None:
    settings = from_env({"UBIOPS_MCP_AUDIT_LOG": "-"})
    assert settings.audit_to_stdout
    log = AuditLog(settings.audit_log_path)
    log.record(tool="services_delete", outcome="preview")
    log.close()
    log.record(tool="services_delete", outcome="applied")  # stdout is never closed by the log
    lines = capfd.readouterr().out.splitlines()
    assert [json.loads(line)["outcome"] for line in lines] == ["preview", "applied"]
    assert not Path("-").exists()


def test_audit_on_stdout_is_refused_on_stdio(capsys: pytest.CaptureFixture[str]) -> None:
    settings = Settings(transport="stdio", audit_log=Path("-"), sandbox=True, sandbox_db=":memory:")
    assert serve.run(settings) == 2
    err = capsys.readouterr().err
    assert "UBIOPS_MCP_AUDIT_LOG=- (stdout) works only with --transport http" in err
