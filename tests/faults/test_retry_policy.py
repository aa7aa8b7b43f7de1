"""The retry policy on its own: backoff within its bounds, and every form of the API's wait hint."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import format_datetime

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ubiops_services_mcp.api.retry import MAX_WAIT_HINT_S, RetryPolicy, retry_after_s

NOW = 1_750_000_000.0


@settings(max_examples=150, deadline=None)
@given(
    attempt=st.integers(min_value=1, max_value=60),
    base=st.floats(min_value=0.001, max_value=5),
    cap=st.floats(min_value=0.01, max_value=60),
    hint=st.none() | st.floats(min_value=0, max_value=MAX_WAIT_HINT_S),
)
def test_delay_is_bounded_jittered_backoff_or_the_apis_own_wait(
    attempt: int, base: float, cap: float, hint: float | None
) -> None:
    policy = RetryPolicy(base_delay_s=base, max_delay_s=cap)
    delay = policy.delay(attempt, hint)
    if hint is not None:
        assert delay == min(hint, cap * 4)
    else:
        ceiling = min(cap, base * 2 ** (attempt - 1))
        assert ceiling / 2 <= delay <= ceiling


def test_backoff_is_jittered() -> None:
    assert len({RetryPolicy().delay(3, None) for _ in range(20)}) > 1


def wait(**headers: str) -> float | None:
    return retry_after_s(httpx.Response(429, headers=headers), now=NOW)


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Retry-After": "7"}, 7.0),
        ({"Retry-After": "1.5"}, 1.5),
        ({"Retry-After": format_datetime(datetime.fromtimestamp(NOW + 30, UTC), usegmt=True)}, 30.0),
        ({"Retry-After": format_datetime(datetime.fromtimestamp(NOW - 30, UTC), usegmt=True)}, 0.0),
        ({"x-ratelimit-reset": "12"}, 12.0),
        ({"x-ratelimit-reset": str(int(NOW + 20))}, 20.0),
        ({"x-ratelimit-reset": str(int(NOW - 20))}, 0.0),
        ({"Retry-After": "3", "x-ratelimit-reset": "9"}, 3.0),
        ({"Retry-After": "soon", "x-ratelimit-reset": "9"}, 9.0),
        ({"Retry-After": "-1"}, None),
        ({"Retry-After": "nan"}, None),
        ({"Retry-After": "inf"}, None),
        ({"Retry-After": str(MAX_WAIT_HINT_S + 1)}, None),
        ({}, None),
    ],
)
def test_wait_hints(headers: dict[str, str], expected: float | None) -> None:
    assert wait(**headers) == expected


@settings(max_examples=150, deadline=None)
@given(value=st.text(max_size=40))
def test_any_header_value_gives_a_bounded_wait_or_none(value: str) -> None:
    try:
        response = httpx.Response(429, headers={"Retry-After": value, "x-ratelimit-reset": value})
    except (UnicodeEncodeError, ValueError):
        return
    seconds = retry_after_s(response, now=NOW)
    assert seconds is None or 0 <= seconds <= MAX_WAIT_HINT_S
