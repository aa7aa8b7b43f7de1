"""Append-only JSON-lines record of every mutating attempt, so each change can be traced afterwards."""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Generator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

STDOUT = "-"  # the path that means standard output

# Every character str.splitlines() breaks on: json.dumps escapes those below U+0020, but with ensure_ascii=False
# it leaves U+0085, U+2028 and U+2029 raw.
_LINE_BREAKS = "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"
_ESCAPED = str.maketrans({c: f"\\u{ord(c):04x}" for c in _LINE_BREAKS})


def _one_line(encoded: str) -> str:
    """JSON with every line break escaped, so that every reader, splitting on Unicode line breaks too, sees one line."""
    return encoded.translate(_ESCAPED)


# Lines written in the current task (one tool call), so the server can add a final line where a call wrote none.
_WRITTEN: ContextVar[list[int] | None] = ContextVar("audit_lines_written", default=None)


@contextmanager
def counting_lines() -> Generator[list[int]]:
    """Inside, every line recorded (in this task and the tasks it starts) adds one to the list's only item."""
    written = [0]
    reset = _WRITTEN.set(written)
    try:
        yield written
    finally:
        _WRITTEN.reset(reset)


class AuditLog:
    """One JSON object per line; each line is written with a single O_APPEND write so writers never interleave.

    The path `-` means standard output (a log collector reads it); it is never closed here.
    """

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
        written = _WRITTEN.get()
        if written is not None:
            written[0] += 1
        line = (_one_line(json.dumps(entry, separators=(",", ":"), ensure_ascii=False, default=str)) + "\n").encode()
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
            if str(self.path) == STDOUT:
                return 1  # standard output, whatever sys.stdout has been replaced with
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        return self._fd

    def close(self) -> None:
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None
