"""Every way an update or delete can be refused, each proven from the wire: no PATCH, no DELETE."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from mcp import Client
from pydantic import SecretStr

from tests.conftest import RecordingTransport, data, session
from ubiops_services_mcp.tools.confirmation import Binding, Signer, TokenRefused, canonical_hash

pytestmark = pytest.mark.anyio

SERVICE = {"name": "svc", "deployment": "hello-world", "port": 8080}
UPDATE = {"service_name": "svc", "data": {"port": 9090}}


@pytest.fixture
async def client(settings: Any, wire: RecordingTransport, mode: str) -> AsyncIterator[Client]:
    async with session(settings, wire, mode) as client:
        await client.call_tool("services_create", {"data": SERVICE})
        await client.call_tool("services_create", {"data": {**SERVICE, "name": "other"}})
        wire.clear()
        yield client


async def preview_token(client: Client, tool: str, args: dict[str, Any]) -> str:
    result = await client.call_tool(tool, args)
    assert data(result)["outcome"] == "preview"
    return str(data(result)["confirmation_token"])


def assert_refused(result: Any, reason: str) -> None:
    assert result.is_error
    body = data(result)
    assert body["outcome"] == "refused"
    assert reason in body["message"]
    assert body["confirmation_token"]  # a fresh preview to start again from


@pytest.mark.parametrize("tool", ["services_update", "services_delete"])
async def test_preview_sends_only_a_get(client: Client, wire: RecordingTransport, tool: str) -> None:
    args = UPDATE if tool == "services_update" else {"service_name": "svc"}
    result = await client.call_tool(tool, args)
    assert data(result)["outcome"] == "preview"
    assert data(result)["default_version"] == "v1"  # svc follows the default: the preview says which it is
    assert wire.lines == [
        "GET /v2.1/projects/demo/services/svc",
        "GET /v2.1/projects/demo/deployments/hello-world/versions",
    ]


@pytest.mark.parametrize("tool", ["services_update", "services_delete"])
async def test_confirm_without_token_is_refused(client: Client, wire: RecordingTransport, tool: str) -> None:
    args = UPDATE if tool == "services_update" else {"service_name": "svc"}
    result = await client.call_tool(tool, {**args, "confirm": True})
    assert_refused(result, "needs the confirmation_token")
    assert wire.mutations == []


async def test_token_without_confirm_only_previews(client: Client, wire: RecordingTransport) -> None:
    token = await preview_token(client, "services_update", UPDATE)
    result = await client.call_tool("services_update", {**UPDATE, "confirmation_token": token})
    assert data(result)["outcome"] == "preview"
    assert wire.mutations == []


async def test_altered_token_is_refused(client: Client, wire: RecordingTransport) -> None:
    token = await preview_token(client, "services_update", UPDATE)
    version, body, mac = token.split(".")
    claims = json.loads(_unb64(body))
    forged_body = _b64(json.dumps({**claims, "h": canonical_hash({"port": 1})}).encode())
    for forged in (f"{version}.{forged_body}.{mac}", token[:-2] + "AA", "v1.x.y", "garbage"):
        result = await client.call_tool("services_update", {**UPDATE, "confirm": True, "confirmation_token": forged})
        assert_refused(result, "Not applied: the confirmation_token")
    assert wire.mutations == []


async def test_token_for_another_payload_is_refused(client: Client, wire: RecordingTransport) -> None:
    token = await preview_token(client, "services_update", UPDATE)
    other = {"service_name": "svc", "data": {"port": 1}, "confirm": True, "confirmation_token": token}
    assert_refused(await client.call_tool("services_update", other), "different change")
    assert wire.mutations == []


async def test_token_for_another_service_is_refused(client: Client, wire: RecordingTransport) -> None:
    token = await preview_token(client, "services_delete", {"service_name": "svc"})
    other = {"service_name": "other", "confirm": True, "confirmation_token": token}
    assert_refused(await client.call_tool("services_delete", other), "another project or service")
    assert wire.mutations == []


async def test_token_for_another_operation_is_refused(client: Client, wire: RecordingTransport) -> None:
    token = await preview_token(client, "services_update", UPDATE)
    delete = {"service_name": "svc", "confirm": True, "confirmation_token": token}
    assert_refused(await client.call_tool("services_delete", delete), "issued for 'update'")
    assert wire.mutations == []


async def test_token_of_another_server_secret_is_refused(client: Client, wire: RecordingTransport) -> None:
    foreign = Signer(SecretStr("another-secret"), 600)
    token = await preview_token(client, "services_update", UPDATE)
    claims = json.loads(_unb64(token.split(".")[1]))
    binding = Binding("update", "demo", "svc", claims["h"], claims["t"])
    forged, _ = foreign.issue(binding)
    result = await client.call_tool("services_update", {**UPDATE, "confirm": True, "confirmation_token": forged})
    assert_refused(result, "signed by another server")
    assert wire.mutations == []


async def test_expired_token_is_refused(settings: Any, client: Client, wire: RecordingTransport) -> None:
    token = await preview_token(client, "services_update", UPDATE)
    claims = json.loads(_unb64(token.split(".")[1]))
    signer = Signer(settings.secret, settings.confirmation_ttl_s)
    binding = Binding("update", "demo", "svc", claims["h"], claims["t"])
    expired, _ = signer.issue(binding, now=0)
    result = await client.call_tool("services_update", {**UPDATE, "confirm": True, "confirmation_token": expired})
    assert_refused(result, "expired")
    assert wire.mutations == []


async def test_change_since_preview_is_refused(client: Client, wire: RecordingTransport) -> None:
    token = await preview_token(client, "services_delete", {"service_name": "svc"})
    desc = {"service_name": "svc", "data": {"description": "moved"}}
    desc_token = await preview_token(client, "services_update", desc)
    await client.call_tool("services_update", {**desc, "confirm": True, "confirmation_token": desc_token})
    wire.clear()
    result = await client.call_tool(
        "services_delete", {"service_name": "svc", "confirm": True, "confirmation_token": token}
    )
    assert_refused(result, "changed since the preview")
    assert wire.mutations == []


async def test_refusal_carries_a_token_that_works(client: Client, wire: RecordingTransport) -> None:
    refused = await client.call_tool("services_update", {**UPDATE, "confirm": True})
    fresh = data(refused)["confirmation_token"]
    applied = await client.call_tool("services_update", {**UPDATE, "confirm": True, "confirmation_token": fresh})
    assert data(applied)["outcome"] == "applied"
    assert [r.line for r in wire.mutations] == ["PATCH /v2.1/projects/demo/services/svc"]


async def test_unchanged_update_sends_nothing(client: Client, wire: RecordingTransport) -> None:
    same = {"service_name": "svc", "data": {"port": 8080}, "confirm": True}
    result = await client.call_tool("services_update", same)
    assert data(result)["outcome"] == "unchanged"
    assert wire.mutations == []


async def test_flag_mode_applies_with_confirm_alone(settings: Any, wire: RecordingTransport, mode: str) -> None:
    async with session(settings.with_overrides(confirmation="flag"), wire, mode) as client:
        await client.call_tool("services_create", {"data": SERVICE})
        preview = await client.call_tool("services_update", UPDATE)
        applied = await client.call_tool("services_update", {**UPDATE, "confirm": True})
        deleted = await client.call_tool("services_delete", {"service_name": "svc", "confirm": True})
    assert data(preview)["outcome"] == "preview"
    assert (data(applied)["outcome"], data(deleted)["outcome"]) == ("applied", "applied")
    assert [r.method for r in wire.mutations] == ["POST", "PATCH", "DELETE"]


def _b64(raw: bytes) -> str:
    import base64

    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    import base64

    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def test_a_token_is_bound_to_its_caller() -> None:
    from ubiops_services_mcp.api.auth import caller_token

    signer = Signer(SecretStr("s"), 600)
    with caller_token(SecretStr("alice-token-0123456789")):
        token, _ = signer.issue(Binding("delete", "demo", "svc", canonical_hash({}), "t"))
        signer.verify(token, Binding("delete", "demo", "svc", canonical_hash({}), "t"))
    for other in (SecretStr("bob-token-0123456789"), None):
        with caller_token(other), pytest.raises(TokenRefused, match="another caller"):
            signer.verify(token, Binding("delete", "demo", "svc", canonical_hash({}), "t"))
