"""The sandbox's refusals, auth, awkward names, persistence and scale, as a client would meet them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from starlette.applications import Starlette

from ubiops_services_mcp.sandbox import create_app

pytestmark = pytest.mark.anyio

BASE_URL = "http://sandbox/v2.1"
SERVICES = "/projects/demo/services"
BODY = {"name": "svc", "deployment": "hello-world", "port": 8080}


def path_of(name: str) -> str:
    """A service path with nothing kept safe, dots too, so '..' is not folded away by URL normalising."""
    return f"{SERVICES}/{quote(name, safe='').replace('.', '%2E')}"


def connect(app: Starlette, token: str | None = "test") -> httpx.AsyncClient:
    """A client of `app`, with `Authorization: Token <token>` unless token is None."""
    headers = {} if token is None else {"Authorization": f"Token {token}"}
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE_URL, headers=headers)


@pytest.mark.parametrize(("method", "url"), [("POST", SERVICES), ("PATCH", f"{SERVICES}/svc")])
async def test_invalid_json_is_a_400(client: httpx.AsyncClient, method: str, url: str) -> None:
    await client.post(SERVICES, json=BODY)
    for content in (b"{nope", b"", b"\xff"):
        response = await client.request(method, url, content=content)
        assert response.status_code == 400
        assert response.json() == {"error": "Invalid JSON in the request body"}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"port": 65536}, "port: Input should be less than or equal to 65535"),
        ({"port": "8080"}, "port: Input should be a valid integer"),
        ({"name": ""}, "name: String should have at least 1 character"),
        ({"labels": {"a": 1}}, "labels.a: Input should be a valid string"),
        ({"health_check": {"path": "x"}}, "health_check.path: Value error, must start with '/'"),
        ({"colour": "red"}, "colour: Extra inputs are not permitted"),
    ],
)
async def test_invalid_create_names_the_field_and_rule(
    client: httpx.AsyncClient, change: dict[str, Any], message: str
) -> None:
    response = await client.post(SERVICES, json={**BODY, **change})
    assert response.status_code == 400
    assert response.json() == {"error": message}


async def test_validation_message_lists_every_problem_and_echoes_no_input(client: httpx.AsyncClient) -> None:
    response = await client.post(SERVICES, json={"port": 0, "description": "secret-value" * 50})
    assert response.status_code == 400
    message = response.json()["error"]
    for part in ("name: Field required", "deployment: Field required", "port: Input should be greater"):
        assert part in message
    assert "description: String should have at most 400 characters" in message
    assert "secret-value" not in message
    response = await client.post(SERVICES, json=["not", "an", "object"])
    assert response.json() == {"error": "body: Input should be a valid dictionary or instance of ServiceCreate"}


async def test_invalid_patch_is_a_400(client: httpx.AsyncClient) -> None:
    await client.post(SERVICES, json=BODY)
    response = await client.patch(f"{SERVICES}/svc", json={"port": 70000, "id": "x"})
    assert response.json() == {
        "error": "port: Input should be less than or equal to 65535; id: Extra inputs are not permitted"
    }


@pytest.mark.parametrize(
    ("method", "url", "body", "message"),
    [
        ("GET", "/projects/nope/services", None, "Project not found"),
        ("POST", "/projects/nope/services", BODY, "Project not found"),
        ("GET", "/projects/nope/services/svc", None, "Project not found"),
        ("GET", f"{SERVICES}/nope", None, "Service not found"),
        ("PATCH", f"{SERVICES}/nope", {}, "Service not found"),
        ("DELETE", f"{SERVICES}/nope", None, "Service not found"),
        ("GET", f"{SERVICES}/nope/status", None, "Service not found"),
        ("POST", SERVICES, {**BODY, "deployment": "nope"}, "Deployment not found"),
        ("POST", SERVICES, {**BODY, "version": "v9"}, "Version not found"),
        ("GET", "/projects/demo/deployments/nope/versions", None, "Deployment not found"),
        ("GET", "/projects/nope/deployments/hello-world/versions", None, "Project not found"),
        ("GET", "/projects/demo/elsewhere", None, "Not found."),
        ("GET", "/../v2/status", None, "Not found."),
    ],
)
async def test_not_found(client: httpx.AsyncClient, method: str, url: str, body: Any, message: str) -> None:
    response = await client.request(method, url, json=body)
    assert response.status_code == 404
    assert response.json() == {"error": message}
    assert response.headers["x-request-id"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"deployment": "nope"}, "Deployment not found"),
        ({"version": "v9"}, "Version not found"),
        ({"version": ""}, None),
    ],
)
async def test_patch_to_an_unknown_target(
    client: httpx.AsyncClient, change: dict[str, Any], message: str | None
) -> None:
    await client.post(SERVICES, json=BODY)
    response = await client.patch(f"{SERVICES}/svc", json=change)
    assert response.status_code == (404 if message else 400)
    if message:
        assert response.json() == {"error": message}


async def test_duplicate_name_is_a_409_on_create_and_rename(client: httpx.AsyncClient) -> None:
    await client.post(SERVICES, json=BODY)
    await client.post(SERVICES, json={**BODY, "name": "other"})
    expected = {"error": "A service with name 'svc' already exists in this project"}
    created = await client.post(SERVICES, json=BODY)
    assert (created.status_code, created.json()) == (409, expected)
    renamed = await client.patch(f"{SERVICES}/other", json={"name": "svc"})
    assert (renamed.status_code, renamed.json()) == (409, expected)


@pytest.mark.parametrize(
    ("method", "url", "allow"),
    [
        ("PUT", SERVICES, "GET, POST"),
        ("DELETE", SERVICES, "GET, POST"),
        ("POST", f"{SERVICES}/svc", "GET, PATCH, DELETE"),
        ("PUT", f"{SERVICES}/svc", "GET, PATCH, DELETE"),
        ("POST", "/status", "GET"),
        ("TRACE", "/status", "GET"),
    ],
)
async def test_wrong_method_is_a_405(client: httpx.AsyncClient, method: str, url: str, allow: str) -> None:
    response = await client.request(method, url)
    assert response.status_code == 405
    assert response.json() == {"error": f'Method "{method}" not allowed.'}
    assert response.headers["allow"] == allow


@pytest.mark.parametrize(
    "header", [None, "", "Token", "Token ", "token test", "Bearer test", "Token Token test", "Tokentest"]
)
async def test_missing_or_malformed_credentials_are_a_401(app: Starlette, header: str | None) -> None:
    async with connect(app, token=None) as client:
        headers = {} if header is None else {"Authorization": header}
        for method, url in [("GET", SERVICES), ("POST", SERVICES), ("DELETE", f"{SERVICES}/x")]:
            response = await client.request(method, url, headers=headers)
            assert response.status_code == 401
            assert response.json() == {"error": "Authentication credentials were not provided."}


async def test_a_configured_token_must_match_exactly() -> None:
    app = create_app(token="s3cret")
    try:
        for token, status in [("s3cret", 200), ("wrong", 401), ("s3cret2", 401), ("S3CRET", 401)]:
            async with connect(app, token) as client:
                assert (await client.get(SERVICES)).status_code == status
    finally:
        app.state.store.close()


@pytest.mark.parametrize("name", [".", ".."])
async def test_dot_segments_are_not_names(client: httpx.AsyncClient, name: str) -> None:
    created = await client.post(SERVICES, json={**BODY, "name": name})
    assert created.status_code == 400
    assert created.json() == {"error": "name: Value error, '.' and '..' are not names"}


@pytest.mark.parametrize("name", ["a/b", "a..b", "...", "what?", "#tag", "100%", "%2F", "sp ace", "ünï"])
async def test_awkward_names_round_trip_as_one_segment(client: httpx.AsyncClient, name: str) -> None:
    created = await client.post(SERVICES, json={**BODY, "name": name})
    assert created.status_code == 201
    assert (await client.get(path_of(name))).json() == created.json()
    assert (await client.get(f"{path_of(name)}/status")).json()["id"] == created.json()["id"]
    assert [item["name"] for item in (await client.get(SERVICES)).json()] == [name]
    patched = await client.patch(path_of(name), json={"port": 9000})
    assert (patched.status_code, patched.json()["port"]) == (200, 9000)
    assert (await client.delete(path_of(name))).status_code == 204


async def test_state_survives_a_restart_of_a_file_database(tmp_path: Path) -> None:
    db = str(tmp_path / "nested" / "dir" / "sandbox.db")
    first = create_app(db)
    async with connect(first) as client:
        created = (await client.post(SERVICES, json={**BODY, "labels": {"k": "v"}})).json()
    first.state.store.close()
    second = create_app(db)  # seeds again: must be a no-op
    try:
        async with connect(second) as client:
            assert (await client.get(f"{SERVICES}/svc")).json() == created
            assert [item["id"] for item in (await client.get(SERVICES, params={"labels": "k:v"})).json()] == [
                created["id"]
            ]
            assert len((await client.get("/projects/demo/deployments/hello-world/versions")).json()) == 2
    finally:
        second.state.store.close()


async def test_a_custom_seed_replaces_the_default(tmp_path: Path) -> None:
    seed = {
        "projects": [
            {
                "name": "mine",
                "deployments": [
                    {
                        "name": "dep",
                        "default_version": "prod",
                        "versions": [{"id": "id-1", "version": "prod"}],
                    }
                ],
            }
        ]
    }
    seed_path = tmp_path / "seed.json"
    seed_path.write_text(json.dumps(seed))
    app = create_app(seed_path=seed_path)
    try:
        async with connect(app) as client:
            versions = (await client.get("/projects/mine/deployments/dep/versions")).json()
            keys = ("id", "deployment", "version", "default", "status", "minimum_instances", "maximum_instances")
            assert [{key: item[key] for key in keys} for item in versions] == [
                {"id": "id-1", "deployment": "dep", "version": "prod", "default": True, "status": "available",
                 "minimum_instances": 0, "maximum_instances": 1}
            ]  # fmt: skip
            assert (await client.get(SERVICES)).status_code == 404
    finally:
        app.state.store.close()


async def test_listing_ten_thousand_services(app: Starlette, client: httpx.AsyncClient) -> None:
    """Correct at scale; how fast is measured by benchmarks/sandbox_scale.py, not asserted here."""
    for n in range(10_000):
        labels = {"shard": str(n % 10)}
        app.state.store.create("demo", {**BODY, "name": f"svc-{n:05d}", "labels": labels})
    response = await client.get(SERVICES)
    assert len(response.json()) == 10_000
    filtered = await client.get(SERVICES, params={"labels": "shard:3,shard:4"})
    assert len(filtered.json()) == 2_000


async def test_an_oversized_body_is_a_413(client: httpx.AsyncClient) -> None:
    response = await client.post(SERVICES, content=b" " * (1024 * 1024 + 1))
    assert response.status_code == 413
    assert response.json() == {"error": "Request body larger than 1048576 bytes"}
    assert response.headers["x-request-id"]


async def test_a_server_bug_is_a_json_500_with_a_request_id() -> None:
    app = create_app()
    app.state.store.close()  # every store call now raises: stands in for any bug
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL, headers={"Authorization": "Token t"}) as c:
        response = await c.get(SERVICES)
    assert response.status_code == 500
    assert response.json() == {"error": "Internal server error"}
    assert response.headers["x-request-id"]
