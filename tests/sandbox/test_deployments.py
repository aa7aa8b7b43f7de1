"""The sandbox's read-only deployment endpoints: the current API's shapes, from the seed."""

from __future__ import annotations

import httpx
import pytest

pytestmark = pytest.mark.anyio

V1_ID = "7b0d5f0e-1c4a-4f37-9a52-3c1f0e6a1d01"


async def test_deployments_list_has_no_default_version(client: httpx.AsyncClient) -> None:
    response = await client.get("/projects/demo/deployments")
    assert response.status_code == 200
    (item,) = response.json()
    assert (item["name"], item["project"], item["labels"]) == ("hello-world", "demo", {"team": "platform"})
    assert "default_version" not in item


async def test_deployment_detail_names_its_default_version(client: httpx.AsyncClient) -> None:
    response = await client.get("/projects/demo/deployments/hello-world")
    assert response.status_code == 200
    assert response.json()["default_version"] == "v1"
    assert response.json()["description"] == "Answers hello: a deployment to try services with."


async def test_versions_carry_default_status_and_instance_bounds(client: httpx.AsyncClient) -> None:
    listed = (await client.get("/projects/demo/deployments/hello-world/versions")).json()
    keys = ("version", "default", "status", "minimum_instances", "maximum_instances", "instance_type_group_name")
    assert [tuple(item[key] for key in keys) for item in listed] == [
        ("v1", True, "available", 0, 1, "512 MB + 0.125 vCPU"),
        ("v2", False, "available", 1, 3, "1024 MB + 0.25 vCPU"),
    ]
    assert listed[0]["ports"] == [{"public_port": 8080, "deployment_port": 8080, "protocol": "tcp"}]
    one = await client.get("/projects/demo/deployments/hello-world/versions/v1")
    assert one.status_code == 200
    assert one.json() == listed[0]
    assert one.json()["id"] == V1_ID


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/projects/demo/deployments/nope", "Deployment not found"),
        ("/projects/demo/deployments/nope/versions/v1", "Deployment not found"),
        ("/projects/demo/deployments/hello-world/versions/v9", "Version not found"),
        ("/projects/nope/deployments", "Project not found"),
    ],
)
async def test_missing_names_are_404(client: httpx.AsyncClient, path: str, message: str) -> None:
    response = await client.get(path)
    assert (response.status_code, response.json()) == (404, {"error": message})


async def test_deployments_are_read_only(client: httpx.AsyncClient) -> None:
    for method in ("POST", "PATCH", "DELETE"):
        response = await client.request(method, "/projects/demo/deployments/hello-world")
        assert response.status_code == 405
        assert response.headers["allow"] == "GET"
