"""A wait the retry budget cannot cover ends the call at once, the wait reported: the API is not hammered.

Before: a `Retry-After` beyond an hour, or an HTTP date years ahead, was dropped and the request retried at once
(four requests in about a second); 3,000 s was cut to 32 s and retried anyway.
"""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import UTC, datetime
from email.utils import format_datetime

import httpx
import pytest

from tests.conftest import data, scripted, session
from ubiops_services_mcp.settings import Settings

pytestmark = pytest.mark.anyio

YEAR_S = 365 * 86400.0


def years_ahead() -> tuple[str, float]:
    """An HTTP date three years from now, and the seconds until then."""
    when = time.time() + 3 * YEAR_S
    return format_datetime(datetime.fromtimestamp(when, UTC), usegmt=True), 3 * YEAR_S


@pytest.fixture
def patient(settings: Settings) -> Settings:
    """The budget and attempts of the issue's report (60 s, 4 attempts): even so, one request only."""
    return replace(settings, max_attempts=4, retry_budget_s=60.0)


@pytest.mark.parametrize(
    ("header", "wait"),
    [
        (("Retry-After", "3601"), 3601.0),
        (("Retry-After", "3000"), 3000.0),
        (("x-ratelimit-reset", "7200"), 7200.0),
        ("date", 3 * YEAR_S),
    ],
    ids=["beyond an hour", "3000 s", "x-ratelimit-reset 2 h", "a date years ahead"],
)
@pytest.mark.parametrize(
    ("tool", "args"),
    [
        ("services_get", {"service_name": "web"}),
        ("services_create", {"data": {"name": "web", "deployment": "hello-world", "port": 8080}}),
    ],
    ids=["get", "create"],
)
async def test_a_wait_beyond_the_budget_is_one_request_and_reported(
    patient: Settings, mode: str, header: tuple[str, str] | str, wait: float, tool: str, args: dict[str, object]
) -> None:
    if header == "date":
        header = ("Retry-After", years_ahead()[0])

    def busy(request: httpx.Request) -> httpx.Response:
        return httpx.Response(429, headers=[header], json={"error": "Too many requests"})

    wire = scripted(busy)
    async with session(patient, wire, mode) as client:
        result = await client.call_tool(tool, args)
    assert len(wire.requests) == 1, wire.lines
    error = data(result)["error"]
    assert result.is_error
    assert (error["code"], error["retryable"], error["attempts"]) == ("rate_limited", True, 1)
    assert wait - 60 <= error["retry_after_s"] <= wait  # a date is read a moment after it was written
    assert "wait " in error["hint"]
    assert "before trying again" in error["hint"]


async def test_a_server_error_asking_for_a_long_wait_is_not_retried_either(patient: Settings) -> None:
    wire = scripted(lambda request: httpx.Response(503, headers={"Retry-After": "3000"}, json={"error": "down"}))
    async with session(patient, wire) as client:
        result = await client.call_tool("services_list", {})
    assert wire.lines == ["GET /v2.1/projects/demo/services"]
    error = data(result)["error"]
    assert (error["code"], error["retry_after_s"], error["attempts"]) == ("server_error", 3000.0, 1)


async def test_a_wait_the_budget_covers_is_waited_and_retried(patient: Settings) -> None:
    answers = iter([httpx.Response(429, headers={"Retry-After": "0"}), httpx.Response(200, json=[])])
    wire = scripted(lambda request: next(answers))
    async with session(patient, wire) as client:
        result = await client.call_tool("services_list", {})
    assert not result.is_error
    assert wire.lines == ["GET /v2.1/projects/demo/services"] * 2
