"""Stateless HTTP cannot ask the human mid-call: the result and the audit line say the token alone approved, and
--require-human refuses such changes instead of applying them silently."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx2
import pytest
from mcp import Client
from mcp.client.session import ClientRequestContext
from mcp.client.streamable_http import streamable_http_client
from mcp.types import ElicitRequestParams, ElicitResult

from tests.conftest import data
from tests.security.process import Spawned
from tests.security.test_http import spawn

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

SECRET = "stateless-secret-0123456789abcdefghij"
SERVICE = {"name": "web", "deployment": "hello-world", "port": 8080}


class Human:
    def __init__(self) -> None:
        self.asked = 0

    async def __call__(self, context: ClientRequestContext, params: ElicitRequestParams) -> ElicitResult:
        self.asked += 1
        return ElicitResult(action="accept", content={"service_name": "web"})


@asynccontextmanager
async def eliciting_client(url: str, human: Human) -> AsyncIterator[Client]:
    async with httpx2.AsyncClient(timeout=httpx2.Timeout(30, read=60)) as http:
        async with Client(
            streamable_http_client(url, http_client=http), mode="legacy", elicitation_callback=human
        ) as c:
            yield c


@pytest.fixture(params=[[], ["--require-human"]], ids=["default", "require-human"])
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Spawned, bool]]:
    for spawned in spawn(tmp_path, "stateless", "--stateless", *request.param, UBIOPS_MCP_SECRET=SECRET):
        yield spawned, bool(request.param)


async def test_a_delete_says_who_approved(server: tuple[Spawned, bool], tmp_path: Path) -> None:
    spawned, require_human = server
    human = Human()
    async with eliciting_client(spawned.url, human) as client:
        await client.call_tool("services_create", {"data": SERVICE})
        token = data(await client.call_tool("services_delete", {"service_name": "web"}))["confirmation_token"]
        result = await client.call_tool(
            "services_delete", {"service_name": "web", "confirm": True, "confirmation_token": token}
        )
        after = await client.call_tool("services_get", {"service_name": "web"})
    lines: list[dict[str, Any]] = [json.loads(x) for x in (tmp_path / "audit.jsonl").read_text().splitlines()]
    assert human.asked == 0  # no session: the server cannot send the question back
    if require_human:
        assert data(result)["outcome"] == "refused"
        assert "needs a human" in data(result)["message"]
        assert not after.is_error  # still there
        assert lines[-1]["outcome"] == "refused"
    else:
        assert data(result)["outcome"] == "applied"
        assert data(result)["approved_by"] == "token"
        assert after.is_error
        assert (lines[-1]["outcome"], lines[-1]["approved_by"]) == ("applied", "token")
