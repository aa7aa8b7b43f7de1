"""`benchmarks/run_all.py --tiny`, as CI runs it: every benchmark runs, exits 0 and writes its report where told.

Timings are not asserted: on a shared machine they are not a test. The figures' targets are in RESULTS.md.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SECTIONS = (
    "1. Cold start",
    "2. Call overhead",
    "3. Concurrency",
    "4. Context cost",
    "5. Memory",
    "6. Sandbox scale",
    "7. Sessions",
    "8. Replicas",  # skipped, with a note, where haproxy is not installed
)


@pytest.mark.slow
def test_tiny_run_writes_every_section_to_the_path_given(tmp_path: Path) -> None:
    out = tmp_path / "results" / "RESULTS.md"
    committed = ROOT / "benchmarks" / "RESULTS.md"
    before = committed.read_bytes() if committed.exists() else None
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "run_all.py"), "--tiny", "--out", str(out)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    text = out.read_text()
    assert text.startswith("# Benchmark results")
    assert "CPU(s)" in text
    for section in SECTIONS:
        assert f"## {section}" in text, section
    assert "FAILED" not in text
    assert (committed.read_bytes() if committed.exists() else None) == before, "--out must leave RESULTS.md alone"


@pytest.mark.slow
def test_tiny_run_without_out_writes_a_temporary_file_not_results_md(tmp_path: Path) -> None:
    committed = ROOT / "benchmarks" / "RESULTS.md"
    before = committed.read_bytes() if committed.exists() else None
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "run_all.py"), "--tiny", "--only", "context_cost"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    written = Path(done.stderr.strip().splitlines()[-1].removeprefix("run_all: wrote "))
    assert written.is_file()
    assert written != committed
    assert "## 4. Context cost" in written.read_text()
    written.unlink()
    written.parent.rmdir()
    assert (committed.read_bytes() if committed.exists() else None) == before
