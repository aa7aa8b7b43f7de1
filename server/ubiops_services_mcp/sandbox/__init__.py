"""A local, SQLite-backed UbiOps Services API, for trying the MCP server without a UbiOps account."""

from .app import create_app, serve
from .store import DEFAULT_SEED

__all__ = ["DEFAULT_SEED", "create_app", "serve"]
