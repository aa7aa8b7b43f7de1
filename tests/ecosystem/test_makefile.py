"""The Makefile's Python: it says when no 3.11+ is found, and remakes a venv that a wrong Python made.

Each test runs `make` on a copy of the Makefile in a scratch directory, with stand-in interpreters (shell
scripts that print the version the Makefile asks for), so nothing is installed.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def make() -> str:
    found = shutil.which("make")
    if found is None:
        pytest.skip("make is not on PATH")
    return found


def fake_python(path: Path, version: str | None) -> Path:
    """A stand-in interpreter: prints "3.X" when it plays a supported one, fails like an older one otherwise."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"#!/bin/sh\necho {version}\n" if version else "#!/bin/sh\nexit 1\n")
    path.chmod(0o755)
    return path


@pytest.fixture
def project(tmp_path: Path) -> Path:
    shutil.copy2(ROOT / "Makefile", tmp_path / "Makefile")
    (tmp_path / "pyproject.toml").write_text("")
    (tmp_path / "uv.lock").write_text("")
    (tmp_path / "bin").mkdir()
    for tool in ("rm", "echo"):  # PATH is this directory alone: no real python3 must be found
        found = shutil.which(tool)
        assert found is not None
        (tmp_path / "bin" / tool).symlink_to(found)
    return tmp_path


def run(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": str(project / "bin"), "HOME": str(project)}
    return subprocess.run([make(), *args], cwd=project, env=env, capture_output=True, text=True, timeout=60)


def test_no_supported_python_is_said_plainly(project: Path) -> None:
    fake_python(project / "bin" / "python3", None)  # an old python3, and no python3.1x at all
    done = run(project, "run")
    assert done.returncode != 0
    assert "no Python 3.11 or newer found (tried: python3.13 python3.12 python3.11 python3)" in done.stderr
    assert "PYTHON=/path/to/python3.11" in done.stderr


def test_a_python_named_that_is_not_supported_is_refused(project: Path) -> None:
    done = run(project, "run", f"PYTHON={fake_python(project / 'old' / 'python', None)}")
    assert done.returncode != 0
    assert "does not run or is older than 3.11" in done.stderr


@pytest.mark.parametrize(
    ("venv_version", "python", "remade"),
    [(None, None, True), ("3.12", None, False), ("3.12", "3.13", True), ("3.13", "3.13", False)],
)
def test_a_venv_of_a_wrong_python_is_made_again(
    project: Path, venv_version: str | None, python: str | None, remade: bool
) -> None:
    fake_python(project / ".venv" / "bin" / "python", venv_version)
    (project / ".venv" / ".installed-run").touch()
    args = ["-n", "run"]
    if python is not None:
        args.append(f"PYTHON={fake_python(project / 'py' / 'python3.13', python)}")
    done = run(project, *args)
    assert ("making it again" in done.stdout) is remade, done.stdout + done.stderr
    assert (project / ".venv").exists() is not remade
