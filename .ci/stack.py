"""For the external judges: a fake X API and xapi-mcp over HTTP; prints the two URLs, runs until killed."""

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.fake_x import FakeX
from tests.servers import run_xapi_mcp, serve_asgi, server_env

fake = FakeX()
with serve_asgi(fake.app()) as x_url, run_xapi_mcp(server_env(x_url)) as mcp_url:
    print(x_url, mcp_url, flush=True)
    while True:
        time.sleep(1)
