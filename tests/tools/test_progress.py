"""Progress notifications while a call waits on retries, works through a bulk change or reads list details:
a client that resets its request timeout on progress keeps waiting. Nothing is sent to a client that did not ask.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import httpx
import pytest
from mcp.types import ProgressNotification

from tests.conftest import RecordingTransport, data, session
from ubiops_services_mcp.sandbox import create_app
from ubiops_services_mcp.settings import Settings

pytestmark = pytest.mark.anyio

BUSY = httpx.Response(503, headers={"Retry-After": "0"}, json={"error": "busy"})


@dataclass
class Hiccups(httpx.AsyncBaseTransport):
    """The sandbox, except that the requests `fails` picks get a 503 asking to retry at once."""

    inner: httpx.AsyncBaseTransport
    fails: Callable[[httpx.Request], bool]

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self.fails(request):
            return BUSY
        return await self.inner.handle_async_request(request)


@dataclass
class Heard:
    """What a client that asked for progress hears: (progress, total, message) in order."""

    notes: list[tuple[float, float | None, str | None]] = field(
        default_factory=list[tuple[float, float | None, str | None]]
    )

    async def __call__(self, progress: float, total: float | None, message: str | None) -> None:
        self.notes.append((progress, total, message))

    @property
    def messages(self) -> list[str | None]:
        return [message for _, _, message in self.notes]

    def strictly_increasing(self) -> bool:
        values = [progress for progress, _, _ in self.notes]
        return all(a < b for a, b in itertools.pairwise(values))


def once_each(method: str, path_end: str) -> Callable[[httpx.Request], bool]:
    """The first `method` request to each path ending in `path_end` fails once."""
    seen: set[str] = set()

    def fails(request: httpx.Request) -> bool:
        path = request.url.path
        if request.method != method or not path.endswith(path_end) or path in seen:
            return False
        seen.add(path)
        return True

    return fails


def sandbox_with(fails: Callable[[httpx.Request], bool]) -> RecordingTransport:
    return RecordingTransport(Hiccups(httpx.ASGITransport(app=create_app(":memory:")), fails))


async def seed(client: Any, *names: str) -> None:
    for name in names:
        service = {"name": name, "deployment": "hello-world", "port": 8080, "description": f"{name} endpoint"}
        await client.call_tool("services_create", {"data": service})


async def test_a_retry_is_told_to_a_waiting_client(settings: Settings, mode: str) -> None:
    wire = sandbox_with(once_each("GET", "/services/web"))
    heard = Heard()
    async with session(settings, wire, mode) as client:
        await seed(client, "web")
        result = await client.call_tool("services_get", {"service_name": "web"}, progress_callback=heard)
    assert not result.is_error
    assert [r.line for r in wire.service_requests][-2:] == ["GET /v2.1/projects/demo/services/web"] * 2
    assert heard.messages == ["get: server_error; attempt 2 of 3 in 0.0 s"]


async def test_a_bulk_change_tells_each_step_and_each_retry(settings: Settings, mode: str) -> None:
    wire = sandbox_with(once_each("PATCH", "/services/b"))
    heard = Heard()
    async with session(replace(settings, confirmation="flag", elicitation=False), wire, mode) as client:
        await seed(client, "a", "b", "c")
        args = {"service_names": ["a", "b", "c"], "data": {"port": 9090}, "confirm": True}
        result = await client.call_tool("services_update", args, progress_callback=heard)
    assert data(result)["outcome"] == "applied"
    assert [line for line in wire.lines if line.startswith("PATCH")] == [
        "PATCH /v2.1/projects/demo/services/a",
        "PATCH /v2.1/projects/demo/services/b",
        "PATCH /v2.1/projects/demo/services/b",
        "PATCH /v2.1/projects/demo/services/c",
    ]
    assert heard.messages == [
        "read 1 of 3 services",  # the plan: each service's current configuration
        "read 2 of 3 services",
        "read 3 of 3 services",
        "update: 1 of 3 applied",
        "update: server_error; attempt 2 of 3 in 0.0 s",
        "update: 2 of 3 applied",
        "update: 3 of 3 applied",
    ]
    assert heard.strictly_increasing()


async def test_the_plans_reads_and_the_changes_share_one_growing_count(settings: Settings) -> None:
    wire = sandbox_with(once_each("GET", "/services/a"))
    heard = Heard()
    async with session(replace(settings, confirmation="flag", elicitation=False), wire) as client:
        await seed(client, "a", "b")
        args = {"service_names": ["a", "b"], "confirm": True}
        result = await client.call_tool("services_delete", args, progress_callback=heard)
    assert data(result)["outcome"] == "applied"
    assert heard.messages == [
        "get: server_error; attempt 2 of 3 in 0.0 s",  # the plan, read by a resolver before the tool's body
        "read 1 of 2 services",
        "read 2 of 2 services",
        "delete: 1 of 2 applied",
        "delete: 2 of 2 applied",
    ]
    assert [progress for progress, _, _ in heard.notes] == [1, 2, 3, 4, 5]


async def test_list_details_tell_each_service_read(settings: Settings, mode: str) -> None:
    wire = sandbox_with(lambda request: False)
    heard = Heard()
    async with session(settings, wire, mode) as client:
        await seed(client, "a", "b", "c")
        result = await client.call_tool("services_list", {"fields": ["description"]}, progress_callback=heard)
    assert [s["description"] for s in data(result)["services"]] == ["a endpoint", "b endpoint", "c endpoint"]
    assert heard.messages == ["read 1 of 3 services", "read 2 of 3 services", "read 3 of 3 services"]
    assert heard.strictly_increasing()


async def test_a_client_that_did_not_ask_hears_nothing(settings: Settings) -> None:
    wire = sandbox_with(once_each("GET", "/services/web"))
    received: list[Any] = []

    async def every_message(message: Any) -> None:
        received.append(getattr(message, "root", message))

    async with session(settings, wire, message_handler=every_message) as client:
        await seed(client, "web")
        result = await client.call_tool("services_get", {"service_name": "web"})
        assert not result.is_error
        retried = [r.line for r in wire.service_requests][-2:]
        assert retried == ["GET /v2.1/projects/demo/services/web"] * 2  # it retried: there was news
        assert not any(isinstance(message, ProgressNotification) for message in received)
        wire.inner.fails = once_each("GET", "/services/web")  # type: ignore[attr-defined]
        await client.call_tool("services_get", {"service_name": "web"}, progress_callback=Heard())
    assert any(isinstance(message, ProgressNotification) for message in received)  # this handler does hear them
