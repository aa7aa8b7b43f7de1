"""The retry policy on its own: backoff within its bounds, and every form of the API's wait hint."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import format_datetime

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ubiops_services_mcp.api.retry import DEFAULT_BUDGET_S, DEFAULT_TIMEOUT_S, RetryPolicy, retry_after_s
from ubiops_services_mcp.settings import Settings

NOW = 1_750_000_000.0
LONG_S = 10.0 * 365 * 86400


@settings(max_examples=150, deadline=None)
@given(
    attempt=st.integers(min_value=1, max_value=60),
    base=st.floats(min_value=0.001, max_value=5),
    cap=st.floats(min_value=0.01, max_value=60),
    hint=st.none() | st.floats(min_value=0, max_value=LONG_S),
)
def test_delay_is_bounded_jittered_backoff_or_the_apis_own_wait(
    attempt: int, base: float, cap: float, hint: float | None
) -> None:
    policy = RetryPolicy(base_delay_s=base, max_delay_s=cap)
    delay = policy.delay(attempt, hint)
    if hint is not None:
        assert delay == hint  # unshortened: the budget, not the delay, decides whether to wait
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
        ({"Retry-After": "3601"}, 3601.0),  # long waits are kept, to be reported rather than retried at once
        (
            {"Retry-After": format_datetime(datetime.fromtimestamp(NOW + 3 * 365 * 86400, UTC), usegmt=True)},
            3 * 365 * 86400.0,
        ),
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
    assert seconds is None or 0 <= seconds < float("inf")


# The TypeScript SDK and the Inspector give up on a request after 60 s. A tool call's requests run one after
# another, and a call that fails against a hanging API must answer before that, even when it made two requests
# that each used their whole budget (a read retried to the end, then a change that hangs).
CLIENT_TIMEOUT_S = 60.0
MARGIN_S = 5.0


def test_two_default_budgets_fit_in_a_clients_default_timeout() -> None:
    settings = Settings()
    assert (settings.timeout_s, settings.retry_budget_s) == (DEFAULT_TIMEOUT_S, DEFAULT_BUDGET_S)
    assert settings.api_config().retry.total_s == DEFAULT_BUDGET_S
    assert 2 * DEFAULT_BUDGET_S <= CLIENT_TIMEOUT_S - MARGIN_S
    assert DEFAULT_TIMEOUT_S < DEFAULT_BUDGET_S  # a hang is tried more than once within the budget
