"""Fixtures of the eval kit's tests: every task's ideal script, played once per session through the CLI's code."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import anyio
import pytest
from evals.client import CLIENT_INFO, ServerSpec
from evals.ideal import run_ideal
from evals.judge import Run, load_run
from evals.rundir import RunDir, setup
from evals.scorers import score
from evals.tasks import all_tasks
from mcp import Client

from ubiops_services_mcp.app import create_server
from ubiops_services_mcp.options import from_env


@asynccontextmanager
async def in_process(spec: ServerSpec) -> AsyncIterator[Client]:
    """The same server, settings from the run's environment, without a process start per call."""
    async with Client(create_server(from_env(spec.env)), mode="legacy", client_info=CLIENT_INFO) as client:
        yield client


@dataclass(frozen=True)
class Played:
    """One task's ideal script, played: the run directory, what the scorer saw, and its verdict."""

    run: RunDir
    data: Run
    result: dict[str, object]


@pytest.fixture(scope="session")
def ideal_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Played]:
    """Every task's ideal script through setup, call (in-process server) and events, then scored."""
    root = tmp_path_factory.mktemp("ideal")

    async def play() -> dict[str, Played]:
        played: dict[str, Played] = {}
        for task_id in all_tasks():
            run = await setup(task_id, root / task_id)
            await run_ideal(run, in_process)
            data = await load_run(run)
            played[task_id] = Played(run, data, score(data))
        return played

    return anyio.run(play)
