"""Fixtures of the sandbox tests: one fresh in-memory sandbox per test, driven through ASGI."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from starlette.applications import Starlette

from ubiops_services_mcp.sandbox import create_app

BASE_URL = "http://sandbox/v2.1"
AUTH = {"Authorization": "Token test"}


@pytest.fixture
def anyio_backend() -> str:
    """The sandbox runs on asyncio (uvicorn's loop)."""
    return "asyncio"


@pytest.fixture
def app() -> Iterator[Starlette]:
    """A seeded in-memory sandbox, its database closed afterwards."""
    sandbox = create_app()
    yield sandbox
    sandbox.state.store.close()


@pytest.fixture
async def client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    """An authenticated client speaking to `app` without a socket."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL, headers=AUTH) as http:
        yield http
