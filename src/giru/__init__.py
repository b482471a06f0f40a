"""Giru: an MCP gateway that brokers and governs agents' traffic to many MCP servers."""

__version__ = "0.1.0"
