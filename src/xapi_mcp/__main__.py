from xapi_mcp.cli import main

main()
