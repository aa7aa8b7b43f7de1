"""Every fault an API can throw at the client, through the MCP tools over a real loopback socket.

For each fault: the requests the fake received, the changes it applied, the tool's error code, how
long the call took, and that the server serves the next call. Mutations are never applied twice and a
POST is re-sent only when it surely was not applied (connection refused, 429).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from tests.conftest import data, free_port
from tests.faults.conftest import fault_settings
from tests.faults.fake_api import Behaviour, Delay, Drop, FakeApi, Huge, Normal, Reply, Truncate, json_reply
from ubiops_services_mcp.api.responses import MAX_BODY_BYTES
from ubiops_services_mcp.app import create_server

pytestmark = pytest.mark.anyio

BUDGET_S = 2.0
MAX_ATTEMPTS = 3
HTML = b"<html><head><title>502 Bad Gateway</title></head><body><h1>Bad Gateway</h1></body></html>"
MB = 1024 * 1024


def busy(status: int, *headers: tuple[str, str]) -> Reply:
    return json_reply(status, {"error": f"status {status}"}, headers=headers)


RETRY_AFTER = busy(429, ("Retry-After", "1"))
RATELIMIT_RESET = busy(429, ("x-ratelimit-limit", "100"), ("x-ratelimit-remaining", "0"), ("x-ratelimit-reset", "1"))


@dataclass(frozen=True)
class Fault:
    """One row: the tool called, what the API does to the request that matters, and what must come out."""

    name: str
    tool: str
    behaviours: tuple[Behaviour, ...]
    outcome: str  # an error code, or "ok"
    requests: int | tuple[int, int]  # exact, or an inclusive range when the retry budget decides
    applied: int = 0
    settle: tuple[Behaviour, ...] = ()  # what the GET that settles an unknown create gets
    extra: dict[str, Any] = field(default_factory=dict[str, Any])

    @property
    def method(self) -> str:
        return {"services_create": "POST", "services_update": "PATCH", "services_delete": "DELETE"}.get(
            self.tool, "GET"
        )


R = (2, MAX_ATTEMPTS)  # attempts decided by Retry-After against the budget
GET, CREATE, UPDATE, DELETE = "services_get", "services_create", "services_update", "services_delete"

FAULTS = [
    # reads: every transient failure is retried within the bounds
    Fault("429 Retry-After: 1", GET, (RETRY_AFTER,), "rate_limited", R),
    Fault("429 Retry-After: 1, then 200", GET, (RETRY_AFTER, Normal()), "ok", 2),
    Fault("429 x-ratelimit-reset: 1", GET, (RATELIMIT_RESET,), "rate_limited", R),
    Fault("429 x-ratelimit-reset: 1, then 200", GET, (RATELIMIT_RESET, Normal()), "ok", 2),
    Fault("429 without headers", GET, (busy(429),), "rate_limited", MAX_ATTEMPTS),
    Fault("500", GET, (busy(500),), "server_error", 1),
    Fault("502", GET, (busy(502),), "server_error", MAX_ATTEMPTS),
    Fault("503", GET, (busy(503),), "server_error", MAX_ATTEMPTS),
    Fault("504", GET, (busy(504),), "server_error", MAX_ATTEMPTS),
    Fault("503, then 200", GET, (busy(503), Normal()), "ok", 2),
    Fault("answer after 5 s (timeout 0.3 s)", GET, (Delay(5),), "timeout", MAX_ATTEMPTS),
    Fault("connection dropped after the request", GET, (Drop(),), "unreachable", MAX_ATTEMPTS),
    Fault("truncated JSON (connection closed mid-body)", GET, (Truncate(),), "unreachable", MAX_ATTEMPTS),
    Fault("invalid JSON, complete body", GET, (Reply(200, b'{"id": "x", "na'),), "invalid_response", 1),
    Fault("HTML error page, 502", GET, (Reply(502, HTML, "text/html"),), "server_error", MAX_ATTEMPTS),
    Fault("HTML page, 200", GET, (Reply(200, HTML, "text/html"),), "invalid_response", 1),
    Fault("wrong content type (text/plain JSON)", GET, (Reply(200, b'{"id": "x"}', "text/plain"),),
          "invalid_response", 1),
    Fault("50 MB body, Content-Length", GET, (Huge(50 * MB),), "response_too_large", 1),
    Fault("50 MB body, chunked", GET, (Huge(50 * MB, declared=False),), "response_too_large", 1),
    # create: a POST is re-sent only when it surely was not applied; an unknown outcome is settled by a GET
    Fault("429 Retry-After: 1, then 201", CREATE, (RETRY_AFTER, Normal()), "ok", 2, applied=1),
    Fault("429 without headers", CREATE, (busy(429),), "rate_limited", MAX_ATTEMPTS),
    Fault("500", CREATE, (busy(500),), "server_error", 1),
    Fault("503", CREATE, (busy(503),), "server_error", 1),
    Fault("502 after the API applied it", CREATE, (Reply(502, HTML, "text/html", apply=True),), "ok", 1, applied=1),
    Fault("504, not applied", CREATE, (busy(504),), "outcome_unknown", 1),
    Fault("dropped before applying", CREATE, (Drop(),), "outcome_unknown", 1),
    Fault("dropped after applying", CREATE, (Drop(apply=True),), "ok", 1, applied=1),
    Fault("answer after 5 s, applied at once", CREATE, (Delay(5, apply=True),), "ok", 1, applied=1),
    Fault("truncated answer, applied", CREATE, (Truncate(apply=True),), "ok", 1, applied=1),
    Fault("API hangs: POST and the settling GET", CREATE, (Delay(5),), "outcome_unknown", 1, settle=(Delay(5),)),
    Fault("dropped, and the settling GET dropped too", CREATE, (Drop(apply=True),), "outcome_unknown", 1,
          applied=1, settle=(Drop(),)),
    Fault("429 without headers", UPDATE, (busy(429),), "rate_limited", MAX_ATTEMPTS),
    Fault("503, then 200", UPDATE, (busy(503), Normal()), "ok", 2, applied=1),
    Fault("500", UPDATE, (busy(500),), "server_error", 1),
    Fault("dropped after applying, then 200", UPDATE, (Drop(apply=True), Normal()), "ok", 2, applied=2,
          extra={"note": "same body twice: idempotent"}),
    Fault("answer after 5 s, applied each time", UPDATE, (Delay(5, apply=True),), "timeout", MAX_ATTEMPTS,
          applied=MAX_ATTEMPTS, extra={"note": "same body each time: idempotent"}),
    Fault("429 Retry-After: 1, then 204", DELETE, (RETRY_AFTER, Normal()), "ok", 2, applied=1),
    Fault("503, then 204", DELETE, (busy(503), Normal()), "ok", 2, applied=1),
    Fault("dropped after applying, retry gets 404", DELETE, (Drop(apply=True), Normal()), "ok", 2, applied=1),
    Fault("500", DELETE, (busy(500),), "server_error", 1),
]  # fmt: skip


SERVICE = {"name": "svc", "deployment": "hello-world", "port": 8080}


def arguments(fault: Fault, project: str) -> dict[str, Any]:
    if fault.tool == CREATE:
        return {"project_name": project, "data": SERVICE}
    if fault.tool == UPDATE:
        return {"project_name": project, "service_name": "svc", "data": {"port": 9090}, "confirm": True}
    if fault.tool == DELETE:
        return {"project_name": project, "service_name": "svc", "confirm": True}
    return {"project_name": project, "service_name": "svc"}


def outcome_of(result: Any) -> tuple[str, str]:
    body = data(result)
    if not result.is_error:
        return "ok", "-"
    return body["error"]["code"], str(body["error"]["retryable"]).lower()


def fault_id(fault: Fault) -> str:
    return f"{fault.method}-{fault.name}"


@pytest.mark.parametrize("fault", FAULTS, ids=[fault_id(f) for f in FAULTS])
async def test_fault(fault: Fault, fake: FakeApi, tmp_path: Path, fault_table: list[tuple[str, ...]]) -> None:
    project = f"p{FAULTS.index(fault)}"
    path = f"/projects/{project}/services" + ("" if fault.tool == CREATE else "/svc")
    if fault.tool != CREATE:
        fake.add_service(project, "svc")
    fake.add_service(project, "healthy")
    fake.script(fault.method, path, *fault.behaviours)
    if fault.settle:
        fake.script("GET", f"/projects/{project}/services/svc", *fault.settle)
    sent_before = fake.body_bytes_sent
    async with Client(create_server(fault_settings(fake.url, tmp_path / "audit.jsonl")), mode="legacy") as client:
        started = time.monotonic()
        result = await client.call_tool(fault.tool, arguments(fault, project))
        seconds = time.monotonic() - started
        after = await client.call_tool("services_get", {"project_name": project, "service_name": "healthy"})

    code, retryable = outcome_of(result)
    requests = fake.count(fault.method, path)
    applied = fake.applied_to(fault.method, path)
    fault_table.append(
        (fault.name, f"{fault.tool} ({fault.method})", str(requests), str(applied), code, retryable,
         f"{seconds:.2f}", "served" if not after.is_error else "FAILED")
    )  # fmt: skip

    assert code == fault.outcome, data(result)
    low, high = fault.requests if isinstance(fault.requests, tuple) else (fault.requests, fault.requests)
    assert low <= requests <= high
    assert applied == fault.applied
    if result.is_error:
        error = data(result)["error"]
        assert error["attempts"] == requests
        assert error["hint"]
    assert seconds < BUDGET_S + 2, "a hung or failing API answers within the retry budget"
    assert not after.is_error, "the server must serve the next call"
    if fault.method == "POST":
        assert applied <= 1, "a create is never applied twice"
        resent = fault.behaviours[: requests - 1]
        assert all(isinstance(b, Reply) and b.status == 429 for b in resent), "re-sent only when surely not applied"
    if fault.behaviours[0] in (RETRY_AFTER, RATELIMIT_RESET) and requests > 1:
        first_at, second_at = fake.times(fault.method, path)[:2]
        assert second_at - first_at >= 0.95, "the retry must wait as long as the API asked"
    if isinstance(fault.behaviours[0], Huge):
        assert fake.body_bytes_sent - sent_before < 50 * MB, "a runaway body must not be read whole"
        assert data(result)["error"]["retryable"] is False


async def test_unreachable_api_is_retried_then_reported(tmp_path: Path, fault_table: list[tuple[str, ...]]) -> None:
    """Connection refused: surely not applied, so even a create is retried, and the server stays up."""
    settings = fault_settings(f"http://127.0.0.1:{free_port()}/v2.1", tmp_path / "audit.jsonl")
    create = {"data": SERVICE}
    async with Client(create_server(settings), mode="legacy") as client:
        for tool, args in (("services_get", {"service_name": "svc"}), ("services_create", create)):
            started = time.monotonic()
            result = await client.call_tool(tool, args)
            seconds = time.monotonic() - started
            error = data(result)["error"]
            method = "POST" if tool == "services_create" else "GET"
            row = (error["code"], str(error["retryable"]).lower(), f"{seconds:.2f}", "served")
            fault_table.append(("connection refused", f"{tool} ({method})", f"{error['attempts']} (client)", "0", *row))
            assert error["code"] == "unreachable"
            assert error["attempts"] == MAX_ATTEMPTS
            assert seconds < BUDGET_S + 2


async def test_audit_log_records_each_failed_mutation_once(fake: FakeApi, tmp_path: Path) -> None:
    """A failed create leaves one audit line with its error code, never one per attempt."""
    fake.script("POST", "/projects/audit/services", busy(429))
    audit = tmp_path / "audit.jsonl"
    async with Client(create_server(fault_settings(fake.url, audit)), mode="legacy") as client:
        await client.call_tool("services_create", {"project_name": "audit", "data": SERVICE})
    lines = [json.loads(line) for line in audit.read_text().splitlines()]
    assert [(line["outcome"], line["error_code"]) for line in lines] == [("failed", "rate_limited")]
    assert fake.count("POST", "/projects/audit/services") == MAX_ATTEMPTS


def test_the_size_cap_is_below_the_runaway_body() -> None:
    assert MAX_BODY_BYTES < 50 * MB
