"""Three `--stateless` replicas behind a real HAProxy: a change previewed on one replica is confirmed on another,
and a replica killed mid-run costs a bounded number of calls while the others keep serving.

The harness is benchmarks/replicas.py (the full-size figures: `python benchmarks/replicas.py`). Skipped where
`haproxy` is not installed (.ci/run installs it when it can).
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import anyio
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

BENCH_DIR = Path(__file__).resolve().parents[2] / "benchmarks"
MAX_FAILOVER_FAILURES = 12  # calls in flight on the killed replica, and those sent before HAProxy marks it down


@pytest.fixture(scope="module")
def harness() -> ModuleType:
    """benchmarks/replicas.py, importable (it imports benchmarks/common.py); skips without haproxy."""
    if str(BENCH_DIR) not in sys.path:
        sys.path.insert(0, str(BENCH_DIR))
    spec = importlib.util.spec_from_file_location("benchmarks_replicas", BENCH_DIR / "replicas.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is made
    spec.loader.exec_module(module)
    if module.haproxy() is None:
        pytest.skip("haproxy is not installed (apt-get install haproxy)")
    return module


def audit(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


async def call(url: str, pin: str | None, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
    """One call in a fresh stateless client; `pin` makes HAProxy send every request of it to that replica."""
    headers = {"x-replica": pin} if pin else None
    async with httpx2.AsyncClient(timeout=30, headers=headers) as http:
        async with Client(streamable_http_client(url, http_client=http), mode="legacy") as client:
            result = await client.call_tool(tool, arguments)
    assert result.structured_content is not None
    return result.structured_content


async def test_preview_on_one_replica_confirm_on_another(harness: ModuleType) -> None:
    with harness.cluster(3) as nodes:
        create = {"data": {"name": "shared", "deployment": "hello-world", "port": 8080}}
        await call(nodes.url, None, "services_create", create)
        update = {"service_name": "shared", "data": {"port": 9090}}
        preview = await call(nodes.url, "r1", "services_update", update)
        confirm = {**update, "confirm": True, "confirmation_token": preview["confirmation_token"]}
        applied = await call(nodes.url, "r2", "services_update", confirm)
        served = nodes.served_by()
        async with httpx2.AsyncClient(timeout=30) as http:
            r2_metrics = (await http.get(f"http://127.0.0.1:{nodes.ports['r2']}/metrics")).text
            front = f"http://127.0.0.1:{nodes.front}/readyz"
            ready = [await http.get(front, headers={"x-replica": name}) for name in nodes.ports]
        lines = {
            name: [e["outcome"] for e in audit(nodes.audit(name)) if e["service"] == "shared"] for name in nodes.ports
        }
    assert preview["outcome"] == "preview"
    assert applied["outcome"] == "applied", applied
    assert applied["approved_by"] == "token"
    # The proof that two replicas served the two steps: each wrote its own audit log.
    assert lines["r1"][-1:] == ["preview"]
    assert lines["r2"] == ["applied"]
    assert {"r1", "r2"} <= set(served)
    assert 'ubiops_mcp_tool_calls_total{outcome="applied",tool="services_update"} 1.0' in r2_metrics
    assert [(r.status_code, r.json()["status"]) for r in ready] == [(200, "ready")] * 3


async def test_a_killed_replica_costs_a_bounded_number_of_calls(harness: ModuleType, load_report: list[str]) -> None:
    clients, calls, kill_after = 4, 40, 40
    results = harness.Results()
    with harness.cluster(3) as nodes:
        before: list[str] = []

        async def killer() -> None:
            for _ in range(6000):  # bounded: at most a minute
                if results.calls >= kill_after:
                    break
                await anyio.sleep(0.01)
            before.extend(nodes.served_by())
            nodes.kill("r2")

        async with anyio.create_task_group() as group:
            group.start_soon(killer)
            for _ in range(clients):
                group.start_soon(harness.worker, nodes.url, calls, results)
        served = nodes.served_by()
    after = served[len(before) :]
    late = after[len(after) // 2 :]
    load_report.append(
        f"Replica failover: 3 replicas behind HAProxy, {clients} clients x {calls} calls, r2 SIGKILLed after "
        f"{kill_after} calls: {len(results.failures)} failed of {results.calls}; requests before the kill by "
        f"replica {_count(before)}, after {_count(after)}.\n"
    )
    assert results.calls == clients * calls
    assert len(results.failures) <= MAX_FAILOVER_FAILURES, results.failures
    assert "r2" in before
    assert set(late) <= {"r1", "r3"}, "HAProxy still sends to the killed replica"
    assert len(late) > 10


def _count(served: list[str]) -> dict[str, int]:
    return {name: served.count(name) for name in sorted(set(served))}
