"""OAuth resource server for the HTTP transport (MCP authorization, 2025-11-25): who a caller is, and what they may do.

`config` holds the settings and refuses bad combinations, `keys` finds and caches the authorization server's
signing keys, `verifier` checks access tokens (JWTs) against them, `gate` answers 401/403 in front of /mcp and
publishes the protected resource metadata (RFC 9728).
"""
