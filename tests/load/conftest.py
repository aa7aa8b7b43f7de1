"""The load test's figures, printed at the end of every run (no -s needed) and kept in the pytest tmp dir."""

from __future__ import annotations

import pytest

REPORT = pytest.StashKey[list[str]]()


@pytest.fixture
def load_report(request: pytest.FixtureRequest) -> list[str]:
    return request.config.stash.setdefault(REPORT, [])


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    sections = config.stash.get(REPORT, [])
    if not sections:
        return
    text = "\n".join(sections)
    factory: pytest.TempPathFactory = config._tmp_path_factory  # type: ignore[attr-defined]
    path = factory.getbasetemp() / "load_report.md"
    path.write_text(text)
    terminalreporter.section("load (tiny; full size: python benchmarks/load.py)")
    terminalreporter.write(text)
    terminalreporter.write_line(f"written to {path}")
