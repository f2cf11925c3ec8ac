"""Loading the spec (file, URL, cache, offline) and settings; startup failures exit 2 with a fix."""

from __future__ import annotations

import gzip
import json
import logging
import re
import socket
import threading
from pathlib import Path

import httpx2 as httpx
import pytest

from tests.fake_spec import MINI, SpecServer
from tests.servers import SPEC_157, SPEC_159, TOOLS_159, run_cli, run_xapi_mcp, serve_asgi, server_env
from xapi_mcp.config import ConfigError, Settings
from xapi_mcp.spec import BUNDLED_VERSION, SpecError, _cache_paths, load_spec

UNREACHABLE = "http://127.0.0.1:9/2/openapi.json"  # the discard port: connection refused at once


def test_file_spec_loads_with_version(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="xapi_mcp.spec"):
        spec = load_spec(str(SPEC_159), Path("/nonexistent-cache"))
    assert spec.version == "2.159" and spec.openapi_version == "3.0.0"
    assert spec.origin == f"file {SPEC_159}" and spec.kind == "file"
    # The document's version first; 3.0.0 is only the OpenAPI version it is written in.
    assert f"Using X API spec 2.159 (OpenAPI 3.0.0) from file {SPEC_159}" in caplog.messages


def test_gzipped_spec_files_load_and_a_broken_one_is_named(tmp_path: Path) -> None:
    assert SPEC_159.name.endswith(".json.gz") and SPEC_157.name.endswith(".json.gz")
    assert load_spec(str(SPEC_157), tmp_path).version == "2.157"
    plain = tmp_path / "spec.json"
    plain.write_bytes(gzip.decompress(SPEC_157.read_bytes()))
    assert load_spec(str(plain), tmp_path).document == load_spec(str(SPEC_157), tmp_path).document
    broken = tmp_path / "spec.json.gz"
    broken.write_bytes(SPEC_157.read_bytes()[:500])
    with pytest.raises(SpecError, match="is not a valid gzip file"):
        load_spec(str(broken), tmp_path)


def test_bundled_snapshot_is_the_package_data_and_needs_no_network(tmp_path: Path) -> None:
    spec = load_spec("bundled", tmp_path / "cache", default_url=UNREACHABLE)
    assert spec.kind == "bundled" and spec.version == BUNDLED_VERSION == "2.159"
    assert "copied 2026-11-30" in spec.origin
    assert spec.sha256 == "71944b1b618fff12d8dc1554f6f3276d3725e256e3aff6a22678a9d1f7e60162"  # data/README.md
    assert not (tmp_path / "cache").exists()  # nothing tried, nothing cached


