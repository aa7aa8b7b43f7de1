"""The official `ubiops` 4.15.0 client against the standalone sandbox: every response must deserialize."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import ubiops
from ubiops.exceptions import ApiException

from tests.conftest import serve_in_thread
from ubiops_services_mcp.sandbox import create_app

PROJECT = "demo"


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    """A real uvicorn sandbox on a free loopback port, stopped (and its database closed) at the end."""
    with serve_in_thread(create_app()) as port:
        yield f"http://127.0.0.1:{port}/v2.1"


@pytest.fixture
def core_api(base_url: str) -> Iterator[ubiops.CoreApi]:
    """The official client, configured as its docs say, closed after the test."""
    config = ubiops.Configuration(host=base_url, api_key={"Authorization": "Token test"})
    with ubiops.ApiClient(config) as api_client:
        yield ubiops.CoreApi(api_client)


def test_full_lifecycle(core_api: ubiops.CoreApi) -> None:
    data = ubiops.ServiceCreate(
        name="official/one", deployment="hello-world", port=8080, labels={"team": "ml"}, description="d"
    )
    created = core_api.services_create(PROJECT, data)
    assert isinstance(created, ubiops.ServiceDetail)
    assert created.name == "official/one"
    assert created.version is None
    assert created.time_created is not None
    assert created.endpoint == f"https://{created.id}.services.sandbox.invalid"
    core_api.services_create(PROJECT, ubiops.ServiceCreate(name="official-two", deployment="hello-world", port=1))

    listed = core_api.services_list(PROJECT, labels="team:ml")
    assert [(item.name, item.labels) for item in listed] == [("official/one", {"team": "ml"})]
    assert all(isinstance(item, ubiops.ServiceList) for item in listed)
    assert {item.name for item in core_api.services_list(PROJECT)} >= {"official/one", "official-two"}

    fetched = core_api.services_get(PROJECT, "official/one")
    assert fetched.to_dict() == created.to_dict()

    update = ubiops.ServiceUpdate(version="v2", port=9090, rate_limit=10)
    updated = core_api.services_update(PROJECT, "official/one", update)
    assert (updated.version, updated.port, updated.rate_limit) == ("v2", 9090, 10)
    assert updated.description == "d"
    assert updated.time_updated > created.time_updated

    assert core_api.services_delete(PROJECT, "official/one") is None
    core_api.services_delete(PROJECT, "official-two")
    assert [item.name for item in core_api.services_list(PROJECT, labels="team:ml")] == []


def test_missing_service_is_a_404_api_exception(core_api: ubiops.CoreApi) -> None:
    with pytest.raises(ApiException) as caught:
        core_api.services_get(PROJECT, "does-not-exist")
    assert caught.value.status == 404
    assert "Service not found" in str(caught.value)
    assert "Service not found" in caught.value.body


def test_duplicate_name_is_a_409_api_exception(core_api: ubiops.CoreApi) -> None:
    data = ubiops.ServiceCreate(name="twice", deployment="hello-world", port=8080)
    core_api.services_create(PROJECT, data)
    try:
        with pytest.raises(ApiException) as caught:
            core_api.services_create(PROJECT, data)
        assert caught.value.status == 409
        assert "A service with name 'twice' already exists in this project" in str(caught.value)
    finally:
        core_api.services_delete(PROJECT, "twice")


def test_a_wrong_token_is_a_401_api_exception(base_url: str) -> None:
    config = ubiops.Configuration(host=base_url, api_key={"Authorization": "Bearer test"})
    with ubiops.ApiClient(config) as api_client, pytest.raises(ApiException) as caught:
        ubiops.CoreApi(api_client).services_list(PROJECT)
    assert caught.value.status == 401


def test_deployments_read_through_the_official_client(core_api: ubiops.CoreApi) -> None:
    listed = core_api.deployments_list(PROJECT)
    assert [(type(item), item.name, item.project) for item in listed] == [
        (ubiops.DeploymentList, "hello-world", PROJECT)
    ]

    detail = core_api.deployments_get(PROJECT, "hello-world")
    assert isinstance(detail, ubiops.DeploymentDetail)
    assert detail.default_version == "v1"
    assert detail.creation_date is not None

    versions = core_api.deployment_versions_list(PROJECT, "hello-world")
    assert all(isinstance(item, ubiops.DeploymentVersionList) for item in versions)
    assert [(v.version, v.default, v.status, v.minimum_instances, v.maximum_instances) for v in versions] == [
        ("v1", True, "available", 0, 1),
        ("v2", False, "available", 1, 3),
    ]
    assert versions[0].ports[0].deployment_port == 8080

    one = core_api.deployment_versions_get(PROJECT, "hello-world", "v2")
    assert isinstance(one, ubiops.DeploymentVersionDetail)
    assert (one.version, one.maximum_instances, one.instance_type_group_name) == ("v2", 3, "1024 MB + 0.25 vCPU")


def test_missing_deployment_is_a_404_api_exception(core_api: ubiops.CoreApi) -> None:
    with pytest.raises(ApiException) as caught:
        core_api.deployment_versions_list(PROJECT, "nope")
    assert caught.value.status == 404
    assert "Deployment not found" in caught.value.body
