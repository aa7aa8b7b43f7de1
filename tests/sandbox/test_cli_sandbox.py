"""`ubiops-services-mcp sandbox --port P`: the standalone sandbox over real HTTP, any non-empty token."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.conftest import free_port

SCRIPT = str(Path(sys.executable).parent / "ubiops-services-mcp")


def test_standalone_sandbox_command(tmp_path: Path) -> None:
    port = free_port()
    db = tmp_path / "sandbox.sqlite3"
    env = {"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    process = subprocess.Popen(
        [SCRIPT, "sandbox", "--port", str(port), "--sandbox-db", str(db)],
        env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}/v2.1"
    try:
        with httpx.Client(base_url=base + "/", timeout=5) as http:
            deadline = time.monotonic() + 20
            while True:
                try:
                    assert http.get("status").json() == {"status": "ok"}
                    break
                except httpx.TransportError:
                    assert time.monotonic() < deadline, "sandbox did not start"
                    time.sleep(0.05)
            body = {"name": "svc", "deployment": "hello-world", "port": 8080}
            assert http.post("projects/demo/services", json=body).status_code == 401
            created = http.post("projects/demo/services", json=body, headers={"Authorization": "Token anything"})
            assert created.status_code == 201
            assert created.json()["version"] is None
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=20)
    assert f"http://127.0.0.1:{port}/v2.1" in stderr
    assert db.exists()
