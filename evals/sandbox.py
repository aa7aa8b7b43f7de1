"""The run's sandbox database, reached through the sandbox's own API app: seeding, events and final state
follow the same rules as the server's requests, and the agent never sees them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from ubiops_services_mcp.sandbox import create_app

BASE_URL = "http://sandbox.invalid/v2.1/"
State = dict[str, dict[str, dict[str, Any]]]  # project -> service name -> service as the API returns it


class SandboxError(RuntimeError):
    """The sandbox refused a request the kit itself made: a broken task or run directory."""


class Sandbox:
    """A thin client of the sandbox API for the kit's own requests."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http

    async def _send(self, method: str, path: str, body: Any = None) -> Any:
        response = await self.http.request(method, path, json=body)
        if response.status_code >= 400:
            raise SandboxError(f"{method} {path}: {response.status_code} {response.text}")
        return response.json() if response.content else None

    @staticmethod
    def _path(project: str, name: str | None = None) -> str:
        path = f"projects/{quote(project, safe='')}/services"
        return path if name is None else f"{path}/{quote(name, safe='')}"

    async def create(self, project: str, body: dict[str, Any]) -> dict[str, Any]:
        return await self._send("POST", self._path(project), body)

    async def get(self, project: str, name: str) -> dict[str, Any]:
        return await self._send("GET", self._path(project, name))

    async def patch(self, project: str, name: str, body: dict[str, Any]) -> dict[str, Any]:
        return await self._send("PATCH", self._path(project, name), body)

    async def state(self, projects: list[str]) -> State:
        """Every service of the given projects in full, for the scorers."""
        state: State = {}
        for project in projects:
            listed = await self._send("GET", self._path(project))
            state[project] = {item["name"]: await self.get(project, item["name"]) for item in listed}
        return state


@asynccontextmanager
async def open_sandbox(db: Path, seed: Path) -> AsyncIterator[Sandbox]:
    """The sandbox app on `db` (seeded from `seed`), closed with its database afterwards."""
    app = create_app(str(db), seed)
    transport = httpx.ASGITransport(app=app)
    headers = {"Authorization": "Token eval-kit"}
    try:
        async with httpx.AsyncClient(transport=transport, base_url=BASE_URL, headers=headers) as http:
            yield Sandbox(http)
    finally:
        app.state.store.close()
