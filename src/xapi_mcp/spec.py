"""Load the OpenAPI document: from a URL (cached on disk with its ETag), a file, or the bundled copy.

The live X document is the default, so the tools follow X's API as it changes. When it cannot be
downloaded the last good cached copy serves, and failing that the snapshot shipped inside the
package, so the server always starts, even on a fresh machine with no network. An explicit
`--spec`/`X_API_SPEC` (a file, or a URL other than the default) never falls back silently: if it
does not load, startup stops and says why. `X_API_SPEC=bundled` skips the download altogether.
"""

from __future__ import annotations

import gzip
import hashlib
import ipaddress
import json
import logging
import os
import socket
import tempfile
import threading
import urllib.request
import zlib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import httpx2 as httpx

from xapi_mcp.errors import SpecError

log = logging.getLogger(__name__)

SpecKind = Literal["file", "live", "cache", "bundled"]

# The snapshot shipped as package data (src/xapi_mcp/data/README.md says the same).
BUNDLED = "bundled"  # the --spec / X_API_SPEC value that uses it without trying the network
BUNDLED_FILE = "x-api-v2-2.159.json.gz"
BUNDLED_VERSION = "2.159"
BUNDLED_COPIED = "2026-11-30"
BUNDLED_FROM = "https://api.x.com/2/openapi.json"

# Connecting (DNS included) gets a few seconds: an absent network must not cost the whole timeout.
CONNECT_TIMEOUT = 4.0


class _BadDocument(SpecError):
    """The bytes are not an OpenAPI 3.x JSON document; `problem` says what is wrong, briefly."""

    def __init__(self, message: str, problem: str) -> None:
        super().__init__(message)
        self.problem = problem


class _Unavailable(Exception):
    """The live document could not be had; the message is the reason, for the log."""


@dataclass(frozen=True)
class LoadedSpec:
    document: dict[str, Any]
    origin: str  # human-readable: which copy is in use
    sha256: str
    kind: SpecKind = "file"  # file (explicit path), live (just checked at the URL), cache, bundled

    @property
    def version(self) -> str:
        return str(self.document.get("info", {}).get("version", "unknown"))

    @property
    def openapi_version(self) -> str:
        return str(self.document.get("openapi", ""))


def is_url(source: str) -> bool:
    return source.startswith(("http://", "https://"))


def load_spec(
    source: str,
    cache_dir: Path,
    timeout: float = 30.0,
    *,
    default_url: str | None = None,
    connect_timeout: float = CONNECT_TIMEOUT,
) -> LoadedSpec:
    """Load `source`: a URL, a path (`.json` or `.json.gz`) or `bundled`.

    Only the default URL (`default_url`, X's live document unless a test says otherwise) falls back
    to the bundled snapshot; any other source that does not load raises SpecError naming the fixes.
    """
    default_url = default_url or _default_url()
    if source.strip().lower() == BUNDLED:
        spec = load_bundled()
    elif is_url(source):
        spec = _load_url(source, cache_dir, timeout, connect_timeout, bundled_fallback=source == default_url)
    else:
        spec = _load_file(Path(source).expanduser())
    newer = f"; the bundled snapshot is {BUNDLED_VERSION}" if spec.kind in ("live", "cache") else ""
    log.info(
        "Using X API spec %s (OpenAPI %s) from %s%s",
        spec.version,
        spec.openapi_version,
        spec.origin,
        newer if spec.version != BUNDLED_VERSION else "",
    )
    return spec


def load_bundled() -> LoadedSpec:
    """The snapshot of X's document shipped inside the package (read via importlib.resources)."""
    try:
        compressed = (resources.files("xapi_mcp") / "data" / BUNDLED_FILE).read_bytes()
    except OSError as exc:
        raise SpecError(
            f"The bundled spec snapshot xapi_mcp/data/{BUNDLED_FILE} is missing from this installation "
            f"({exc.strerror or exc}). Fix: reinstall xapi-mcp, or pass a spec with --spec PATH or URL."
        ) from None
    origin = f"the bundled snapshot of {BUNDLED_FROM} (copied {BUNDLED_COPIED})"
    return _parse(gzip.decompress(compressed), origin, "bundled")


