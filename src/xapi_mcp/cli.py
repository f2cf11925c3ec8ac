"""Command line: `xapi-mcp [serve]` (default), `xapi-mcp tools [--prices] [--json]`, `xapi-mcp usage [--json]`.

Startup failures (no spec, bad settings, unreadable allowlist) exit with code 2 and one message
that says what to fix; never a traceback.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from xapi_mcp import __version__, logs

# Only what argument parsing needs is imported here: `--help` and `--version` must not pay for pydantic,
# the MCP SDK, starlette/uvicorn, jsonschema or authlib. Each command imports its own; the wiring is app.py's.
if TYPE_CHECKING:
    from xapi_mcp.app import Startup
    from xapi_mcp.spec import LoadedSpec
    from xapi_mcp.tools.profiles import Profile
    from xapi_mcp.tools.tooldef import ToolDef

log = logging.getLogger("xapi_mcp")

# profiles.PROFILES, without importing the catalog for --help.
PROFILE_NAMES: tuple[Profile, ...] = ("full", "lean", "discovery")


def main(argv: Sequence[str] | None = None) -> None:
    args = _parse(sys.argv[1:] if argv is None else list(argv))
    _setup_logging(args.verbose)
    if args.command == "grok":
        from xapi_mcp.clients import grok  # a client of the server: nothing of it is needed to serve

        if not args.verbose:  # the client prints its own lines; its settings chatter only with -v
            logging.getLogger().setLevel(logging.WARNING)

        raise SystemExit(grok.main(args))
    from xapi_mcp.errors import XapiMcpError

    try:
        startup = _start(args)
        if args.command == "tools" and args.prices:
            _print_prices(startup, as_json=args.json)
        elif args.command == "tools":
            _print_tools(startup.tools, as_json=args.json, profile=startup.settings.tool_profile, spec=startup.spec)
        elif args.command == "auth":
            raise SystemExit(_auth_in_terminal(startup, oauth2=args.oauth2))
        elif args.command == "usage":
            _print_usage(startup, as_json=args.json)
        else:
            _serve(startup)
    except XapiMcpError as exc:
        print(f"xapi-mcp: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def _port(text: str) -> int:
    """A TCP port a person can register in a callback URL: 1-65535 (0 would pick one at random)."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number (1-65535)") from None
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is not a port number: use 1-65535, e.g. --port 8001")
    return port


def _common_options(parser: argparse.ArgumentParser, default: Any) -> None:
    """Options every command takes, before or after the command (`xapi-mcp --spec X tools`)."""
    parser.add_argument(
        "--spec",
        default=default,
        help="OpenAPI document: a path (.json, .json.gz), a URL, or 'bundled' (default: X_API_SPEC or X's live "
        "spec, else its cached copy, else the bundled snapshot)",
    )
    parser.add_argument(
        "--env-file", default=default, help="dotenv file to read; must exist when given (default: ./.env if present)"
    )
    parser.add_argument(
        "-v", "--verbose", action="store_true", default=default, help="debug logging (tokens are never logged)"
    )


def _serve_options(parser: argparse._ActionsContainer, default: Any) -> None:
    parser.add_argument(
        "--transport", choices=["http", "stdio"], default=default, help="default: MCP_TRANSPORT or http"
    )
    parser.add_argument("--host", default=default, help="HTTP bind address (default: MCP_HOST or 127.0.0.1)")
    parser.add_argument("--port", type=_port, default=default, help="HTTP port, 1-65535 (default: MCP_PORT or 8000)")


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="xapi-mcp",
        description="The X API v2 as MCP tools. Without a command it serves (xapi-mcp serve), so the "
        "options below work alone, e.g. `xapi-mcp --transport stdio`, or before any command.",
        epilog="Each command's own options: xapi-mcp COMMAND --help. Settings: env.example.",
    )
    parser.add_argument("--version", action="version", version=f"xapi-mcp {__version__}")
    # The top level holds the real defaults; the commands repeat the options with SUPPRESS, so that
    # a command's unset option does not overwrite one given before the command.
    _common_options(parser, None)
    _serve_options(parser.add_argument_group("serving (the default command)"), None)
    parser.set_defaults(env_file=".env", verbose=False)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sup = argparse.SUPPRESS
    serve = sub.add_parser("serve", help="run the MCP server (the default)")
    _common_options(serve, sup)
    _serve_options(serve, sup)
    tools = sub.add_parser("tools", help="list the tools the server would offer")
    _common_options(tools, sup)
    tools.add_argument("--profile", choices=PROFILE_NAMES, help="default: X_API_TOOL_PROFILE or full")
    tools.add_argument("--json", action="store_true", help="machine-readable output")
    tools.add_argument(
        "--prices", action="store_true", help="what each tool costs on X's pay-per-use plan, and what has no price"
    )
    grok = sub.add_parser("grok", help="ask Grok to do something with the X API tools")
    _common_options(grok, sup)
    grok.add_argument("prompt", help="what to do, in plain words")
    grok.add_argument("--max-steps", type=int, default=8, help="tool rounds before giving up (default 8)")
    grok.add_argument(
        "--profile",
        choices=PROFILE_NAMES,
        help="tools of the server it starts (default lean; with MCP_SERVER_URL: full forwards them as served)",
    )
    usage = sub.add_parser("usage", help="today's X API spend (this server's count) beside X's own count")
    _common_options(usage, sup)
    usage.add_argument("--json", action="store_true", help="machine-readable output")
    auth = sub.add_parser("auth", help="run the browser consent flow and report the account")
    _common_options(auth, sup)
    auth.add_argument("--oauth2", action="store_true", help="the OAuth 2.0 (PKCE) flow instead of OAuth 1.0a")
    args = parser.parse_args(argv)
    args.command = args.command or "serve"
    return args


