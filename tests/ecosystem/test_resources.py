"""Resources and argument completion, through a real client session, on the sandbox behind the recorder."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from mcp import MCPError
from mcp.types import INVALID_PARAMS, PromptReference, ResourceTemplateReference

from tests.conftest import RecordingTransport, data, scripted, session
from ubiops_services_mcp.resources import SERVICE_URI, SERVICES_URI, SeenProjects
from ubiops_services_mcp.sandbox import create_app
from ubiops_services_mcp.settings import Settings

pytestmark = pytest.mark.anyio

SEED = {
    "projects": [
        {"name": "demo", "deployments": [{"name": "hello-world", "default_version": "v1", "versions": [
            {"id": "7b0d5f0e-1c4a-4f37-9a52-3c1f0e6a1d01", "version": "v1"}]}]},
        {"name": "team-a", "deployments": []},
    ]
}  # fmt: skip
SERVICES = ("api-main", "api-canary", "batch")


@pytest.fixture
def two_projects(tmp_path: Path) -> Iterator[RecordingTransport]:
    """The sandbox with projects demo and team-a, three services in demo, every request recorded."""
    seed = tmp_path / "seed.json"
    seed.write_text(json.dumps(SEED))
    app = create_app(":memory:", seed)
    yield RecordingTransport(httpx.ASGITransport(app=app))
    app.state.store.close()


async def create_services(client: Any, wire: RecordingTransport) -> None:
    for name in SERVICES:
        result = await client.call_tool(
            "services_create", {"data": {"name": name, "deployment": "hello-world", "port": 80}}
        )
        assert not result.is_error
    wire.clear()


def text_of(result: Any) -> dict[str, Any]:
    (content,) = result.contents
    assert content.mime_type == "application/json"
    return json.loads(content.text)


async def test_templates_are_listed_as_json(settings: Settings, wire: RecordingTransport, mode: str) -> None:
    async with session(settings, wire, mode) as client:
        templates = (await client.list_resource_templates()).resource_templates
    assert sorted(t.uri_template for t in templates) == [SERVICES_URI, SERVICE_URI]
    assert all(t.mime_type == "application/json" and t.description and t.title for t in templates)
    assert not wire.requests


async def test_read_list_and_one_service_as_the_tools_see_them(
    settings: Settings, two_projects: RecordingTransport, mode: str
) -> None:
    async with session(settings, two_projects, mode) as client:
        await create_services(client, two_projects)
        listing = text_of(await client.read_resource("ubiops://projects/demo/services"))
        one = text_of(await client.read_resource("ubiops://projects/demo/services/api-main"))
        empty = text_of(await client.read_resource("ubiops://projects/team-a/services"))
        got = data(await client.call_tool("services_get", {"service_name": "api-main"}))
    assert (listing["project_name"], listing["total"], listing["sandbox"]) == ("demo", 3, False)
    assert sorted(item["name"] for item in listing["services"]) == sorted(SERVICES)
    assert one == {key: value for key, value in got.items() if key != "default_version"}  # the tool adds it
    assert (empty["total"], empty["services"]) == (0, [])
    assert [r.method for r in two_projects.requests] == ["GET"] * 5  # the tool's one read of the default


async def test_a_missing_service_or_project_is_invalid_params(
    settings: Settings, wire: RecordingTransport, mode: str
) -> None:
    async with session(settings, wire, mode) as client:
        for uri, named in (
            ("ubiops://projects/demo/services/nope", "nope"),
            ("ubiops://projects/nowhere/services", "nowhere"),
        ):
            with pytest.raises(MCPError) as caught:
                await client.read_resource(uri)
            assert caught.value.error.code == INVALID_PARAMS
            assert named in caught.value.error.message
            assert "services_list" in caught.value.error.message or "check the names" in caught.value.error.message


async def test_a_name_the_tools_would_refuse_never_reaches_the_api(
    settings: Settings, wire: RecordingTransport, mode: str
) -> None:
    async with session(settings, wire, mode) as client:
        with pytest.raises(MCPError) as caught:
            await client.read_resource("ubiops://projects/demo/services/" + "x" * 65)
    assert caught.value.error.code == INVALID_PARAMS
    assert "service_name" in caught.value.error.message
    assert not wire.requests


async def test_an_api_failure_is_a_resource_error_with_the_hint(settings: Settings, mode: str) -> None:
    broken = scripted(lambda request: httpx.Response(401, json={"error": "Invalid token"}))
    async with session(settings, broken, mode) as client:
        with pytest.raises(MCPError) as caught:
            await client.read_resource("ubiops://projects/demo/services")
    assert "UBIOPS_API_TOKEN" in caught.value.error.message
    assert "tok-" not in caught.value.error.message


ITEM = ResourceTemplateReference(type="ref/resource", uri=SERVICE_URI)
LIST = ResourceTemplateReference(type="ref/resource", uri=SERVICES_URI)


async def test_service_name_completes_from_the_chosen_project_by_prefix(
    settings: Settings, two_projects: RecordingTransport, mode: str
) -> None:
    async with session(settings, two_projects, mode) as client:
        await create_services(client, two_projects)
        api = await client.complete(ITEM, {"name": "service_name", "value": "API"}, {"project_name": "demo"})
        every = await client.complete(ITEM, {"name": "service_name", "value": ""})
        other = await client.complete(ITEM, {"name": "service_name", "value": ""}, {"project_name": "team-a"})
        prompt = PromptReference(type="ref/prompt", name="change-service-safely")
        from_prompt = await client.complete(prompt, {"name": "service_name", "value": "b"})
    assert api.completion.values == ["api-canary", "api-main"]
    assert (api.completion.total, api.completion.has_more) == (2, False)
    assert every.completion.values == sorted(SERVICES)
    assert other.completion.values == []
    assert from_prompt.completion.values == ["batch"]
    assert two_projects.lines == [
        "GET /v2.1/projects/demo/services",
        "GET /v2.1/projects/demo/services",
        "GET /v2.1/projects/team-a/services",
        "GET /v2.1/projects/demo/services",
    ]


async def test_project_name_completes_from_default_and_projects_used(
    settings: Settings, two_projects: RecordingTransport, mode: str
) -> None:
    async with session(settings, two_projects, mode) as client:
        before = await client.complete(LIST, {"name": "project_name", "value": ""})
        await client.call_tool("services_list", {"project_name": "team-a"})
        await client.call_tool("services_list", {"project_name": "no-such-project"})
        after = await client.complete(LIST, {"name": "project_name", "value": ""})
        typed = await client.complete(
            PromptReference(type="ref/prompt", name="audit-services"), {"name": "project_name", "value": "TE"}
        )
    assert before.completion.values == ["demo"]
    assert after.completion.values == ["demo", "team-a"]
    assert typed.completion.values == ["team-a"]


async def test_completion_of_other_references_and_arguments_is_empty(
    settings: Settings, wire: RecordingTransport, mode: str
) -> None:
    async with session(settings, wire, mode) as client:
        cases = [
            (PromptReference(type="ref/prompt", name="expose-deployment"), "deployment"),
            (PromptReference(type="ref/prompt", name="audit-services"), "service_name"),
            (PromptReference(type="ref/prompt", name="no-such-prompt"), "project_name"),
            (LIST, "service_name"),
            (ResourceTemplateReference(type="ref/resource", uri="ubiops://other/{project_name}"), "project_name"),
        ]
        for ref, argument in cases:
            result = await client.complete(ref, {"name": argument, "value": ""})
            assert result.completion.values == [], (ref, argument)
    assert not wire.requests


async def test_completion_stays_quiet_when_the_api_fails(settings: Settings, mode: str) -> None:
    broken = scripted(lambda request: httpx.Response(500, json={"error": "down"}))
    async with session(settings.with_overrides(max_attempts=1), broken, mode) as client:
        result = await client.complete(ITEM, {"name": "service_name", "value": ""})
    assert result.completion.values == []


def test_projects_seen_keeps_the_most_recent_few() -> None:
    seen = SeenProjects(limit=3)
    for name in ("a", "b", "c", "a", "d"):
        seen.add(name)
    assert seen.names() == ["d", "a", "c"]


def test_projects_seen_are_kept_per_caller_token() -> None:
    from pydantic import SecretStr

    from ubiops_services_mcp.api.auth import caller_token
    from ubiops_services_mcp.resources import SeenProjects

    seen = SeenProjects()
    with caller_token(SecretStr("alice-token-0123456789")):
        seen.add("alice-project")
    with caller_token(SecretStr("bob-token-0123456789")):
        seen.add("bob-project")
        assert seen.names() == ["bob-project"]
    with caller_token(SecretStr("alice-token-0123456789")):
        assert seen.names() == ["alice-project"]
    assert seen.names() == []  # the server's own identity saw neither
