"""The installed command line: --help, --version and `check` against the sandbox, a live API and no API."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import TOKEN, LiveServer, free_port
from tests.faults.fake_api import Delay, FakeApi
from ubiops_services_mcp import __version__
from ubiops_services_mcp.options import OPTIONS

pytestmark = pytest.mark.slow

TIMEOUT_S = 60


def command() -> str:
    """The console script installed beside the running interpreter (the project's venv)."""
    found = shutil.which("ubiops-services-mcp", path=str(Path(sys.executable).parent))
    assert found is not None
    return found


def run(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """The command with a clean UBIOPS_* environment and a private HOME, so no user file is touched."""
    base = {key: value for key, value in os.environ.items() if not key.startswith("UBIOPS_")}
    base |= {"HOME": str(tmp_path), "UBIOPS_MCP_AUDIT_LOG": str(tmp_path / "audit.jsonl"), **env}
    return subprocess.run([command(), *args], env=base, capture_output=True, text=True, timeout=TIMEOUT_S)


def test_help_names_every_setting_and_command(tmp_path: Path) -> None:
    done = run(tmp_path, "--help")
    assert done.returncode == 0
    for option in OPTIONS:
        assert option.env in done.stdout, option.env
        assert option.flag in done.stdout, option.flag
    for word in ("sandbox", "check", "--transport"):
        assert word in done.stdout


def test_version_is_the_package_version(tmp_path: Path) -> None:
    done = run(tmp_path, "--version")
    assert (done.returncode, done.stdout.strip()) == (0, f"ubiops-services-mcp {__version__}")


def test_check_passes_on_the_embedded_sandbox(tmp_path: Path) -> None:
    done = run(tmp_path, "check", UBIOPS_SANDBOX_DB=str(tmp_path / "sandbox.sqlite3"))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "sandbox" in done.stdout
    assert "FAIL" not in done.stdout
    assert "'demo'" in done.stdout
    assert "the sandbox needs no token" in done.stdout  # there is no token to accept: it said "token accepted"
    assert "token accepted" not in done.stdout
    assert "waiting up to 10 s for GET /status" in done.stdout  # the default: a hang costs a person 10 s


def test_check_passes_against_a_live_api(tmp_path: Path, live_sandbox: LiveServer) -> None:
    done = run(tmp_path, "check", UBIOPS_API_HOST=live_sandbox.url, UBIOPS_API_TOKEN=TOKEN, UBIOPS_PROJECT="demo")
    assert done.returncode == 0, done.stdout + done.stderr
    assert live_sandbox.url in done.stdout
    assert "FAIL" not in done.stdout
    assert "ok   token accepted" in done.stdout
    assert TOKEN not in done.stdout + done.stderr


def test_check_names_a_project_that_does_not_exist(tmp_path: Path, live_sandbox: LiveServer) -> None:
    done = run(tmp_path, "check", UBIOPS_API_HOST=live_sandbox.url, UBIOPS_API_TOKEN=TOKEN, UBIOPS_PROJECT="nope-42")
    assert done.returncode == 1
    assert "FAIL project" in done.stdout
    assert "'nope-42'" in done.stdout
    assert "UBIOPS_PROJECT" in done.stdout
    assert TOKEN not in done.stdout + done.stderr


def test_check_says_an_unreachable_host_is_unreachable(tmp_path: Path) -> None:
    host = f"http://127.0.0.1:{free_port()}/v2.1"  # bound once and closed: nothing listens there
    done = run(tmp_path, "check", UBIOPS_API_HOST=host, UBIOPS_API_TOKEN=TOKEN, UBIOPS_PROJECT="demo")
    assert done.returncode == 1
    assert "FAIL host" in done.stdout
    assert host in done.stdout
    assert "could not be reached" in done.stdout or "unreachable" in done.stdout.lower()
    assert TOKEN not in done.stdout + done.stderr


def test_check_says_it_waits_then_names_a_hang_as_a_hang(tmp_path: Path) -> None:
    """An API that accepts and never answers: `check` says what it waits for while it waits, gives up within its
    budget, and does not advise a longer UBIOPS_TIMEOUT (it said so before, after 61 s of silence)."""
    hanging = FakeApi().start()
    hanging.script("GET", "/status", Delay(3600))
    base = {key: value for key, value in os.environ.items() if not key.startswith("UBIOPS_")}
    base |= {"HOME": str(tmp_path), "UBIOPS_MCP_AUDIT_LOG": str(tmp_path / "audit.jsonl")}
    env = base | {"UBIOPS_API_HOST": hanging.url, "UBIOPS_API_TOKEN": TOKEN, "UBIOPS_RETRY_BUDGET": "5"}
    try:
        with subprocess.Popen([command(), "check"], env=env, stdout=subprocess.PIPE, text=True) as process:
            assert process.stdout is not None
            assert process.stdout.readline() == f"API: {hanging.url}\n"
            assert process.stdout.readline() == "     waiting up to 5 s for GET /status ...\n"
            assert process.poll() is None  # said while it waits (5 s), not with the verdict
            rest = process.stdout.read()
            assert process.wait(TIMEOUT_S) == 1
    finally:
        hanging.stop()
    assert "FAIL host" in rest
    assert "accepted the connection but did not answer GET /status within 5 s" in rest
    assert "does not fix a hang" in rest
    assert "raise UBIOPS_TIMEOUT" not in rest
    assert TOKEN not in rest
