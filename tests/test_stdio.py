"""The installed console script over stdio: against a live API, on its sandbox default, and as two replicas."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from mcp import Client, StdioServerParameters

from tests.conftest import LiveServer, data

pytestmark = pytest.mark.anyio

SCRIPT = str(Path(sys.executable).parent / "ubiops-services-mcp")
SERVICE = {"name": "svc", "deployment": "hello-world", "port": 8080, "labels": {"team": "ml"}}


def base_env(tmp_path: Path) -> dict[str, str]:
    """A clean environment: nothing from the developer's own UbiOps settings leaks in."""
    keep = {k: v for k, v in os.environ.items() if not k.startswith("UBIOPS")}
    return {**keep, "HOME": str(tmp_path), "UBIOPS_MCP_AUDIT_LOG": str(tmp_path / "audit.jsonl")}


@asynccontextmanager
async def stdio(env: dict[str, str], *args: str) -> AsyncIterator[Client]:
    params = StdioServerParameters(command=SCRIPT, args=list(args), env=env)
    async with Client(params, mode="legacy") as client:
        yield client


async def test_console_script_drives_a_live_api(tmp_path: Path, live_sandbox: LiveServer) -> None:
    env = {**base_env(tmp_path), "UBIOPS_API_TOKEN": "live-token", "UBIOPS_API_HOST": live_sandbox.url}
    env["UBIOPS_PROJECT"] = "demo"
    async with stdio(env) as client:
        assert "SANDBOX" not in (client.instructions or "")
        created = await client.call_tool("services_create", {"data": SERVICE})
        listed = await client.call_tool("services_list", {"labels": "team:ml"})
        got = await client.call_tool("services_get", {"service_name": "svc"})
        args: dict[str, Any] = {"service_name": "svc", "data": {"port": 9000}}
        token = data(await client.call_tool("services_update", args))["confirmation_token"]
        updated = await client.call_tool("services_update", {**args, "confirm": True, "confirmation_token": token})
        token = data(await client.call_tool("services_delete", {"service_name": "svc"}))["confirmation_token"]
        deleted = await client.call_tool(
            "services_delete", {"service_name": "svc", "confirm": True, "confirmation_token": token}
        )
    assert data(created)["sandbox"] is False
    assert [s["name"] for s in data(listed)["services"]] == ["svc"]
    assert data(got)["service"]["port"] == 8080
    assert data(updated)["changes"] == [{"field": "port", "before": 8080, "after": 9000}]
    assert data(deleted)["outcome"] == "applied"
    async with httpx.AsyncClient(base_url=live_sandbox.url + "/") as http:
        left = await http.get("projects/demo/services", headers={"Authorization": "Token x"})
    assert left.json() == []


async def test_sandbox_default_keeps_state_across_restarts(tmp_path: Path) -> None:
    env = {**base_env(tmp_path), "UBIOPS_SANDBOX_DB": str(tmp_path / "sandbox.sqlite3")}
    async with stdio(env) as client:
        assert "SANDBOX MODE" in (client.instructions or "")
        created = await client.call_tool("services_create", {"data": SERVICE})
    async with stdio(env) as client:
        listed = await client.call_tool("services_list", {})
    assert data(created)["sandbox"] is True
    assert data(created)["service"]["endpoint"].endswith(".invalid")
    assert [s["name"] for s in data(listed)["services"]] == ["svc"]


@pytest.mark.parametrize(
    ("secret_b", "outcome"),
    [("shared-secret-0123456789abcdefghijkl", "applied"), ("other-secret-0123456789abcdefghijklm", "refused")],
)
async def test_tokens_work_across_processes_sharing_the_secret(
    tmp_path: Path, live_sandbox: LiveServer, secret_b: str, outcome: str
) -> None:
    env = {**base_env(tmp_path), "UBIOPS_API_TOKEN": "t", "UBIOPS_API_HOST": live_sandbox.url}
    env["UBIOPS_PROJECT"] = "demo"
    async with stdio({**env, "UBIOPS_MCP_SECRET": "shared-secret-0123456789abcdefghijkl"}) as a:
        await a.call_tool("services_create", {"data": SERVICE})
        token = data(await a.call_tool("services_delete", {"service_name": "svc"}))["confirmation_token"]
    async with stdio({**env, "UBIOPS_MCP_SECRET": secret_b}) as b:
        result = await b.call_tool(
            "services_delete", {"service_name": "svc", "confirm": True, "confirmation_token": token}
        )
        remaining = await b.call_tool("services_list", {})
    assert data(result)["outcome"] == outcome
    assert len(data(remaining)["services"]) == (0 if outcome == "applied" else 1)


async def test_python_dash_m_runs_the_same_server(tmp_path: Path) -> None:
    env = {**base_env(tmp_path), "UBIOPS_SANDBOX_DB": ":memory:"}
    params = StdioServerParameters(command=sys.executable, args=["-m", "ubiops_services_mcp"], env=env)
    async with Client(params, mode="legacy") as client:
        tools = await client.list_tools()
    assert len(tools.tools) == 8


@pytest.mark.slow
def test_make_run_speaks_only_the_protocol_on_stdout(tmp_path: Path) -> None:
    """The README's `make run` as a client spawns it: set-up and make's own echo stay off stdout."""
    make = shutil.which("make")
    if make is None:
        pytest.skip("make is not installed")
    hello = {
        "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
    }  # fmt: skip
    env = {**base_env(tmp_path), "UBIOPS_SANDBOX_DB": ":memory:"}
    root = Path(__file__).parents[1]
    done = subprocess.run(
        [make, "-C", str(root), "--no-print-directory", "run"],
        input=json.dumps(hello) + "\n", capture_output=True, text=True, env=env, timeout=120, check=False,
    )  # fmt: skip
    lines = done.stdout.splitlines()
    assert lines, done.stderr
    assert [json.loads(line)["id"] for line in lines] == [1]  # the answer to initialize, and nothing else
