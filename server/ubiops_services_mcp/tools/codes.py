"""Approval codes: what only the approval card holds, so that its Apply proves a person clicked it.

A code is derived from the preview's confirmation token and the caller (HMAC with a key from
UBIOPS_MCP_SECRET): stateless, so every replica recognises it, and bound to whatever the token is bound to
(operation, project, services, payload, expiry). It travels only in the preview result's `_meta`, which hosts
keep from the model. Each code is spent once: its hash is recorded in the previews file beside the audit log,
which every process on the machine shares (memory only when that file cannot be used).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import sqlite3
import threading
import time
from pathlib import Path

from pydantic import SecretStr

from ..api.auth import current_caller_key
from .private_file import open_sqlite

logger = logging.getLogger(__name__)


class ApprovalCodes:
    """Issues approval codes for preview tokens and spends each at most once."""

    def __init__(self, secret: SecretStr, path: Path | None = None, ttl_s: int = 600) -> None:
        self._key = hashlib.sha256(b"ubiops-services-mcp/approval-code\0" + secret.get_secret_value().encode()).digest()
        self._ttl_s = ttl_s
        self._lock = threading.Lock()
        self._db = _open(path)

    def issue(self, token: str) -> str:
        """The code of this preview token for the current caller."""
        material = f"{current_caller_key()}\0{token}".encode()
        return base64.urlsafe_b64encode(hmac.new(self._key, material, hashlib.sha256).digest()[:24]).decode()

    def matches(self, token: str, code: str) -> bool:
        """Whether `code` is this caller's code for this token (constant time)."""
        return hmac.compare_digest(self.issue(token).encode(), code.encode())

    def spent(self, code: str) -> bool:
        """Whether the code was used already (on this machine)."""
        try:
            with self._lock:
                row = self._db.execute("SELECT 1 FROM approval_codes WHERE code = ?", (_key(code),)).fetchone()
        except sqlite3.Error as exc:
            logger.warning("approval codes cannot be read: %s", exc)
            return True  # fail closed: an unreadable record never lets a code through twice
        return row is not None

    def spend(self, code: str, now: float | None = None) -> bool:
        """Record the code as used; False when it was used already (or cannot be recorded: fail closed)."""
        moment = time.time() if now is None else now
        try:
            with self._lock, self._db:
                self._db.execute("DELETE FROM approval_codes WHERE expires < ?", (moment,))
                self._db.execute("INSERT INTO approval_codes VALUES (?, ?)", (_key(code), moment + self._ttl_s))
        except sqlite3.IntegrityError:
            return False
        except sqlite3.Error as exc:
            logger.warning("an approval code could not be recorded: %s", exc)
            return False
        return True

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _key(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()[:32]


_TABLE = "CREATE TABLE IF NOT EXISTS approval_codes (code TEXT PRIMARY KEY, expires REAL)"


def _open(path: Path | None) -> sqlite3.Connection:
    """The used-codes table in `path` (the previews file), or in memory when it cannot be used."""
    return open_sqlite(path, _TABLE, "approval codes")
