"""Independent judge: Prism, fed X's real spec, validates every request every tool sends.

Prism answers 422 with an `sl-violations` header for any request that breaks the spec (path,
query, body). It does not understand X's `scheme: OAuth`, so it gets a copy of the spec without
`security`, and this test checks the credential kind itself — against the raw spec, not against
xapi-mcp's own reading of it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import anyio
import httpx2 as httpx
import pytest
from mcp import Client

from tests.argument_gen import arguments_for
from tests.conftest import catalog_for, load_document
from tests.fake_x import (
    ACCESS_TOKEN,
    ACCESS_TOKEN_SECRET,
    BEARER_TOKEN,
    CONSUMER_KEY,
    CONSUMER_SECRET,
    OAUTH2_USER_TOKEN,
)
from tests.prism import off_route, request_violations, shared_prism
from tests.test_catalog import MANAGING_STREAMS_AND_WEBHOOKS
from xapi_mcp.calls.executor import Executor
from xapi_mcp.server.mcp_server import build_server
from xapi_mcp.stores import MemoryTokenStore

pytestmark = [pytest.mark.conformance, pytest.mark.timeout(600)]  # Prism start, 250 calls


def comma_joined_params(document: dict[str, Any], operation: dict[str, Any]) -> set[str]:
    """Query arrays the spec says are sent once, as a,b,c (style form, explode false)."""
    names = set()
    for param in operation.get("parameters", []):
        if "$ref" in param:
            param = document["components"]["parameters"][param["$ref"].rsplit("/", 1)[-1]]
        if param.get("in") == "query" and param.get("explode") is False:
            names.add(param["name"])
    return names


def expected_authorization(operation: dict[str, Any]) -> str:
    """From the raw spec: user context (OAuth 1.0a) if allowed, else OAuth 2.0 user, else bearer."""
    names = {name for alternative in operation.get("security", []) for name in alternative}
    if "UserToken" in names:
        return "OAuth "
    if "OAuth2UserToken" in names:
        return f"Bearer {OAUTH2_USER_TOKEN}"
    if "BearerToken" in names:
        return f"Bearer {BEARER_TOKEN}"
    return ""


@pytest.fixture(scope="module", params=["2.159", "2.157"])
def prism(request) -> Iterator[tuple[str, str]]:
    with shared_prism(request.param) as base:
        yield request.param, base


def test_every_tool_sends_spec_valid_requests_with_the_right_credentials(prism: tuple[str, str]) -> None:
    version, base = prism
    document = load_document(version)
    operations = {
        op["operationId"]: op for item in document["paths"].values() for op in item.values() if isinstance(op, dict)
    }
    tools = catalog_for(version).tools
    seen: list[tuple[httpx.Request, httpx.Response]] = []

    async def record(response: httpx.Response) -> None:
        seen.append((response.request, response))

    client = httpx.AsyncClient(event_hooks={"response": [record]}, timeout=30)
    store = MemoryTokenStore(
        CONSUMER_KEY, CONSUMER_SECRET, ACCESS_TOKEN, ACCESS_TOKEN_SECRET, BEARER_TOKEN, OAUTH2_USER_TOKEN
    )
    executor = Executor(base, store, client=client)
    server = build_server(tools, executor, confirm_writes=False)
    failures: list[str] = []
    calls = 0

    async def run() -> None:
        nonlocal calls
        async with Client(server) as mcp:
            for name, tool in tools.items():
                for full in (False, True):
                    arguments = arguments_for(tool, full)
                    seen.clear()
                    result = await mcp.call_tool(name, arguments)
                    calls += 1
                    label = f"{name} ({'all' if full else 'required'} arguments {json.dumps(arguments)[:300]})"
                    if len(seen) != 1:
                        failures.append(f"{label}: {len(seen)} requests; result: {result.content[0].text[:300]}")
                        continue
                    request, response = seen[0]
                    violations = request_violations(response)
                    if response.status_code == 422 or violations:
                        failures.append(f"{label}: HTTP {response.status_code}, request violations {violations}")
                    if problem := off_route(tool, request.url.raw_path):
                        failures.append(f"{label}: {problem}")
                    # Prism accepts ?a=1&a=2 for explode:false arrays; the spec says a=1,2.
                    keys = [k for k, _ in request.url.params.multi_items()]
                    operation = operations[tool.operation_id]
                    repeated = {k for k in comma_joined_params(document, operation) if keys.count(k) > 1}
                    if repeated:
                        failures.append(f"{label}: sent {sorted(repeated)} repeated instead of comma-joined")
                    auth = request.headers.get("authorization", "")
                    expected = expected_authorization(operation)
                    if not auth.startswith(expected) or (expected == "" and auth):
                        failures.append(f"{label}: sent {auth[:20]!r}, expected {expected[:20]!r}")
        await executor.aclose()

    anyio.run(run)
    assert calls == 2 * len(tools) and len(tools) >= 127
    assert set(MANAGING_STREAMS_AND_WEBHOOKS) <= set(tools)  # the 17 XMCP hides are judged too
    assert not failures, f"{len(failures)} of {calls} calls failed:\n" + "\n".join(failures)
    print(f"\nPrism {version}: {calls} calls over {len(tools)} tools, 0 violations, credentials right on all")
