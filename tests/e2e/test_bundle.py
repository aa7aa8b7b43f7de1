"""The MCP Bundle: the official mcpb CLI validates manifest.json and packs a bundle of what a uv host needs."""

from __future__ import annotations

import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

from tests.e2e.conftest import node_bin

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
# A "uv" bundle is the project itself: the host builds it from pyproject.toml (which names README.md and LICENSE)
# with the exact versions of uv.lock (`uv run --frozen`).
BUNDLE_FILES = ("manifest.json", "pyproject.toml", "uv.lock", "README.md", "LICENSE")
BUNDLE_DIRS = ("server", "prompts")


def mcpb(modules: Path, *args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    command = [str(node_bin(modules, "mcpb")), *args]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=60, check=False)


def test_mcpb_validates_the_manifest(node_modules: Path) -> None:
    done = mcpb(node_modules, "validate", "manifest.json")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "validation passes" in done.stdout


def test_mcpb_packs_a_bundle_with_the_server_and_its_prompts(node_modules: Path, tmp_path: Path) -> None:
    stage = tmp_path / "bundle"
    stage.mkdir()
    for name in BUNDLE_FILES:
        shutil.copy2(ROOT / name, stage / name)
    for name in BUNDLE_DIRS:
        shutil.copytree(ROOT / name, stage / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    output = tmp_path / "ubiops-services-mcp.mcpb"

    done = mcpb(node_modules, "pack", str(stage), str(output))

    assert done.returncode == 0, done.stdout + done.stderr
    names = set(zipfile.ZipFile(output).namelist())
    assert set(BUNDLE_FILES) <= names
    assert "server/ubiops_services_mcp/__main__.py" in names
    assert {f"prompts/{path.name}" for path in (ROOT / "prompts").glob("*.md")} <= names
    assert not any(name.startswith((".venv/", "tests/", "node_modules/")) for name in names)
