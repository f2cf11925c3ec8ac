"""Run the official XMCP server (github.com/xdevplatform/xmcp) offline, for the benchmark's baseline row.

    XMCP_PYTHON/python benchmarks/xmcp_run.py XMCP_DIR SPEC PORT

XMCP_DIR is a checkout of XMCP (its `server.py`, unchanged: nothing of it is copied here), run by an
interpreter that has XMCP's requirements (`pip install fastmcp httpx requests-oauthlib python-dotenv`).
Three things XMCP does at startup cannot happen on a machine without the internet, so they are
replaced before its `main()` runs: the OpenAPI document is read from SPEC (a .json or .json.gz file)
instead of api.x.com, the browser consent flow returns the access token from the environment
(`X_OAUTH_ACCESS_TOKEN` / `_SECRET`, as the fake X knows them), and its `.env` is not read. Every
call then goes through XMCP's own code: FastMCP's OpenAPI tools, its httpx client, its OAuth 1.0a
signing hook, to `X_API_BASE_URL`. `X_API_DEBUG=0` is XMCP's setting that stops its per-request
INFO log lines, so it is measured at its fastest.
"""

from __future__ import annotations

import gzip
import json
import os
import sys
from pathlib import Path


def main() -> None:
    folder, spec, port = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
    sys.path.insert(0, str(folder))
    import server as xmcp  # XMCP's server.py

    document = json.loads(gzip.decompress(spec.read_bytes()) if spec.suffix == ".gz" else spec.read_bytes())
    access = (os.environ["X_OAUTH_ACCESS_TOKEN"], os.environ["X_OAUTH_ACCESS_TOKEN_SECRET"])
    xmcp.load_openapi_spec = lambda: document
    xmcp.run_oauth1_flow = lambda: access
    xmcp.load_env = lambda: None
    os.environ.update(MCP_HOST="127.0.0.1", MCP_PORT=port)
    os.environ.setdefault("X_API_DEBUG", "0")
    xmcp.main()


if __name__ == "__main__":
    main()
