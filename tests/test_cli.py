"""The command line as a person meets it: help, options, ports, settings files, the startup log."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client

from tests import fake_x as fx
from tests.fake_spec import SpecServer
from tests.fake_x import FakeX, Fault
from tests.servers import REPO, SPEC_159, TOOLS_159, run_cli, run_xapi_mcp, serve_asgi, server_env
from xapi_mcp.cli import PROFILE_NAMES
from xapi_mcp.config import Settings
from xapi_mcp.tools.profiles import PROFILES

SPEC = str(SPEC_159)


def test_help_shows_the_serve_options_and_loads_no_server_libraries() -> None:
    result = run_cli("--help")
    assert result.returncode == 0, result.stderr
    for option in ("--transport", "--host", "--port", "--spec", "--env-file", "serve", "tools", "auth"):
        assert option in result.stdout
    probe = (
        "import sys\nfrom xapi_mcp.cli import main\n"
        "for args in (['--help'], ['--version']):\n"
        "    try:\n        main(args)\n    except SystemExit:\n        pass\n"
        "heavy = ('uvicorn', 'starlette', 'mcp', 'mcp_types', 'jsonschema', 'authlib', 'pydantic', 'httpx2')\n"
        "print('LOADED', sorted(m for m in heavy if m in sys.modules))"
    )
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert "LOADED []" in loaded.stdout, loaded.stdout + loaded.stderr


def test_profile_names_match_the_profiles() -> None:
    assert PROFILE_NAMES == PROFILES


def test_common_options_work_before_the_command() -> None:
    result = run_cli("--spec", SPEC, "tools", "--json", env={"X_API_TOOL_ALLOWLIST": "getUsersMe"})
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["count"] == 1


def test_tools_in_discovery_lists_what_is_served() -> None:
    result = run_cli("tools", "--profile", "discovery", "--spec", SPEC)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert [line.split()[0] for line in lines[:3]] == ["search_x_api", "describe_x_api", "call_x_api"]
    assert "3 tools; tools/list response:" in result.stdout and "(discovery profile)" in result.stdout
    assert f"they reach the {TOOLS_159} allowed tools" in result.stdout and "getUsersMe" not in result.stdout
    listing = json.loads(run_cli("tools", "--profile", "discovery", "--json", "--spec", SPEC).stdout)
    assert listing["count"] == 3 and listing["reaches"] == TOOLS_159
    assert listing["tools_list_bytes"] == listing["profiles"]["discovery"]


@pytest.mark.parametrize("port", ["99999", "-1", "0", "http"])
def test_port_outside_1_to_65535_is_refused(port: str) -> None:
    result = run_cli("--port", port, "--spec", SPEC)
    assert result.returncode == 2
    assert "argument --port" in result.stderr and "1-65535" in result.stderr and "Traceback" not in result.stderr


def test_mcp_port_setting_is_checked_too() -> None:
    result = run_cli("tools", "--spec", SPEC, env={"MCP_PORT": "0"})
    assert result.returncode == 2 and "MCP_PORT" in result.stderr and "greater than or equal to 1" in result.stderr


def test_port_in_use_is_one_line_with_the_fix_and_nothing_is_announced() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        keys = {"X_OAUTH_CONSUMER_KEY": fx.CONSUMER_KEY, "X_OAUTH_CONSUMER_SECRET": fx.CONSUMER_SECRET}
        result = run_cli("--port", str(port), "--spec", SPEC, env=keys)
    assert result.returncode == 2, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("xapi-mcp:")]
    assert errors == [
        f"xapi-mcp: cannot listen on 127.0.0.1:{port}: the port is already in use (another xapi-mcp, or another "
        "program). Stop that program, or choose a free port: --port N or MCP_PORT=N (the OAuth callback URL moves "
        "with it)."
    ]
    assert "Serving" not in result.stderr and "Traceback" not in result.stderr
    assert "error while attempting to bind" not in result.stderr  # uvicorn's own message


def test_env_file_that_does_not_exist_is_an_error(tmp_path: Path) -> None:
    missing = tmp_path / "typo" / ".env"
    result = run_cli("tools", "--spec", SPEC, "--env-file", str(missing))
    assert result.returncode == 2
    assert f"The settings file {missing} (--env-file) does not exist" in result.stderr
    assert "Traceback" not in result.stderr


def test_which_env_file_was_read_is_logged(tmp_path: Path) -> None:
    dotenv = tmp_path / "settings.env"
    dotenv.write_text("X_API_TOOL_ALLOWLIST=getUsersMe\n")
    result = run_cli("tools", "--json", "--spec", SPEC, "--env-file", str(dotenv))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["count"] == 1
    assert f"Read settings from {dotenv} (environment variables win over it)" in result.stderr
    default = run_cli("tools", "--json", "--spec", SPEC)  # run_cli starts in /, which has no .env
    assert default.returncode == 0 and "No .env in /: settings from the environment only" in default.stderr


def test_home_is_expanded_in_path_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    settings = Settings.load(
        env={
            "X_API_SPEC_CACHE_DIR": "~/.cache/xapi-mcp",
            "X_API_TOOL_ALLOWLIST_FILE": "~/allow.txt",
            "X_MEDIA_DIR": "~/Pictures",
            "X_API_SPEC": "~/spec.json",
        },
        dotenv_path=None,
    )
    assert settings.spec_cache_dir == tmp_path / ".cache" / "xapi-mcp"
    assert settings.tool_allowlist_file == tmp_path / "allow.txt"
    assert settings.media_dir == tmp_path / "Pictures"
    assert settings.spec == str(tmp_path / "spec.json")
    assert settings.with_overrides(spec="~/other.json").spec == str(tmp_path / "other.json")


def test_spec_cache_dir_with_tilde_uses_the_home_folder(tmp_path: Path) -> None:
    """As env.example writes it; it used to create a folder named `~` in the working directory."""
    home, work = tmp_path / "home", tmp_path / "work"
    home.mkdir(), work.mkdir()
    with serve_asgi(SpecServer().app()) as base:
        result = subprocess.run(
            [sys.executable, str(REPO / "server.py"), "tools", "--json", "--spec", f"{base}/2/openapi.json"],
            capture_output=True,
            text=True,
            env={"PATH": "/usr/bin:/bin", "HOME": str(home), "X_API_SPEC_CACHE_DIR": "~/.cache/xapi-mcp"},
            timeout=60,
            cwd=work,
        )
    assert result.returncode == 0, result.stderr
    assert list((home / ".cache" / "xapi-mcp").iterdir()), "the spec is cached under $HOME"
    assert not (work / "~").exists()


def test_blank_values_count_as_unset_and_do_not_hide_the_other_name(tmp_path: Path) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text("X_OAUTH2_CLIENT_ID=\nX_OAUTH2_CLIENT_SECRET=\nMCP_PORT=\nX_BEARER_TOKEN=from-dotenv\n")
    settings = Settings.load(
        env={"CLIENT_ID": "client-from-env", "CLIENT_SECRET": "secret-from-env", "X_BEARER_TOKEN": ""},
        dotenv_path=dotenv,
    )
    assert settings.oauth2_client_id == "client-from-env"
    assert settings.oauth2_client_secret is not None
    assert settings.oauth2_client_secret.get_secret_value() == "secret-from-env"
    assert settings.mcp_port == 8000
    assert settings.bearer_token is not None and settings.bearer_token.get_secret_value() == "from-dotenv"
    both = Settings.load(env={"X_OAUTH2_CLIENT_ID": "specific", "CLIENT_ID": "generic"}, dotenv_path=None)
    assert both.oauth2_client_id == "specific"


def stdio_startup_log(env: dict[str, str], *args: str) -> str:
    """Start the server on stdio with no client (stdin closed at once) and return its log."""
    result = subprocess.run(
        [sys.executable, str(REPO / "server.py"), "--transport", "stdio", "--spec", SPEC, *args],
        input="",
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "HOME": "/tmp", **env},
        timeout=60,
        cwd="/",
    )
    assert result.returncode == 0, result.stderr
    return result.stderr


def test_startup_log_warns_when_no_credentials_are_configured() -> None:
    log = stdio_startup_log({})
    assert "WARNING xapi_mcp: No X credentials are configured, so every tool call will fail." in log
    assert "X_OAUTH_CONSUMER_KEY" in log and "X_BEARER_TOKEN" in log
    assert f"Serving {TOOLS_159} tools (full profile), X API spec 2.159, over stdio" in log


def test_startup_log_names_credential_kinds_never_values(tmp_path: Path) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text("X_OAUTH2_CLIENT_ID=\n")  # as copied from env.example
    env = {
        "X_OAUTH_CONSUMER_KEY": fx.CONSUMER_KEY,
        "X_OAUTH_CONSUMER_SECRET": fx.CONSUMER_SECRET,
        "X_BEARER_TOKEN": fx.BEARER_TOKEN,
        "CLIENT_ID": fx.OAUTH2_CLIENT_ID,
    }
    log = stdio_startup_log(env, "--env-file", str(dotenv))
    assert (
        "Credentials: OAuth 1.0a app keys + browser consent on the first call that needs a user; app bearer token; "
        "OAuth 2.0 client (browser consent on first use)"
    ) in log
    assert "No X credentials" not in log
    for value in env.values():
        assert value not in log


def test_discovery_startup_and_failed_calls_are_logged(fake_x: tuple[FakeX, str], tmp_path: Path) -> None:
    fake, x_url = fake_x
    fake.fail("/2/users/me", Fault(403, b'{"title":"Forbidden","detail":"Not allowed","status":403}'))
    log_path = tmp_path / "server.log"
    with run_xapi_mcp(server_env(x_url, X_API_TOOL_PROFILE="discovery"), log_path=log_path) as url:

        async def go() -> list[Any]:
            async with Client(url) as client:
                return [
                    await client.call_tool("call_x_api", {"name": "getUsersMe", "arguments": {}}),
                    await client.call_tool("call_x_api", {"name": "getUsersByUsername", "arguments": {}}),
                    await client.call_tool(
                        "call_x_api", {"name": "getUsersByUsername", "arguments": {"username": "x"}}
                    ),
                ]

        forbidden, invalid, fine = anyio.run(go)
    assert forbidden.is_error and invalid.is_error and not fine.is_error
    log = log_path.read_text()
    assert f"Serving 3 discovery tools (search_x_api, describe_x_api, call_x_api) over {TOOLS_159} allowed tools" in log
    assert "Credentials: OAuth 1.0a app keys + user token; app bearer token" in log
    failed = [line for line in log.splitlines() if "Tool call failed" in line]
    assert len(failed) == 2, failed
    assert (
        " INFO xapi_mcp.server.mcp_server: Tool call failed: call_x_api (HTTP 403): getUsersMe: X API returned HTTP 403"
        in (failed[0])
    )
    assert "call_x_api (no answer from X): " in failed[1] and "username" in failed[1]