def test_url_spec_is_cached_revalidated_and_used_offline(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    server = SpecServer()
    with serve_asgi(server.app()) as base:
        url = f"{base}/2/openapi.json"
        with caplog.at_level(logging.INFO, logger="xapi_mcp.spec"):
            first = load_spec(url, tmp_path)
        assert first.origin == url and first.version == "1.2" and first.kind == "live"
        # A live version other than the bundled one changes nothing but the log line.
        spec_log = [r.getMessage() for r in caplog.records if r.name == "xapi_mcp.spec"]
        assert spec_log == [f"Using X API spec 1.2 (OpenAPI 3.0.3) from {url}; the bundled snapshot is 2.159"]
        caplog.clear()
        second = load_spec(url, tmp_path)
        assert server.hits == [None, '"v1"']  # the second download is a conditional GET
        assert second.kind == "live" and "unchanged; cached in" in second.origin
        server.status = 503
        with caplog.at_level(logging.INFO, logger="xapi_mcp.spec"):
            offline = load_spec(url, tmp_path)
        assert offline.kind == "cache" and "offline fallback" in offline.origin and offline.document == MINI
        assert [m for m in caplog.messages if "unavailable" in m] == [
            f"Live spec {url} unavailable (HTTP 503); using the cached copy 1.2 from {_cache_paths(url, tmp_path)[0]}"
        ]
    # The server is gone now: a connection error also falls back to the cache.
    assert load_spec(url, tmp_path).document == MINI


def test_revalidation_with_a_corrupt_cache_downloads_again(tmp_path: Path) -> None:
    server = SpecServer()
    with serve_asgi(server.app()) as base:
        url = f"{base}/2/openapi.json"
        load_spec(url, tmp_path)
        _cache_paths(url, tmp_path)[0].write_text("{half a docu")
        spec = load_spec(url, tmp_path)
    assert server.hits == [None, '"v1"', None] and spec.kind == "live" and spec.document == MINI
    assert json.loads(_cache_paths(url, tmp_path)[0].read_text()) == MINI  # repaired


def test_default_url_unreachable_without_cache_serves_the_bundled_snapshot(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="xapi_mcp.spec"):
        spec = load_spec(UNREACHABLE, tmp_path, default_url=UNREACHABLE)
    assert spec.kind == "bundled" and spec.version == "2.159"
    fallback = [m for m in caplog.messages if "unavailable" in m]
    assert len(fallback) == 1, caplog.messages  # one line says what happened and why
    assert fallback[0].startswith(f"Live spec {UNREACHABLE} unavailable (ConnectError: ")
    assert "there is no cached copy yet" in fallback[0]
    assert fallback[0].endswith("; using bundled 2.159 (copied 2026-11-30)")


@pytest.mark.parametrize(
    ("cached", "problem"),
    [("{not json", "is not valid JSON"), ('{"swagger": "2.0", "paths": {}}', "is not an OpenAPI 3.x document")],
)
def test_default_url_unreachable_with_corrupt_cache_serves_the_bundled_snapshot(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, cached: str, problem: str
) -> None:
    _cache_paths(UNREACHABLE, tmp_path)[0].write_text(cached)
    with caplog.at_level(logging.INFO, logger="xapi_mcp.spec"):
        spec = load_spec(UNREACHABLE, tmp_path, default_url=UNREACHABLE)
    assert spec.kind == "bundled"
    (line,) = [m for m in caplog.messages if "unavailable" in m]
    assert problem in line and line.endswith("using bundled 2.159 (copied 2026-11-30)")


def test_default_url_serving_garbage_falls_back_to_cache_then_bundled(tmp_path: Path) -> None:
    server = SpecServer()
    with serve_asgi(server.app()) as base:
        url = f"{base}/2/openapi.json"
        assert load_spec(url, tmp_path, default_url=url).kind == "live"
        server.status = 500
        assert load_spec(url, tmp_path, default_url=url).kind == "cache"
        _cache_paths(url, tmp_path)[0].unlink()
        assert load_spec(url, tmp_path, default_url=url).kind == "bundled"


def test_unreachable_url_without_cache_names_both_fixes(tmp_path: Path) -> None:
    with pytest.raises(SpecError) as err:
        load_spec(UNREACHABLE, tmp_path)  # not the default URL: an explicit choice never falls back
    message = str(err.value)
    assert "no cached copy yet" in message
    assert "--spec PATH" in message and "X_API_SPEC" in message and "network access" in message
    assert "X_API_SPEC=bundled" in message


def test_explicit_url_with_corrupt_cache_is_an_error_not_the_bundled_copy(tmp_path: Path) -> None:
    _cache_paths(UNREACHABLE, tmp_path)[0].write_text("[]")
    with pytest.raises(SpecError, match=r"the cached copy .* is not an OpenAPI 3\.x document"):
        load_spec(UNREACHABLE, tmp_path)


def test_a_dns_lookup_that_hangs_costs_the_connect_timeout_not_the_whole_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    release = threading.Event()
    lookups: list[str] = []

    def hanging_lookup(host: str, *args: object, **kwargs: object) -> object:
        lookups.append(host)
        release.wait(60)
        raise socket.gaierror("released")

    monkeypatch.setattr(socket, "getaddrinfo", hanging_lookup)
    url = "https://spec.example.invalid/2/openapi.json"
    try:
        with caplog.at_level(logging.INFO, logger="xapi_mcp.spec"):
            spec = load_spec(url, tmp_path, timeout=600, default_url=url, connect_timeout=0.2)
    finally:
        release.set()
    assert spec.kind == "bundled" and lookups == ["spec.example.invalid"]
    assert any("DNS lookup of spec.example.invalid took longer than 0.2 s" in m for m in caplog.messages)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("not json", "is not valid JSON"),
        ("[1, 2]", "the top level is a JSON list"),
        ('{"swagger": "2.0", "paths": {}}', "Swagger 2.0"),
        ('{"openapi": "2.0", "paths": {}}', "only 3.0 and 3.1 are supported"),
        ('{"openapi": "3.0.0"}', "it has no 'paths' object"),
    ],
)
def test_bad_spec_files(tmp_path: Path, content: str, expected: str) -> None:
    path = tmp_path / "spec.json"
    path.write_text(content)
    with pytest.raises(SpecError, match=expected):
        load_spec(str(path), tmp_path)


