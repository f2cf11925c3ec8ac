"""Shutting down never loses an answer X already gave: SIGTERM (HTTP) and end of input (stdio)
let the calls in flight finish and deliver their results, within MCP_SHUTDOWN_GRACE."""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import httpx2 as httpx
import pytest
from mcp import Client

from tests.fake_x import FakeX, Fault
from tests.servers import REPO, SPEC_159, free_port, server_env

SLOW_POST = b'{"data":{"id":"1445880548472328192","text":"sent while shutting down"}}'


@contextmanager
def http_server(env: dict[str, str], log_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """`python server.py` over HTTP, its process exposed so the test can signal it."""
    port = free_port()
    command = [sys.executable, str(REPO / "server.py"), "--spec", str(SPEC_159), "--port", str(port), "-v"]
    with open(log_path, "w") as log:
        proc = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=REPO / "tests")
        try:
            deadline = time.monotonic() + 30
            while True:
                assert proc.poll() is None, log_path.read_text()
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                assert time.monotonic() < deadline, "xapi-mcp did not become healthy in 30 s"
                time.sleep(0.05)
            yield proc, f"http://127.0.0.1:{port}/mcp"
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def refused(url: str) -> bool:
    """Not served: refused outright, or reset unanswered (a connection queued as the listener closed)."""
    try:
        httpx.get(url, timeout=2)
    except (httpx.ConnectError, httpx.ReadError, httpx.RemoteProtocolError):
        return True
    return False


@pytest.mark.parametrize("mode", ["legacy", "auto"])  # 2025-11-25 (SSE answers) and 2026-07-28
def test_sigterm_lets_the_call_in_flight_finish(fake_x: tuple[FakeX, str], tmp_path: Path, mode: str) -> None:
    fake, x_url = fake_x
    fake.fail("/2/tweets", Fault(status=201, body=SLOW_POST, delay=3))
    log_path = tmp_path / "server.log"
    with http_server(server_env(x_url), log_path) as (proc, url):
        health = url.replace("/mcp", "/healthz")
        stopped_accepting: list[bool] = []

        async def run() -> Any:
            async with Client(url, mode=mode) as client:
                await client.list_tools()  # as clients do before calling; the call needs nothing more

                async def terminate_once_x_has_the_post() -> None:
                    while not fake.requests:
                        await anyio.sleep(0.02)
                    proc.send_signal(signal.SIGTERM)
                    # New connections are refused while the call is still being answered.
                    deadline = time.monotonic() + 10
                    while not await anyio.to_thread.run_sync(refused, health) and time.monotonic() < deadline:
                        await anyio.sleep(0.05)
                    stopped_accepting.append(refused(health))

                async with anyio.create_task_group() as group:
                    group.start_soon(terminate_once_x_has_the_post)
                    result = await client.call_tool("createPosts", {"text": "sent while shutting down"})
                return result

        result = anyio.run(run)
        assert not result.is_error and json.loads(result.content[0].text) == json.loads(SLOW_POST)
        assert proc.wait(timeout=30) == 0
    assert stopped_accepting == [True]
    assert [r.path for r in fake.requests] == ["/2/tweets"]
    log = log_path.read_text()
    assert "Shutting down: waiting up to 10 s for 1 request(s) in flight" in log
    assert "Traceback" not in log and "still in flight" not in log


def test_sigterm_gives_up_after_the_grace_period(fake_x: tuple[FakeX, str], tmp_path: Path) -> None:
    fake, x_url = fake_x
    fake.fail("/2/tweets", Fault(status=201, body=SLOW_POST, delay=30))
    log_path = tmp_path / "server.log"
    with http_server(server_env(x_url, MCP_SHUTDOWN_GRACE="0.5"), log_path) as (proc, url):

        async def run() -> None:
            async with Client(url, mode="legacy") as client:
                await client.list_tools()
                async with anyio.create_task_group() as group:
                    group.start_soon(client.call_tool, "createPosts", {"text": "never answered"})
                    while not fake.requests:
                        await anyio.sleep(0.02)
                    proc.send_signal(signal.SIGTERM)
                    await anyio.to_thread.run_sync(proc.wait)

        with contextlib.suppress(Exception):  # the client's fate is not the point here: the server's exit is
            anyio.run(run)
        assert proc.wait(timeout=30) == 0  # without waiting for X's 30 s answer
    log = log_path.read_text()
    assert "still in flight after MCP_SHUTDOWN_GRACE=0.5 s" in log and "Traceback" not in log


@pytest.mark.parametrize("era", ["2025-11-25", "2026-07-28"])
def test_stdio_end_of_input_lets_the_call_in_flight_finish(fake_x: tuple[FakeX, str], era: str) -> None:
    fake, x_url = fake_x
    fake.fail("/2/tweets", Fault(status=201, body=SLOW_POST, delay=2))
    command = [sys.executable, str(REPO / "server.py"), "--transport", "stdio", "--spec", str(SPEC_159)]
    proc = subprocess.Popen(
        command, env=server_env(x_url), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert proc.stdin is not None and proc.stdout is not None

    def send(message: dict[str, Any]) -> None:
        assert proc.stdin is not None
        proc.stdin.write(json.dumps(message).encode() + b"\n")
        proc.stdin.flush()

    arguments = {"name": "createPosts", "arguments": {"text": "sent while shutting down"}}
    try:
        if era == "2025-11-25":
            info = {"name": "probe", "version": "0"}
            send(
                {
                    "jsonrpc": "2.0",
                    "id": 1,
                    "method": "initialize",
                    "params": {"protocolVersion": era, "capabilities": {}, "clientInfo": info},
                }
            )
            assert json.loads(proc.stdout.readline())["id"] == 1
            send({"jsonrpc": "2.0", "method": "notifications/initialized"})
        else:
            meta = {
                "io.modelcontextprotocol/protocolVersion": era,
                "io.modelcontextprotocol/clientInfo": {"name": "probe", "version": "0"},
                "io.modelcontextprotocol/clientCapabilities": {},
            }
            arguments["_meta"] = meta
        send({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": arguments})
        deadline = time.monotonic() + 30
        while not fake.requests:
            assert time.monotonic() < deadline and proc.poll() is None, "the call never reached X"
            time.sleep(0.02)
        out, err = proc.communicate(timeout=30)  # closes stdin: the client goes away while X is answering
    finally:
        if proc.poll() is None:
            proc.kill()
    (line,) = out.decode().splitlines()
    answer = json.loads(line)
    assert answer["id"] == 2 and "error" not in answer, answer
    assert not answer["result"]["isError"] and json.loads(answer["result"]["content"][0]["text"]) == json.loads(
        SLOW_POST
    )
    assert proc.returncode == 0 and b"Traceback" not in err
    assert [r.path for r in fake.requests] == ["/2/tweets"]
