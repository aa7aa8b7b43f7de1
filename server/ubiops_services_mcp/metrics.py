"""Prometheus metrics of one server instance: its own registry, fed by hooks in the API client and the tools.

Every label takes values from a short fixed set (tool names, outcomes, HTTP methods and statuses, reason codes),
never from what a caller typed, so a caller cannot grow the number of series.
"""

from __future__ import annotations

from typing import Any, Final

from mcp.types import CallToolResult
from prometheus_client import CollectorRegistry, Counter, Histogram, ProcessCollector, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

from .settings import ALL_TOOLS

CONTENT_TYPE: Final = CONTENT_TYPE_PLAIN_0_0_4
LATENCY_BUCKETS: Final = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
ANSWERS: Final = ("accept", "decline", "cancel")
NAMES: Final = (
    "ubiops_mcp_tool_calls_total",
    "ubiops_mcp_tool_call_duration_seconds",
    "ubiops_mcp_service_changes_total",
    "ubiops_mcp_confirmations_refused_total",
    "ubiops_mcp_elicitation_answers_total",
    "ubiops_api_requests_total",
    "ubiops_api_request_duration_seconds",
    "ubiops_api_retries_total",
)
"""The metric names this module exports (besides the process_* ones), as documented in the README."""


class Metrics:
    """The counters and histograms of one server; a registry of its own so that instances (and tests) never mix."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        self.tool_calls = Counter(
            "ubiops_mcp_tool_calls", "Tool calls by tool and outcome.", ["tool", "outcome"], registry=self.registry
        )
        self.tool_seconds = Histogram(
            "ubiops_mcp_tool_call_duration_seconds", "Time to answer a tool call.", ["tool"],
            buckets=LATENCY_BUCKETS, registry=self.registry,
        )  # fmt: skip
        self.changes = Counter(
            "ubiops_mcp_service_changes", "Update and delete outcomes per service (one per audit line).",
            ["tool", "outcome"], registry=self.registry,
        )  # fmt: skip
        self.refusals = Counter(
            "ubiops_mcp_confirmations_refused", "Confirms refused, by reason.", ["reason"], registry=self.registry
        )
        self.answers = Counter(
            "ubiops_mcp_elicitation_answers", "Human answers to approval questions.", ["action"], registry=self.registry
        )
        self.api_requests = Counter(
            "ubiops_api_requests", "HTTP attempts to the UbiOps API by method and status (or failure code).",
            ["method", "status"], registry=self.registry,
        )  # fmt: skip
        self.api_seconds = Histogram(
            "ubiops_api_request_duration_seconds", "Time of one HTTP attempt to the UbiOps API.", ["method"],
            buckets=LATENCY_BUCKETS, registry=self.registry,
        )  # fmt: skip
        self.api_retries = Counter(
            "ubiops_api_retries", "API attempts retried, by method and failure code.", ["method", "reason"],
            registry=self.registry,
        )  # fmt: skip

    # -- the API client's hooks (api.observer.RequestObserver) ---------------------------------------------------

    def attempted(self, method: str, status: str, seconds: float) -> None:
        """One HTTP attempt to the API ended."""
        self.api_requests.labels(method, status).inc()
        self.api_seconds.labels(method).observe(seconds)

    def retrying(self, method: str, reason: str) -> None:
        """An attempt failed and will be retried."""
        self.api_retries.labels(method, reason).inc()

    # -- the tool layer's hooks -----------------------------------------------------------------------------

    def tool_called(self, tool: str, outcome: str, seconds: float) -> None:
        """A tool call ended; unknown tool names are counted together, so callers cannot add series."""
        name = tool if tool in ALL_TOOLS else "unknown"
        self.tool_calls.labels(name, outcome).inc()
        self.tool_seconds.labels(name).observe(seconds)

    def service_changed(self, tool: str, outcome: str) -> None:
        """One audit line of an update or delete was written."""
        self.changes.labels(tool, outcome).inc()

    def refused(self, reason: str) -> None:
        """A confirm (or a change that needed one) was refused."""
        self.refusals.labels(reason).inc()

    def answered(self, action: str) -> None:
        """The human answered an approval question: accept, decline or cancel."""
        self.answers.labels(action if action in ANSWERS else "other").inc()

    def exposition(self) -> bytes:
        """The text /metrics serves."""
        return generate_latest(self.registry)


def call_outcome(result: Any) -> str:
    """A tool result's outcome for metrics: a change's own `outcome`, else ok, error or input_required."""
    if not isinstance(result, CallToolResult):
        return "input_required"
    content: dict[str, Any] = result.structured_content or {}
    outcome = content.get("outcome")
    if isinstance(outcome, str) and outcome.isidentifier() and len(outcome) <= 20:
        return outcome
    return "error" if result.is_error else "ok"
