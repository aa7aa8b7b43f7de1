"""Installs as a user gets them: `pip install .` into an empty venv, and the MCP bundle's `uv run` from uv.lock.

Nothing is borrowed from the test venv: pip and uv fetch the declared dependencies from the package index, so
these tests prove that `dependencies` in pyproject.toml (and uv.lock) suffice to run the server.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from mcp import Client, StdioServerParameters

from ubiops_services_mcp import __version__

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
INSTALL_TIMEOUT_S = 600
UV = Path(sys.executable).parent / "uv"  # the Makefile installs the pinned uv into the venv


def clean_env(home: Path) -> dict[str, str]:
    """No UBIOPS_* and no VIRTUAL_ENV/PYTHONPATH of the test run: the fresh install must stand alone."""
    drop = ("UBIOPS_", "VIRTUAL_ENV", "PYTHONPATH", "UV_PROJECT_ENVIRONMENT")
    env = {key: value for key, value in os.environ.items() if not key.startswith(drop)}
    return env | {"HOME": str(home), "UBIOPS_SANDBOX_DB": ":memory:", "UBIOPS_MCP_AUDIT_LOG": str(home / "a.jsonl")}


@pytest.fixture
def installed_script(tmp_path: Path) -> Path:
    """`pip install .` (not editable, dependencies and all) into a fresh venv; the console script pip generated."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    python = venv / "bin" / "python"
    install = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", str(ROOT)]
    done = subprocess.run(install, capture_output=True, text=True, timeout=INSTALL_TIMEOUT_S, env=clean_env(tmp_path))
    assert done.returncode == 0, done.stdout + done.stderr
    # Only what the server declares: no dev tool came along, and the package is the installed copy.
    listed = subprocess.run(
        [str(python), "-m", "pip", "list", "--format", "json"], capture_output=True, text=True, timeout=120, check=True
    )
    names = {package["name"].lower() for package in json.loads(listed.stdout)}
    assert {"mcp", "httpx", "pydantic", "pyyaml", "ubiops-services-mcp"} <= names
    assert not names & {"pytest", "ruff", "pyright", "hypothesis", "ubiops"}, names
    where = subprocess.run(
        [str(python), "-c", "import ubiops_services_mcp as m; print(m.__file__)"],
        capture_output=True, text=True, timeout=60, check=True, env=clean_env(tmp_path),
    ).stdout  # fmt: skip
    assert where.startswith(str(venv)), "the installed copy, not the checkout, must be imported"
    script = venv / "bin" / "ubiops-services-mcp"
    version = subprocess.run([str(script), "--version"], capture_output=True, text=True, timeout=60)
    assert version.stdout.strip() == f"ubiops-services-mcp {__version__}"
    return script


@pytest.mark.anyio
async def test_pip_install_into_a_fresh_venv_gives_a_working_console_script(
    tmp_path: Path, installed_script: Path
) -> None:
    env = clean_env(tmp_path)
    async with Client(StdioServerParameters(command=str(installed_script), env=env), mode="legacy") as client:
        tools = [tool.name for tool in (await client.list_tools()).tools]
        prompts = [prompt.name for prompt in (await client.list_prompts()).prompts]
        created = await client.call_tool(
            "services_create", {"data": {"name": "svc", "deployment": "hello-world", "port": 8080}}
        )
    assert len(tools) == 8  # six services tools and two deployments tools
    assert len(prompts) == 4
    assert not created.is_error


def uv() -> str:
    if not UV.exists():
        pytest.skip(f"uv is not installed beside {sys.executable}: `make test` installs it")
    return str(UV)


def test_uv_lock_matches_pyproject(tmp_path: Path) -> None:
    """The lock that CI, `make` and the bundle install from is current: `uv lock --check` changes nothing."""
    done = subprocess.run(
        [uv(), "lock", "--check"], cwd=ROOT, capture_output=True, text=True, timeout=300, env=clean_env(tmp_path)
    )
    assert done.returncode == 0, f"uv.lock is out of date with pyproject.toml: run `make lock`\n{done.stderr}"


def test_the_bundle_command_runs_the_server_from_the_lock(tmp_path: Path) -> None:
    """manifest.json's command (`uv run --directory <bundle> --frozen --no-dev ...`) on the files a bundle holds."""
    manifest = json.loads((ROOT / "manifest.json").read_text())
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    for name in ("manifest.json", "pyproject.toml", "uv.lock", "README.md", "LICENSE"):
        shutil.copy2(ROOT / name, bundle / name)
    for name in ("server", "prompts"):
        shutil.copytree(ROOT / name, bundle / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    config = manifest["server"]["mcp_config"]
    args = [arg.replace("${__dirname}", str(bundle)) for arg in config["args"]]
    assert config["command"] == "uv"
    assert "--frozen" in args
    done = subprocess.run(
        [uv(), *args, "--version"], capture_output=True, text=True, timeout=INSTALL_TIMEOUT_S, env=clean_env(tmp_path)
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip() == f"ubiops-services-mcp {__version__}"
    installed = {path.name.split("-")[0].lower() for path in (bundle / ".venv").glob("lib/python*/site-packages/*")}
    assert "pytest" not in installed
    assert "ruff" not in installed
