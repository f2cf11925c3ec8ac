"""Clients of the server (the Grok test client): they talk MCP to it and import nothing of it."""