def _setup_logging(verbose: bool) -> None:
    logs.setup(verbose)


def _start(args: argparse.Namespace) -> Startup:
    from xapi_mcp.app import load
    from xapi_mcp.config import Settings

    settings = Settings.load(dotenv_path=args.env_file).with_overrides(
        spec=args.spec,
        transport=getattr(args, "transport", None),
        mcp_host=getattr(args, "host", None),
        mcp_port=getattr(args, "port", None),
        tool_profile=getattr(args, "profile", None),
    )
    return load(settings)


def _print_usage(startup: Startup, *, as_json: bool) -> None:
    """What `usage_x_api` answers, from the same ledger the server writes (X_API_SPEND_DB)."""
    import asyncio

    from xapi_mcp.app import build
    from xapi_mcp.tools.workflows import USAGE

    async def report() -> tuple[str, str]:
        app = build(startup)
        try:
            outcome = await app.executor.call(startup.catalog.tools[USAGE], {})
        finally:
            await app.aclose()
        return outcome.text, outcome.note

    text, data = asyncio.run(report())
    print(data if as_json else text)


def listing_size(tools: dict[str, ToolDef], profile: Profile = "full") -> tuple[int, dict[str, int]]:
    """Bytes of the tools/list result as sent, and of each tool in it (as `full` shows it, for discovery)."""
    from xapi_mcp.server.mcp_server import listing

    shown = listing(tools, profile)
    each = shown if profile != "discovery" else listing(tools, "full")
    per_tool = {tool.name: len(tool.model_dump_json(by_alias=True, exclude_none=True)) for tool in each.tools}
    return len(shown.model_dump_json(by_alias=True, exclude_none=True)), per_tool


def _print_tools(
    tools: dict[str, ToolDef], *, as_json: bool, profile: Profile = "full", spec: LoadedSpec | None = None
) -> None:
    total, per_tool = listing_size(tools, profile)
    sizes = {p: listing_size(tools, p)[0] for p in PROFILE_NAMES}
    if profile == "discovery":
        _print_discovery(len(tools), total, sizes, as_json=as_json)
        return
    rows: list[dict[str, Any]] = [
        {
            "name": tool.name,
            "method": tool.plan.method,
            "path": tool.plan.path,
            "auth": [kind.name for kind in tool.auth.accepted],
            "bytes": per_tool[tool.name],
            "title": tool.title,
        }
        for tool in tools.values()
    ]
    source = {"version": spec.version, "source": spec.kind, "origin": spec.origin} if spec else None
    if as_json:
        listing = {"tools": rows, "count": len(rows), "tools_list_bytes": total, "profiles": sizes, "spec": source}
        print(json.dumps(listing, indent=2))
        return
    width = max((len(r["name"]) for r in rows), default=4)
    for row in rows:
        auth = "+".join(row["auth"])
        print(f"{row['name']:<{width}}  {row['method']:<6} {row['bytes']:>6} B  {auth:<32} {row['path']}")
    print(f"\n{len(rows)} tools; tools/list response: {total:,} bytes ({profile} profile)")
    print("by profile: " + ", ".join(f"{p} {size:,} B" for p, size in sizes.items()))
    if spec:
        print(f"X API spec {spec.version} ({spec.kind}): {spec.origin}")


