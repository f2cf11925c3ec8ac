"""The Grok test client against a scripted fake xAI and the fake X API: whole transcripts."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import anyio
import pytest
from mcp import Client

from tests import fake_xai
from tests.fake_x import FakeX
from tests.fake_xai import FakeXai, answer, tool_call
from tests.servers import REPO, run_xapi_mcp, serve_asgi, server_env
from xapi_mcp.grok import GrokConfig, GrokError, run


def transcript(mcp_url: str, xai_url: str, prompt: str, max_steps: int = 8) -> tuple[str, list[str]]:
    lines: list[str] = []
    config = GrokConfig(fake_xai.API_KEY, "grok-test", f"{xai_url}/v1", max_steps)

    async def go() -> str | GrokError:
        async with Client(mcp_url) as client:
            try:
                return await run(prompt, client, config, out=lines.append)
            except GrokError as exc:
                return exc

    result = anyio.run(go)
    if isinstance(result, GrokError):
        raise result
    return result, lines


@pytest.mark.parametrize("profile", ["full", "discovery"])
def test_transcript_with_a_tool_call_and_an_error_turn(fake_x: tuple[FakeX, str], profile: str) -> None:
    fake, x_url = fake_x
    lookup = {"username": "XDevelopers", "user_fields": ["created_at"]}
    if profile == "discovery":
        steps: list[Any] = [
            tool_call("c1", "search_x_api", {"query": "look up a user by username"}),
            tool_call("c2", "call_x_api", {"name": "getUsersByUsername", "arguments": lookup}),
        ]
    else:
        steps = [tool_call("c1", "getUserByUsername", lookup), tool_call("c2", "getUsersByUsername", lookup)]
    xai = FakeXai(script=[*steps, answer("X Developers has the id 2244994945.")])
    with serve_asgi(xai.app()) as xai_url, run_xapi_mcp(server_env(x_url, X_API_TOOL_PROFILE=profile)) as mcp_url:
        final, lines = transcript(mcp_url, xai_url, "What is the id of @XDevelopers?")

    assert final == "X Developers has the id 2244994945."
    first, second = xai.requests[0], xai.requests[1]
    assert first["model"] == "grok-test" and first["messages"][-1] == {
        "role": "user",
        "content": "What is the id of @XDevelopers?",
    }
    offered = [f["function"]["name"] for f in first["tools"]]
    if profile == "discovery":
        assert offered == ["search_x_api", "describe_x_api", "call_x_api"]
        assert lines[0] == '-> search_x_api({"query": "look up a user by username"})'
        assert json.loads(second["messages"][-1]["content"])["tools"][0]["name"] == "getUsersByUsername"
    else:
        assert len(offered) == 125 and first["tools"][0]["function"]["parameters"]["type"] == "object"
        # The model asked for a tool that does not exist: it is told, and corrects itself.
        assert lines[0] == f"-> getUserByUsername({json.dumps(lookup)})"
        assert lines[1].startswith("<- error: Unknown tool 'getUserByUsername'")
        assert second["messages"][-1]["role"] == "tool" and second["messages"][-1]["tool_call_id"] == "c1"
    assert lines[-1].startswith('<- ok: {"data":{"id":"2244994945"')
    tool_reply = xai.requests[2]["messages"][-1]
    assert tool_reply["role"] == "tool" and json.loads(tool_reply["content"])["data"]["username"] == "XDevelopers"
    (request,) = fake.requests
    assert request.path == "/2/users/by/username/XDevelopers" and request.query == [("user.fields", "created_at")]


def test_http_errors_and_step_limit(fake_x: tuple[FakeX, str]) -> None:
    fake, x_url = fake_x
    xai = FakeXai(script=[500])
    loop = tool_call("c", "getUsersByUsername", {"username": "jack"})
    with serve_asgi(xai.app()) as xai_url, run_xapi_mcp(server_env(x_url)) as mcp_url:
        with pytest.raises(GrokError, match="The xAI API returned HTTP 500"):
            transcript(mcp_url, xai_url, "hi")
        xai.script = [loop, loop, loop]
        with pytest.raises(GrokError, match="for 2 steps without a final answer"):
            transcript(mcp_url, xai_url, "loop", max_steps=2)
    assert len(fake.requests) == 2


def test_cli_without_key_says_what_to_set() -> None:
    env = {"PATH": "/usr/bin:/bin", "HOME": "/tmp"}
    result = subprocess.run(
        [sys.executable, str(REPO / "server.py"), "grok", "hello"], capture_output=True, text=True, env=env, cwd="/"
    )
    assert result.returncode == 2 and "set XAI_API_KEY" in result.stderr


def test_cli_end_to_end_over_stdio(fake_x: tuple[FakeX, str]) -> None:
    fake, x_url = fake_x
    xai = FakeXai(script=[tool_call("c1", "getUsersMe", {}), answer("You are fake.")])
    with serve_asgi(xai.app()) as xai_url:
        env = server_env(x_url, XAI_API_KEY=fake_xai.API_KEY, XAI_BASE_URL=f"{xai_url}/v1")
        from tests.servers import SPEC_159

        result = subprocess.run(
            [sys.executable, str(REPO / "server.py"), "grok", "who am I?", "--spec", str(SPEC_159)],
            capture_output=True,
            text=True,
            env=env,
            cwd=REPO / "tests",
            timeout=60,
        )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["-> getUsersMe({})", result.stdout.splitlines()[1], "You are fake."]
    assert result.stdout.splitlines()[1].startswith("<- ok:")
    assert fake.requests[-1].path == "/2/users/me"
