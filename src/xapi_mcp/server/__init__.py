"""MCP protocol (mcp_server) and the transports that carry it (HTTP, stdio)."""