def test_cli_missing_spec_exits_2_with_message(tmp_path: Path) -> None:
    result = run_cli("tools", "--spec", str(tmp_path / "nope.json"))
    assert result.returncode == 2
    assert "does not exist" in result.stderr and "Traceback" not in result.stderr
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    result = run_cli("serve", "--spec", str(bad))
    assert result.returncode == 2 and "not an OpenAPI 3.x document" in result.stderr


def test_cli_bad_setting_names_the_variable() -> None:
    result = run_cli("tools", "--spec", str(SPEC_159), env={"MCP_PORT": "eighty"})
    assert result.returncode == 2
    assert "MCP_PORT" in result.stderr and "'eighty'" in result.stderr and "env.example" in result.stderr


def test_cli_tools_reports_sizes_and_unknown_allowlist_names() -> None:
    result = run_cli("tools", "--json", "--spec", str(SPEC_159), env={"X_API_TOOL_ALLOWLIST": "getUsersMe,getUserMe"})
    assert result.returncode == 0, result.stderr
    listing = json.loads(result.stdout)
    assert listing["count"] == 1 and listing["tools"][0]["name"] == "getUsersMe"
    assert listing["tools_list_bytes"] > listing["tools"][0]["bytes"] > 0
    assert "'getUserMe' (X_API_TOOL_ALLOWLIST) matches no tool; did you mean getUsersMe" in result.stderr
    text = run_cli("tools", "--spec", str(SPEC_159))
    assert f"{TOOLS_159} tools; tools/list response:" in text.stdout and "(full profile)" in text.stdout
    assert re.search(r"by profile: full [\d,]+ B, lean [\d,]+ B, discovery [\d,]+ B", text.stdout)


def test_cli_tools_and_healthz_say_which_spec_serves_with_an_empty_home(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    result = run_cli("tools", "--json", env={"HOME": str(home), "X_API_SPEC": "bundled"})
    assert result.returncode == 0, result.stderr
    listing = json.loads(result.stdout)
    assert (
        listing["count"] == TOOLS_159
        and listing["spec"]["source"] == "bundled"
        and listing["spec"]["version"] == "2.159"
    )
    assert "Using X API spec 2.159 (OpenAPI 3.0.0) from the bundled snapshot" in result.stderr
    text = run_cli("tools", "--spec", str(SPEC_157), env={"HOME": str(home)})
    assert f"X API spec 2.157 (file): file {SPEC_157}" in text.stdout
    env = server_env("http://127.0.0.1:9", HOME=str(home), XDG_CACHE_HOME="")
    with run_xapi_mcp(env, spec="bundled") as url:
        health = httpx.get(url.removesuffix("/mcp") + "/healthz").json()
    assert health["spec_source"] == "bundled" and health["spec_version"] == "2.159" and health["tools"] == TOOLS_159
    assert list(home.iterdir()) == []  # nothing downloaded, nothing cached


def test_cli_allowlist_that_removes_everything_is_an_error() -> None:
    result = run_cli("tools", "--spec", str(SPEC_159), env={"X_API_TOOL_ALLOWLIST": "nothingLikeThis"})
    assert result.returncode == 2
    assert "removes every tool" in result.stderr


def test_settings_from_env_and_dotenv(tmp_path: Path) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text("X_BEARER_TOKEN=from-dotenv\nMCP_PORT=9001\nX_OAUTH_ACCESS_TOKEN=\n")
    settings = Settings.load(env={"MCP_PORT": "9002"}, dotenv_path=dotenv)
    assert settings.mcp_port == 9002  # the environment wins over .env
    assert settings.bearer_token is not None and settings.bearer_token.get_secret_value() == "from-dotenv"
    assert settings.access_token is None  # blank means unset
    assert "from-dotenv" not in repr(settings)
    with pytest.raises(ConfigError, match="X_API_BASE_URL: Value error, must start with http"):
        Settings.load(env={"X_API_BASE_URL": "api.x.com"}, dotenv_path=None)
