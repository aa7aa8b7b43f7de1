"""Hooks the API client calls on every attempt and retry, so that metrics live outside api/ (no MCP here)."""

from __future__ import annotations

from typing import Protocol


class RequestObserver(Protocol):
    """Told about each HTTP attempt and each retry; must be quick and must not raise."""

    def attempted(self, method: str, status: str, seconds: float) -> None:
        """One attempt ended: `status` is the HTTP status, or the failure's code when no answer came."""
        ...

    def retrying(self, method: str, reason: str) -> None:
        """An attempt failed in a way that is retried; `reason` is the failure's code."""
        ...


class NoObserver:
    """The default: nobody is watching."""

    def attempted(self, method: str, status: str, seconds: float) -> None:
        """Nothing to record."""

    def retrying(self, method: str, reason: str) -> None:
        """Nothing to record."""
