"""Fixtures of the end-to-end tests: the npm clients (installed once per session) and the installed server."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

E2E_DIR = Path(__file__).resolve().parent
NPM_TIMEOUT_S = 300


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        pytest.skip(f"{name} is not on PATH: the end-to-end tests drive npm clients (install Node.js with npm)")
    return found


def installed_server() -> Path:
    """The console script of the installed package, beside the running interpreter (the project's venv)."""
    found = shutil.which("ubiops-services-mcp", path=str(Path(sys.executable).parent))
    assert found is not None, f"ubiops-services-mcp is not installed beside {sys.executable}"
    return Path(found)


def _installed(modules: Path) -> bool:
    """node_modules matches the lock file: npm writes its own copy of the lock there after an install."""
    stamp = modules / ".package-lock.json"
    return stamp.exists() and stamp.stat().st_mtime >= (E2E_DIR / "package-lock.json").stat().st_mtime


@pytest.fixture(scope="session")
def node_modules() -> Path:
    """tests/e2e/node_modules with the pinned clients: `npm ci` when missing or older than the lock file."""
    npm = _tool("npm")
    _tool("node")
    modules = E2E_DIR / "node_modules"
    if not _installed(modules):
        started = time.monotonic()
        command = [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"]
        done = subprocess.run(command, cwd=E2E_DIR, capture_output=True, text=True, timeout=NPM_TIMEOUT_S, check=False)
        assert done.returncode == 0, f"npm ci failed:\n{done.stdout}\n{done.stderr}"
        print(f"npm ci: {time.monotonic() - started:.1f}s", file=sys.stderr)
    return modules


def node_bin(modules: Path, name: str) -> Path:
    path = modules / ".bin" / name
    assert path.exists(), f"{name} missing from {modules}/.bin"
    return path


@pytest.fixture
def server_env(tmp_path: Path) -> dict[str, str]:
    """The environment of a server on the sandbox: no token, every file under tmp_path, a shared secret.

    The secret is shared because each Inspector call starts a new server process: a preview's confirmation
    token must verify in the next process, as it does between replicas.
    """
    env = {key: value for key, value in os.environ.items() if not key.startswith("UBIOPS_")}
    env |= {
        "HOME": str(tmp_path),
        "UBIOPS_SANDBOX_DB": str(tmp_path / "sandbox.sqlite3"),
        "UBIOPS_MCP_AUDIT_LOG": str(tmp_path / "audit.jsonl"),
        "UBIOPS_MCP_SECRET": "e2e-shared-secret-0123456789abcdefgh",
        "NO_UPDATE_NOTIFIER": "1",
        "npm_config_update_notifier": "false",
    }
    return env
