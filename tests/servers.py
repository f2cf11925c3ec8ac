"""Run servers for tests: ASGI apps in a background thread, xapi-mcp itself as a subprocess."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager, suppress
from importlib import resources
from pathlib import Path

import httpx2 as httpx
import uvicorn

from xapi_mcp.server.run import KEEP_ALIVE_SECONDS
from xapi_mcp.spec import BUNDLED_FILE

REPO = Path(__file__).resolve().parent.parent
# Every server this test session starts logs at DEBUG here; conftest scans it all for secrets at session end.
LOG_DIR = Path(tempfile.mkdtemp(prefix="xapi-mcp-test-logs-"))
PIDS: dict[str, int] = {}  # MCP URL of each running `run_xapi_mcp` server -> its process id (for /proc)
# 2.159 is the snapshot the package ships (where an installed server finds it); 2.157, an older
# document for the cross-version tests, lives beside the tests. Both are gzipped: --spec takes .json.gz.
_PACKAGE = resources.files("xapi_mcp")
assert isinstance(_PACKAGE, Path), "the tests need xapi_mcp installed from a folder (pip install -e .)"
SPEC_159 = _PACKAGE / "data" / BUNDLED_FILE
SPEC_157 = REPO / "tests" / "data" / "x-api-v2-2.157.json.gz"
# Tools a server offers on 2.159 with no allowlist: 156 operations (15 of them streams) + uploadMedia,
# usage_x_api, collect_x_api and createThread. Stated, not computed, so a catalog change shows up as a failing count.
TOOLS_159 = 160


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def serve_asgi(app: object, port: int | None = None, *, wait_for_stop: bool = True) -> Iterator[str]:
    """Serve `app` on 127.0.0.1 in a daemon thread; yields its base URL.

    The socket is bound here (port 0: the system picks a free one) and handed to uvicorn, so no other
    process can take the port between choosing it and listening on it. uvicorn takes 0.1-0.2 s to stop;
    `wait_for_stop=False` lets it stop in the background, for a fake whose shutdown no test looks at.
    """
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port or 0))
    port = int(sock.getsockname()[1])
    # Idle connections outlast httpx's 5 s keep-alive, as xapi-mcp's do: uvicorn's 5 s default races it.
    # A request still in flight when the test is over (a fake X told to answer in 30 s) is cancelled after
    # 1 s, not waited for until the join below gives up.
    config = uvicorn.Config(
        app, log_level="warning", lifespan="on", timeout_keep_alive=KEEP_ALIVE_SECONDS, timeout_graceful_shutdown=1
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                raise RuntimeError("test server did not start")
            time.sleep(0.01)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        if wait_for_stop:
            thread.join(timeout=5)
            sock.close()  # else uvicorn's shutdown closes it


def server_env(x_base_url: str, **extra: str) -> dict[str, str]:
    """A clean environment for xapi-mcp: nothing from the developer's own shell or .env."""
    from tests import fake_x

    env = {k: v for k, v in os.environ.items() if not k.startswith(("X_", "MCP_", "XAI_"))}
    env.update(
        X_API_BASE_URL=x_base_url,
        X_OAUTH_CONSUMER_KEY=fake_x.CONSUMER_KEY,
        X_OAUTH_CONSUMER_SECRET=fake_x.CONSUMER_SECRET,
        X_OAUTH_ACCESS_TOKEN=fake_x.ACCESS_TOKEN,
        X_OAUTH_ACCESS_TOKEN_SECRET=fake_x.ACCESS_TOKEN_SECRET,
        X_BEARER_TOKEN=fake_x.BEARER_TOKEN,
        # Most tests are about what is sent; confirmation has its own tests (test_confirm.py).
        X_API_CONFIRM_WRITES="0",
        # Cost has its own tests (test_spending.py): elsewhere no budget, no cost question, no file.
        X_API_BUDGET_USD="off",
        X_API_CONFIRM_COST_USD="off",
        X_API_SPEND_DB="memory",
        X_API_TOOL_PROFILE="full",  # every tool listed (past 128 the default would be hybrid)
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


PORT_IN_USE = "the port is already in use"  # xapi-mcp's own words when its port was taken


class PortTaken(RuntimeError):
    """The port chosen for a server was taken before the server could bind it (another process won)."""


@contextmanager
def run_xapi_mcp(
    env: Mapping[str, str],
    *args: str,
    spec: Path | str = SPEC_159,  # or a URL, or 'bundled'
    log_path: Path | None = None,
    while_waiting: Callable[[str], None] | None = None,
    port: int | None = None,
) -> Iterator[str]:
    """Start `python server.py` over HTTP on a free port; yields the MCP URL once /healthz answers.

    `while_waiting` gets the log so far on each poll before the server is healthy (startup mode
    waits for a person to consent before it serves). A free port can be taken by another process
    before the server binds it: then it starts again on another one (unless the caller chose the port).
    """
    with ExitStack() as stack:
        for attempt in range(3):
            server = _start_xapi_mcp(env, args, spec, log_path, while_waiting, port or free_port())
            try:
                url = stack.enter_context(server)
                break
            except PortTaken:
                if port is not None or attempt == 2:
                    raise
        yield url


@contextmanager
def _start_xapi_mcp(
    env: Mapping[str, str],
    args: tuple[str, ...],
    spec: Path | str,
    log_path: Path | None,
    while_waiting: Callable[[str], None] | None,
    port: int,
) -> Iterator[str]:
    command = [sys.executable, str(REPO / "server.py"), "--spec", str(spec), "--port", str(port), "-v", *args]
    log_path = log_path or LOG_DIR / f"server-{port}.log"
    with open(log_path, "w+") as log:
        proc = subprocess.Popen(command, env=dict(env), stdout=log, stderr=subprocess.STDOUT, cwd=REPO / "tests")
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 30
            while True:
                if proc.poll() is not None:
                    log.seek(0)
                    output = log.read()
                    if PORT_IN_USE in output:
                        raise PortTaken(f"port {port} was taken before xapi-mcp could bind it")
                    raise RuntimeError(f"xapi-mcp exited with {proc.returncode}:\n{output}")
                try:
                    healthy = httpx.get(f"{base}/healthz", timeout=1).status_code == 200
                except httpx.HTTPError:
                    healthy = False
                # Healthy *and* ours: another process's server may hold this port (ours then exits, above).
                if healthy and f":{port}/mcp" in log_path.read_text():
                    break
                if time.monotonic() > deadline:
                    raise RuntimeError("xapi-mcp did not become healthy in 30 s")
                if while_waiting is not None:
                    while_waiting(log_path.read_text())
                time.sleep(0.05)
            PIDS[f"{base}/mcp"] = proc.pid
            yield f"{base}/mcp"
        finally:
            PIDS.pop(f"{base}/mcp", None)
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`python server.py ARGS` to completion, with a bare environment (PATH and HOME only, plus `env`)."""
    return subprocess.run(
        [sys.executable, str(REPO / "server.py"), *args],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "HOME": "/tmp", **(env or {})},
        timeout=60,
        cwd="/",
    )


def stdio_log(name: str) -> Path:
    """A file in LOG_DIR for a stdio server's stderr (its log), so the session-end scan reads it too."""
    return Path(tempfile.mkstemp(prefix=f"stdio-{name}-", suffix=".log", dir=LOG_DIR)[1])


@contextmanager
def run_stdio_raw(env: Mapping[str, str], *args: str, spec: Path = SPEC_159) -> Iterator[Callable[..., bytes]]:
    """`python server.py --transport stdio -v`, initialised (2025-11-25); yields `request(method, params)`,
    which returns the exact line of bytes the server wrote for that request. stderr goes to LOG_DIR."""
    import json
    import select

    command = [sys.executable, str(REPO / "server.py"), "--transport", "stdio", "--spec", str(spec), "-v", *args]
    with open(stdio_log("raw"), "w") as log:
        proc = subprocess.Popen(
            command, env=dict(env), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, cwd=REPO / "tests"
        )
        assert proc.stdin is not None and proc.stdout is not None
        stdin, stdout = proc.stdin, proc.stdout
        ids = iter(range(1, 1_000_000))
        buffer = b""

        def send(message: dict[str, object]) -> None:
            stdin.write(json.dumps(message).encode() + b"\n")
            stdin.flush()

        def request(method: str, params: dict[str, object] | None = None, timeout: float = 60) -> bytes:
            nonlocal buffer
            request_id = next(ids)
            send({"jsonrpc": "2.0", "id": request_id, "method": method, "params": params or {}})
            deadline = time.monotonic() + timeout
            while True:
                while b"\n" in buffer:
                    line, buffer = buffer.split(b"\n", 1)
                    if json.loads(line).get("id") == request_id:
                        return line
                left = deadline - time.monotonic()
                if left <= 0 or not select.select([stdout], [], [], left)[0]:
                    raise TimeoutError(f"no answer to {method} in {timeout} s")
                chunk = os.read(stdout.fileno(), 1 << 20)
                if not chunk:
                    raise RuntimeError(f"xapi-mcp exited with {proc.wait()} (log: {log.name})")
                buffer += chunk

        try:
            info = {"name": "raw", "version": "1"}
            request("initialize", {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": info})
            send({"jsonrpc": "2.0", "method": "notifications/initialized"})
            yield request
        finally:
            stdin.close()  # EOF: the server shuts down
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()


@contextmanager
def serve_resetting() -> Iterator[tuple[str, list[int]]]:
    """A TCP server that accepts, reads the request, and resets the connection (RST, no answer).

    Yields its base URL and a list that grows by one per accepted connection.
    """
    import struct

    accepted: list[int] = []
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    listener.settimeout(0.2)
    stop = threading.Event()

    def run() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            accepted.append(1)
            conn.settimeout(2)
            with suppress(OSError):
                conn.recv(65536)
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            conn.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}", accepted
    finally:
        stop.set()
        thread.join(timeout=5)
        listener.close()
