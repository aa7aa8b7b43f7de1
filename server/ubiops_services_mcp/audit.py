"""Append-only JSON-lines record of every mutating attempt, so each change can be traced afterwards.

A line holds only bounded, typed fields: a caller's raw arguments can neither forge a field (an object where a name
belongs is recorded as its type and a bounded JSON text under `malformed`) nor grow a line without bound, and the
line is pure ASCII (every invisible or line-breaking character escaped). A log that cannot be written fails closed:
`failing` stays true, and the tools refuse changes, until a write works again.
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import math
import os
import stat
import threading
from collections.abc import Generator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, cast

logger = logging.getLogger(__name__)

STDOUT = "-"  # the path that means standard output

TEXT_MAX: Final = 256  # characters of a name, code or id
LONG_TEXT_MAX: Final = {"reason": 2_000}
PAYLOAD_MAX: Final = 16_384  # characters of a payload's compact JSON; a larger one is recorded by size and digest
MALFORMED_MAX: Final = 200  # characters of the JSON text kept of a value that has the wrong type
_INT_MAX: Final = 2**63
_TYPE_NAMES: Final = {"dict": "object", "list": "array", "tuple": "array", "str": "string", "bool": "boolean",
                      "int": "integer", "float": "number"}  # fmt: skip

# With ensure_ascii=True json.dumps escapes every non-ASCII character (U+202E, U+2028, U+0085, ...) and every
# control character below U+0020; DEL is the one invisible ASCII character it leaves raw.
_ESCAPED = str.maketrans({"\x7f": "\\u007f"})


def _one_line(encoded: str) -> str:
    """ASCII JSON with DEL escaped too: every reader sees one line, and no character hides."""
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

    The path `-` means standard output (a log collector reads it); it is never closed here. The file is opened at
    once (a log that cannot be written is reported at start), never through a symbolic link, and made 0600.
    """

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._failed = False
        if path is not None:
            with self._lock:
                try:
                    self._open()
                except OSError as exc:
                    self._fail(exc)

    @property
    def failing(self) -> bool:
        """The last attempt to write failed: changes are refused until a write works again."""
        return self._failed

    def record(self, **fields: Any) -> bool:
        """Append one line; False if it could not be written (then reported on stderr, and the log is failing)."""
        if self.path is None:
            return True
        entry = {"time": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")}
        entry |= bounded(fields)
        written = _WRITTEN.get()
        if written is not None:
            written[0] += 1
        text = _one_line(json.dumps(entry, separators=(",", ":"), ensure_ascii=True, default=str))
        with self._lock:
            try:
                os.write(self._open(), (text + "\n").encode("ascii"))
            except OSError as exc:
                self._fail(exc)
                logger.error("audit line not written: %s", text)  # kept on stderr rather than lost
                return False
            if self._failed:
                logger.warning("audit log %s can be written again", self.path)
                self._failed = False
        return True

    def _open(self) -> int:
        if self._fd is None:
            assert self.path is not None
            if str(self.path) == STDOUT:
                return 1  # standard output, whatever sys.stdout has been replaced with
            self.path.parent.mkdir(parents=True, exist_ok=True)
            flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
            fd = os.open(self.path, flags, 0o600)
            try:
                make_private(fd, self.path)
            except OSError:
                os.close(fd)
                raise
            self._fd = fd
        return self._fd

    def _fail(self, exc: OSError) -> None:
        """Report the first failure of a run of them; drop the descriptor so the next attempt opens the file anew."""
        if not self._failed:
            why = "it is a symbolic link, which is never followed" if exc.errno == errno.ELOOP else exc.strerror
            logger.error("audit log %s cannot be written (%s): changes are refused until it can", self.path, why)
        self._failed = True
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)

    def close(self) -> None:
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None


def make_private(fd: int, path: Path) -> None:
    """A regular file readable by others (created by someone or something else) is narrowed to 0600."""
    mode = os.fstat(fd).st_mode
    if stat.S_ISREG(mode) and mode & 0o077:
        os.fchmod(fd, 0o600)
        logger.warning("%s had mode %o: narrowed to 600 (this user only)", path, stat.S_IMODE(mode))


def bounded(fields: dict[str, Any]) -> dict[str, Any]:
    """The fields as a line records them: scalars and bounded text; `client` a small object; `payload` bounded
    JSON; anything else as its type and a bounded JSON text under `malformed`, never as fields of its own."""
    entry: dict[str, Any] = {}
    malformed: dict[str, Any] = {}
    for key, value in fields.items():
        if key == "payload":
            entry |= _payload(value, malformed)
        elif key == "client" and isinstance(value, dict):
            small = cast(dict[object, object], value)
            entry[key] = {str(k)[:TEXT_MAX]: _scalar(f"{key}.{k}", v, malformed) for k, v in list(small.items())[:8]}
        else:
            entry[key] = _scalar(key, value, malformed)
    if malformed:
        entry["malformed"] = malformed
    return entry


def _scalar(key: str, value: object, malformed: dict[str, Any]) -> object:
    """A string cut to its bound, a finite number, a bool or null; anything else is recorded as malformed."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        return _cut(value, LONG_TEXT_MAX.get(key, TEXT_MAX))
    if isinstance(value, int) and abs(value) < _INT_MAX:
        return value
    if isinstance(value, float) and math.isfinite(value):
        return value
    malformed[key] = {"type": _type_name(value), "json": _cut(_json_text(value), MALFORMED_MAX)}
    return None


def _payload(value: object, malformed: dict[str, Any]) -> dict[str, Any]:
    """The payload as it was, if its JSON fits the bound; otherwise its size and digest."""
    text = _json_text(value)
    if text is None:
        malformed["payload"] = {"type": _type_name(value), "json": None}
        return {"payload": None}
    if len(text) <= PAYLOAD_MAX:
        return {"payload": value}
    digest = hashlib.sha256(text.encode("ascii")).hexdigest()
    return {"payload": None, "payload_omitted": {"characters": len(text), "sha256": digest}}


def _json_text(value: object) -> str | None:
    """Compact ASCII JSON, or None for what has none (too deep, a huge integer, not a number)."""
    try:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=True, allow_nan=False, default=str)
    except (ValueError, TypeError, RecursionError):
        return None


def _type_name(value: object) -> str:
    return _TYPE_NAMES.get(type(value).__name__, type(value).__name__)


def _cut(text: str | None, limit: int) -> str | None:
    if text is None or len(text) <= limit:
        return text
    return f"{text[:limit]}…[{len(text) - limit} more characters]"
