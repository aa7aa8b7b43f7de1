"""`pip install .` into a fresh virtual environment gives a working `ubiops-services-mcp` console script.

The fresh venv borrows the dependencies (mcp, httpx, pydantic) from the test venv through a .pth file, so the
test needs no network; the project itself is built and installed by pip as a user would, not editable.
"""

from __future__ import annotations

import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
from mcp import Client, StdioServerParameters

from ubiops_services_mcp import __version__

pytestmark = pytest.mark.anyio
ROOT = Path(__file__).resolve().parents[2]


def make_fresh_venv(where: Path) -> Path:
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(where)], check=True, timeout=120)
    python = where / "bin" / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True, capture_output=True, text=True, timeout=60,
    ).stdout.strip()  # fmt: skip
    (Path(purelib) / "_deps_from_test_venv.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return python


@pytest.fixture
def installed_script(tmp_path: Path) -> Path:
    """`pip install .` (not editable) into a fresh venv; the console script pip generated."""
    python = make_fresh_venv(tmp_path / "venv")
    install = [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--quiet", str(ROOT)]
    subprocess.run(install, check=True, capture_output=True, timeout=300)
    script = tmp_path / "venv" / "bin" / "ubiops-services-mcp"
    version = subprocess.run([str(script), "--version"], capture_output=True, text=True, timeout=60, check=True)
    assert version.stdout.strip() == f"ubiops-services-mcp {__version__}"
    where = subprocess.run(
        [str(python), "-c", "import ubiops_services_mcp as m; print(m.__file__)"],
        capture_output=True, text=True, timeout=60, check=True,
    ).stdout  # fmt: skip
    assert where.startswith(str(tmp_path / "venv")), "the installed copy, not the checkout, must be imported"
    return script


@pytest.mark.slow
async def test_pip_install_into_a_fresh_venv_gives_the_console_script(tmp_path: Path, installed_script: Path) -> None:
    script = installed_script
    env = {"HOME": str(tmp_path), "UBIOPS_SANDBOX_DB": ":memory:", "UBIOPS_MCP_AUDIT_LOG": str(tmp_path / "a.jsonl")}
    async with Client(StdioServerParameters(command=str(script), env=env), mode="legacy") as client:
        tools = [tool.name for tool in (await client.list_tools()).tools]
        prompts = [prompt.name for prompt in (await client.list_prompts()).prompts]
        created = await client.call_tool(
            "services_create", {"data": {"name": "svc", "deployment": "hello-world", "port": 8080}}
        )
    assert len(tools) == 6
    assert len(prompts) == 4
    assert not created.is_error
