"""Command line: `xapi-mcp [serve]` (default), `xapi-mcp tools [--json]`.

Startup failures (no spec, bad settings, unreadable allowlist) exit with code 2 and one message
that says what to fix; never a traceback.
"""

from __future__ import annotations

import argparse
import errno
import json
import logging
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from xapi_mcp import __version__, logs

# Only what argument parsing needs is imported here: `--help` and `--version` must not pay for
# pydantic, the MCP SDK, starlette/uvicorn, jsonschema or authlib. Each command imports its own.
if TYPE_CHECKING:
    from xapi_mcp.auth.consent import Consent
    from xapi_mcp.auth.credentials import CredentialKind, TokenStore
    from xapi_mcp.config import Settings
    from xapi_mcp.spec import LoadedSpec
    from xapi_mcp.tools.catalog import Catalog, ToolDef
    from xapi_mcp.tools.profiles import Profile

log = logging.getLogger("xapi_mcp")

# profiles.PROFILES, without importing the catalog for --help.
PROFILE_NAMES: tuple[Profile, ...] = ("full", "lean", "discovery")


@dataclass
class Startup:
    settings: Settings
    spec: LoadedSpec
    catalog: Catalog
    tools: dict[str, ToolDef]


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
    except XapiMcpError as exc:
        print(f"xapi-mcp: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    if args.command == "tools":
        _print_tools(startup.tools, as_json=args.json, profile=startup.settings.tool_profile, spec=startup.spec)
    elif args.command == "auth":
        raise SystemExit(_auth_in_terminal(startup, oauth2=args.oauth2))
    else:
        _serve(startup)


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
    grok = sub.add_parser("grok", help="ask Grok to do something with the X API tools")
    _common_options(grok, sup)
    grok.add_argument("prompt", help="what to do, in plain words")
    grok.add_argument("--max-steps", type=int, default=8, help="tool rounds before giving up (default 8)")
    grok.add_argument(
        "--profile",
        choices=PROFILE_NAMES,
        help="tools of the server it starts (default lean; with MCP_SERVER_URL: full forwards them as served)",
    )
    auth = sub.add_parser("auth", help="run the browser consent flow and report the account")
    _common_options(auth, sup)
    auth.add_argument("--oauth2", action="store_true", help="the OAuth 2.0 (PKCE) flow instead of OAuth 1.0a")
    args = parser.parse_args(argv)
    args.command = args.command or "serve"
    return args


def _setup_logging(verbose: bool) -> None:
    logs.setup(verbose)


def _start(args: argparse.Namespace) -> Startup:
    from xapi_mcp.calls.media import upload_tool
    from xapi_mcp.config import Settings
    from xapi_mcp.spec import load_spec
    from xapi_mcp.tools.allowlist import Allowlist, AllowlistError
    from xapi_mcp.tools.catalog import build_catalog

    settings = Settings.load(dotenv_path=args.env_file).with_overrides(
        spec=args.spec,
        transport=getattr(args, "transport", None),
        mcp_host=getattr(args, "host", None),
        mcp_port=getattr(args, "port", None),
        tool_profile=getattr(args, "profile", None),
    )
    if settings.debug:
        logging.getLogger().setLevel(logging.DEBUG)
    spec = load_spec(settings.spec, settings.spec_cache_dir, timeout=settings.api_timeout)
    catalog = build_catalog(spec.document)
    upload = upload_tool(catalog.tools)
    if upload is not None:
        catalog.tools[upload.name] = upload
    allowlist = Allowlist.from_sources(
        allow=settings.tool_allowlist,
        deny=settings.tool_denylist,
        tags=settings.tool_tags,
        file=settings.tool_allowlist_file,
    )
    tools, warnings = allowlist.apply(catalog.tools)
    for warning in warnings:
        log.warning(warning)
    if catalog.tools and not tools:
        raise AllowlistError(
            "The allowlist removes every tool, so the server would offer nothing. Fix "
            "X_API_TOOL_ALLOWLIST / X_API_TOOL_ALLOWLIST_FILE / X_API_TOOL_TAGS (see the warnings "
            "above and `xapi-mcp tools`), or unset them to offer every tool."
        )
    operations = sum(1 for tool in catalog.tools.values() if tool.runner is None)
    log.info(
        "Offering %d tools: %d of %d operations (%d streaming/webhook excluded) plus %d workflow tools, "
        "after the allowlist removed %d",
        len(tools),
        sum(1 for tool in tools.values() if tool.runner is None),
        operations + len(catalog.excluded),
        len(catalog.excluded),
        sum(1 for tool in tools.values() if tool.runner is not None),
        len(catalog.tools) - len(tools),
    )
    return Startup(settings, spec, catalog, tools)


def token_store(settings: Settings) -> TokenStore:
    from xapi_mcp.auth.credentials import TokenStore

    def reveal(secret: Any) -> str | None:
        return secret.get_secret_value() if secret is not None else None

    oauth2_secret = reveal(settings.oauth2_client_secret)
    logs.watch_secrets(lambda: [oauth2_secret] if oauth2_secret else [])
    store = TokenStore(
        consumer_key=reveal(settings.consumer_key),
        consumer_secret=reveal(settings.consumer_secret),
        access_token=reveal(settings.access_token),
        access_token_secret=reveal(settings.access_token_secret),
        bearer_token=reveal(settings.bearer_token),
        oauth2_access_token=reveal(settings.oauth2_access_token),
    )
    logs.watch_secrets(store.secrets)
    return store


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


def build_consent(startup: Startup, store: TokenStore, *, listener_always: bool = False) -> Consent:
    """The consent flows this configuration allows, and where their callbacks are served."""
    from starlette.applications import Starlette

    from xapi_mcp.auth.consent import Consent
    from xapi_mcp.auth.oauth1 import OAuth1Flow
    from xapi_mcp.auth.oauth2 import OAuth2PkceFlow
    from xapi_mcp.server.http import CallbackListener

    settings = startup.settings
    base = settings.callback_base()
    oauth1 = None
    if settings.consumer_key and settings.consumer_secret:
        oauth1 = OAuth1Flow(
            store,
            oauth_base_url=settings.oauth_base,
            callback_url=base + settings.oauth_callback_path,
            timeout=settings.oauth_callback_timeout,
        )
    oauth2 = None
    if settings.oauth2_client_id:
        oauth2 = OAuth2PkceFlow(
            store,
            client_id=settings.oauth2_client_id,
            client_secret=settings.oauth2_client_secret.get_secret_value() if settings.oauth2_client_secret else None,
            authorize_url=settings.oauth2_authorize_url,
            token_url=settings.oauth2_token_endpoint,
            callback_url=base + settings.oauth2_callback_path,
            scopes=oauth2_scopes(startup.tools, oauth1_available=oauth1 is not None),
            timeout=settings.oauth_callback_timeout,
        )
    listener = None
    if listener_always or not settings.callback_on_mcp_app():
        host, port = base.removeprefix("http://").rsplit(":", 1)
        listener = CallbackListener(host, int(port))
    consent = Consent(store, oauth1=oauth1, oauth2=oauth2, open_browser=settings.oauth_open_browser, listener=listener)
    logs.watch_secrets(consent.secrets)
    if listener is not None:
        listener.app = Starlette(routes=_oauth_routes(consent, settings, control=False))
    return consent


def oauth2_scopes(tools: dict[str, ToolDef], *, oauth1_available: bool) -> list[str]:
    """Scopes of the allowed operations that would use an OAuth 2.0 user token (least privilege)."""
    from xapi_mcp.auth.credentials import CredentialKind

    scopes: set[str] = set()
    for tool in tools.values():
        accepted = tool.auth.accepted
        if CredentialKind.OAUTH2_USER in accepted and not (oauth1_available and CredentialKind.OAUTH1_USER in accepted):
            scopes.update(tool.auth.scopes)
    return sorted(scopes)


def _oauth_routes(consent: Consent, settings: Settings, *, control: bool) -> list[Any]:
    from xapi_mcp.server.http import oauth_routes

    return oauth_routes(
        consent,
        host=settings.mcp_host,
        oauth1_path=settings.oauth_callback_path,
        oauth2_path=settings.oauth2_callback_path,
        control=control,
    )


async def _run_consent(startup: Startup, store: TokenStore, kind: CredentialKind) -> bool:
    """Startup mode and `xapi-mcp auth`: one flow, its own listener, wait for the person."""
    consent = build_consent(startup, store, listener_always=True)
    try:
        url = await consent.begin(kind)
        print(f"Open this URL in a browser to authorise xapi-mcp:\n\n  {url}\n", file=sys.stderr, flush=True)
        return await consent.wait(kind)
    finally:
        await consent.aclose()


def _auth_in_terminal(startup: Startup, *, oauth2: bool) -> int:
    import asyncio

    from xapi_mcp.auth.credentials import CredentialKind
    from xapi_mcp.errors import ConsentError

    settings = startup.settings
    store = token_store(settings)
    kind = CredentialKind.OAUTH2_USER if oauth2 else CredentialKind.OAUTH1_USER
    try:
        done = asyncio.run(_run_consent(startup, store, kind))
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
    import asyncio

    from xapi_mcp.auth.credentials import CredentialKind
    from xapi_mcp.calls.executor import Executor
    from xapi_mcp.errors import ConsentError
    from xapi_mcp.server.http import bind_sockets, build_app, is_loopback, run_http
    from xapi_mcp.server.mcp_server import build_server

    settings = startup.settings
    auth_token = settings.mcp_auth_token.get_secret_value() if settings.mcp_auth_token else None
    if auth_token:
        logs.watch_secrets(lambda: [auth_token])
    if settings.transport == "http" and not is_loopback(settings.mcp_host) and not auth_token:
        print(
            f"xapi-mcp: refusing to listen on {settings.mcp_host}: beyond this machine, anyone who reaches the "
            "port could act as your X account. Set MCP_AUTH_TOKEN to a long random secret (clients then send "
            "'Authorization: Bearer <token>'), or keep MCP_HOST=127.0.0.1.",
            file=sys.stderr,
        )
        raise SystemExit(2)
    store = token_store(settings)
    _log_credentials(settings)
    if settings.oauth_flow == "startup" and settings.consumer_key and not store.has_oauth1_user():
        try:
            done = asyncio.run(_run_consent(startup, store, CredentialKind.OAUTH1_USER))
        except ConsentError as exc:
            print(f"xapi-mcp: {exc}", file=sys.stderr)
            raise SystemExit(2) from None
        if not done:
            print("xapi-mcp: X_OAUTH_FLOW=startup and the authorisation did not complete.", file=sys.stderr)
            raise SystemExit(2)
    sockets = []
    if settings.transport == "http":  # bound before anything is announced (after startup consent: same port)
        try:
            sockets = bind_sockets(settings.mcp_host, settings.mcp_port)
        except OSError as exc:
            print(f"xapi-mcp: {_bind_problem(settings, exc)}", file=sys.stderr)
            raise SystemExit(2) from None
    consent = build_consent(startup, store)
    if settings.transport == "http":  # consent links go through /oauth/start, which wants our one-time code
        host = settings.mcp_host if settings.mcp_host not in ("0.0.0.0", "::", "") else "127.0.0.1"
        consent.start_url = f"http://{f'[{host}]' if ':' in host else host}:{settings.mcp_port}/oauth/start"
    executor = Executor(
        settings.api_base_url,
        store,
        timeout=settings.api_timeout,
        max_result_bytes=settings.max_result_bytes,
        consent=consent,
        rate_limit_wait=settings.rate_limit_wait,
        media_dir=settings.media_dir,
        tools=startup.catalog.tools,
        dry_run=settings.dry_run,
    )
    server = build_server(
        startup.tools,
        executor,
        spec_version=startup.spec.version,
        profile=settings.tool_profile,
        confirm_writes=settings.confirm_writes,
    )

    async def shutdown() -> None:
        await consent.aclose()
        await executor.aclose()
        store.clear()

    if settings.transport == "stdio":
        log.info("Serving %s over stdio", _serving(startup))
        asyncio.run(_serve_stdio(server, shutdown, settings.shutdown_grace))
        return

    def health() -> dict[str, Any]:
        spec, count = startup.spec, len(startup.tools)
        return {"spec_version": spec.version, "spec_source": spec.kind, "tools": count, "version": __version__}

    routes = _oauth_routes(consent, settings, control=True)
    if not settings.callback_on_mcp_app():
        routes = [r for r in routes if r.path in ("/oauth/start", "/oauth/status")]
    app = build_app(
        server,
        host=settings.mcp_host,
        health=health,
        on_shutdown=shutdown,
        extra_routes=routes,
        auth_token=auth_token,
        session_idle_timeout=settings.session_idle_timeout,
        max_sessions=settings.max_sessions,
    )
    host = f"[{settings.mcp_host}]" if ":" in settings.mcp_host else settings.mcp_host
    url = f"http://{host}:{settings.mcp_port}/mcp"
    announce = lambda: log.info("Serving %s at %s", _serving(startup), url)  # noqa: E731
    run_http(app, sockets, announce, in_flight=app.state.in_flight, grace=settings.shutdown_grace)


def _serving(startup: Startup) -> str:
    """What the startup log says is served: in discovery, 3 tools that reach the allowed ones."""
    profile, count = startup.settings.tool_profile, len(startup.tools)
    if profile == "discovery":
        what = f"3 discovery tools (search_x_api, describe_x_api, call_x_api) over {count} allowed tools"
    else:
        what = f"{count} tools ({profile} profile)"
    return f"{what}, X API spec {startup.spec.version},"


def _bind_problem(settings: Settings, exc: OSError) -> str:
    """One line: why host:port cannot be listened on, and the fix."""
    where = f"{settings.mcp_host}:{settings.mcp_port}"
    if exc.errno == errno.EADDRINUSE:
        consent = settings.callback_on_mcp_app() and (settings.consumer_key or settings.oauth2_client_id)
        moved = " (the OAuth callback URL moves with it)" if consent else ""
        return (
            f"cannot listen on {where}: the port is already in use (another xapi-mcp, or another program). "
            f"Stop that program, or choose a free port: --port N or MCP_PORT=N{moved}."
        )
    if exc.errno == errno.EACCES:
        return f"cannot listen on {where}: permission denied. Choose a port above 1023: --port N or MCP_PORT=N."
    return (
        f"cannot listen on {where} ({exc.strerror or exc}). MCP_HOST / --host must be an address of this "
        "machine (default 127.0.0.1); MCP_PORT / --port a free port."
    )


def _log_credentials(settings: Settings) -> None:
    """Which credential kinds are configured (never their values); a warning when calls cannot work."""
    kinds = []
    app_keys = bool(settings.consumer_key and settings.consumer_secret)
    user_token = bool(settings.access_token and settings.access_token_secret)
    if app_keys:
        when = "before serving" if settings.oauth_flow == "startup" else "on the first call that needs a user"
        kinds.append("OAuth 1.0a app keys + " + ("user token" if user_token else f"browser consent {when}"))
    elif settings.consumer_key or settings.consumer_secret or settings.access_token or settings.access_token_secret:
        log.warning(
            "OAuth 1.0a is incomplete, so it is not used: it needs X_OAUTH_CONSUMER_KEY and X_OAUTH_CONSUMER_SECRET "
            "(plus, optionally, both X_OAUTH_ACCESS_TOKEN and X_OAUTH_ACCESS_TOKEN_SECRET)."
        )
    if settings.bearer_token:
        kinds.append("app bearer token")
    if settings.oauth2_access_token:
        kinds.append("OAuth 2.0 user token")
    if settings.oauth2_client_id:
        kinds.append("OAuth 2.0 client (browser consent on first use)")
    if kinds:
        log.info("Credentials: %s", "; ".join(kinds))
    else:
        log.warning(
            "No X credentials are configured, so every tool call will fail. Set X_OAUTH_CONSUMER_KEY and "
            "X_OAUTH_CONSUMER_SECRET (act as a user; consent runs in the browser) and/or X_BEARER_TOKEN (app-only "
            "reads) in the environment or .env; see env.example."
        )


async def _serve_stdio(server: Any, shutdown: Any, grace: float) -> None:
    from mcp.server.stdio import stdio_server

    from xapi_mcp.server.shutdown import answer_before_eof

    async def run(read_stream: Any, write_stream: Any) -> None:
        await server.run(read_stream, write_stream, server.create_initialization_options())

    try:
        async with stdio_server() as (read_stream, write_stream):
            await answer_before_eof(run, read_stream, write_stream, grace)
    finally:
        await shutdown()
