"""The fault suite's fake API, its fast-failing settings, and the table of outcomes printed at the end."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from tests.conftest import TOKEN
from tests.faults.fake_api import FakeApi
from ubiops_services_mcp.settings import Settings

HEADER = ("fault", "tool (request)", "requests", "applied", "outcome", "retryable", "seconds", "next call")
ROWS = pytest.StashKey[list[tuple[str, ...]]]()
TABLE_FILE = "faults_table.md"


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeApi]:
    """One misbehaving API per module, on a free loopback port."""
    api = FakeApi().start()
    yield api
    api.stop()


def fault_settings(api_host: str, audit_log: Path) -> Settings:
    """Small timeouts so every fault resolves in about a second or two."""
    return Settings(
        api_token=SecretStr(TOKEN),
        api_host=api_host,
        project="demo",
        timeout_s=0.3,
        max_attempts=3,
        retry_budget_s=2.0,
        confirmation="flag",
        elicitation=False,
        audit_log=audit_log,
        secret=SecretStr("test-secret"),
    )


@pytest.fixture
def fault_table(request: pytest.FixtureRequest) -> list[tuple[str, ...]]:
    """Rows of the fault table, shared by the whole session."""
    return request.config.stash.setdefault(ROWS, [])


def render(rows: list[tuple[str, ...]]) -> str:
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    """Print the fault table in every run's output (no -s needed) and keep it as a file in the pytest tmp dir."""
    rows = config.stash.get(ROWS, [])
    if not rows:
        return
    table = render(rows)
    factory: pytest.TempPathFactory = config._tmp_path_factory  # type: ignore[attr-defined]
    path = factory.getbasetemp() / TABLE_FILE
    path.write_text(table)
    terminalreporter.section("fault table (settings: timeout 0.3 s, 3 attempts, retry budget 2 s)")
    terminalreporter.write(table)
    terminalreporter.write_line(f"written to {path}")
