"""The approval card (MCP Apps): which clients get it, what a preview gives it, and what the others never see.

Only a client that declares the `io.modelcontextprotocol/ui` extension with the `text/html;profile=mcp-app`
MIME type is shown the card: its tools/list links services_update and services_delete to the card and lists the
app-only tool the card calls, and its previews carry the card's approval code in the result's `_meta` (which
hosts keep from the model). Every other client gets exactly what it got before the card existed.
"""

from __future__ import annotations

from importlib.resources import files
from typing import Any, Final, cast

from mcp.server.apps import client_supports_apps
from mcp.server.context import ServerRequestContext
from mcp.server.mcpserver import Context
from mcp.types import ListResourcesResult, ListToolsResult, Tool

from .plan import Plan
from .state import AppState

CARD_URI: Final = "ui://ubiops-services/approval"
CARD_TOOL: Final = "services_approve"
CARD_META: Final = "ubiops-services-mcp/approval"
CARD_TOOLS: Final = ("services_update", "services_delete")


def card_html() -> str:
    """The card: one self-contained HTML document shipped in the package."""
    return files("ubiops_services_mcp").joinpath("card", "approval.html").read_text(encoding="utf-8")


def shows_card(ctx: Context[Any, Any], app: AppState) -> bool:
    """Whether this client renders the approval card (and the server can change anything)."""
    return not app.settings.read_only and client_supports_apps(ctx)


def arguments_of(plan: Plan) -> dict[str, Any]:
    """The call's arguments in canonical form (no confirm, no token): what the card sends back to apply it."""
    request = plan.request
    arguments: dict[str, Any] = {"project_name": plan.project}
    if request.service_name:
        arguments["service_name"] = request.service_name
    if request.service_names is not None:
        arguments["service_names"] = list(request.service_names)
    if request.where is not None:
        arguments["where"] = request.where.model_dump(mode="json", exclude_none=True)
    if request.body:
        arguments["data"] = request.body
    if request.labels_set:
        arguments["labels_set"] = request.labels_set
    if request.labels_remove:
        arguments["labels_remove"] = list(request.labels_remove)
    return arguments


def card_meta(app: AppState, plan: Plan, token: str, expires_at: str) -> dict[str, Any]:
    """What the card needs to call back, under one `_meta` key: never in content or structuredContent."""
    return {
        CARD_META: {
            "tool": CARD_TOOL,
            "operation": plan.operation,
            "arguments": arguments_of(plan),
            "confirmation_token": token,
            "approval_code": app.codes.issue(token),
            "expires_at": expires_at,
        }
    }


def tools_for_client(listed: ListToolsResult, ctx: ServerRequestContext[Any, Any]) -> ListToolsResult:
    """tools/list as this client may see it: without Apps, no app-only tool and no link to the card."""
    if client_supports_apps(ctx):
        return listed
    tools = [_unlinked(tool) for tool in listed.tools if "model" in _visibility(tool)]
    return listed.model_copy(update={"tools": tools})


def resources_for_client(listed: ListResourcesResult, ctx: ServerRequestContext[Any, Any]) -> ListResourcesResult:
    """resources/list without the card for clients that cannot render it (the spec allows omitting it)."""
    if client_supports_apps(ctx):
        return listed
    kept = [resource for resource in listed.resources if not str(resource.uri).startswith("ui://")]
    return listed.model_copy(update={"resources": kept})


def _visibility(tool: Tool) -> list[str]:
    ui: object = (tool.meta or {}).get("ui")
    visibility: object = cast(dict[str, object], ui).get("visibility") if isinstance(ui, dict) else None
    return [str(v) for v in cast(list[object], visibility)] if isinstance(visibility, list) else ["model", "app"]


def _unlinked(tool: Tool) -> Tool:
    if not tool.meta or "ui" not in tool.meta:
        return tool
    meta = {key: value for key, value in tool.meta.items() if key != "ui"}
    return tool.model_copy(update={"meta": meta or None})
