from __future__ import annotations

import logging
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any

import pytest

from tests import fake_x as fx
from tests import fake_xai
from tests.fake_x import FakeX
from tests.prism import (  # noqa: F401  (hooks: Prism is installed, or its absence reported, once)
    pytest_collection_modifyitems,
    pytest_runtest_logreport,
    pytest_terminal_summary,
)
from tests.prism import pytest_sessionfinish as prism_sessionfinish
from tests.servers import LOG_DIR, SPEC_157, serve_asgi
from xapi_mcp import logs
from xapi_mcp.logs import RedactingFormatter
from xapi_mcp.spec import BUNDLED_VERSION, load_bundled, load_spec
from xapi_mcp.tools.catalog import Catalog, build_catalog
from xapi_mcp.tools.workflows import workflow_tools

# A real Redis (redis-server started by the suite) for the tests marked `redis`: fixtures and hooks.
pytest_plugins = ["tests.redis_server"]

CONFIGURED_SECRETS = (*fx.SERVER_SECRETS, fake_xai.API_KEY)
# Secrets that in-process code registered with logs.watch_secrets during a test (each test's sources are
# dropped when it ends, see restore_watched_secrets): the session-end scan looks for these too.
WATCHED_SECRETS: set[str] = set()


@lru_cache(maxsize=4)
def load_document(version: str) -> dict[str, Any]:
    """2.159 through the package, as the server loads it; 2.157 from tests/data."""
    if version == BUNDLED_VERSION:
        return load_bundled().document
    return load_spec(str({"2.157": SPEC_157}[version]), Path("/nonexistent-cache")).document


@lru_cache(maxsize=4)
def catalog_for(version: str) -> Catalog:
    return build_catalog(load_document(version))


def tools_with_upload() -> dict[str, Any]:
    """The 2.159 catalog plus its workflow tools (uploadMedia, usage_x_api): every tool a full-profile server serves."""
    tools = dict(catalog_for("2.159").tools)
    tools.update({tool.name: tool for tool in workflow_tools(tools)})
    assert "uploadMedia" in tools and "usage_x_api" in tools
    return tools


PORTABLE_KEYS = {
    "type",
    "properties",
    "required",
    "items",
    "enum",
    "description",
    "pattern",
    "minimum",
    "maximum",
    "minItems",
    "maxItems",
    "minLength",
    "maxLength",
    "default",
}


def walk_schemas(schema: dict[str, Any], path: str = "$"):
    yield path, schema
    for name, sub in (schema.get("properties") or {}).items():
        yield from walk_schemas(sub, f"{path}.{name}")
    if isinstance(schema.get("items"), dict):
        yield from walk_schemas(schema["items"], f"{path}[]")


def secrets_in_logs() -> list[str]:
    """Every log this session wrote to LOG_DIR (servers over HTTP, stdio servers' stderr, in-process flows),
    searched for every configured secret and every secret a fake handed out: "<log>: <secret's start>…"."""
    secrets = [s for s in (*CONFIGURED_SECRETS, *fx.ISSUED_SECRETS, *sorted(WATCHED_SECRETS)) if s]
    found = []
    for path in sorted(LOG_DIR.glob("*.log")):
        text = path.read_bytes()
        found += [f"{path.name}: {secret[:6]}…" for secret in secrets if secret.encode() in text]
    return found


@pytest.fixture(scope="session", autouse=True)
def debug_log_of_in_process_flows() -> Iterator[None]:
    """In-process servers and executors log at DEBUG, through the production formatter, to LOG_DIR; when
    the session ends, whichever tests ran and in whatever order, no log there may hold a secret."""
    handler = logging.FileHandler(LOG_DIR / "in-process.log")
    handler.setFormatter(RedactingFormatter())
    handler.setLevel(logging.DEBUG)
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield
    root.removeHandler(handler)
    root.setLevel(previous)
    handler.close()
    leaks = secrets_in_logs()
    if leaks:
        pytest.fail(f"secrets in the logs under {LOG_DIR}: {leaks}", pytrace=False)


@contextmanager
def isolated_redaction() -> Iterator[None]:
    """Redaction state as it was before: `watch_secrets` sources added inside (a TokenStore, a consent flow,
    an API key) and the values they revealed leave with the block; what they held is kept for the final scan."""
    sources, known = list(logs._sources), (logs._Known.values, logs._Known.spellings, list(logs._Known._last))
    try:
        yield
    finally:
        WATCHED_SECRETS.update(v for source in logs._sources[len(sources) :] for v in source() if v)
        logs._sources[:] = sources
        logs._Known.values, logs._Known.spellings, logs._Known._last = known


@pytest.fixture(autouse=True)
def restore_watched_secrets() -> Iterator[None]:
    """No test passes because an earlier one taught the redactor a secret, and `logs._sources` does not grow."""
    with isolated_redaction():
        yield


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """The logs of a passing run are removed; a failing run keeps them, and says where."""
    prism_sessionfinish(session)
    if session.exitstatus == pytest.ExitCode.OK:
        shutil.rmtree(LOG_DIR, ignore_errors=True)
    else:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.ensure_newline()
            reporter.write_line(f"Logs of this run (servers, stdio stderr, in-process DEBUG): {LOG_DIR}")


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    return catalog_for("2.159")


@pytest.fixture
def fake_x() -> Iterator[tuple[FakeX, str]]:
    fake = FakeX()
    with serve_asgi(fake.app(), wait_for_stop=False) as url:
        yield fake, url
