"""xapi-mcp: the X API v2 as MCP tools, generated from X's OpenAPI document."""

__version__ = "0.1.0"
