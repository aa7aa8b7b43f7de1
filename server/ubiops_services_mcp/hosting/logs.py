"""Logs on stderr as text (the SDK's default) or, with `--log-format json`, one JSON object per line for a
log collector: time, level, logger, message (and the exception, when there is one). Never a secret: every
configured secret is replaced by `[redacted]` in whatever a line would hold."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Final

from pydantic import SecretStr

from ..settings import Settings

REDACTED: Final = "[redacted]"
NOTICES: Final = "ubiops_services_mcp.serve"


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line (json.dumps escapes every line break)."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self._secrets = sorted({s for s in secrets if len(s) >= 8}, key=len, reverse=True)

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": self._clean(record.getMessage()),
        }
        if record.exc_info:
            entry["exception"] = self._clean(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=True, default=str)

    def _clean(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, REDACTED)
        return text


def secrets_of(settings: Settings) -> list[str]:
    """Every secret the settings hold, as text: the API token (also without its scheme), the keys."""
    found: list[str] = []
    for value in (settings.api_token, settings.secret, settings.auth_token, settings.metrics_token):
        if isinstance(value, SecretStr):
            raw = value.get_secret_value().strip()
            found += [raw, raw.partition(" ")[2]] if " " in raw else [raw]
    return found


def configure(settings: Settings) -> None:
    """JSON lines on stderr for every logger when asked (before the SDK sets up its own: it then keeps ours);
    text (the SDK's own handler) otherwise. Warnings and worse, and this server's own notices."""
    if settings.log_format != "json":
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(secrets_of(settings)))
    logging.basicConfig(level=logging.WARNING, handlers=[handler], force=True)
    logging.getLogger(NOTICES).setLevel(logging.INFO)


def notice(settings: Settings, message: str) -> None:
    """A start-up notice on stderr: a plain line, or a JSON log line with --log-format json."""
    if settings.log_format == "json":
        logging.getLogger(NOTICES).info(message)
    else:
        print(f"ubiops-services-mcp: {message}", file=sys.stderr)
