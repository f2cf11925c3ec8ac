"""Prism, the independent judge of request validity: started on a copy of X's spec without security.

Prism answers 422 with an `sl-violations` header for any request that breaks the spec. It does
not understand X's `scheme: OAuth`, hence the copy without `security`.

Where Prism comes from: `PRISM_BIN` if set; otherwise the suite installs the pinned version with
npm, once, into the user's cache folder (a file lock keeps parallel runs from racing). Without npm
the `conformance` tests are deselected locally with one line saying how to enable them; under CI
that, or any skipped conformance test, fails the session. The pytest_* hooks below are imported
by tests/conftest.py.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx2 as httpx
import pytest

if TYPE_CHECKING:
    from xapi_mcp.tools.tooldef import ToolDef

PRISM_VERSION = "5.16.0"
PRISM_PACKAGE = f"@stoplight/prism-cli@{PRISM_VERSION}"


class PrismUnavailable(Exception):
    """Prism cannot be had here; the message says why and how to enable the conformance tests."""


def prism_home() -> Path:
    """Where the suite keeps its own Prism: $XDG_CACHE_HOME/xapi-mcp/prism-VERSION (~/.cache by default)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "xapi-mcp" / f"prism-{PRISM_VERSION}"


def ensure_prism(announce: Any = print) -> str:
    """The Prism binary: PRISM_BIN, else the cached pinned install, else install it with npm now."""
    explicit = os.environ.get("PRISM_BIN")
    if explicit:
        if Path(explicit).is_file():
            return explicit
        raise PrismUnavailable(f"PRISM_BIN={explicit} is not a file; point it at a prism binary or unset it")
    home = prism_home()
    binary = home / "node_modules" / ".bin" / "prism"
    if binary.is_file():
        return str(binary)
    npm = shutil.which("npm")
    if npm is None:
        raise PrismUnavailable(
            f"npm is not on PATH. To run them: install Node.js with npm (the suite then installs {PRISM_PACKAGE} "
            f"into {home} by itself), or set PRISM_BIN to a prism binary"
        )
    home.parent.mkdir(parents=True, exist_ok=True)
    with open(home.parent / f"prism-{PRISM_VERSION}.lock", "w") as lock:
        _lock(lock)
        if binary.is_file():  # another test run installed it while we waited
            return str(binary)
        partial = home.with_name(home.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        announce(f"Installing {PRISM_PACKAGE} with npm into {home} (once; later runs reuse it)")
        command = [npm, "install", "--no-audit", "--no-fund", "--loglevel=error", "--prefix", str(partial)]
        result = subprocess.run([*command, PRISM_PACKAGE], capture_output=True, text=True, timeout=900)
        if result.returncode != 0 or not (partial / "node_modules" / ".bin" / "prism").is_file():
            output = (result.stderr or result.stdout).strip()[-1500:]
            raise PrismUnavailable(
                f"`npm install {PRISM_PACKAGE}` into {partial} failed (exit {result.returncode}):\n{output}\n"
                "Fix npm's access to its registry, or set PRISM_BIN to a prism binary"
            )
        partial.rename(home)  # all or nothing: a broken install never looks like a finished one
    return str(binary)


def _lock(handle: Any) -> None:
    with contextlib.suppress(ImportError):  # no fcntl on Windows: one test run at a time there
        import fcntl

        fcntl.flock(handle, fcntl.LOCK_EX)


def require_prism() -> str:
    try:
        return ensure_prism()
    except PrismUnavailable as exc:
        pytest.fail(f"Prism is needed here: {exc}")


_NOTE = pytest.StashKey[str]()
_skipped_conformance: list[str] = []
_ran_conformance: list[str] = []


@pytest.hookimpl(trylast=True)  # after -m/-k deselection: no install when no conformance test is selected
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    chosen = [item for item in items if item.get_closest_marker("conformance")]
    if not chosen:
        return
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    try:
        binary = ensure_prism(announce=reporter.write_line if reporter else print)
    except PrismUnavailable as exc:
        if os.environ.get("CI"):
            raise pytest.UsageError(f"CI must run the {len(chosen)} Prism conformance tests, but: {exc}") from None
        items[:] = [item for item in items if item not in chosen]
        config.hook.pytest_deselected(items=chosen)
        config.stash[_NOTE] = f"{len(chosen)} Prism conformance tests not run: {exc}."
        return
    config.stash[_NOTE] = f"Prism conformance tests judged by {binary}"


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if "conformance" not in report.keywords:
        return
    if report.skipped:
        _skipped_conformance.append(report.nodeid)
    elif report.when == "call":
        _ran_conformance.append(report.nodeid)


def pytest_sessionfinish(session: pytest.Session) -> None:
    """CI never passes with a judge that did not judge. The shared Prisms stop here."""
    _SHARED.clear()
    _SHARED_STACK.close()
    if os.environ.get("CI") and _skipped_conformance:
        session.config.stash[_NOTE] = (
            f"FAILED: {len(_skipped_conformance)} Prism conformance tests were skipped under CI "
            f"(first: {_skipped_conformance[0]})"
        )
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    note = config.stash.get(_NOTE, None)
    if note and note.startswith("Prism conformance tests judged by"):
        note = f"{len(_ran_conformance)} {note}"  # CI's log says how many really ran
    if note:
        terminalreporter.write_line(note)


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
    # Not at the top: conftest imports this module's hooks, and they load nothing heavy.
    from tests.conftest import load_document
    from tests.servers import free_port

    binary = require_prism()
    spec_path = folder / f"x-api-{version}-nosec.json"
    spec_path.write_text(json.dumps(without_security(load_document(version))))
    for attempt in range(3):
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        with open(spec_path.with_suffix(".log"), "w+") as log:
            proc = subprocess.Popen(
                [binary, "mock", "-h", "127.0.0.1", "-p", str(port), str(spec_path)], stdout=log, stderr=log
            )
            try:
                try:
                    _wait_until_up(base, proc, log)
                except PortTaken:
                    if attempt == 2:
                        raise
                    continue  # another process took the port before Prism bound it: another port
                yield base
                return
            finally:
                proc.terminate()
                proc.wait(timeout=10)


_SHARED: dict[str, str] = {}  # spec version -> base URL of the session's Prism for it
_SHARED_STACK = ExitStack()


@contextmanager
def shared_prism(version: str) -> Iterator[str]:
    """The session's Prism for `version`: started when a test first asks, stopped at session end.

    A start costs seconds and mocking keeps no state between requests, so every test may share one.
    """
    if version not in _SHARED:
        folder = Path(tempfile.mkdtemp(prefix=f"xapi-mcp-prism-{version}-"))
        _SHARED_STACK.callback(shutil.rmtree, folder, ignore_errors=True)
        _SHARED[version] = _SHARED_STACK.enter_context(run_prism(version, folder))
    yield _SHARED[version]


class PortTaken(RuntimeError):
    """Prism's port was taken between choosing it and binding it."""


def _wait_until_up(base: str, proc: subprocess.Popen[str], log: Any) -> None:
    deadline = time.monotonic() + 90
    while True:
        try:
            httpx.get(f"{base}/2/openapi.json", timeout=2)
            if proc.poll() is None:  # answered by Prism, not by whoever else holds the port
                return
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            log.seek(0)
            output = log.read()
            if "EADDRINUSE" in output:
                raise PortTaken(f"{base}: {output.strip().splitlines()[-1]}")
            raise RuntimeError(f"Prism did not start:\n{output[-3000:]}") from None
        time.sleep(0.3)


def request_violations(response: httpx.Response) -> list[dict[str, Any]]:
    """Prism's violations located in the request (the rest are about its own example responses)."""
    return [
        v for v in json.loads(response.headers.get("sl-violations", "[]")) if v.get("location", [""])[0] == "request"
    ]


# One path segment as sent: unreserved, sub-delims, ":" "@", or a percent-escape; never "/", "?" or "#".
SEGMENT = r"(?:[A-Za-z0-9._~!$&'()*+,;=:@-]|%[0-9A-Fa-f]{2})+"


def off_route(tool: ToolDef, raw_path: bytes) -> str | None:
    """Why the path a request went to is not the tool's own route, or None when it is.

    Each `{param}` of the template must be exactly one percent-encoded segment (not "." or ".."), and
    nothing may come before, after or between the template's literal parts: a "/" or "?" left in a
    path value would send the call to another endpoint, which Prism may well accept as valid.
    """
    path = raw_path.decode("ascii").split("?", 1)[0]
    pieces = re.split(r"\{[^}]+\}", tool.plan.path)
    pattern = f"({SEGMENT})".join(re.escape(piece) for piece in pieces)
    match = re.fullmatch(pattern, path)
    if match is None:
        return f"{tool.name} sent {path!r}, which is not its route {tool.plan.path}"
    if any(segment in (".", "..") for segment in match.groups()):
        return f"{tool.name} sent a dot segment in {path!r}"
    return None
