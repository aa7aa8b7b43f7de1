"""What one update or delete call would change, read once (one GET) and shared by the elicitation
resolver and the tool body, so both judge the same state of the service."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mcp.server.mcpserver import Context

from ..api.errors import ApiError
from ..api.models import ServiceDetail, ServiceUpdate
from .confirmation import Binding, TokenRefused, canonical_hash, field_changes
from .state import AppState, app_state


@dataclass(frozen=True)
class Plan:
    """The call's target and payload, and the service as it is now (or why it could not be read)."""

    operation: str
    project: str | None
    service: str
    body: dict[str, Any] = field(default_factory=dict[str, Any])
    current: ServiceDetail | None = None
    error: ApiError | None = None

    @property
    def binding(self) -> Binding:
        """What a confirmation token for this exact change must be bound to."""
        assert self.project is not None
        assert self.current is not None
        payload = canonical_hash(self.body)
        return Binding(self.operation, self.project, self.service, payload, self.current.time_updated)

    def changes(self) -> list[tuple[str, Any, Any]]:
        assert self.current is not None
        return field_changes(self.current, self.body)

    def token_refusal(self, app: AppState, token: str | None) -> str | None:
        """Why `token` does not allow this change in preview mode (None: it does, or flag mode)."""
        if app.settings.confirmation != "preview":
            return None
        if token is None:
            return "confirm=true needs the confirmation_token of a preview."
        try:
            app.signer.verify(token, self.binding)
        except TokenRefused as why:
            return f"Not applied: {why}."
        return None


async def plan_update(ctx: Context, project_name: str, service_name: str, data: ServiceUpdate) -> Plan:
    return await _read(app_state(ctx), "update", project_name, service_name, data.to_body())


async def plan_delete(ctx: Context, project_name: str, service_name: str) -> Plan:
    return await _read(app_state(ctx), "delete", project_name, service_name, {})


async def _read(app: AppState, operation: str, project_name: str, service: str, body: dict[str, Any]) -> Plan:
    """The plan; no request at all when there is no project or (update) nothing to change."""
    plan = Plan(operation, app.project(project_name), service, body)
    if plan.project is None or (operation == "update" and not body):
        return plan
    try:
        current = await app.api.get(plan.project, service)
    except ApiError as error:
        return Plan(operation, plan.project, service, body, error=error)
    return Plan(operation, plan.project, service, body, current=current)
