"""Start xapi-mcp: `python server.py` (HTTP on 127.0.0.1:8000) or `python server.py --transport stdio`."""

from xapi_mcp.cli import main

main()
