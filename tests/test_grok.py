"""The Grok test client against a scripted fake xAI and the fake X API: whole transcripts, and the
command as a new user meets it (profiles, error messages, Ctrl-D/Ctrl-C, a server that is not
there, what the stdio server is given)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client

from tests import fake_xai
from tests.conftest import load_document
from tests.fake_x import FakeX
from tests.fake_xai import HANG, FakeXai, answer, tool_call
from tests.servers import REPO, SPEC_159, TOOLS_159, free_port, run_xapi_mcp, serve_asgi, server_env
from xapi_mcp.clients.grok import (
    MAX_TOOLS,
    ChildStderr,
    GrokConfig,
    GrokError,
    TerminalConfirm,
    TooManyTools,
    child_environment,
    run,
)
from xapi_mcp.server.mcp_server import listing
from xapi_mcp.tools.allowlist import Allowlist
from xapi_mcp.tools.catalog import build_catalog

# The whole 2.159 catalog (142 tools) is more than the 128 xAI takes in one request, so `xapi-mcp grok` would
# switch to discovery (test_more_tools_than_xai_accepts_switches_to_discovery). The servers here leave out the
# stream-rule, webhook and Account Activity tools, as a person chatting with Grok would: 127 tools.
CHAT_DENY = "tag:Webhooks,tag:Account Activity,tag:Stream"


def chat_tools() -> dict[str, Any]:
    """What those servers list: the catalog with its workflow tools, less CHAT_DENY."""
    return Allowlist.from_sources(deny=CHAT_DENY).apply(build_catalog(load_document("2.159"), workflows=True).tools)[0]


def transcript(
    mcp_url: str,
    xai_url: str,
    prompt: str,
    max_steps: int = 8,
    *,
    compact: bool = False,
    key: str = fake_xai.API_KEY,
    confirm: TerminalConfirm | None = None,
) -> tuple[str, list[str]]:
    lines: list[str] = []
    config = GrokConfig(key, "grok-test", f"{xai_url}/v1", max_steps, compact=compact)

    async def go() -> str | GrokError:
        async with Client(mcp_url, elicitation_callback=confirm) as client:
            try:
                on_call = confirm.expect if confirm is not None else None
                return await run(prompt, client, config, out=lines.append, on_call=on_call)
            except GrokError as exc:
                return exc

    result = anyio.run(go)
    if isinstance(result, GrokError):
        raise result
    return result, lines


def as_functions(tools: list[Any]) -> list[dict[str, Any]]:
    """What xAI should receive for these MCP tools, uncompacted."""
    return [
        {"type": "function", "function": {"name": t.name, "description": t.description, "parameters": t.input_schema}}
        for t in tools
    ]


def size(tools: list[dict[str, Any]]) -> int:
    return len(json.dumps(tools, separators=(",", ":")))


def grok_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "xapi_mcp", "grok", *args]


def grok_env(x_url: str, xai_url: str, **extra: str) -> dict[str, str]:
    extra = {"X_API_TOOL_DENYLIST": CHAT_DENY, **extra}
    return server_env(x_url, XAI_API_KEY=fake_xai.API_KEY, XAI_BASE_URL=f"{xai_url}/v1", **extra)


@pytest.mark.parametrize("profile, compact", [("full", False), ("full", True), ("discovery", True)])
def test_transcript_with_a_tool_call_and_an_error_turn(fake_x: tuple[FakeX, str], profile: str, compact: bool) -> None:
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
    with (
        serve_asgi(xai.app()) as xai_url,
        run_xapi_mcp(server_env(x_url, X_API_TOOL_PROFILE=profile, X_API_TOOL_DENYLIST=CHAT_DENY)) as mcp_url,
    ):
        final, lines = transcript(mcp_url, xai_url, "What is the id of @XDevelopers?", compact=compact)

    assert final == "X Developers has the id 2244994945."
    first, second = xai.requests[0], xai.requests[1]
    assert first["model"] == "grok-test" and first["messages"][-1] == {
        "role": "user",
        "content": "What is the id of @XDevelopers?",
    }
    offered = [f["function"]["name"] for f in first["tools"]]
    served = listing(chat_tools(), profile).tools  # type: ignore[arg-type]
    if profile == "discovery":
        assert offered == ["search_x_api", "describe_x_api", "call_x_api"]
        # The server's instructions reach the model: they say how the three tools go together.
        assert "search_x_api finds the tool for a task" in first["messages"][0]["content"]
        assert lines[0] == '-> search_x_api({"query": "look up a user by username"})'
        assert json.loads(second["messages"][-1]["content"])["tools"][0]["name"] == "getUsersByUsername"
    else:
        assert (
            len(offered) == len(chat_tools()) == 127 and first["tools"][0]["function"]["parameters"]["type"] == "object"
        )
        # The model asked for a tool that does not exist: it is told, and corrects itself.
        assert lines[0] == f"-> getUserByUsername({json.dumps(lookup)})"
        assert lines[1].startswith("<- error: Unknown tool 'getUserByUsername'")
        assert second["messages"][-1]["role"] == "tool" and second["messages"][-1]["tool_call_id"] == "c1"
    if compact:
        # A server whose profile we did not choose: its tools go to xAI shortened, none left out.
        assert size(first["tools"]) < size(as_functions(served)) * 0.5 or profile == "discovery"
        for function, tool in zip(first["tools"], served, strict=True):
            parameters = function["function"]["parameters"]
            assert parameters.get("required") == tool.input_schema.get("required")
            assert set(parameters.get("properties", {})) == set(tool.input_schema.get("properties", {}))
            assert "maxLength" not in json.dumps(parameters) and "pattern" not in json.dumps(parameters)
    else:
        assert first["tools"] == as_functions(served)
    assert lines[-1].startswith('<- ok: {"data":{"id":"2244994945"')
    tool_reply = xai.requests[2]["messages"][-1]
    assert (
        tool_reply["role"] == "tool"
        and json.loads(tool_reply["content"].splitlines()[0])["data"]["username"] == "XDevelopers"
    )
    assert (
        tool_reply["content"].splitlines()[-1].startswith("cost $0.010 (1 user, 0 repeats)")
    )  # the cost line reaches the model
    (request,) = fake.requests
    assert request.path == "/2/users/by/username/XDevelopers" and request.query == [("user.fields", "created_at")]


@pytest.fixture(scope="module")
def stack() -> Iterator[tuple[FakeX, FakeXai, str, str]]:
    """One fake X, fake xAI and lean server (writes confirmed) for the tests that need nothing else."""
    fake, xai = FakeX(), FakeXai()
    with (
        serve_asgi(fake.app()) as x_url,
        serve_asgi(xai.app()) as xai_url,
        run_xapi_mcp(
            server_env(x_url, X_API_CONFIRM_WRITES="1", X_API_TOOL_PROFILE="lean", X_API_TOOL_DENYLIST=CHAT_DENY)
        ) as mcp_url,
    ):
        yield fake, xai, xai_url, mcp_url


MODEL_GONE = (
    "The model grok-test does not exist or your team 0000 does not have access to it. Please ensure you're using "
    "the correct API key. If you believe this is a mistake, please contact support."
)


@pytest.mark.parametrize(
    "step, key, says, not_says",
    [
        # A wrong key: xAI answers 400 (the fake as xAI does), and the fix is the key, not the model.
        (answer("unused"), "wrong-key-123456", ["HTTP 400", "Incorrect API key provided", "Check XAI_API_KEY"], []),
        ((400, {"error": "Incorrect%20API%20key%20provided:%20ba***na."}), None, ["Check XAI_API_KEY"], ["%20"]),
        # xAI's "no such model" mentions the API key too: it is about the model.
        ((404, {"code": "Some requested entity was not found", "error": MODEL_GONE}), None, ["Check XAI_MODEL"], []),
        # Anything else: xAI's own words, no guessed fix; the key is never echoed.
        (
            (400, {"error": "This model's maximum prompt length is 131072 but the request contains 140001 tokens."}),
            None,
            ["HTTP 400", "maximum prompt length is 131072"],
            ["XAI_MODEL", "XAI_API_KEY"],
        ),
        (
            (422, {"error": {"message": f"Failed to deserialize the request body sent with {fake_xai.API_KEY}"}}),
            None,
            ["HTTP 422", "Failed to deserialize", "***"],
            [fake_xai.API_KEY],
        ),
        ((401, {"error": "Unauthenticated"}), None, ["HTTP 401", "Check XAI_API_KEY"], []),
        ((403, {"error": "personal-team-blocked:spending-limit"}), None, ["HTTP 403", "credits"], ["XAI_MODEL"]),
        ((429, {"error": "Too many requests"}), None, ["HTTP 429", "wait a minute"], []),
        (503, None, ["HTTP 503", "xAI's side"], ["XAI_MODEL", "XAI_API_KEY"]),
    ],
)
def test_xai_errors_name_the_fix(
    stack: tuple[FakeX, FakeXai, str, str], step: Any, key: str | None, says: list[str], not_says: list[str]
) -> None:
    _, xai, xai_url, mcp_url = stack
    xai.script = [step]
    with pytest.raises(GrokError) as caught:
        transcript(mcp_url, xai_url, "hi", key=key or fake_xai.API_KEY)
    message = str(caught.value)
    for text in says:
        assert text in message, message
    for text in not_says:
        assert text not in message, message
    if key is not None:
        assert key not in message and "XAI_MODEL" not in message


def test_step_limit(stack: tuple[FakeX, FakeXai, str, str]) -> None:
    fake, xai, xai_url, mcp_url = stack
    before = len(fake.requests)
    loop = tool_call("c", "getUsersByUsername", {"username": "jack"})
    xai.script = [loop, loop, loop]
    with pytest.raises(GrokError, match="for 2 steps without a final answer"):
        transcript(mcp_url, xai_url, "loop", max_steps=2)
    assert len(fake.requests) - before == 2


LONG_POST = "A long post, said in full before it is sent. " * 14  # 630 characters


@pytest.mark.parametrize("reply", ["y\n", None])
def test_write_confirmation_shows_the_whole_post(stack: tuple[FakeX, FakeXai, str, str], reply: str | None) -> None:
    fake, xai, xai_url, mcp_url = stack
    asked: list[str] = []

    async def person(question: str) -> str | None:
        asked.append(question)
        return reply  # None: Ctrl-D

    xai.script = [tool_call("c1", "createPosts", {"text": LONG_POST}), answer("Done.")]
    before = len(fake.requests)
    _, lines = transcript(mcp_url, xai_url, "post this", confirm=TerminalConfirm(person))

    (question,) = asked
    assert LONG_POST in question and question.endswith("Send it? [y/N] ")
    posts = [r for r in fake.requests[before:] if r.path == "/2/tweets"]
    if reply:
        assert [p.body for p in posts] == [{"text": LONG_POST}]
    else:
        assert posts == []
        # An error result is shown whole: what was declined and that nothing was sent.
        assert lines[1].startswith("<- error: createPosts: the person declined") and lines[1].endswith(
            "Nothing was sent to X."
        )


def test_cli_without_key_says_what_to_set() -> None:
    env = {"PATH": "/usr/bin:/bin", "HOME": "/tmp"}
    result = subprocess.run(grok_command("hello"), capture_output=True, text=True, env=env, cwd="/")
    assert result.returncode == 2 and "set XAI_API_KEY" in result.stderr


@pytest.mark.parametrize("profile", [None, "full"])
def test_cli_end_to_end_over_stdio(fake_x: tuple[FakeX, str], profile: str | None) -> None:
    fake, x_url = fake_x
    xai = FakeXai(script=[tool_call("c1", "getUsersMe", {}), answer("You are fake.")])
    with serve_asgi(xai.app()) as xai_url:
        result = subprocess.run(
            grok_command("who am I?", "--spec", str(SPEC_159), *(["--profile", profile] if profile else [])),
            capture_output=True,
            text=True,
            env=grok_env(x_url, xai_url),
            cwd=REPO / "tests",
            timeout=120,
        )
    assert result.returncode == 0, result.stderr
    # The result's blocks as the client prints them: X's answer, then the cost line (an empty answer bills nothing).
    assert result.stdout.splitlines() == [
        "-> getUsersMe({})",
        '<- ok: {"data":{}} cost $0.000 · today $0.000 (no daily budget)',
        "You are fake.",
    ]
    assert fake.requests[-1].path == "/2/users/me"
    # By default the server it starts is lean: the same 127 tools in well under half the bytes.
    served = listing(chat_tools(), profile or "lean").tools  # type: ignore[arg-type]
    sent = xai.requests[0]["tools"]
    assert sent == as_functions(served) and len(sent) == len(chat_tools())
    if profile is None:
        assert size(sent) < 0.5 * size(as_functions(listing(chat_tools(), "full").tools))
        assert "comma-separated" in xai.requests[0]["messages"][0]["content"]  # the lean profile's note


def test_more_tools_than_xai_accepts_switches_to_hybrid(fake_x: tuple[FakeX, str], tmp_path: Path) -> None:
    """The whole 2.159 catalog: 145 tools."""
    _, x_url = fake_x
    spec, count = SPEC_159, TOOLS_159
    assert count > MAX_TOOLS
    xai = FakeXai(script=[answer("Fine.")])
    with serve_asgi(xai.app()) as xai_url:
        result = subprocess.run(
            grok_command("hello", "--spec", str(spec), "--profile", "full"),
            capture_output=True,
            text=True,
            env=grok_env(x_url, xai_url, X_API_TOOL_DENYLIST=""),
            cwd=tmp_path,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr
        assert result.stdout == "Fine.\n"
        (switch,) = [line for line in result.stderr.splitlines() if "hybrid" in line]
        assert switch == (
            f"xapi-mcp: {count} tools are more than the {MAX_TOOLS} the xAI API accepts; using the hybrid profile "
            "instead (the most used tools; search_x_api, describe_x_api and call_x_api reach the rest)."
        )
        (request,) = xai.requests
        names = [f["function"]["name"] for f in request["tools"]]
        assert names[:3] == ["search_x_api", "describe_x_api", "call_x_api"] and len(names) == 40
        assert {"searchPostsRecent", "createPosts", "getUsersByUsername"} <= set(names)

        # A server we did not start cannot be switched: say so before anything is sent to xAI. (Its profile is
        # chosen: with none, over 128 tools it would serve the hybrid profile, 40 tools.)
        full = server_env(x_url, X_API_TOOL_PROFILE="full")
        with run_xapi_mcp(full, spec=spec) as mcp_url, pytest.raises(TooManyTools) as caught:
            transcript(mcp_url, xai_url, "hello")
        assert "X_API_TOOL_PROFILE=hybrid" in str(caught.value)
        assert len(xai.requests) == 1


def test_unreachable_server_url_says_how_to_start_one() -> None:
    url = f"http://127.0.0.1:{free_port()}/mcp"
    env = {"PATH": os.environ["PATH"], "HOME": "/tmp", "XAI_API_KEY": fake_xai.API_KEY, "MCP_SERVER_URL": url}
    result = subprocess.run(grok_command("hi"), capture_output=True, text=True, env=env, cwd="/", timeout=60)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith(f"xapi-mcp: Cannot reach the MCP server at {url} (ConnectError). ")
    assert "`xapi-mcp`" in result.stderr and "unset it" in result.stderr


def test_stdio_server_that_fails_to_start_is_explained(fake_x: tuple[FakeX, str], tmp_path: Path) -> None:
    _, x_url = fake_x
    env = grok_env(x_url, "http://127.0.0.1:9")
    result = subprocess.run(
        grok_command("hi", "--spec", str(tmp_path / "missing.json")),
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert result.stderr.splitlines() == [
        f"xapi-mcp: The spec file {tmp_path / 'missing.json'} does not exist. Fix: pass an existing OpenAPI JSON "
        "file (.json or .json.gz) with --spec PATH (or X_API_SPEC), X_API_SPEC=bundled for the copy shipped with "
        "xapi-mcp, or leave both unset to download https://api.x.com/2/openapi.json.",
        "xapi-mcp: The xapi-mcp server started over stdio stopped before it answered; its message is above.",
    ]


def test_child_stderr_keeps_the_lines_not_shown(capsys: pytest.CaptureFixture[str]) -> None:
    child = ChildStderr(show_all=False)
    child.file.write(
        "2026-01-01T00:00:00Z INFO xapi_mcp.spec: Using X API spec 2.159\n"
        "2026-01-01T00:00:01Z WARNING xapi_mcp: X_API_TOOL_ALLOWLIST names no tool called 'x'\n"
        "2026-01-01T00:00:02Z INFO xapi_mcp: Offering 3 tools\n"
        "2026-01-01T00:00:03Z DEBUG xapi_mcp: about to serve\n"
    )
    child.close()
    assert (
        capsys.readouterr().err
        == "2026-01-01T00:00:01Z WARNING xapi_mcp: X_API_TOOL_ALLOWLIST names no tool called 'x'\n"
    )
    assert child.explain("It stopped") == (
        "It stopped. Its last lines on stderr:\n"
        "  2026-01-01T00:00:02Z INFO xapi_mcp: Offering 3 tools\n"
        "  2026-01-01T00:00:03Z DEBUG xapi_mcp: about to serve"
    )
    silent = ChildStderr(show_all=False)
    silent.close()
    assert silent.explain("It stopped") == "It stopped, and wrote nothing on stderr."


def test_child_environment_has_only_what_the_server_needs() -> None:
    environ = {
        "PATH": "/usr/bin",
        "HOME": "/home/me",
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "VIRTUAL_ENV": "/venv",
        "PYTHONPATH": "/src",
        "TMPDIR": "/tmp/me",
        "https_proxy": "http://proxy:3128",
        "NO_PROXY": "localhost",
        "X_BEARER_TOKEN": "x-bearer",
        "X_API_TOOL_PROFILE": "full",
        "MCP_AUTH_TOKEN": "mcp-token",
        "XAI_API_KEY": "xai-secret",
        "XAI_MODEL": "grok-4",
        "AWS_SECRET_ACCESS_KEY": "aws-secret",
        "GITHUB_TOKEN": "gh-secret",
        "OPENAI_API_KEY": "openai-secret",
    }
    env = child_environment(environ, "lean")
    assert env == {
        **{k: environ[k] for k in ("PATH", "HOME", "LANG", "LC_ALL", "VIRTUAL_ENV", "PYTHONPATH", "TMPDIR")},
        **{k: environ[k] for k in ("https_proxy", "NO_PROXY", "X_BEARER_TOKEN", "MCP_AUTH_TOKEN")},
        "X_API_TOOL_PROFILE": "lean",
    }


@contextmanager
def running_grok(command: list[str], env: dict[str, str], cwd: Path, *, tty: bool) -> Iterator[dict[str, Any]]:
    """`xapi-mcp grok` as a subprocess; stdin a terminal (`tty`) or nothing. Yields its handles; the
    output it wrote so far is in ["out"]/["err"], read by threads as it comes."""
    import pty  # POSIX only, like the signals these tests send

    master, slave = pty.openpty() if tty else (None, None)
    # A shell without job control starts background commands with SIGINT ignored, and an ignored
    # signal stays ignored across exec: grok would never see these tests' Ctrl-C. It starts with the
    # default disposition, as from a terminal (a handler, unlike SIG_IGN, is reset by exec).
    ignored = signal.getsignal(signal.SIGINT) == signal.SIG_IGN
    if ignored:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        proc = subprocess.Popen(
            command,
            stdin=slave if slave is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            cwd=cwd,
        )
    finally:
        if ignored:
            signal.signal(signal.SIGINT, signal.SIG_IGN)
    if slave is not None:
        os.close(slave)
    handles: dict[str, Any] = {"proc": proc, "terminal": master, "out": b"", "err": b""}

    def pump(name: str, stream: Any) -> None:
        for chunk in iter(lambda: stream.read1(4096), b""):
            handles[name] += chunk

    threads = [
        threading.Thread(target=pump, args=(n, s), daemon=True) for n, s in (("out", proc.stdout), ("err", proc.stderr))
    ]
    for thread in threads:
        thread.start()
    try:
        yield handles
        proc.wait(timeout=60)
        for thread in threads:
            thread.join(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if master is not None:
            os.close(master)


def wait_for(condition: Any, what: str, handles: dict[str, Any]) -> None:
    deadline = time.monotonic() + 90
    while not condition():
        if handles["proc"].poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}: {handles['out']!r} {handles['err']!r}")
        time.sleep(0.05)


@pytest.mark.parametrize("key", ["ctrl-d", "ctrl-c"])
def test_ctrl_d_and_ctrl_c_at_the_confirmation_prompt(fake_x: tuple[FakeX, str], tmp_path: Path, key: str) -> None:
    fake, x_url = fake_x
    xai = FakeXai(script=[tool_call("c1", "createPosts", {"text": "hello"}), answer("Not posted.")])
    with serve_asgi(xai.app()) as xai_url:
        env = grok_env(x_url, xai_url, X_API_CONFIRM_WRITES="1")
        with running_grok(grok_command("post hello", "--spec", str(SPEC_159)), env, tmp_path, tty=True) as grok:
            wait_for(lambda: b"Send it? [y/N] " in grok["out"], "the question", grok)
            if key == "ctrl-d":
                os.write(grok["terminal"], b"\x04")  # at the start of a line: end of input
            else:
                grok["proc"].send_signal(signal.SIGINT)
    out, err = grok["out"].decode(), grok["err"].decode()
    assert "Traceback" not in err, err
    assert [r for r in fake.requests if r.path == "/2/tweets"] == []
    if key == "ctrl-d":
        assert grok["proc"].returncode == 0, err
        assert "(no answer: not sent)" in out and "<- error: createPosts: the person declined" in out
        assert out.endswith("Not posted.\n")
    else:
        assert grok["proc"].returncode == 130
        assert err.splitlines()[-1] == "xapi-mcp: interrupted; stopped." and "Not posted." not in out


def test_ctrl_c_during_the_run_exits_130_with_one_line(fake_x: tuple[FakeX, str], tmp_path: Path) -> None:
    _, x_url = fake_x
    xai = FakeXai(script=[HANG])
    with serve_asgi(xai.app()) as xai_url:
        try:
            command = grok_command("hi", "--spec", str(SPEC_159))
            with running_grok(command, grok_env(x_url, xai_url), tmp_path, tty=False) as grok:
                wait_for(lambda: bool(xai.requests), "the request to xAI", grok)
                grok["proc"].send_signal(signal.SIGINT)
        finally:
            xai.release.set()
    assert grok["proc"].returncode == 130
    assert grok["err"].decode() == "xapi-mcp: interrupted; stopped.\n" and grok["out"] == b""


def children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="reads the child's environment from /proc")
def test_stdio_child_environment_has_no_xai_key(fake_x: tuple[FakeX, str], tmp_path: Path) -> None:
    _, x_url = fake_x
    (tmp_path / ".env").write_text(f"XAI_API_KEY={fake_xai.API_KEY}\nX_API_TOOL_PROFILE=full\n")
    xai = FakeXai(script=[HANG])
    env = grok_env(x_url, xai_url="http://unused")
    with serve_asgi(xai.app()) as xai_url:
        env.update(XAI_BASE_URL=f"{xai_url}/v1", UNRELATED_SECRET="unrelated-secret-value", HTTPS_PROXY="http://p:1")
        del env["XAI_API_KEY"]  # from .env only: the child reads that file too
        try:
            command = grok_command("hi", "--spec", str(SPEC_159))
            with running_grok(command, env, tmp_path, tty=False) as grok:
                wait_for(lambda: bool(xai.requests), "the request to xAI", grok)
                (child,) = children(grok["proc"].pid)
                raw = Path(f"/proc/{child}/environ").read_bytes()
                xai.release.set()
        finally:
            xai.release.set()
    assert grok["proc"].returncode == 0, grok["err"]
    child_env = dict(item.split("=", 1) for item in raw.decode().split("\0") if "=" in item)
    assert fake_xai.API_KEY not in raw.decode() and not [k for k in child_env if k.startswith("XAI_")]
    assert "UNRELATED_SECRET" not in child_env and child_env["HTTPS_PROXY"] == "http://p:1"
    assert child_env["X_BEARER_TOKEN"] == env["X_BEARER_TOKEN"] and child_env["PATH"] == env["PATH"]
    # --profile (default lean) wins over the profile in .env.
    assert child_env["X_API_TOOL_PROFILE"] == "lean" and len(xai.requests[0]["tools"]) == len(chat_tools())


def test_grok_imports_nothing_of_the_server() -> None:
    code = "import sys, xapi_mcp.clients.grok; print(sorted(m for m in sys.modules if m.startswith('xapi_mcp')))"
    shown = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert re.findall(r"'([\w.]+)'", shown) == [
        "xapi_mcp",
        "xapi_mcp.clients",
        "xapi_mcp.clients.grok",
        "xapi_mcp.clients.terminal",
        "xapi_mcp.config",
        "xapi_mcp.errors",
        "xapi_mcp.logs",
    ]
