"""Load the OpenAPI document: from a URL (cached on disk with its ETag), or from a file.

The live X document is the default, so the tools follow X's API as it changes. A download that
fails falls back to the last good copy, so a flaky network never stops the server from starting.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2 as httpx

log = logging.getLogger(__name__)


class SpecError(Exception):
    """No usable OpenAPI document; the message says what was tried and how to fix it."""


@dataclass(frozen=True)
class LoadedSpec:
    document: dict[str, Any]
    origin: str  # human-readable: which copy is in use
    sha256: str

    @property
    def version(self) -> str:
        return str(self.document.get("info", {}).get("version", "unknown"))

    @property
    def openapi_version(self) -> str:
        return str(self.document.get("openapi", ""))


def is_url(source: str) -> bool:
    return source.startswith(("http://", "https://"))


def load_spec(source: str, cache_dir: Path, timeout: float = 30.0) -> LoadedSpec:
    """Load `source` (URL or path). Raises SpecError with both fixes named when nothing loads."""
    spec = _load_url(source, cache_dir, timeout) if is_url(source) else _load_file(Path(source).expanduser())
    log.info("Using X API spec %s (info.version %s) from %s", spec.openapi_version, spec.version, spec.origin)
    return spec


def _load_file(path: Path) -> LoadedSpec:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise SpecError(
            f"The spec file {path} does not exist. Fix: pass an existing OpenAPI JSON file with "
            f"--spec PATH (or X_API_SPEC), or leave both unset to download {_default_url()}."
        ) from None
    except OSError as exc:
        raise SpecError(f"Cannot read the spec file {path}: {exc.strerror}.") from None
    return _parse(raw, f"file {path}")


def _default_url() -> str:
    from xapi_mcp.config import DEFAULT_SPEC_URL

    return DEFAULT_SPEC_URL


def _cache_paths(url: str, cache_dir: Path) -> tuple[Path, Path]:
    key = hashlib.sha256(url.encode()).hexdigest()[:16]
    return cache_dir / f"openapi-{key}.json", cache_dir / f"openapi-{key}.meta.json"


def _load_url(url: str, cache_dir: Path, timeout: float) -> LoadedSpec:
    body_path, meta_path = _cache_paths(url, cache_dir)
    etag = _read_etag(meta_path) if body_path.is_file() else None
    headers = {"Accept": "application/json"}
    if etag:
        headers["If-None-Match"] = etag
    try:
        response = httpx.get(url, headers=headers, timeout=timeout, follow_redirects=True)
    except httpx.HTTPError as exc:
        return _from_cache(url, body_path, f"download failed: {type(exc).__name__}: {exc}")
    if response.status_code == 304 and body_path.is_file():
        return _parse(body_path.read_bytes(), f"cache {body_path} (unchanged at {url})")
    if response.status_code != 200:
        return _from_cache(url, body_path, f"download failed: HTTP {response.status_code}")
    try:
        spec = _parse(response.content, url)
    except SpecError as exc:
        return _from_cache(url, body_path, str(exc))
    _write_cache(body_path, meta_path, response.content, response.headers.get("etag"), url)
    return spec


def _from_cache(url: str, body_path: Path, reason: str) -> LoadedSpec:
    if body_path.is_file():
        log.warning("Could not refresh the spec from %s (%s); using the cached copy", url, reason)
        return _parse(body_path.read_bytes(), f"cache {body_path} (offline fallback)")
    raise SpecError(
        f"Could not load the X API spec from {url} ({reason}) and there is no cached copy yet "
        f"(looked for {body_path}). Fix: allow network access to {url} once so it can be cached, "
        f"or pass a local copy with --spec PATH (or set X_API_SPEC=PATH)."
    )


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


def _parse(raw: bytes, origin: str) -> LoadedSpec:
    try:
        document = json.loads(raw)
    except ValueError as exc:
        raise SpecError(
            f"The spec from {origin} is not valid JSON ({exc}). Fix: point --spec at the OpenAPI JSON "
            f"document (YAML is not supported), e.g. a saved copy of {_default_url()}."
        ) from None
    problem = _openapi_problem(document)
    if problem:
        raise SpecError(
            f"The spec from {origin} is not an OpenAPI 3.x document: {problem}. Fix: point --spec at "
            f"an OpenAPI 3.0/3.1 JSON document such as {_default_url()}."
        )
    return LoadedSpec(document=document, origin=origin, sha256=hashlib.sha256(raw).hexdigest())


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
