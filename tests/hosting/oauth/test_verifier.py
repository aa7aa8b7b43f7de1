"""Access tokens checked against the issuer's keys: discovery, caching, rotation, and every claim that must hold."""

from __future__ import annotations

import secrets
import time
from typing import Any

import anyio
import jwt
import pytest
from jwt.utils import base64url_encode

from tests.hosting.oauth.issuer import ISSUER, RESOURCE, FakeIssuer, new_key
from ubiops_services_mcp.hosting.oauth.keys import (
    REFETCH_BURST,
    REFETCH_EVERY_S,
    IssuerKeys,
    KeysUnavailable,
    metadata_urls,
)
from ubiops_services_mcp.hosting.oauth.verifier import JwtVerifier

pytestmark = pytest.mark.anyio


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def issuer() -> FakeIssuer:
    fake = FakeIssuer()
    fake.rotate("k1")
    return fake


def verifier_for(issuer: FakeIssuer, clock: Clock | None = None) -> JwtVerifier:
    keys = IssuerKeys(ISSUER, transport=issuer.transport(), clock=clock or Clock())
    return JwtVerifier(keys, RESOURCE, "ubiops:read", "ubiops:write")


def test_metadata_is_looked_for_where_the_mcp_spec_says() -> None:
    assert metadata_urls("https://idp.test") == [
        "https://idp.test/.well-known/oauth-authorization-server",
        "https://idp.test/.well-known/openid-configuration",
    ]
    assert metadata_urls("https://idp.test/tenant/") == [
        "https://idp.test/.well-known/oauth-authorization-server/tenant",
        "https://idp.test/.well-known/openid-configuration/tenant",
        "https://idp.test/tenant/.well-known/openid-configuration",
    ]


async def test_a_valid_token_gives_the_person_and_scopes(issuer: FakeIssuer) -> None:
    grant = await verifier_for(issuer).verify_token(issuer.token())
    assert grant is not None
    assert (grant.subject, grant.client_id, grant.resource) == ("alice", "app", RESOURCE)
    assert grant.scopes == ["ubiops:read"]
    assert grant.claims == {"iss": ISSUER, "email": "alice@example.test"}


@pytest.mark.parametrize(
    ("claims", "scopes"),
    [
        ({"scope": "ubiops:write"}, ["ubiops:write", "ubiops:read"]),
        ({"scope": None, "scp": ["ubiops:read", "x"]}, ["ubiops:read", "x"]),
        ({"scope": None}, []),
    ],
)
async def test_scopes_and_write_implies_read(issuer: FakeIssuer, claims: dict[str, Any], scopes: list[str]) -> None:
    grant = await verifier_for(issuer).verify_token(issuer.token(**claims))
    assert grant is not None
    assert grant.scopes == scopes


@pytest.mark.parametrize(
    "claims",
    [
        {"exp": int(time.time()) - 120},
        {"aud": "https://other.test/mcp"},
        {"iss": "https://evil.test"},
        {"sub": None},
        {"exp": None},
        {"aud": None},
    ],
    ids=["expired", "audience", "issuer", "no-sub", "no-exp", "no-aud"],
)
async def test_a_token_failing_a_check_is_refused(issuer: FakeIssuer, claims: dict[str, Any]) -> None:
    assert await verifier_for(issuer).verify_token(issuer.token(**claims)) is None


async def test_an_audience_list_naming_this_resource_is_accepted(issuer: FakeIssuer) -> None:
    grant = await verifier_for(issuer).verify_token(issuer.token(aud=["https://other.test", RESOURCE]))
    assert grant is not None


async def test_a_signature_by_another_key_and_alg_none_and_hmac_are_refused(issuer: FakeIssuer) -> None:
    verifier = verifier_for(issuer)
    stranger, _ = new_key("k1")
    claims = {"iss": ISSUER, "sub": "alice", "aud": RESOURCE, "exp": int(time.time()) + 60}
    forged = jwt.encode(claims, stranger, algorithm="ES256", headers={"kid": "k1"})
    unsigned = jwt.encode(claims, None, algorithm="none", headers={"kid": "k1"})
    hmac = jwt.encode(claims, "k" * 32, algorithm="HS256", headers={"kid": "k1"})
    for token in (forged, unsigned, hmac, "not-a-jwt"):
        assert await verifier.verify_token(token) is None


async def test_keys_are_cached_and_refetched_for_a_new_key_id(issuer: FakeIssuer) -> None:
    clock = Clock()
    verifier = verifier_for(issuer, clock)
    for _ in range(3):
        assert await verifier.verify_token(issuer.token()) is not None
    assert issuer.requests == ["/.well-known/oauth-authorization-server", "/.well-known/openid-configuration", "/jwks"]
    issuer.rotate("k2")
    assert await verifier.verify_token(issuer.token("k2")) is not None
    assert issuer.requests[-1] == "/jwks"
    assert issuer.requests.count("/jwks") == 2


