"""The authorization server's signing keys: found through its metadata, cached, refetched when a token names a new one.

Discovery follows the MCP authorization spec (RFC 8414 first, then OpenID Connect discovery); the metadata must name
the configured issuer. The key set is kept for an hour and fetched again at once when a token carries a key id it
does not hold (the issuer rotated its key), even right after another fetch. Made-up key ids cannot flood the issuer:
one fetch at a time, whose answer every request that waited on it takes, and such refetches draw on a small budget
(a burst of REFETCH_BURST, then one per REFETCH_EVERY_S). An issuer that cannot be reached leaves the keys already
held in use, and is tried again at most once per RETRY_S.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, Final, cast
from urllib.parse import urlsplit

import anyio
import httpx
from jwt import PyJWK, PyJWKSet
from jwt.exceptions import PyJWKSetError

logger = logging.getLogger(__name__)

FETCH_TIMEOUT_S: Final = 10.0
KEYS_TTL_S: Final = 3600.0
RETRY_S: Final = 1.0  # between attempts when the keys are stale or none are held (the issuer may be down)
REFETCH_BURST: Final = 3  # fetches for unknown key ids allowed at once...
REFETCH_EVERY_S: Final = 10.0  # ...and one more per this many seconds


class KeysUnavailable(Exception):
    """The issuer's metadata or keys cannot be had now: no token can be checked (the caller should retry later)."""


def metadata_urls(issuer: str) -> list[str]:
    """Where the issuer's metadata may be, in the order the MCP spec tries them."""
    url = urlsplit(issuer)
    base, path = f"{url.scheme}://{url.netloc}", url.path.rstrip("/")
    if not path:
        return [f"{base}/.well-known/oauth-authorization-server", f"{base}/.well-known/openid-configuration"]
    return [
        f"{base}/.well-known/oauth-authorization-server{path}",
        f"{base}/.well-known/openid-configuration{path}",
        f"{base}{path}/.well-known/openid-configuration",
    ]


class IssuerKeys:
    """The signing keys of one issuer, shared by every request of the process."""

    def __init__(
        self,
        issuer: str,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        ttl_s: float = KEYS_TTL_S,
        retry_s: float = RETRY_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.issuer = issuer
        self._transport = transport
        self._ttl_s, self._retry_s, self._clock = ttl_s, retry_s, clock
        self._jwks_uri: str | None = None
        self._keys: list[PyJWK] = []
        self._fetched_at: float | None = None  # the last fetch that succeeded
        self._tried_at: float | None = None  # the last attempt, failed or not
        self._attempts = 0  # attempts so far: a request that waited while one was made takes its answer
        self._budget, self._budget_at = float(REFETCH_BURST), clock()  # refetches for unknown key ids
        self._lock = anyio.Lock()

    async def key(self, kid: str | None) -> PyJWK | None:
        """The key a token's header names; None when the issuer (even after a refetch) has no such key."""
        found = self._find(kid)
        if found is not None and self._fresh():
            return found
        attempts = self._attempts
        async with self._lock:  # one fetch at a time
            found = self._find(kid)
            if (self._fresh() and found is not None) or attempts != self._attempts or not self._may_fetch(found):
                if not self._keys:
                    raise KeysUnavailable(f"no signing keys of {self.issuer} could be fetched yet")
                return found
            try:
                await self._refresh()
            except KeysUnavailable as error:
                if not self._keys:
                    raise
                logger.warning("keeping the signing keys already held: %s", error)
            return self._find(kid)

    async def load(self) -> int:
        """Fetch the metadata and key set now (the `check` command): how many signing keys the issuer publishes."""
        async with self._lock:
            await self._refresh()
            return len(self._keys)

    def _find(self, kid: str | None) -> PyJWK | None:
        if kid is None:  # a token without a key id is accepted only when the issuer has exactly one key
            return self._keys[0] if len(self._keys) == 1 else None
        return next((key for key in self._keys if key.key_id == kid), None)

    def _fresh(self) -> bool:
        return self._fetched_at is not None and self._clock() - self._fetched_at < self._ttl_s

    def _may_fetch(self, found: PyJWK | None) -> bool:
        """Stale or missing keys: once per retry interval. An unknown key id with fresh keys: from the budget."""
        now = self._clock()
        if not self._fresh() or not self._keys:
            return self._tried_at is None or now - self._tried_at >= self._retry_s
        assert found is None
        self._budget = min(float(REFETCH_BURST), self._budget + (now - self._budget_at) / REFETCH_EVERY_S)
        self._budget_at = now
        if self._budget < 1:
            return False
        self._budget -= 1
        return True

    async def _refresh(self) -> None:
        self._tried_at = self._clock()
        self._attempts += 1
        async with httpx.AsyncClient(transport=self._transport, timeout=FETCH_TIMEOUT_S) as http:
            if self._jwks_uri is None:
                self._jwks_uri = await self._discover(http)
            try:
                document = await _get_json(http, self._jwks_uri)
            except KeysUnavailable:
                self._jwks_uri = None  # discover again next time: the issuer may have moved its keys
                raise
        try:
            keys = PyJWKSet.from_dict(document).keys
        except PyJWKSetError as error:
            raise KeysUnavailable(f"the issuer's key set has no usable key: {error}") from None
        self._keys = [key for key in keys if getattr(key, "public_key_use", None) in (None, "sig")]
        self._fetched_at = self._clock()
        logger.info("fetched %d signing key(s) of %s", len(self._keys), self.issuer)

    async def _discover(self, http: httpx.AsyncClient) -> str:
        """The jwks_uri of the first metadata document that names this issuer."""
        for url in metadata_urls(self.issuer):
            try:
                metadata = await _get_json(http, url)
            except KeysUnavailable:
                continue
            jwks_uri = metadata.get("jwks_uri")
            if str(metadata.get("issuer", "")).rstrip("/") != self.issuer.rstrip("/") or not isinstance(jwks_uri, str):
                logger.warning("ignoring %s: it names another issuer or no jwks_uri", url)
                continue
            return jwks_uri
        raise KeysUnavailable(f"no metadata naming issuer {self.issuer} with a jwks_uri was found")


async def _get_json(http: httpx.AsyncClient, url: str) -> dict[str, Any]:
    """A JSON object from the issuer; anything else is KeysUnavailable."""
    try:
        response = await http.get(url, headers={"Accept": "application/json"})
        response.raise_for_status()
        document: object = response.json()
    except (httpx.HTTPError, ValueError) as error:
        raise KeysUnavailable(f"{url}: {type(error).__name__}") from None
    if not isinstance(document, dict):
        raise KeysUnavailable(f"{url}: not a JSON object")
    return cast(dict[str, Any], document)
