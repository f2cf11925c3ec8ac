"""A real Redis for the tests that need one: Debian's `redis-server`, started by the suite itself.

One server per test session, on a free port on 127.0.0.1, in a temporary folder, without any
persistence (`--save "" --appendonly no`), stopped when the session ends. Each test that asks for
`redis_url` gets an emptied database. Which binary: `REDIS_SERVER_BIN` if set, else
`redis-server` on PATH. Tests marked `redis` are deselected locally with one line saying how to
get it when there is none; under CI that fails the session instead (as Prism does, tests/prism.py).
Loaded by tests/conftest.py as a plugin (`pytest_plugins`), so its hooks sit beside Prism's.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis
import redis.asyncio as aioredis
from redis.asyncio.connection import Connection

from tests.servers import free_port

INSTALL_HINT = "install it (Debian/Ubuntu: apt-get install -y redis-server) or set REDIS_SERVER_BIN to a redis-server"


class RedisUnavailable(Exception):
    """No redis-server here; the message says how to get one."""


def redis_server_binary() -> str:
    explicit = os.environ.get("REDIS_SERVER_BIN")
    if explicit:
        if Path(explicit).is_file():
            return explicit
        raise RedisUnavailable(f"REDIS_SERVER_BIN={explicit} is not a file; point it at redis-server or unset it")
    found = shutil.which("redis-server")
    if found is None:
        raise RedisUnavailable(f"redis-server is not on PATH: {INSTALL_HINT}")
    return found


@dataclass
class RedisServer:
    url: str
    port: int
    process: subprocess.Popen[bytes]


def start_redis(binary: str, folder: Path, port: int | None = None) -> RedisServer:
    """redis-server on 127.0.0.1 (`port`, else a free one), its files in `folder`, nothing persisted; stop it
    with `stop_redis`."""
    for attempt in range(3):
        port = port if port is not None and attempt == 0 else free_port()
        log = folder / f"redis-{port}.log"
        command = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        command += ["--dir", str(folder), "--logfile", str(log), "--daemonize", "no"]
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        client = redis.Redis(host="127.0.0.1", port=port, socket_connect_timeout=1, socket_timeout=1)
        deadline = time.monotonic() + 20
        try:
            while True:
                try:
                    if client.ping() and process.poll() is None:  # ours, not whoever else holds the port
                        return RedisServer(f"redis://127.0.0.1:{port}/0", port, process)
                except redis.RedisError:
                    pass
                if process.poll() is not None or time.monotonic() > deadline:
                    break
                time.sleep(0.05)
        finally:
            client.close()
        stop_redis(process)
        output = log.read_text(errors="replace") if log.exists() else ""
        if "Address already in use" in output and attempt < 2:
            continue  # another process took the port between choosing and binding it
        raise RuntimeError(f"redis-server did not start on port {port}:\n{output[-3000:]}")
    raise AssertionError("unreachable")


def stop_redis(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    try:
        binary = redis_server_binary()
    except RedisUnavailable as exc:  # only when a test asks without the `redis` mark
        if os.environ.get("CI"):
            pytest.fail(f"Redis is needed here: {exc}")
        pytest.skip(f"Redis is needed here: {exc}")
    with tempfile.TemporaryDirectory(prefix="xapi-mcp-redis-") as folder:
        server = start_redis(binary, Path(folder))
        try:
            yield server
        finally:
            stop_redis(server.process)


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """The session's Redis, emptied for this test."""
    client = redis.Redis.from_url(redis_server.url)
    try:
        client.flushall()
    finally:
        client.close()
    return redis_server.url


class CountingConnection(Connection):
    """Counts the requests written to Redis: each write of one command, or of a whole pipeline, is one round trip."""

    sent = 0

    async def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        type(self).sent += 1
        await super().send_packed_command(command, check_health)


def counting_client(url: str) -> tuple[aioredis.Redis, type[CountingConnection]]:
    """An asyncio client whose round trips are counted in the returned class's `sent`."""
    counter = type("Counter", (CountingConnection,), {"sent": 0})
    return aioredis.Redis.from_url(url, connection_class=counter), counter


_NOTE = pytest.StashKey[str]()


@pytest.hookimpl(trylast=True)  # after -m/-k deselection: only the tests that will run count
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    chosen = [item for item in items if item.get_closest_marker("redis")]
    if not chosen:
        return
    try:
        binary = redis_server_binary()
    except RedisUnavailable as exc:
        if os.environ.get("CI"):
            raise pytest.UsageError(f"CI must run the {len(chosen)} tests that need Redis, but: {exc}") from None
        items[:] = [item for item in items if item not in chosen]
        config.hook.pytest_deselected(items=chosen)
        config.stash[_NOTE] = f"{len(chosen)} tests that need Redis not run: {exc}."
        return
    config.stash[_NOTE] = f"{len(chosen)} Redis tests run against {binary}"


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    note = config.stash.get(_NOTE, None)
    if note:
        terminalreporter.write_line(note)
