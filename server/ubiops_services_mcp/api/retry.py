"""When and how long to wait before trying a request again."""

from __future__ import annotations

import random
from dataclasses import dataclass

import httpx

MAX_WAIT_HINT_S = 3600.0


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded retries: by attempts and by total time, never without end."""

    max_attempts: int = 4
    total_s: float = 60.0
    base_delay_s: float = 0.25
    max_delay_s: float = 8.0

    def delay(self, attempt: int, retry_after_s: float | None) -> float:
        """Exponential backoff with full jitter; the server's own wait wins when it gave one."""
        if retry_after_s is not None:
            return min(retry_after_s, self.max_delay_s * 4)
        ceiling = min(self.max_delay_s, self.base_delay_s * (2 ** (attempt - 1)))
        return random.uniform(ceiling / 2, ceiling)


def retry_after_s(response: httpx.Response) -> float | None:
    """Seconds the API asked us to wait: `Retry-After`, else `x-ratelimit-reset`."""
    for header in ("retry-after", "x-ratelimit-reset"):
        value = response.headers.get(header)
        if value is None:
            continue
        try:
            seconds = float(value)
        except ValueError:
            continue
        if 0 <= seconds <= MAX_WAIT_HINT_S:
            return seconds
    return None
