"""Access tokens as JWTs (RFC 9068): signed by the issuer's key, from that issuer, not expired, for this resource.

PyJWT checks the signature and the claims; this module only chooses what to demand. Only asymmetric algorithms
are accepted (never `none` or a shared-secret HMAC), and only the algorithm of the key the token names. Clock skew
of LEEWAY_S is allowed on `exp` (and `nbf`, `iat`), by PyJWT and by the SDK's own expiry check after it.
"""

from __future__ import annotations

import logging
from typing import Any, Final

import jwt
from mcp.server.auth.provider import AccessToken

from .keys import IssuerKeys

logger = logging.getLogger(__name__)

ALGORITHMS: Final = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA", "Ed25519"}
)
LEEWAY_S: Final = 30  # clock skew between the issuer and this server
REQUIRED_CLAIMS: Final = ["exp", "iss", "aud", "sub"]


class JwtVerifier:
    """The SDK's TokenVerifier for JWT access tokens of one issuer and one resource (this server)."""

    def __init__(self, keys: IssuerKeys, resource: str, read_scope: str, write_scope: str) -> None:
        self._keys = keys
        self._resource = resource
        self._audiences = sorted({resource, resource.rstrip("/"), resource.rstrip("/") + "/"})
        self._read, self._write = read_scope, write_scope

    async def verify_token(self, token: str) -> AccessToken | None:
        """The token's grant when it is valid for this server, else None (the caller gets 401)."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            return None
        kid: object = header.get("kid")
        if header.get("alg") not in ALGORITHMS or not (kid is None or isinstance(kid, str)):
            return None
        key = await self._keys.key(kid)
        if key is None or key.algorithm_name not in ALGORITHMS:  # a published shared-secret key is never used
            logger.info("access token refused: the issuer has no signing key %r", kid)
            return None
        try:
            claims = jwt.decode(
                token, key, algorithms=[key.algorithm_name], audience=self._audiences, issuer=self._keys.issuer,
                leeway=LEEWAY_S, options={"require": REQUIRED_CLAIMS},
            )  # fmt: skip
        except jwt.PyJWTError as error:  # the messages name the failed check, never the token
            logger.info("access token refused: %s", error)
            return None
        return self._grant(token, claims)

    def _grant(self, token: str, claims: dict[str, Any]) -> AccessToken | None:
        subject = claims.get("sub")
        if not isinstance(subject, str) or not subject:
            return None
        client: object = claims.get("client_id") or claims.get("azp")
        email: object = claims.get("email")
        return AccessToken(
            token=token,
            client_id=client if isinstance(client, str) and client else subject,
            scopes=self.scopes(claims),
            expires_at=int(claims["exp"]) + LEEWAY_S,  # the SDK checks this again, without PyJWT's leeway
            resource=self._resource,
            subject=subject,
            claims={"iss": claims["iss"]} | ({"email": email} if isinstance(email, str) else {}),
        )

    def scopes(self, claims: dict[str, Any]) -> list[str]:
        """The granted scopes (`scope`, or `scp` as some issuers name it); the write scope implies the read one."""
        raw: object = claims.get("scope", claims.get("scp"))
        items: list[object] = list(raw.split()) if isinstance(raw, str) else list(raw) if isinstance(raw, list) else []  # pyright: ignore[reportUnknownArgumentType]
        scopes = [item for item in items if isinstance(item, str)]
        if self._write in scopes and self._read not in scopes:
            scopes.append(self._read)
        return scopes
