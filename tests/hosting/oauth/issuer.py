"""A fake authorization server for the unit tests: metadata and a key set behind an httpx.MockTransport."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

ISSUER = "https://idp.test"
RESOURCE = "https://mcp.test/mcp"


def new_key(kid: str) -> tuple[ec.EllipticCurvePrivateKey, dict[str, Any]]:
    """A P-256 key and its public JWK."""
    key = ec.generate_private_key(ec.SECP256R1())
    public: dict[str, Any] = json.loads(ECAlgorithm.to_jwk(key.public_key()))
    return key, public | {"kid": kid, "alg": "ES256", "use": "sig"}


@dataclass
class FakeIssuer:
    """Serves OIDC discovery and a JWKS; counts requests; signs tokens with its current key."""

    keys: dict[str, ec.EllipticCurvePrivateKey] = field(default_factory=dict)
    jwks: list[dict[str, Any]] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    metadata_issuer: str = ISSUER
    down: bool = False

    def rotate(self, kid: str) -> None:
        """A new key that signs from now on; the old ones stay published."""
        key, public = new_key(kid)
        self.keys[kid] = key
        self.jwks.insert(0, public)

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self._handle)

    def _handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request.url.path)
        if self.down:
            raise httpx.ConnectError("down", request=request)
        if request.url.path == "/.well-known/openid-configuration":
            return httpx.Response(200, json={"issuer": self.metadata_issuer, "jwks_uri": f"{ISSUER}/jwks"})
        if request.url.path == "/jwks":
            return httpx.Response(200, json={"keys": self.jwks})
        return httpx.Response(404)

    def token(self, kid: str | None = None, **claims: Any) -> str:
        """An access token signed by key `kid` (the newest by default); a claim given as None is left out."""
        kid = kid or self.jwks[0]["kid"]
        now = int(time.time())
        payload = {"iss": ISSUER, "sub": "alice", "aud": RESOURCE, "iat": now, "exp": now + 300}
        payload |= {"scope": "ubiops:read", "client_id": "app", "email": "alice@example.test"}
        payload = {k: v for k, v in (payload | claims).items() if v is not None}
        return jwt.encode(payload, self.keys[kid], algorithm="ES256", headers={"kid": kid})