async def test_a_rotated_key_is_fetched_even_right_after_a_fetch(issuer: FakeIssuer) -> None:
    clock = Clock()
    verifier = verifier_for(issuer, clock)
    assert await verifier.verify_token(issuer.token()) is not None
    issuer.rotate("k2")  # the same instant as the last fetch: the client refreshed right after the rotation
    assert await verifier.verify_token(issuer.token("k2")) is not None
    assert issuer.requests.count("/jwks") == 2


def random_kid_token(issuer: FakeIssuer) -> str:
    """A token naming a key id nobody publishes (signed by the current key, so only the kid is wrong)."""
    now = int(time.time())
    claims = {"iss": ISSUER, "sub": "mallory", "aud": RESOURCE, "exp": now + 60, "scope": "ubiops:read"}
    return jwt.encode(claims, issuer.keys["k1"], algorithm="ES256", headers={"kid": secrets.token_hex(8)})


async def test_made_up_key_ids_cause_a_bounded_number_of_fetches(issuer: FakeIssuer) -> None:
    clock = Clock()
    verifier = verifier_for(issuer, clock)
    assert await verifier.verify_token(issuer.token()) is not None
    for _ in range(100):  # one after another
        assert await verifier.verify_token(random_kid_token(issuer)) is None
    assert issuer.requests.count("/jwks") == 1 + REFETCH_BURST
    clock.now += REFETCH_EVERY_S  # the budget refills slowly: one more
    for _ in range(100):
        assert await verifier.verify_token(random_kid_token(issuer)) is None
    assert issuer.requests.count("/jwks") == 2 + REFETCH_BURST
    assert await verifier.verify_token(issuer.token()) is not None  # the known key never needed the budget


async def test_concurrent_made_up_key_ids_share_one_fetch(issuer: FakeIssuer) -> None:
    verifier = verifier_for(issuer)
    assert await verifier.verify_token(issuer.token()) is not None
    tokens = [random_kid_token(issuer) for _ in range(100)]
    refused: list[object] = []

    async def verify(token: str) -> None:
        refused.append(await verifier.verify_token(token))

    async with anyio.create_task_group() as group:
        for token in tokens:
            group.start_soon(verify, token)
    assert refused == [None] * 100
    assert issuer.requests.count("/jwks") <= 1 + REFETCH_BURST


async def test_stale_keys_are_fetched_again(issuer: FakeIssuer) -> None:
    clock = Clock()
    verifier = verifier_for(issuer, clock)
    assert await verifier.verify_token(issuer.token()) is not None
    clock.now += 3601
    assert await verifier.verify_token(issuer.token()) is not None
    assert issuer.requests.count("/jwks") == 2


async def test_metadata_naming_another_issuer_is_not_trusted(issuer: FakeIssuer) -> None:
    issuer.metadata_issuer = "https://evil.test"
    with pytest.raises(KeysUnavailable):
        await verifier_for(issuer).verify_token(issuer.token())


async def test_an_unreachable_issuer_is_keys_unavailable(issuer: FakeIssuer) -> None:
    issuer.down = True
    with pytest.raises(KeysUnavailable):
        await verifier_for(issuer).verify_token(issuer.token())


async def test_an_issuer_gone_down_leaves_the_held_keys_in_use(issuer: FakeIssuer) -> None:
    clock = Clock()
    verifier = verifier_for(issuer, clock)
    assert await verifier.verify_token(issuer.token()) is not None
    issuer.down = True
    clock.now += 3601  # stale: a fetch is tried, fails, and the held key still serves
    assert await verifier.verify_token(issuer.token()) is not None
    assert await verifier.verify_token(issuer.token()) is not None


async def test_a_key_set_without_usable_keys_is_keys_unavailable(issuer: FakeIssuer) -> None:
    issuer.jwks = [{"kty": "unknown"}]
    with pytest.raises(KeysUnavailable):
        await verifier_for(issuer).verify_token(issuer.token("k1"))


async def test_a_published_shared_secret_key_is_never_used(issuer: FakeIssuer) -> None:
    secret = "s" * 32
    issuer.jwks = [{"kty": "oct", "kid": "k1", "k": base64url_encode(secret.encode()).decode()}]
    claims = {"iss": ISSUER, "sub": "alice", "aud": RESOURCE, "exp": int(time.time()) + 60}
    hmac = jwt.encode(claims, secret, algorithm="HS256", headers={"kid": "k1"})
    relabelled = ".".join([base64url_encode(b'{"alg":"ES256","kid":"k1"}').decode(), *hmac.split(".")[1:]])
    for token in (hmac, relabelled):
        assert await verifier_for(issuer).verify_token(token) is None
