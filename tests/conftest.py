from __future__ import annotations

import logging
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any

import pytest

from tests.fake_x import FakeX
from tests.prism import (  # noqa: F401  (hooks: Prism is installed, or its absence reported, once)
    pytest_collection_modifyitems,
    pytest_runtest_logreport,
    pytest_sessionfinish,
    pytest_terminal_summary,
)
from tests.servers import LOG_DIR, SPEC_157, serve_asgi
from xapi_mcp.catalog import Catalog, build_catalog
from xapi_mcp.logs import RedactingFormatter
from xapi_mcp.spec import BUNDLED_VERSION, load_bundled, load_spec


@lru_cache(maxsize=4)
def load_document(version: str) -> dict[str, Any]:
    """2.159 through the package, as the server loads it; 2.157 from tests/data."""
    if version == BUNDLED_VERSION:
        return load_bundled().document
    return load_spec(str({"2.157": SPEC_157}[version]), Path("/nonexistent-cache")).document


@lru_cache(maxsize=4)
def catalog_for(version: str) -> Catalog:
    return build_catalog(load_document(version))


@pytest.fixture(scope="session", autouse=True)
def debug_log_of_in_process_flows() -> Iterator[None]:
    """In-process servers and executors log at DEBUG, through the production formatter, to LOG_DIR."""
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


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    return catalog_for("2.159")


@pytest.fixture
def fake_x() -> Iterator[tuple[FakeX, str]]:
    fake = FakeX()
    with serve_asgi(fake.app()) as url:
        yield fake, url
