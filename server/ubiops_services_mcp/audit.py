"""Append-only JSON-lines record of every mutating attempt, so each change can be traced afterwards."""

from __future__ import annotations

import json
import logging
import os
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)


class AuditLog:
    """One JSON object per line; each line is written with a single O_APPEND write so writers never interleave."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._failed = False

    def record(self, **fields: Any) -> None:
        """Append one line; a failing log is reported once on stderr and never breaks the tool call."""
        if self.path is None:
            return
        entry = {
            "time": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            **fields,
        }
        line = (json.dumps(entry, separators=(",", ":"), ensure_ascii=False, default=str) + "\n").encode()
        with self._lock:
            try:
                os.write(self._open(), line)
            except OSError as exc:
                if not self._failed:
                    logger.error("audit log %s cannot be written: %s", self.path, exc.strerror)
                self._failed = True

    def _open(self) -> int:
        if self._fd is None:
            assert self.path is not None
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        return self._fd

    def close(self) -> None:
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None
