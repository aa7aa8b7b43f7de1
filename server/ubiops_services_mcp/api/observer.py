"""Hooks the API client calls on attempts, retries and progress, so metrics and MCP live outside api/."""

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


class Progress(Protocol):
    """Told, during one tool call, what the call is waiting for or has done; tools/ turns it into MCP progress
    notifications, so a client that resets its timeout on progress keeps waiting. Must not raise."""

    async def note(self, message: str) -> None:
        """Something happened worth telling a waiting client: a retry and its wait, a service read or changed."""
        ...


class NoProgress:
    """The default: nobody is waiting for word."""

    async def note(self, message: str) -> None:
        """Nothing to tell."""
