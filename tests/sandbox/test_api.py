"""The sandbox against the documented Services contract: shapes, defaults, filters and updates."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from ubiops_services_mcp.api.models import ServiceDetail, ServiceList
from ubiops_services_mcp.sandbox import store as store_module

pytestmark = pytest.mark.anyio

SERVICES = "/projects/demo/services"
V1_ID = "7b0d5f0e-1c4a-4f37-9a52-3c1f0e6a1d01"
V2_ID = "7b0d5f0e-1c4a-4f37-9a52-3c1f0e6a1d02"
TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
DETAIL_DEFAULTS: dict[str, Any] = {
    "description": "",
    "labels": {},
    "authentication_required": True,
    "authentication_method_token_enabled": True,
    "request_logging_excluded_paths": None,
    "request_logging_excluded_extensions": [],
    "health_check": None,
    "rate_limit_token": None,
    "rate_limit": None,
    "rate_limit_user_default": None,
    "concurrency_limit": None,
    "concurrency_limit_user_default": None,
    "authentication_header_pass_through": False,
}
LIST_KEYS = {"id", "name", "deployment", "version", "port", "time_created", "time_updated", "labels"}
LIST_KEYS |= {"authentication_required"}


async def create(client: httpx.AsyncClient, name: str = "svc", **fields: Any) -> dict[str, Any]:
    """Create a service on hello-world:8080 unless `fields` say otherwise."""
    body = {"name": name, "deployment": "hello-world", "port": 8080, **fields}
    response = await client.post(SERVICES, json=body)
    assert response.status_code == 201, response.text
    return response.json()


async def names(client: httpx.AsyncClient, **params: str) -> list[str]:
    """Names the list endpoint returns for the given query."""
    response = await client.get(SERVICES, params=params)
    assert response.status_code == 200, response.text
    return [item["name"] for item in response.json()]


async def test_status_is_open_and_stamped(client: httpx.AsyncClient) -> None:
    response = await client.get("/status", headers={"Authorization": ""})
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert re.fullmatch(r"[0-9a-f]{32}", response.headers["x-request-id"])


async def test_create_returns_every_detail_field_with_defaults(client: httpx.AsyncClient) -> None:
    response = await client.post(SERVICES, json={"name": "svc", "deployment": "hello-world", "port": 8080})
    assert response.status_code == 201
    body = response.json()
    service_id = body["id"]
    assert uuid.UUID(service_id).version == 4
    assert TIME.match(body["time_created"])
    assert body["time_updated"] == body["time_created"]
    assert body == {
        "id": service_id,
        "name": "svc",
        "deployment": "hello-world",
        "version": None,
        "port": 8080,
        "time_created": body["time_created"],
        "time_updated": body["time_created"],
        **DETAIL_DEFAULTS,
        "endpoint": f"https://{service_id}.services.sandbox.invalid",
    }
    ServiceDetail.model_validate(body)


async def test_create_keeps_every_documented_field(client: httpx.AsyncClient) -> None:
    given = {
        "version": "v2",
        "description": "demo",
        "labels": {"team": "ml"},
        "authentication_required": False,
        "authentication_method_token_enabled": False,
        "request_logging_excluded_paths": "(health|status)$",
        "request_logging_excluded_extensions": ["svg", "tar"],
        "health_check": {"path": "/status", "interval": 10},
        "rate_limit_token": 300,
        "rate_limit": 5,
        "concurrency_limit": 2,
        "authentication_header_pass_through": True,
    }
    body = await create(client, **given)
    assert {key: body[key] for key in given} == given
    assert body["rate_limit_user_default"] is None


@pytest.mark.parametrize("version", [{}, {"version": None}])
async def test_version_left_out_or_null_follows_the_default(client: httpx.AsyncClient, version: dict[str, Any]) -> None:
    body = await create(client, **version)
    assert body["version"] is None
    assert (await client.get(f"{SERVICES}/svc")).json()["version"] is None


async def test_list_is_a_plain_array_of_summaries_ordered_by_name(client: httpx.AsyncClient) -> None:
    for name in ["charlie", "alpha", "bravo"]:
        await create(client, name, description="not listed")
    response = await client.get(SERVICES)
    assert response.status_code == 200
    items = response.json()
    assert [item["name"] for item in items] == ["alpha", "bravo", "charlie"]
    assert all(set(item) == LIST_KEYS for item in items)
    assert [ServiceList.model_validate(item).port for item in items] == [8080] * 3


async def test_list_of_an_empty_project_is_empty(client: httpx.AsyncClient) -> None:
    assert await names(client) == []


async def test_label_filter_returns_services_with_any_of_the_pairs(client: httpx.AsyncClient) -> None:
    await create(client, "ml", labels={"team": "ml", "env": "prod"})
    await create(client, "web", labels={"team": "web", "env": "dev"})
    await create(client, "bare")
    await create(client, "colon", labels={"url": "a:b"})
    assert await names(client, labels="team:ml") == ["ml"]
    assert await names(client, labels="team:ml,env:dev") == ["ml", "web"]
    assert await names(client, labels="team:ml,team:ml") == ["ml"]
    assert await names(client, labels="team:nobody") == []
    assert await names(client, labels="url:a:b") == ["colon"]
    assert await names(client, labels="") == ["bare", "colon", "ml", "web"]


@pytest.mark.parametrize("labels", ["team", "team:ml,env", ":ml"])
async def test_malformed_label_filter_is_a_400_naming_labels(client: httpx.AsyncClient, labels: str) -> None:
    response = await client.get(SERVICES, params={"labels": labels})
    assert response.status_code == 400
    assert response.json() == {"error": "labels: each item must have the form 'key:value'"}


async def test_version_id_filter_resolves_null_to_the_default(client: httpx.AsyncClient) -> None:
    await create(client, "default")
    await create(client, "one", version="v1", labels={"x": "1"})
    await create(client, "two", version="v2", labels={"x": "1"})
    assert await names(client, deployment_version_ids=V1_ID) == ["default", "one"]
    assert await names(client, deployment_version_ids=V2_ID) == ["two"]
    assert await names(client, deployment_version_ids=f"{V1_ID},{V2_ID}") == ["default", "one", "two"]
    assert await names(client, deployment_version_ids=str(uuid.uuid4())) == []
    assert await names(client, deployment_version_ids="") == ["default", "one", "two"]
    assert await names(client, deployment_version_ids=V1_ID, labels="x:1") == ["one"]


async def test_versions_endpoint_lists_the_ids_the_filter_takes(client: httpx.AsyncClient) -> None:
    response = await client.get("/projects/demo/deployments/hello-world/versions")
    assert response.status_code == 200
    keys = ("id", "deployment", "version", "default")
    assert [{key: item[key] for key in keys} for item in response.json()] == [
        {"id": V1_ID, "deployment": "hello-world", "version": "v1", "default": True},
        {"id": V2_ID, "deployment": "hello-world", "version": "v2", "default": False},
    ]


async def test_get_returns_what_create_returned(client: httpx.AsyncClient) -> None:
    created = await create(client, labels={"a": "b"})
    response = await client.get(f"{SERVICES}/svc")
    assert response.status_code == 200
    assert response.json() == created


async def test_patch_changes_only_the_given_fields(client: httpx.AsyncClient) -> None:
    created = await create(client, labels={"a": "b"}, health_check={"path": "/x", "interval": 5})
    response = await client.patch(f"{SERVICES}/svc", json={"description": "new", "health_check": {"path": "/y"}})
    assert response.status_code == 200
    body = response.json()
    assert body["time_updated"] > created["time_updated"]
    unchanged = {"time_updated", "description", "health_check"}
    assert {k: v for k, v in body.items() if k not in unchanged} == {
        k: v for k, v in created.items() if k not in unchanged
    }
    assert body["description"] == "new"
    assert body["health_check"] == {"path": "/y"}
    assert (await client.get(f"{SERVICES}/svc")).json() == body


async def test_patch_labels_moves_the_service_between_filters(client: httpx.AsyncClient) -> None:
    await create(client, labels={"team": "ml"})
    await client.patch(f"{SERVICES}/svc", json={"labels": {"team": "web"}})
    assert await names(client, labels="team:ml") == []
    assert await names(client, labels="team:web") == ["svc"]


async def test_patch_renames(client: httpx.AsyncClient) -> None:
    created = await create(client)
    response = await client.patch(f"{SERVICES}/svc", json={"name": "renamed"})
    assert response.status_code == 200
    assert response.json()["id"] == created["id"]
    assert (await client.get(f"{SERVICES}/svc")).status_code == 404
    assert (await client.get(f"{SERVICES}/renamed")).json()["name"] == "renamed"
    assert (await client.patch(f"{SERVICES}/renamed", json={"name": "renamed"})).status_code == 200


async def test_patch_version_null_resets_to_the_default(client: httpx.AsyncClient) -> None:
    await create(client, version="v2")
    response = await client.patch(f"{SERVICES}/svc", json={"version": None})
    assert response.status_code == 200
    assert response.json()["version"] is None
    assert await names(client, deployment_version_ids=V1_ID) == ["svc"]


async def test_time_updated_strictly_increases_within_one_microsecond(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    frozen = datetime(2025, 10, 9, 12, 38, 10, 60537, tzinfo=UTC)
    monkeypatch.setattr(store_module, "_now", lambda: frozen)
    created = await create(client)
    stamps = [created["time_updated"]]
    for _ in range(3):
        stamps.append((await client.patch(f"{SERVICES}/svc", json={})).json()["time_updated"])
    assert stamps == [f"2025-10-09T12:38:10.06053{n}Z" for n in range(7, 10)] + ["2025-10-09T12:38:10.060540Z"]
    assert (await client.get(f"{SERVICES}/svc")).json()["time_created"] == stamps[0]


async def test_delete_is_204_with_no_body(client: httpx.AsyncClient) -> None:
    await create(client)
    response = await client.delete(f"{SERVICES}/svc")
    assert response.status_code == 204
    assert response.content == b""
    assert (await client.get(f"{SERVICES}/svc")).status_code == 404
    assert await names(client) == []


async def test_service_status_is_ready(client: httpx.AsyncClient) -> None:
    created = await create(client)
    response = await client.get(f"{SERVICES}/svc/status")
    assert response.status_code == 200
    assert response.json() == {"id": created["id"], "ready": True, "instances_ready": 1}
