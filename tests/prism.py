"""Prism, the independent judge of request validity: started on a copy of X's spec without security.

Prism answers 422 with an `sl-violations` header for any request that breaks the spec. It does
not understand X's `scheme: OAuth`, hence the copy without `security`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest

from tests.conftest import load_document
from tests.servers import REPO, free_port


def prism_binary() -> str | None:
    candidates = [
        os.environ.get("PRISM_BIN"),
        str(REPO / ".ci/tools/node_modules/.bin/prism"),
        shutil.which("prism"),
    ]
    return next((c for c in candidates if c and Path(c).exists()), None)


def require_prism() -> str:
    binary = prism_binary()
    if binary is None:
        message = "Prism not found: npm install --prefix .ci/tools @stoplight/prism-cli@5.16.0 (or set PRISM_BIN)"
        if os.environ.get("CI"):
            pytest.fail(message)  # CI must run the judge, never skip it
        pytest.skip(message)
    return binary


def without_security(document: dict[str, Any]) -> dict[str, Any]:
    copy = json.loads(json.dumps(document))
    copy.pop("security", None)
    for item in copy["paths"].values():
        for operation in item.values():
            if isinstance(operation, dict):
                operation.pop("security", None)
    return copy


@contextmanager
def run_prism(version: str, folder: Path) -> Iterator[str]:
    """Prism mocking spec `version` on a free port; yields its base URL."""
    binary = require_prism()
    spec_path = folder / f"x-api-{version}-nosec.json"
    spec_path.write_text(json.dumps(without_security(load_document(version))))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with open(spec_path.with_suffix(".log"), "w+") as log:
        proc = subprocess.Popen(
            [binary, "mock", "-h", "127.0.0.1", "-p", str(port), str(spec_path)], stdout=log, stderr=log
        )
        try:
            _wait_until_up(base, proc, log)
            yield base
        finally:
            proc.terminate()
            proc.wait(timeout=10)


def _wait_until_up(base: str, proc: subprocess.Popen[str], log: Any) -> None:
    deadline = time.monotonic() + 90
    while True:
        try:
            httpx.get(f"{base}/2/openapi.json", timeout=2)
            return
        except httpx.HTTPError:
            if proc.poll() is not None or time.monotonic() > deadline:
                log.seek(0)
                raise RuntimeError(f"Prism did not start:\n{log.read()[-3000:]}") from None
            time.sleep(0.3)


def request_violations(response: httpx.Response) -> list[dict[str, Any]]:
    """Prism's violations located in the request (the rest are about its own example responses)."""
    return [
        v for v in json.loads(response.headers.get("sl-violations", "[]")) if v.get("location", [""])[0] == "request"
    ]
