"""Each tool, through a real MCP client session: the exact HTTP request the API gets and the exact result."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import pytest

from tests.conftest import TOKEN, RecordingTransport, data, session
from ubiops_services_mcp import __version__
from ubiops_services_mcp.settings import Settings
from ubiops_services_mcp.tools.results import PEOPLE_TEXT

pytestmark = pytest.mark.anyio

CREATE = {
    "name": "svc-1",
    "deployment": "hello-world",
    "version": "v1",
    "port": 8080,
    "labels": {"team": "ml"},
    "health_check": {"path": "/status"},
    "request_logging_excluded_paths": "(health|status)$",
}


def assert_api_headers(headers: dict[str, str], *, body: bool) -> None:
    assert headers["authorization"] == f"Token {TOKEN}"
    assert headers["accept"] == "application/json"
    assert headers["user-agent"].startswith(f"ubiops-services-mcp/{__version__} ")
    assert ("content-type" in headers) is body
    if body:
        assert headers["content-type"] == "application/json"


async def test_create_sends_exactly_the_fields_given(settings: Settings, wire: RecordingTransport, mode: str) -> None:
    async with session(settings, wire, mode) as client:
        result = await client.call_tool("services_create", {"data": CREATE})
    assert not result.is_error
    check, request = wire.requests  # the version is checked first: a missing one is refused before the POST
    assert check.line == "GET /v2.1/projects/demo/deployments/hello-world/versions"
    assert (request.method, request.path, request.query) == ("POST", "/v2.1/projects/demo/services", "")
    assert request.body == CREATE
    assert_api_headers(request.headers, body=True)
    shown = data(result)
    service = shown.pop("service")
    assert shown == {"message": "Created.", "project_name": "demo", "sandbox": False}
    assert service == {**SANDBOX_DEFAULTS, **CREATE, **_volatile(service)}
    assert service["endpoint"] == f"https://{service['id']}.services.sandbox.invalid"


# What the sandbox fills in for a field a create leaves out (its answer, as the API would give one).
SANDBOX_DEFAULTS = {
    "authentication_required": True, "description": "", "authentication_method_token_enabled": True,
    "request_logging_excluded_paths": None, "request_logging_excluded_extensions": [], "health_check": None,
    "rate_limit_token": None, "rate_limit": None, "rate_limit_user_default": None, "concurrency_limit": None,
    "concurrency_limit_user_default": None, "authentication_header_pass_through": False, "labels": {},
}  # fmt: skip


def _volatile(service: dict[str, Any]) -> dict[str, Any]:
    """The fields the API sets on its own (id, times, the endpoint built from the id)."""
    return {key: service[key] for key in ("id", "time_created", "time_updated", "endpoint")}


async def test_list_label_filter_forms_and_compact_result(
    settings: Settings, wire: RecordingTransport, mode: str
) -> None:
    async with session(settings, wire, mode) as client:
        await client.call_tool("services_create", {"data": CREATE})
        await client.call_tool("services_create", {"data": {**CREATE, "name": "svc-2", "labels": {"team": "x"}}})
        wire.clear()
        by_string = await client.call_tool("services_list", {"labels": "team:ml,env:prod"})
        by_object = await client.call_tool("services_list", {"labels": {"team": "ml", "env": "prod"}})
        everything = await client.call_tool("services_list", {"fields": ["id"], "limit": 1})
    expected = "labels=team%3Aml%2Cenv%3Aprod"
    assert wire.lines == [f"GET /v2.1/projects/demo/services?{expected}"] * 2 + ["GET /v2.1/projects/demo/services"]
    assert_api_headers(wire.requests[0].headers, body=False)
    assert data(by_string) == data(by_object)
    assert data(by_string)["services"] == [
        {
            "name": "svc-1",
            "deployment": "hello-world",
            "version": "v1",
            "port": 8080,
            "labels": {"team": "ml"},
            "authentication_required": True,
        }
    ]
    listed = data(everything)
    assert (listed["total"], listed["returned"], listed["omitted"]) == (2, 1, 1)
    assert set(listed["services"][0]) == {
        "name", "deployment", "version", "port", "labels", "authentication_required", "id"
    }  # fmt: skip


async def test_list_by_deployment_version_ids(settings: Settings, wire: RecordingTransport) -> None:
    async with session(settings, wire) as client:
        await client.call_tool("services_list", {"deployment_version_ids": ["a", "b"]})
        await client.call_tool("services_list", {"deployment_version_ids": "a,b"})
    assert wire.lines == ["GET /v2.1/projects/demo/services?deployment_version_ids=a%2Cb"] * 2


async def test_get_and_status(settings: Settings, wire: RecordingTransport, mode: str) -> None:
    async with session(settings, wire, mode) as client:
        await client.call_tool("services_create", {"data": CREATE})
        wire.clear()
        got = await client.call_tool("services_get", {"service_name": "svc-1"})
        status = await client.call_tool("services_status", {"service_name": "svc-1"})
    assert wire.lines == [
        "GET /v2.1/projects/demo/services/svc-1",  # pinned to v1: no default version to read
        "GET /v2.1/projects/demo/services/svc-1/status",
        "GET /v2.1/projects/demo/services/svc-1",
        "GET /v2.1/projects/demo/deployments/hello-world/versions",
    ]
    shown = data(got)
    service = shown.pop("service")
    assert shown == {"note": PEOPLE_TEXT, "project_name": "demo", "sandbox": False}  # labels: text people wrote
    assert service == {**SANDBOX_DEFAULTS, **CREATE, **_volatile(service)}
    assert data(status) == {
        "project_name": "demo", "service_name": "svc-1", "ready": True, "instances_ready": 1,
        "version": "v1", "minimum_instances": 0, "maximum_instances": 1, "sandbox": False,
    }  # fmt: skip


async def test_update_preview_then_apply(settings: Settings, wire: RecordingTransport, mode: str) -> None:
    async with session(settings, wire, mode) as client:
        await client.call_tool("services_create", {"data": CREATE})
        wire.clear()
        args: dict[str, Any] = {"service_name": "svc-1", "data": {"port": 9090, "description": "new"}}
        preview = await client.call_tool("services_update", args)
        assert wire.lines == ["GET /v2.1/projects/demo/services/svc-1"]
        token = data(preview)["confirmation_token"]
        applied = await client.call_tool("services_update", {**args, "confirm": True, "confirmation_token": token})
    assert data(preview)["outcome"] == "preview"
    assert data(preview)["changes"] == [
        {"field": "port", "current": 8080, "new": 9090},
        {"field": "description", "current": "", "new": "new"},
    ]
    patch = wire.requests[-1]
    assert (patch.method, patch.path, patch.body) == (
        "PATCH",
        "/v2.1/projects/demo/services/svc-1",
        args["data"],
    )
    assert_api_headers(patch.headers, body=True)
    assert [r.method for r in wire.requests] == ["GET", "GET", "PATCH"]
    assert data(applied) == {
        "outcome": "applied",
        "project_name": "demo",
        "service_name": "svc-1",
        "message": "Applied: the service was updated on the preview's token (your reading of the user's approval in "
        "the chat). Each after is the API's answer to the change: no need to read it again.",
        "changes": [
            {"field": "port", "before": 8080, "after": 9090},
            {"field": "description", "before": "", "after": "new"},
        ],
        "approved_by": "token",
        "sandbox": False,
    }


async def test_delete_preview_then_apply_returns_undo(settings: Settings, wire: RecordingTransport, mode: str) -> None:
    async with session(settings, wire, mode) as client:
        await client.call_tool("services_create", {"data": CREATE})
        wire.clear()
        preview = await client.call_tool("services_delete", {"service_name": "svc-1"})
        assert wire.mutations == []
        token = data(preview)["confirmation_token"]
        args = {"service_name": "svc-1", "confirm": True, "confirmation_token": token}
        deleted = await client.call_tool("services_delete", args)
        recreated = await client.call_tool("services_create", {"data": data(deleted)["recreate_with"]})
    assert [r.line for r in wire.mutations][:1] == ["DELETE /v2.1/projects/demo/services/svc-1"]
    assert wire.mutations[0].body is None
    assert data(deleted) == {
        "outcome": "applied",
        "project_name": "demo",
        "service_name": "svc-1",
        "message": "Deleted on the preview's token (your reading of the user's approval in the chat). services_create "
        "with recreate_with restores its configuration.",
        "recreate_with": {k: v for k, v in data(preview)["service"].items() if k in data(deleted)["recreate_with"]},
        "approved_by": "token",
        "sandbox": False,
    }
    assert set(data(deleted)["recreate_with"]) >= set(CREATE)
    assert not recreated.is_error
    assert {k: data(recreated)["service"][k] for k in CREATE} == CREATE


@pytest.mark.parametrize(
    ("name", "path"),
    [
        ("a/b", "a%2Fb"),
        ("../x", "..%2Fx"),
        ("%2e%2e", "%252e%252e"),
        ("a?b=c", "a%3Fb%3Dc"),
        ("a#b", "a%23b"),
        ("sp ace", "sp%20ace"),
    ],
)
async def test_names_are_one_percent_encoded_segment(
    settings: Settings, wire: RecordingTransport, name: str, path: str
) -> None:
    async with session(settings, wire) as client:
        result = await client.call_tool("services_get", {"service_name": name})
    assert wire.lines == [f"GET /v2.1/projects/demo/services/{path}"]
    assert data(result)["error"]["code"] == "not_found"


async def test_token_with_a_scheme_is_sent_as_it_is(settings: Settings, wire: RecordingTransport) -> None:
    from pydantic import SecretStr

    async with session(settings.with_overrides(api_token=SecretStr("Bearer abc")), wire) as client:
        await client.call_tool("services_list", {})
    assert wire.requests[0].headers["authorization"] == "Bearer abc"


async def test_explicit_project_wins_and_missing_project_is_refused(
    settings: Settings, wire: RecordingTransport
) -> None:
    no_default = Settings(api_token=settings.api_token, api_host=settings.api_host, audit_log=None)
    async with session(no_default, wire) as client:
        missing = await client.call_tool("services_list", {})
        other = await client.call_tool("services_list", {"project_name": "other"})
    assert data(missing)["error"]["field"] == "project_name"
    assert "UBIOPS_PROJECT" in data(missing)["error"]["message"]
    assert wire.lines == ["GET /v2.1/projects/other/services"]
    assert data(other)["error"]["code"] == "not_found"


async def test_list_leaves_out_empty_values(settings: Settings, wire: RecordingTransport) -> None:
    async with session(settings, wire) as client:
        await client.call_tool("services_create", {"data": {"name": "dflt", "deployment": "hello-world", "port": 80}})
        listed = await client.call_tool("services_list", {})
    assert data(listed)["services"] == [
        {"name": "dflt", "deployment": "hello-world", "port": 80, "labels": {}, "authentication_required": True,
         "default_version": "v1"}
    ]  # fmt: skip


@pytest.mark.parametrize("project", ["null", "true", "[]", "{}"])
async def test_project_names_that_look_like_json_stay_names(
    settings: Settings, wire: RecordingTransport, project: str
) -> None:
    async with session(settings, wire) as client:
        await client.call_tool("services_list", {"project_name": project})
    assert wire.requests[0].path == f"/v2.1/projects/{quote(project, safe='')}/services"
