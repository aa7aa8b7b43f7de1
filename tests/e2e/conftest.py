"""Fixtures of the end-to-end tests: the npm clients (installed once per session) and the installed server."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

E2E_DIR = Path(__file__).resolve().parent
NPM_TIMEOUT_S = 300
LOCAL_NODE_MAJOR = 22
LOCAL_NODE = "node@22.23.3"  # the registry's `node` package: a Node binary, for machines whose Node is older


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


def node_required() -> tuple[int, ...]:
    """The oldest Node the pinned MCP Inspector supports: its `engines` in the lock file (">=22.19.0")."""
    lock = json.loads((E2E_DIR / "package-lock.json").read_text())
    engines = lock["packages"]["node_modules/@modelcontextprotocol/inspector"]["engines"]["node"]
    found = re.fullmatch(r">=\s*(\d+)\.(\d+)\.(\d+)", engines)
    assert found is not None, f"unexpected engines.node {engines!r} of the Inspector"
    return tuple(int(part) for part in found.groups())


def _node_version(node: str) -> tuple[int, ...]:
    done = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=60, check=True)
    return tuple(int(part) for part in done.stdout.strip().lstrip("v").split("."))


@contextmanager
def _shown(request: pytest.FixtureRequest) -> Iterator[None]:
    """Lines and npm's own output reach the terminal, not pytest's capture: a minute of silence looks like a hang."""
    capture: Any = request.config.pluginmanager.getplugin("capturemanager")
    if capture is None:  # -p no:capture: nothing to get past
        yield
        return
    with capture.global_and_fixture_disabled():
        yield


def _local_node(npm: str, request: pytest.FixtureRequest) -> Path:
    """A Node that meets the Inspector's `engines`, from the npm registry's `node` package, in tests/e2e/.node."""
    prefix = E2E_DIR / ".node"
    bin_dir = prefix / "node_modules" / ".bin"
    if not (bin_dir / "node").exists() or _node_version(str(bin_dir / "node"))[:1] != (LOCAL_NODE_MAJOR,):
        with _shown(request):
            need = ".".join(map(str, node_required()))
            print(f"\ntests/e2e: this Node is older than the Inspector's {need}: npm install {LOCAL_NODE} "
                  f"into {prefix} (once, ~30 s)", file=sys.stderr, flush=True)  # fmt: skip
            command = [npm, "install", "--prefix", str(prefix), "--no-audit", "--no-fund", "--no-save", LOCAL_NODE]
            done = subprocess.run(command, timeout=NPM_TIMEOUT_S, check=False)
        assert done.returncode == 0, f"{' '.join(command)} failed (exit {done.returncode})"
    return bin_dir


@pytest.fixture(scope="session")
def node_modules(request: pytest.FixtureRequest) -> Iterator[Path]:
    """tests/e2e/node_modules with the pinned clients (`npm ci` when missing or older than the lock file), run by
    a Node the Inspector supports: the machine's, or else a local Node 22 put first on PATH for the session."""
    npm = _tool("npm")
    node = _tool("node")
    with pytest.MonkeyPatch.context() as patch:
        if _node_version(node) < node_required():
            patch.setenv("PATH", f"{_local_node(npm, request)}{os.pathsep}{os.environ['PATH']}")
        modules = E2E_DIR / "node_modules"
        if not _installed(modules):
            started = time.monotonic()
            command = [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"]
            with _shown(request):
                print("\ntests/e2e: npm ci (the pinned clients, first run only, ~1 min)", file=sys.stderr, flush=True)
                done = subprocess.run(command, cwd=E2E_DIR, timeout=NPM_TIMEOUT_S, check=False)
                print(f"tests/e2e: npm ci took {time.monotonic() - started:.1f}s", file=sys.stderr, flush=True)
            assert done.returncode == 0, f"npm ci failed (exit {done.returncode}); its output is above"
        yield modules


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