def _load_file(path: Path) -> LoadedSpec:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise SpecError(
            f"The spec file {path} does not exist. Fix: pass an existing OpenAPI JSON file (.json or "
            f".json.gz) with --spec PATH (or X_API_SPEC), X_API_SPEC=bundled for the copy shipped with "
            f"xapi-mcp, or leave both unset to download {_default_url()}."
        ) from None
    except OSError as exc:
        raise SpecError(f"Cannot read the spec file {path}: {exc.strerror}.") from None
    if path.suffix == ".gz":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as exc:
            raise SpecError(
                f"The spec file {path} is not a valid gzip file ({exc}). Fix: point --spec at a .json "
                "file, or at a .json.gz made with gzip."
            ) from None
    return _parse(raw, f"file {path}", "file")


def _default_url() -> str:
    from xapi_mcp.config import DEFAULT_SPEC_URL

    return DEFAULT_SPEC_URL


def _cache_paths(url: str, cache_dir: Path) -> tuple[Path, Path]:
    key = hashlib.sha256(url.encode()).hexdigest()[:16]
    return cache_dir / f"openapi-{key}.json", cache_dir / f"openapi-{key}.meta.json"


def _load_url(url: str, cache_dir: Path, timeout: float, connect_timeout: float, bundled_fallback: bool) -> LoadedSpec:
    """Live document, else the cached copy, else (default URL only) the bundled snapshot."""
    body_path, meta_path = _cache_paths(url, cache_dir)
    try:
        return _download(url, body_path, meta_path, httpx.Timeout(timeout, connect=min(connect_timeout, timeout)))
    except _Unavailable as exc:
        reason = str(exc)
    try:
        cached = _parse(body_path.read_bytes(), f"cache {body_path} (offline fallback)", "cache")
    except FileNotFoundError:
        problem = f"there is no cached copy yet (looked for {body_path})"
    except _BadDocument as exc:
        problem = f"the cached copy {body_path} is {exc.problem}"
    except OSError as exc:
        problem = f"the cached copy {body_path} cannot be read ({exc.strerror})"
    else:
        log.warning(
            "Live spec %s unavailable (%s); using the cached copy %s from %s", url, reason, cached.version, body_path
        )
        return cached
    if bundled_fallback:
        log.warning(
            "Live spec %s unavailable (%s) and %s; using bundled %s (copied %s)",
            url,
            reason,
            problem,
            BUNDLED_VERSION,
            BUNDLED_COPIED,
        )
        return load_bundled()
    raise SpecError(
        f"Could not load the X API spec from {url} ({reason}) and {problem}. Fix: allow network access to "
        f"{url} once so it can be cached, pass a local copy with --spec PATH (or set X_API_SPEC=PATH), or "
        f"set X_API_SPEC=bundled to use the copy shipped with xapi-mcp ({BUNDLED_VERSION})."
    )


def _download(url: str, body_path: Path, meta_path: Path, timeout: httpx.Timeout) -> LoadedSpec:
    """The live document (a 304 confirms the cached copy). Raises _Unavailable with the reason."""
    etag = _read_etag(meta_path) if body_path.is_file() else None
    response = _get(url, etag, timeout)
    if response.status_code == 304 and etag:
        try:
            return _parse(body_path.read_bytes(), f"{url} (unchanged; cached in {body_path})", "live")
        except (OSError, _BadDocument) as exc:
            why = exc.problem if isinstance(exc, _BadDocument) else exc.strerror
            log.warning("The cached spec %s is unusable (%s); downloading it again", body_path, why)
            response = _get(url, None, timeout)
    if response.status_code != 200:
        raise _Unavailable(f"HTTP {response.status_code}")
    try:
        spec = _parse(response.content, url, "live")
    except _BadDocument as exc:
        raise _Unavailable(f"the document there is {exc.problem}") from None
    _write_cache(body_path, meta_path, response.content, response.headers.get("etag"), url)
    return spec


