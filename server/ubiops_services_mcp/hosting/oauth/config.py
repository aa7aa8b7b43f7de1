"""The OAuth settings as the gate uses them, and the combinations that refuse to start."""

from __future__ import annotations

from dataclasses import dataclass

from mcp.server.auth.routes import build_resource_metadata_url
from mcp.server.auth.settings import AuthSettings
from pydantic import AnyHttpUrl

from ...settings import Settings


@dataclass(frozen=True)
class OAuthConfig:
    """What the gate enforces: the issuer, this resource, and the two scopes."""

    issuer: str
    resource: str
    read_scope: str
    write_scope: str

    def auth_settings(self) -> AuthSettings:
        """The SDK's description of this resource server."""
        return AuthSettings.model_validate(  # from strings, so an issuer without a path keeps no trailing slash
            {
                "issuer_url": self.issuer,
                "resource_server_url": self.resource,
                "required_scopes": [self.read_scope],
                "validate_token_resource": True,
            }
        )

    @property
    def metadata_url(self) -> str:
        """Where clients find the metadata (RFC 9728 §3.1: the well-known path before the resource's path)."""
        return str(build_resource_metadata_url(AnyHttpUrl(self.resource)))


def oauth_config(settings: Settings) -> OAuthConfig | None:
    """The OAuth configuration, or None when the server is not an OAuth resource server."""
    if settings.oauth_issuer is None or settings.resource_url is None:
        return None
    return OAuthConfig(settings.oauth_issuer, settings.resource_url, settings.read_scope, settings.write_scope)


def check_oauth(settings: Settings) -> str | None:
    """Why these OAuth settings cannot be used together, or None when they can."""
    if (settings.oauth_issuer is None) != (settings.resource_url is None):
        return "UBIOPS_MCP_OAUTH_ISSUER and UBIOPS_MCP_RESOURCE_URL go together: set both, or neither."
    if settings.oauth_issuer is not None and settings.auth_token is not None:
        return (
            "UBIOPS_MCP_AUTH_TOKEN and UBIOPS_MCP_OAUTH_ISSUER are exclusive: callers authenticate either with "
            "the shared bearer token or with OAuth access tokens; unset one."
        )
    if settings.read_scope == settings.write_scope:
        return "UBIOPS_MCP_READ_SCOPE and UBIOPS_MCP_WRITE_SCOPE must differ."
    return None
