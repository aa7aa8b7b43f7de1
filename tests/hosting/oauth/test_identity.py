"""Who a request acts for: the key confirmations and remembered names are bound to, and the audit fields."""

from __future__ import annotations

import hashlib

from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.auth.provider import AccessToken
from pydantic import SecretStr

from ubiops_services_mcp.api.auth import caller_identity, caller_token, current_caller_key
from ubiops_services_mcp.hosting.http_auth import caller_user
from ubiops_services_mcp.identity import person, user_fields


def key_for(identity: str | None, token: str | None) -> str:
    with caller_identity(identity), caller_token(SecretStr(token) if token else None):
        return current_caller_key()


def test_the_caller_key_names_the_person_and_the_token_they_use() -> None:
    assert key_for(None, None) == ""
    assert key_for(None, "t1") == hashlib.sha256(b"t1").hexdigest()  # unchanged without a signed-in person
    keys = {key_for("alice", None), key_for("bob", None), key_for("alice", "t1"), key_for("alice", "t2")}
    assert len(keys) == 4
    assert key_for("alice", "t1") == key_for("alice", "t1")


def test_a_person_is_issuer_and_subject_whichever_client() -> None:
    def token(client: str, sub: str) -> AccessToken:
        return AccessToken(token="x", client_id=client, scopes=[], subject=sub, claims={"iss": "https://idp.test"})

    assert person(token("desktop", "alice")) == person(token("cli", "alice"))
    assert person(token("desktop", "alice")) != person(token("desktop", "bob"))


def test_audit_fields_name_the_person_only_when_a_token_does() -> None:
    oauth = AuthenticatedUser(
        AccessToken(token="jwt", client_id="app", scopes=[], subject="alice", claims={"email": "a@example.test"})
    )
    assert user_fields(oauth) == {"http_client_id": "app", "sub": "alice", "email": "a@example.test"}
    ubiops = user_fields(caller_user(SecretStr("some-ubiops-token")))
    assert set(ubiops) == {"http_client_id"}
    assert user_fields(None) == {}
