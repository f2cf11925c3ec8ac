"""For the external judges: a fake X API and xapi-mcp over HTTP; prints the two URLs, runs until killed.

SIGTERM (and SIGHUP) unwind the context managers, so the xapi-mcp subprocess is ended too; the
default action would kill this process alone and leave that server running. It also stops when
the script that started it is gone, even if that one was killed outright.
"""

import os
import signal
import sys
import time
from pathlib import Path
from types import FrameType

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.fake_x import FakeX
from tests.servers import run_xapi_mcp, serve_asgi, server_env


def _exit(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


for sig in (signal.SIGTERM, signal.SIGHUP):
    signal.signal(sig, _exit)

parent = os.getppid()
fake = FakeX()
with serve_asgi(fake.app()) as x_url, run_xapi_mcp(server_env(x_url)) as mcp_url:
    print(x_url, mcp_url, flush=True)
    while os.getppid() == parent:
        time.sleep(0.5)