def _print_discovery(reach: int, total: int, sizes: dict[Profile, int], *, as_json: bool) -> None:
    """What a discovery server lists: its 3 tools, and how many allowed tools they reach."""
    from xapi_mcp.server.mcp_server import listing

    rows: list[dict[str, Any]] = [
        {
            "name": tool.name,
            "bytes": len(tool.model_dump_json(by_alias=True, exclude_none=True)),
            "summary": re.split(r"(?<!e\.g)\.\s", tool.description or "")[0].rstrip("."),  # first sentence
        }
        for tool in listing({}, "discovery").tools
    ]
    if as_json:
        shown = {"tools": rows, "count": len(rows), "reaches": reach, "tools_list_bytes": total, "profiles": sizes}
        print(json.dumps(shown, indent=2))
        return
    width = max(len(r["name"]) for r in rows)
    for row in rows:
        print(f"{row['name']:<{width}}  {row['bytes']:>6} B  {row['summary']}")
    print(f"\n{len(rows)} tools; tools/list response: {total:,} bytes (discovery profile)")
    print(f"they reach the {reach} allowed tools, which `xapi-mcp tools --profile full` lists")
    print("by profile: " + ", ".join(f"{p} {size:,} B" for p, size in sizes.items()))


def _print_prices(startup: Startup, *, as_json: bool) -> None:
    """Each allowed tool's billing category, rate and worst case; then the table's origin and the unpriced."""
    from xapi_mcp.calls.price_list import price_list
    from xapi_mcp.calls.prices import load_prices

    prices = load_prices(startup.settings.prices_file or None)  # a bad file: PriceFileError, exit code 2
    shown = price_list(startup.tools, startup.spec.document, prices)
    spec = startup.spec
    if as_json:
        source = {"version": spec.version, "source": spec.kind, "origin": spec.origin}
        print(json.dumps({**shown.as_json(), "spec": source}, indent=2))
        return
    print("\n".join(shown.text_lines()))
    print(f"X API spec {spec.version} ({spec.kind}): {spec.origin}")


def _auth_in_terminal(startup: Startup, *, oauth2: bool) -> int:
    import asyncio

    from xapi_mcp.app import run_consent, token_store
    from xapi_mcp.errors import ConsentError
    from xapi_mcp.stores import CredentialKind

    settings = startup.settings
    store = token_store(settings)
    kind = CredentialKind.OAUTH2_USER if oauth2 else CredentialKind.OAUTH1_USER
    try:
        done = asyncio.run(run_consent(startup, store, kind))
    except ConsentError as exc:
        print(f"xapi-mcp: {exc}", file=sys.stderr)
        return 2
    if not done:
        print("xapi-mcp: the authorisation did not complete (declined or timed out).", file=sys.stderr)
        return 1
    who = f"@{store.screen_name}" if store.screen_name else "the account you chose"
    print(f"Authorised as {who}.")
    if settings.oauth_print_tokens:
        print(
            "WARNING: printing secrets because X_OAUTH_PRINT_TOKENS=1. Anyone who sees them can act as "
            f"{who}; keep them only in your .env.",
            file=sys.stderr,
        )
        if kind is CredentialKind.OAUTH1_USER:
            print(f"X_OAUTH_ACCESS_TOKEN={store.access_token}\nX_OAUTH_ACCESS_TOKEN_SECRET={store.access_token_secret}")
        else:
            print(f"X_OAUTH2_ACCESS_TOKEN={store.oauth2_access_token}")
        print("Put these lines into your .env: the server then acts as this account with no consent.", file=sys.stderr)
    else:
        names = "X_OAUTH2_ACCESS_TOKEN" if oauth2 else "X_OAUTH_ACCESS_TOKEN and X_OAUTH_ACCESS_TOKEN_SECRET"
        print(
            "The tokens lived in this process's memory only and are gone now; `xapi-mcp` runs the same flow "
            f"when a tool needs it. To keep them: run `X_OAUTH_PRINT_TOKENS=1 xapi-mcp auth{' --oauth2' * oauth2}` "
            f"and put the printed {names} into your .env."
        )
    if oauth2:
        print(
            "Note: an OAuth 2.0 access token expires 2 hours after it is issued. Only the refresh token, which X "
            "gives for the offline.access scope, renews it, and the server holds that only when it ran the consent "
            "itself: for lasting access set X_OAUTH2_CLIENT_ID (and X_OAUTH2_CLIENT_SECRET) instead of a token.",
            file=sys.stderr,
        )
    return 0


def _serve(startup: Startup) -> None:
    from xapi_mcp import app

    built = app.build(startup)
    if startup.settings.transport == "stdio":
        app.serve_stdio(built)
    else:
        app.serve_http(built)
