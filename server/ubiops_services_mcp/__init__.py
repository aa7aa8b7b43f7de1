"""MCP server for the UbiOps Services API."""

__version__ = "0.1.0"
