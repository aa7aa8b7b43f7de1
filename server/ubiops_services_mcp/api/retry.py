"""When and how long to wait before trying a request again."""

from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass
from datetime import UTC
from email.utils import parsedate_to_datetime

import httpx

UNIX_TIME_FLOOR = 1_000_000_000.0  # a wait this long is not a wait: it is a point in time (2001 onwards)
# The defaults fit the clients: a tool call that fails against a hanging API must answer before a client's own
# request timeout (60 s in the TypeScript SDK and the Inspector), even when it makes two requests that each use
# the whole budget (a fast read, then a change that hangs; or a read retried to the end, then a change).
DEFAULT_TIMEOUT_S = 10.0
"""Seconds to wait for one API answer: a healthy answer takes well under a second, a create a few."""
DEFAULT_BUDGET_S = 25.0
"""Seconds one API request may take with its retries and waits: two of them fit in 60 s with 10 s to spare."""


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded retries: by attempts and by total time, never without end."""

    max_attempts: int = 4
    total_s: float = DEFAULT_BUDGET_S
    base_delay_s: float = 0.25
    max_delay_s: float = 8.0

    def delay(self, attempt: int, retry_after_s: float | None) -> float:
        """Exponential backoff with full jitter; the server's own wait wins when it gave one, unshortened: a retry
        before the time the API named would only be refused again (the budget decides whether to wait at all)."""
        if retry_after_s is not None:
            return retry_after_s
        ceiling = min(self.max_delay_s, self.base_delay_s * (2 ** (attempt - 1)))
        return random.uniform(ceiling / 2, ceiling)


def retry_after_s(response: httpx.Response, now: float | None = None) -> float | None:
    """Seconds the API asked us to wait: `Retry-After` (seconds or HTTP date), else `x-ratelimit-reset`.

    `x-ratelimit-reset` is read as seconds to wait, or as a Unix time when it is one (some gateways send that).
    A long wait is kept, however long: the caller must see it rather than retry at once.
    """
    at = time.time() if now is None else now
    for header in ("retry-after", "x-ratelimit-reset"):
        value = response.headers.get(header)
        if value is None:
            continue
        seconds = _wait_s(value.strip(), at)
        if seconds is not None:
            return seconds
    return None


def _wait_s(value: str, now: float) -> float | None:
    try:
        seconds = float(value)
    except ValueError:
        seconds = _until_date(value, now)
        if seconds is None:
            return None
    else:
        if seconds >= UNIX_TIME_FLOOR:
            seconds = max(seconds - now, 0.0)
    if 0 <= seconds < math.inf:
        return seconds
    return None


def _until_date(value: str, now: float) -> float | None:
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(when.timestamp() - now, 0.0)
