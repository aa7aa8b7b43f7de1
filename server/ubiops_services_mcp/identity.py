"""Who an HTTP request's user is: one answer for the audit log, session binding and confirmation tokens."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.auth.provider import AccessToken, principal_components
from pydantic import SecretStr


def user_fields(user: object) -> dict[str, Any]:
    """The audit log's fields for a request's user: its client id and, for an OAuth token, the person (sub, email)."""
    token: object = getattr(user, "access_token", None)
    fields: dict[str, Any] = {}
    client_id = getattr(user, "username", None) or getattr(token, "client_id", None)
    if client_id:
        fields["http_client_id"] = client_id
    if isinstance(token, AccessToken) and token.subject:
        fields["sub"] = token.subject
        email: object = (token.claims or {}).get("email")
        if isinstance(email, str):
            fields["email"] = email
    return fields


def person(token: AccessToken) -> str:
    """The person a token speaks for (issuer and subject, whichever client they use), to bind confirmations to."""
    _, issuer, subject = principal_components(token)
    return json.dumps([issuer, subject], separators=(",", ":"))


def lacks_scope(scope: str | None) -> bool:
    """Whether the request being served is an OAuth caller's without `scope` (None: no scope is needed)."""
    token = get_access_token()
    return scope is not None and token is not None and scope not in token.scopes


def fingerprint(token: SecretStr) -> str:
    """A short, one-way name for a caller's token, for the audit log: never the token itself."""
    digest = hashlib.sha256(token.get_secret_value().encode()).hexdigest()
    return f"ubiops-token:{digest[:12]}"
