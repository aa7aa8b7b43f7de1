"""The console script with `--log-format json` and the audit log on stdout: every stderr line is a JSON log
record, every stdout line an audit record, and the probes answer beside /mcp."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from tests.conftest import free_port
from tests.security.process import SCRIPT, Spawned, base_env, stop, wait_listening

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

SECRET = "hmac-secret-never-logged-0123456789abcdefghij"


def start(tmp_path: Path, port: int) -> subprocess.Popen[bytes]:
    """The server with JSON logs and the audit log on stdout; its stdout and stderr go to files in tmp_path."""
    env = base_env(tmp_path, UBIOPS_MCP_AUDIT_LOG="-", UBIOPS_MCP_SECRET=SECRET)
    args = [str(SCRIPT), "--transport", "http", "--port", str(port), "--log-format", "json", "--stateless"]
    with (tmp_path / "stdout").open("wb") as stdout, (tmp_path / "stderr").open("wb") as stderr:
        return subprocess.Popen(args, env=env, stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr)


async def test_json_logs_on_stderr_and_audit_on_stdout(tmp_path: Path) -> None:
    port = free_port()
    out, err = tmp_path / "stdout", tmp_path / "stderr"
    process = start(tmp_path, port)
    try:
        wait_listening(Spawned(process, port, err))
        base = f"http://127.0.0.1:{port}"
        async with httpx2.AsyncClient(timeout=30) as http:
            async with Client(streamable_http_client(f"{base}/mcp", http_client=http), mode="legacy") as client:
                data = {"name": "logged", "deployment": "hello-world", "port": 8080}
                created = await client.call_tool("services_create", {"data": data})
            probes = {path: await http.get(base + path) for path in ("/healthz", "/readyz", "/metrics")}
    finally:
        stop(process)
    assert not created.is_error
    assert {path: answer.status_code for path, answer in probes.items()} == dict.fromkeys(probes, 200)
    assert 'ubiops_mcp_tool_calls_total{outcome="ok",tool="services_create"} 1.0' in probes["/metrics"].text
    audit = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(a["tool"], a["service"]) for a in audit] == [("services_create", "logged")]
    records = [json.loads(line) for line in err.read_text().splitlines() if line.strip()]
    assert records, "the start-up notice at least"
    assert all({"time", "level", "logger", "message"} <= set(r) for r in records)
    assert any("SANDBOX mode" in r["message"] for r in records)
    assert SECRET not in out.read_text() + err.read_text()
