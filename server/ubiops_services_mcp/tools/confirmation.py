"""Confirmation tokens that a model cannot forge: HMAC-signed, bound to one previewed change.

A token binds the caller (on a multi-user HTTP server), the operation, project, service, a hash of the
exact payload, the service's `time_updated` when it was previewed, and an expiry. It is stateless, so every
replica that shares the secret accepts it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import secrets
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, cast

from pydantic import SecretStr

from ..api.auth import current_caller_key
from ..api.models import ServiceDetail
from .private_file import open_sqlite

logger = logging.getLogger(__name__)

TOKEN_VERSION: Final = "v1"


def canonical_hash(payload: dict[str, Any]) -> str:
    """A short stable digest of a payload's canonical JSON."""
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return _b64(hashlib.sha256(canonical.encode()).digest()[:18])


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class Binding:
    """What one confirmation token is for."""

    operation: str
    project: str
    service: str
    payload_hash: str
    time_updated: str | None
    caller: str = field(default_factory=current_caller_key)

    def claims(self, expires: int) -> dict[str, Any]:
        return {
            "c": self.caller[:16],
            "op": self.operation,
            "p": self.project,
            "s": self.service,
            "h": self.payload_hash,
            "t": self.time_updated,
            "exp": expires,
        }


class TokenRefused(Exception):
    """Why a confirmation token does not allow this change; the message is for the model."""

    def __init__(self, message: str, *, reason: str = "invalid") -> None:
        super().__init__(message)
        self.reason = reason  # a short fixed code, for metrics

    @property
    def stale(self) -> bool:
        """The service changed since the preview: the one refusal that can say what changed."""
        return self.reason == "stale"


class Signer:
    """Issues and checks confirmation tokens with HMAC-SHA256."""

    def __init__(self, secret: SecretStr, ttl_s: int) -> None:
        self._key = hashlib.sha256(b"ubiops-services-mcp/confirmation\0" + secret.get_secret_value().encode()).digest()
        self.ttl_s = ttl_s

    def issue(self, binding: Binding, now: float | None = None) -> tuple[str, int]:
        """A token for this binding and the unix time it expires."""
        expires = int((now if now is not None else time.time()) + self.ttl_s)
        body = _b64(json.dumps(binding.claims(expires), separators=(",", ":")).encode())
        return f"{TOKEN_VERSION}.{body}.{self._mac(body)}", expires

    def verify(self, token: str, binding: Binding, now: float | None = None) -> None:
        """Return if the token allows exactly this change now; raise TokenRefused saying why if not."""
        claims = self._claims(token)
        expires = claims.get("exp")
        if not isinstance(expires, int) or (now if now is not None else time.time()) > expires:
            raise TokenRefused("the confirmation_token has expired", reason="expired")
        if claims.get("op") != binding.operation:
            message = f"the confirmation_token was issued for {claims.get('op')!r}, not this operation"
            raise TokenRefused(message, reason="other_operation")
        if claims.get("c", "") != binding.caller[:16]:
            raise TokenRefused("the confirmation_token was issued to another caller", reason="other_caller")
        if claims.get("p") != binding.project or claims.get("s") != binding.service:
            message = "the confirmation_token was issued for another project or service"
            raise TokenRefused(message, reason="other_service")
        if claims.get("t") != binding.time_updated:  # first: a body resolved against a changed service differs too
            raise TokenRefused("the service has changed since the preview", reason="stale")
        if claims.get("h") != binding.payload_hash:
            message = "the confirmation_token was issued for a different change (the data differs)"
            raise TokenRefused(message, reason="other_payload")

    def _claims(self, token: str) -> dict[str, Any]:
        parts = token.split(".")
        if len(parts) != 3 or parts[0] != TOKEN_VERSION:
            raise TokenRefused("the confirmation_token is malformed", reason="malformed")
        _, body, mac = parts
        if not hmac.compare_digest(mac, self._mac(body)):
            raise TokenRefused(
                "the confirmation_token is not valid (altered, or signed by another server)", reason="bad_signature"
            )
        try:
            claims = json.loads(_unb64(body))
        except ValueError:
            raise TokenRefused("the confirmation_token is malformed", reason="malformed") from None
        if not isinstance(claims, dict):
            raise TokenRefused("the confirmation_token is malformed", reason="malformed")
        return cast(dict[str, Any], claims)

    def _mac(self, body: str) -> str:
        return _b64(hmac.new(self._key, body.encode(), hashlib.sha256).digest())


