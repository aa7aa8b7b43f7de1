"""What one tool call learns of a project's deployments: which versions exist and which one is the default.

A service whose version is null follows its deployment's default; results say which version that is now, and
creates and updates are checked against the versions that exist before anything is sent. Each deployment's
versions are read at most once per call (one GET), a few deployments at a time. The reads only inform: a read
that fails for another reason than "not found" (a token without deployment rights, say) leaves the fact out and
the API decides; only a read answered "wait" (429) ends the call, so that nothing more is sent meanwhile.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final

import anyio

from ..api.client import ServicesApi
from ..api.errors import ApiError, NotFound, RateLimited
from ..api.models import DeploymentVersion

READS_AT_ONCE: Final = 4
"""Deployment reads in flight at once."""
READS_MAX: Final = 50
"""Most deployments one call reads: past that, results leave default_version out."""


class MissingTarget(NotFound):
    """A deployment or version the request names does not exist: refused before anything was sent."""

    def __init__(self, message: str, field: str, hint: str) -> None:
        super().__init__(message)
        self.field, self._hint = field, hint

    @property
    def hint(self) -> str:
        return self._hint

    def as_dict(self) -> dict[str, Any]:
        return {**super().as_dict(), "field": self.field, "attempts": None}


class Catalog:
    """One call's cache of deployment versions; None for a deployment that does not exist."""

    def __init__(self, api: ServicesApi, project: str) -> None:
        self.api, self.project = api, project
        self._versions: dict[str, list[DeploymentVersion] | None] = {}
        self._failed: dict[str, ApiError] = {}

    async def versions(self, deployment: str) -> list[DeploymentVersion] | None:
        """The deployment's versions, None when it does not exist; another failure is raised (once per call)."""
        if deployment in self._failed:
            raise self._failed[deployment]
        if deployment not in self._versions:
            try:
                self._versions[deployment] = await self.api.versions(self.project, deployment)
            except NotFound:
                self._versions[deployment] = None
            except ApiError as error:
                self._failed[deployment] = error
                raise
        return self._versions[deployment]

    async def default_version(self, deployment: str | None) -> str | None:
        """The deployment's default version now; None when that is not known."""
        if not deployment:
            return None
        try:
            versions = await self.versions(deployment)
        except ApiError:
            return None
        return next((v.version for v in versions or () if v.default), None)

    async def defaults(self, deployments: Iterable[str | None]) -> dict[str, str]:
        """Default versions of several deployments (up to READS_MAX), a few reads at a time."""
        names = [name for name in dict.fromkeys(deployments) if name][:READS_MAX]
        found: dict[str, str] = {}
        pending = iter(names)

        async def worker() -> None:
            for name in pending:
                default = await self.default_version(name)
                if default is not None:
                    found[name] = default

        async with anyio.create_task_group() as group:
            for _ in range(min(READS_AT_ONCE, len(names))):
                group.start_soon(worker)
        return found

    async def missing(self, deployment: str, version: str | None, outcome: str = "") -> MissingTarget | None:
        """Why a service cannot point at this deployment and version, naming what exists (`outcome` is appended:
        what was not done); None when it can, or when that could not be read (the API decides then). An API that
        asks to wait (rate_limited) is asked nothing more: that error is raised, and the call ends with it."""
        try:
            versions = await self.versions(deployment)
            if versions is None:
                names = ", ".join(sorted(d.name for d in await self.api.deployments(self.project))) or "none"
                message = f"No deployment {deployment!r} in project {self.project!r}; deployments: {names}.{outcome}"
                return MissingTarget(message, "data.deployment", "Use one of those; deployments_get shows versions.")
        except RateLimited:
            raise
        except ApiError:
            return None
        if version is None or any(v.version == version for v in versions):
            return None
        listed = ", ".join(v.version + (" (default)" if v.default else "") for v in versions) or "none"
        message = f"Deployment {deployment!r} has no version {version!r}; versions: {listed}.{outcome}"
        return MissingTarget(message, "data.version", "Use one of those, or no version to follow the default.")
