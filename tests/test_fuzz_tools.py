"""Property-based: generated arguments, valid and hostile, at every tool of the 2.159 catalog.

Through the MCP client, against Prism fed X's spec. Whatever arrives, the server must answer with
a result (never a protocol error: every tool here exists), must never send a request that breaks
the spec, and must stay responsive. XAPI_FUZZ_EXAMPLES sets the cases per tool (default 12, so
about 1,500 over the catalog).
"""

from __future__ import annotations

import os
import string
from collections.abc import Iterator
from typing import Any

import anyio
import httpx2 as httpx
import pytest
from anyio.from_thread import BlockingPortal, start_blocking_portal
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mcp import Client

from tests import fake_x as fx
from tests.argument_gen import arguments_for
from tests.conftest import catalog_for
from tests.prism import off_route, request_violations, shared_prism
from xapi_mcp.calls.executor import Executor
from xapi_mcp.server.mcp_server import build_server
from xapi_mcp.stores import MemoryTokenStore
from xapi_mcp.tools.tooldef import ToolDef

EXAMPLES = int(os.environ.get("XAPI_FUZZ_EXAMPLES", "12"))
pytestmark = [pytest.mark.conformance, pytest.mark.timeout(60 + 10 * EXAMPLES)]  # Prism start; up to 30 s a case
TOOLS = catalog_for("2.159").tools
NAMES = sorted(TOOLS)
STATS = {"cases": 0, "sent": 0, "refused": 0}

JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)
NASTY_TEXT = st.sampled_from(
    ["", ".", "..", "../../2/users/me", "%2F..%2F", "a/b?c=d#e", "12?x=1", "\u202e\u0000", "🎉" * 50, "x" * 5000]
) | st.text(alphabet=st.characters(codec="utf-8"), max_size=60)


@st.composite
def arguments(draw: st.DrawFn, tool: ToolDef) -> dict[str, Any]:
    """From spec-valid to hostile: valid sets, one value swapped for junk, unknown keys, pure junk."""
    mode = draw(st.sampled_from(["valid", "valid_full", "swap", "drop", "extra", "junk"]))
    if mode == "junk":
        keys = st.sampled_from([*tool.arg_names, *tool.aliases, "zzz", "__proto__", "id"]) | st.text(max_size=12)
        return draw(st.dictionaries(keys, JSON | NASTY_TEXT, max_size=6))
    args = arguments_for(tool, full=(mode == "valid_full"))
    if mode == "swap" and tool.arg_names:
        name = draw(st.sampled_from(tool.arg_names))
        args[name] = draw(JSON | NASTY_TEXT)
    elif mode == "drop" and args:
        args.pop(draw(st.sampled_from(sorted(args))))
    elif mode == "extra":
        args[draw(st.text(string.ascii_letters, min_size=1, max_size=10))] = draw(JSON)
    return args


@pytest.fixture(scope="module")
def mcp() -> Iterator[tuple[BlockingPortal, Client, list[httpx.Response]]]:
    seen: list[httpx.Response] = []

    async def record(response: httpx.Response) -> None:
        seen.append(response)

    with shared_prism("2.159") as base, start_blocking_portal() as portal:
        store = MemoryTokenStore(fx.CONSUMER_KEY, fx.CONSUMER_SECRET, fx.ACCESS_TOKEN, fx.ACCESS_TOKEN_SECRET)
        store.bearer_token, store.oauth2_access_token = fx.BEARER_TOKEN, fx.OAUTH2_USER_TOKEN
        http = portal.call(lambda: _client(record))
        executor = Executor(base, store, client=http, max_retries=0)
        with portal.wrap_async_context_manager(Client(build_server(TOOLS, executor, confirm_writes=False))) as client:
            yield portal, client, seen
        portal.call(executor.aclose)


async def _client(record: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(event_hooks={"response": [record]}, timeout=30)


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(data=st.data())
def test_any_arguments_to_every_tool(mcp, name: str, data: st.DataObject) -> None:
    portal, client, seen = mcp
    args = data.draw(arguments(TOOLS[name]), label="arguments")
    seen.clear()

    async def call() -> Any:
        with anyio.fail_after(30):  # responsive: every answer comes, and in time
            return await client.call_tool(name, args)

    result = portal.call(call)  # a protocol error raises here and fails the case
    STATS["cases"] += 1
    assert result.content and result.content[0].type == "text"
    for response in seen:
        assert off_route(TOOLS[name], response.request.url.raw_path) is None, off_route(
            TOOLS[name], response.request.url.raw_path
        )
        assert response.status_code != 422 and not request_violations(response), (
            f"{name} sent a request that breaks the spec: {request_violations(response)}"
        )
    STATS["sent" if seen else "refused"] += 1
    if not seen:
        assert result.is_error, "no request was sent, so the result must say why"


PATH_TOOLS = [name for name in NAMES if "{" in TOOLS[name].plan.path]


@pytest.mark.parametrize("name", PATH_TOOLS)
def test_path_values_stay_in_their_segment(mcp, name: str) -> None:
    """Every path argument given "/", "?", "#" or "..": refused, or sent inside its own segment."""
    portal, client, seen = mcp
    tool = TOOLS[name]
    for value in ("a/b?c=d#e", "../../2/tweets/1"):
        args = arguments_for(tool, full=False)
        args.update({p.arg: value for p in tool.plan.params if p.location == "path"})
        seen.clear()
        result = portal.call(client.call_tool, name, args)
        assert result.content and result.content[0].type == "text"
        for response in seen:
            problem = off_route(tool, response.request.url.raw_path)
            assert problem is None, problem
        if not seen:
            assert result.is_error and "nothing was sent" in result.content[0].text.lower(), result.content[0].text


def test_route_check_catches_a_path_value_that_leaves_its_segment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The check above is not vacuous: with an encoder that keeps "/", a value escapes its segment."""
    from urllib.parse import quote

    from xapi_mcp.calls import arguments as placing

    tool = TOOLS["getUsersBlocking"]  # /2/users/{id}/blocking: its id has no pattern in the spec
    sent = placing.prepare(tool, {"id": "a/b?c"}).path
    assert sent == "/2/users/a%2Fb%3Fc/blocking" and off_route(tool, sent.encode()) is None
    monkeypatch.setattr(placing, "quote", lambda text, safe="": quote(text, safe="/"))
    broken = placing.prepare(tool, {"id": "me/x"}).path
    assert broken == "/2/users/me/x/blocking"
    assert (
        off_route(tool, broken.encode()) == f"getUsersBlocking sent {broken!r}, which is not its route {tool.plan.path}"
    )
    two = TOOLS["removeListsMemberByUserId"]  # /2/lists/{id}/members/{user_id}
    assert off_route(two, b"/2/lists/1/members/2") is None and off_route(two, b"/2/lists/1/members/2/3") is not None
    assert off_route(two, b"/2/lists/../members/2") is not None


def test_still_responsive_after_fuzzing(mcp) -> None:
    portal, client, seen = mcp
    seen.clear()
    result = portal.call(client.call_tool, "getUsersByUsername", {"username": "XDevelopers"})
    assert not result.is_error and len(seen) == 1
    print(
        f"\nfuzz: {STATS['cases']} cases over {len(NAMES)} tools, {STATS['sent']} sent to Prism "
        f"(0 violations), {STATS['refused']} refused"
    )