def field_changes(current: ServiceDetail, body: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    """(field, current value, new value) for every field the update would change."""
    now = current.model_dump(mode="json")
    return [(key, now.get(key), value) for key, value in body.items() if now.get(key) != value]


class PreviewMemory:
    """What each recent preview showed, by token, so a stale confirm can name what changed in between.

    Only for explaining: tokens stay stateless. The previews live in a small SQLite file (beside the audit log) for
    as long as their tokens do, so every process on this machine that shares it finds them: a client that starts
    a new server process per call, one restarted meanwhile, replicas on one host. Each row is authenticated with a
    key from the server's secret: a row from elsewhere, edited, unsigned or unreadable counts as not found, and the
    refusal says the fields cannot be named. A file that cannot be opened (or is a symbolic link): memory only.
    """

    def __init__(self, path: Path | None = None, ttl_s: int = 600, key: bytes | None = None) -> None:
        self._ttl_s = ttl_s
        self._key = key if key is not None else secrets.token_bytes(32)  # no key given: this process only
        self._lock = threading.Lock()
        self._db = _open_previews(path)

    def remember(self, token: str, services: dict[str, dict[str, Any]], now: float | None = None) -> None:
        """Keep what this preview showed; a busy or broken file costs only the later explanation, never the call."""
        moment = time.time() if now is None else now
        key, expires = _key(token), float(moment + self._ttl_s)
        shown = json.dumps(services, separators=(",", ":"))
        row = (key, expires, shown, self._mac(key, expires, shown))
        try:
            with self._lock, self._db:
                self._db.execute(f"DELETE FROM {_TABLE} WHERE expires < ?", (moment,))
                self._db.execute(f"INSERT OR REPLACE INTO {_TABLE} VALUES (?, ?, ?, ?)", row)
        except sqlite3.Error as exc:
            logger.warning("a preview was not remembered: %s", exc)

    def recall(self, token: str | None) -> dict[str, dict[str, Any]] | None:
        """What the preview of this token showed, if this machine remembers it and the row is authentic."""
        if token is None:
            return None
        key = _key(token)
        try:
            with self._lock:
                query = f"SELECT expires, services, mac FROM {_TABLE} WHERE token = ?"
                found: tuple[object, ...] | None = self._db.execute(query, (key,)).fetchone()
        except sqlite3.Error as exc:
            logger.warning("previews cannot be read: %s", exc)
            return None
        return None if found is None else self._authentic(key, found)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _authentic(self, key: str, row: tuple[object, ...]) -> dict[str, dict[str, Any]] | None:
        """The row's services if this server's key signed exactly them; anything else is ignored, with a warning."""
        expires, shown, mac = row
        if not (isinstance(expires, float) and isinstance(shown, str) and isinstance(mac, str)):
            logger.warning("a remembered preview is malformed: ignored")
            return None
        if not hmac.compare_digest(mac, self._mac(key, expires, shown)):
            logger.warning("a remembered preview is not signed by this server's secret (edited?): ignored")
            return None
        try:
            services: object = json.loads(shown)
        except (ValueError, RecursionError):
            return None
        if not isinstance(services, dict) or not all(isinstance(v, dict) for v in services.values()):  # pyright: ignore[reportUnknownVariableType]
            return None
        return cast(dict[str, dict[str, Any]], services)

    def _mac(self, key: str, expires: float, shown: str) -> str:
        signed = f"{key}\0{expires!r}\0{shown}".encode()
        return _b64(hmac.new(self._key, signed, hashlib.sha256).digest())


def previews_key(secret: SecretStr) -> bytes:
    """The key that signs remembered previews: every process sharing the secret (and the file) can read them."""
    return hashlib.sha256(b"ubiops-services-mcp/previews\0" + secret.get_secret_value().encode()).digest()


def _key(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()[:32]


_TABLE: Final = "signed_previews"  # not `previews`: that table, of unsigned rows, is left to older versions
_COLUMNS: Final = "token TEXT PRIMARY KEY, expires REAL, services TEXT, mac TEXT"


def _open_previews(path: Path | None) -> sqlite3.Connection:
    """The previews table in `path`, or in memory when there is no path or it cannot be opened."""
    return open_sqlite(path, f"CREATE TABLE IF NOT EXISTS {_TABLE} ({_COLUMNS})", "previews")
