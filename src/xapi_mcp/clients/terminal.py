"""The Grok client's side of this machine: write confirmations asked at the terminal, and the
stdio server it starts as a child process (its environment and its stderr)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import sys
import threading
from collections import deque
from collections.abc import Awaitable, Callable, Iterator, Mapping
from typing import Any, TextIO

import mcp_types as types
from mcp.client.stdio import StdioServerParameters

# --- Write confirmations at the terminal -------------------------------------------------------


class TerminalConfirm:
    """Asks the person at the terminal before a write (the server's MCP elicitation).

    The question is the server's, plus the call in full when the server's text shortens it: the
    person approves exactly what will be sent. Ctrl-D answers no.
    """

    def __init__(self, read_line: Callable[[str], Awaitable[str | None]] | None = None) -> None:
        self.read_line = read_line or read_terminal_line
        self.call: tuple[str, dict[str, Any]] | None = None

    def expect(self, name: str, arguments: dict[str, Any]) -> None:
        self.call = (name, arguments)

    def question(self, message: str) -> str:
        lines = [message]
        if self.call is not None:
            name, arguments = self.call
            if any(value not in message for value in _strings(arguments)):
                lines.append(f"In full: {name} {json.dumps(arguments, ensure_ascii=False, indent=2)}")
        return "\n".join([*lines, "Send it? [y/N] "])

    async def __call__(self, context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        reply = await self.read_line(self.question(params.message))
        if reply is None:
            sys.stdout.write("(no answer: not sent)\n")
        if reply is not None and reply.strip().lower() in ("y", "yes"):
            return types.ElicitResult(action="accept", content={"confirm": True})
        return types.ElicitResult(action="decline")


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


async def read_terminal_line(prompt: str) -> str | None:
    """A line typed at the terminal, or None at its end (Ctrl-D).

    Waits on the event loop rather than in a thread, so Ctrl-C cancels the wait at once and leaves
    no thread blocked on the terminal (which would keep the process from exiting).
    """
    sys.stdout.write(prompt)
    sys.stdout.flush()
    loop = asyncio.get_running_loop()
    if sys.platform == "win32":  # the Proactor loop cannot watch the console: a daemon thread reads it
        done: asyncio.Future[str] = loop.create_future()

        def read() -> None:
            line = sys.stdin.readline()
            with contextlib.suppress(RuntimeError):  # the loop is gone after Ctrl-C
                loop.call_soon_threadsafe(_settle, done, line)

        threading.Thread(target=read, daemon=True).start()
        return (await done) or None
    fd = sys.stdin.fileno()
    ready: asyncio.Future[None] = loop.create_future()
    loop.add_reader(fd, _settle, ready, None)
    try:
        await ready
    finally:
        loop.remove_reader(fd)
    data = os.read(fd, 65536)
    return data.decode(sys.stdin.encoding or "utf-8", "replace") if data else None


def _settle(future: asyncio.Future[Any], value: Any) -> None:
    if not future.done():
        future.set_result(value)


# --- The command: `xapi-mcp grok` -----------------------------------------------------------------

# What the stdio server is given of our environment: its own settings, what Python and the network
# need. Never XAI_API_KEY or anything else the server has no use for.
_CHILD_PREFIXES = ("X_", "MCP_", "LC_")
_CHILD_NAMES = frozenset(
    {
        *("PATH", "HOME", "TMPDIR", "TEMP", "TMP", "LANG", "LANGUAGE", "TZ", "XDG_CACHE_HOME"),
        *("PYTHONPATH", "PYTHONHOME", "PYTHONUTF8", "PYTHONIOENCODING", "PYTHONUNBUFFERED", "VIRTUAL_ENV"),
        *("SYSTEMROOT", "SSL_CERT_FILE", "SSL_CERT_DIR"),
        *("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY"),  # and their lower-case spellings
    }
)
# The server's routine log lines; with -v they are shown too, warnings and plain messages always.
_ROUTINE_LOG = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ (DEBUG|INFO) ")
_TAIL_LINES = 12


def child_environment(environ: Mapping[str, str], profile: str) -> dict[str, str]:
    """The stdio server's environment: our X_*, MCP_*, locale, proxy and Python variables, and its profile.

    Its settings file (--env-file) is read by the server into its settings only, never into its
    environment, so an XAI_API_KEY there is not handed on either.
    """
    env = {k: v for k, v in environ.items() if k.upper() in _CHILD_NAMES or k.startswith(_CHILD_PREFIXES)}
    env["X_API_TOOL_PROFILE"] = profile
    return env


def child_parameters(args: argparse.Namespace, profile: str, environ: Mapping[str, str]) -> StdioServerParameters:
    command = ["-m", "xapi_mcp", "serve", "--transport", "stdio", "--env-file", args.env_file]
    command += ["--spec", args.spec] if args.spec else []
    command += ["-v"] if args.verbose else []
    return StdioServerParameters(command=sys.executable, args=command, env=child_environment(environ, profile))


class ChildStderr:
    """The stdio server's stderr, through a pipe: its warnings and messages (everything with -v) are
    shown as they come; the rest is kept, so a server that stops can be explained by its last lines."""

    def __init__(self, show_all: bool) -> None:
        read_fd, write_fd = os.pipe()
        self.file: TextIO = os.fdopen(write_fd, "w")  # handed to the SDK as the child's stderr
        self._lines: deque[tuple[str, bool]] = deque(maxlen=_TAIL_LINES)
        reader = os.fdopen(read_fd, encoding="utf-8", errors="replace")
        self._thread = threading.Thread(target=self._pump, args=(reader, show_all), daemon=True)
        self._thread.start()

    def _pump(self, reader: TextIO, show_all: bool) -> None:
        with reader:
            for raw in reader:
                line = raw.rstrip("\n")
                shown = show_all or not _ROUTINE_LOG.match(line)
                if shown:
                    print(line, file=sys.stderr, flush=True)
                self._lines.append((line, shown))

    def close(self) -> None:
        """Our end closed: once the server has exited too, the reader has every line."""
        self.file.close()
        self._thread.join(timeout=5)

    def explain(self, what: str) -> str:
        """`what` happened, and the server's last lines on stderr not shown yet (or where they are)."""
        lines = list(self._lines)
        last_shown = max((i for i, (_, shown) in enumerate(lines) if shown), default=-1)
        unseen = [line for line, _ in lines[last_shown + 1 :]]
        if unseen:
            return f"{what}. Its last lines on stderr:\n  " + "\n  ".join(unseen)
        return f"{what}; its message is above." if last_shown >= 0 else f"{what}, and wrote nothing on stderr."