def _get(url: str, etag: str | None, timeout: httpx.Timeout) -> httpx.Response:
    headers = {"Accept": "application/json"}
    if etag:
        headers["If-None-Match"] = etag
    _resolve_within(url, timeout.connect or CONNECT_TIMEOUT)
    try:
        return httpx.get(url, headers=headers, timeout=timeout, follow_redirects=True)
    except httpx.HTTPError as exc:
        raise _Unavailable(f"{type(exc).__name__}: {exc}") from None


def _resolve_within(url: str, seconds: float) -> None:
    """Look the host up with a deadline first: getaddrinfo ignores socket timeouts, and a resolver
    that never answers would otherwise hold startup for tens of seconds. Skipped behind a proxy,
    which resolves for us."""
    parsed = httpx.URL(url)
    host = parsed.host
    try:
        ipaddress.ip_address(host)
        return
    except ValueError:
        pass
    if urllib.request.getproxies():
        return
    outcome: list[OSError | None] = []

    def lookup() -> None:
        try:
            socket.getaddrinfo(host, parsed.port or (443 if parsed.scheme == "https" else 80), type=socket.SOCK_STREAM)
        except OSError as exc:
            outcome.append(exc)
        else:
            outcome.append(None)

    thread = threading.Thread(target=lookup, name="spec-dns", daemon=True)
    thread.start()
    thread.join(seconds)
    if not outcome:
        raise _Unavailable(f"DNS lookup of {host} took longer than {seconds:g} s")
    if outcome[0] is not None:
        raise _Unavailable(f"DNS lookup of {host} failed: {outcome[0]}")


def _read_etag(meta_path: Path) -> str | None:
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, ValueError):
        return None
    etag = meta.get("etag") if isinstance(meta, dict) else None
    return etag if isinstance(etag, str) else None


def _write_cache(body_path: Path, meta_path: Path, body: bytes, etag: str | None, url: str) -> None:
    """Atomic writes, so a crash mid-write never leaves a half document as the fallback."""
    try:
        body_path.parent.mkdir(parents=True, exist_ok=True)
        for path, data in ((body_path, body), (meta_path, json.dumps({"url": url, "etag": etag}).encode())):
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.replace(tmp, path)
    except OSError as exc:
        log.warning("Could not cache the spec in %s: %s (the server still starts)", body_path.parent, exc)


def _parse(raw: bytes, origin: str, kind: SpecKind) -> LoadedSpec:
    try:
        document = json.loads(raw)
    except ValueError as exc:
        raise _BadDocument(
            f"The spec from {origin} is not valid JSON ({exc}). Fix: point --spec at the OpenAPI JSON "
            f"document (YAML is not supported), e.g. a saved copy of {_default_url()}.",
            f"not valid JSON ({exc})",
        ) from None
    problem = _openapi_problem(document)
    if problem:
        raise _BadDocument(
            f"The spec from {origin} is not an OpenAPI 3.x document: {problem}. Fix: point --spec at "
            f"an OpenAPI 3.0/3.1 JSON document such as {_default_url()}.",
            f"not an OpenAPI 3.x document ({problem})",
        )
    return LoadedSpec(document=document, origin=origin, sha256=hashlib.sha256(raw).hexdigest(), kind=kind)


def _openapi_problem(document: object) -> str | None:
    if not isinstance(document, dict):
        return f"the top level is a JSON {type(document).__name__}, not an object"
    version = document.get("openapi")
    if not isinstance(version, str):
        hint = " (this looks like Swagger 2.0; convert it to OpenAPI 3)" if "swagger" in document else ""
        return f"it has no 'openapi' version field{hint}"
    if not version.startswith("3."):
        return f"its 'openapi' field is {version!r}; only 3.0 and 3.1 are supported"
    if not isinstance(document.get("paths"), dict):
        return "it has no 'paths' object"
    return None
