"""Loading the spec (file, URL, cache, offline) and settings; startup failures exit 2 with a fix."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.servers import REPO, SPEC_159, serve_asgi
from xapi_mcp.config import ConfigError, Settings
from xapi_mcp.spec import SpecError, load_spec

MINI = {"openapi": "3.0.3", "info": {"version": "1.2"}, "paths": {}}


class SpecServer:
    """Serves MINI with an ETag; can be told to fail."""

    def __init__(self) -> None:
        self.hits: list[str | None] = []
        self.status = 200

    def app(self) -> Starlette:
        async def spec(request: Request) -> Response:
            self.hits.append(request.headers.get("if-none-match"))
            if self.status != 200:
                return Response("down", status_code=self.status)
            if request.headers.get("if-none-match") == '"v1"':
                return Response(status_code=304)
            return Response(json.dumps(MINI), media_type="application/json", headers={"ETag": '"v1"'})

        return Starlette(routes=[Route("/2/openapi.json", spec)])


def test_file_spec_loads_with_version() -> None:
    spec = load_spec(str(SPEC_159), Path("/nonexistent-cache"))
    assert spec.version == "2.159" and spec.openapi_version == "3.0.0"
    assert spec.origin == f"file {SPEC_159}"


def test_url_spec_is_cached_revalidated_and_used_offline(tmp_path: Path) -> None:
    server = SpecServer()
    with serve_asgi(server.app()) as base:
        url = f"{base}/2/openapi.json"
        first = load_spec(url, tmp_path)
        assert first.origin == url and first.version == "1.2"
        second = load_spec(url, tmp_path)
        assert server.hits == [None, '"v1"']  # the second download is a conditional GET
        assert second.origin.startswith("cache ") and "unchanged" in second.origin
        server.status = 503
        offline = load_spec(url, tmp_path)
        assert "offline fallback" in offline.origin and offline.document == MINI
    # The server is gone now: a connection error also falls back to the cache.
    assert load_spec(url, tmp_path).document == MINI


def test_unreachable_url_without_cache_names_both_fixes(tmp_path: Path) -> None:
    with pytest.raises(SpecError) as err:
        load_spec("http://127.0.0.1:9/2/openapi.json", tmp_path)
    message = str(err.value)
    assert "no cached copy yet" in message
    assert "--spec PATH" in message and "X_API_SPEC" in message and "network access" in message


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


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(REPO / "server.py"), *args],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "HOME": "/tmp", **(env or {})},
        timeout=60,
        cwd="/",
    )


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
    assert "125 tools; tools/list response:" in text.stdout and "(full profile)" in text.stdout
    assert re.search(r"by profile: full [\d,]+ B, lean [\d,]+ B, discovery [\d,]+ B", text.stdout)


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
