"""Command line: `xapi-mcp [serve]` (default), `xapi-mcp tools [--json]`.

Startup failures (no spec, bad settings, unreadable allowlist) exit with code 2 and one message
that says what to fix; never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette

from xapi_mcp import __version__, logs
from xapi_mcp.allowlist import Allowlist, AllowlistError
from xapi_mcp.auth.consent import Consent
from xapi_mcp.auth.credentials import CredentialKind, TokenStore
from xapi_mcp.auth.oauth1 import OAuth1Flow
from xapi_mcp.auth.oauth2 import OAuth2PkceFlow
from xapi_mcp.auth.pending import ConsentError
from xapi_mcp.catalog import Catalog, ToolDef, build_catalog
from xapi_mcp.config import ConfigError, Settings
from xapi_mcp.executor import Executor
from xapi_mcp.mcp_app import build_server, listing
from xapi_mcp.media import upload_tool
from xapi_mcp.profiles import PROFILES, Profile
from xapi_mcp.shutdown import GracefulServer, answer_before_eof
from xapi_mcp.spec import LoadedSpec, SpecError, load_spec
from xapi_mcp.web import KEEP_ALIVE_SECONDS, CallbackListener, build_app, is_loopback, oauth_routes

log = logging.getLogger("xapi_mcp")

COMMANDS = ("serve", "tools", "auth", "grok")


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
        raise SystemExit(_grok(args))
    try:
        startup = _start(args)
    except (ConfigError, SpecError, AllowlistError) as exc:
        print(f"xapi-mcp: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    if args.command == "tools":
        _print_tools(startup.tools, as_json=args.json, profile=startup.settings.tool_profile)
    elif args.command == "auth":
        raise SystemExit(_auth_in_terminal(startup, oauth2=args.oauth2))
    else:
        _serve(startup)


def _parse(argv: list[str]) -> argparse.Namespace:
    if not argv or argv[0] not in (*COMMANDS, "-h", "--help", "--version"):
        argv = ["serve", *argv]
    parser = argparse.ArgumentParser(prog="xapi-mcp", description="The X API v2 as MCP tools.")
    parser.add_argument("--version", action="version", version=f"xapi-mcp {__version__}")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--spec", help="OpenAPI document: a path or URL (default: X_API_SPEC or X's live spec)")
    common.add_argument("--env-file", default=".env", help="dotenv file to read (default: ./.env)")
    common.add_argument("-v", "--verbose", action="store_true", help="debug logging (tokens are never logged)")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", parents=[common], help="run the MCP server (default)")
    serve.add_argument("--transport", choices=["http", "stdio"], help="default: MCP_TRANSPORT or http")
    serve.add_argument("--host", help="HTTP bind address (default: MCP_HOST or 127.0.0.1)")
    serve.add_argument("--port", type=int, help="HTTP port (default: MCP_PORT or 8000)")
    tools = sub.add_parser("tools", parents=[common], help="list the tools the server would offer")
    tools.add_argument("--profile", choices=list(PROFILES), help="default: X_API_TOOL_PROFILE or full")
    tools.add_argument("--json", action="store_true", help="machine-readable output")
    grok = sub.add_parser("grok", parents=[common], help="ask Grok to do something with the X API tools")
    grok.add_argument("prompt", help="what to do, in plain words")
    grok.add_argument("--max-steps", type=int, default=8, help="tool rounds before giving up (default 8)")
    auth = sub.add_parser("auth", parents=[common], help="run the browser consent flow and report the account")
    auth.add_argument("--oauth2", action="store_true", help="the OAuth 2.0 (PKCE) flow instead of OAuth 1.0a")
    return parser.parse_args(argv)


def _grok(args: argparse.Namespace) -> int:
    """Connect to MCP_SERVER_URL (or start xapi-mcp over stdio) and run the Grok loop."""
    from mcp import Client
    from mcp.client.stdio import StdioServerParameters

    from xapi_mcp.grok import GrokConfig, GrokError, run

    try:
        settings = Settings.load(dotenv_path=args.env_file)
    except ConfigError as exc:
        print(f"xapi-mcp: {exc}", file=sys.stderr)
        return 2
    if settings.xai_api_key is None:
        print("xapi-mcp: set XAI_API_KEY (console.x.ai > API keys) in the environment or .env.", file=sys.stderr)
        return 2
    key = settings.xai_api_key.get_secret_value()
    logs.watch_secrets(lambda: [key])
    config = GrokConfig(key, settings.xai_model, settings.xai_base_url, args.max_steps)
    server: Any = settings.mcp_server_url
    if server is None:
        command = ["-m", "xapi_mcp", "serve", "--transport", "stdio", "--env-file", args.env_file]
        command += ["--spec", args.spec] if args.spec else []
        # The SDK starts stdio servers with a minimal environment; ours needs the user's settings.
        server = StdioServerParameters(command=sys.executable, args=command, env=dict(os.environ))

    async def go() -> str | GrokError:
        async with Client(server, elicitation_callback=_ask_in_terminal if sys.stdin.isatty() else None) as client:
            try:
                return await run(args.prompt, client, config)
            except GrokError as exc:  # returned, so the client's task group does not wrap it
                return exc

    answer = asyncio.run(go())
    if isinstance(answer, GrokError):
        print(f"xapi-mcp: {answer}", file=sys.stderr)
        return 1
    print(answer)
    return 0


async def _ask_in_terminal(context: Any, params: Any) -> Any:
    """Write confirmations for the Grok client: the person answers at the terminal."""
    import mcp_types as types

    reply = await asyncio.to_thread(input, f"{params.message}\nSend it? [y/N] ")
    if reply.strip().lower() in ("y", "yes"):
        return types.ElicitResult(action="accept", content={"confirm": True})
    return types.ElicitResult(action="decline")


def _setup_logging(verbose: bool) -> None:
    logs.setup(verbose)


def _start(args: argparse.Namespace) -> Startup:
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
    shown = listing(tools, profile)
    each = shown if profile != "discovery" else listing(tools, "full")
    per_tool = {tool.name: len(tool.model_dump_json(by_alias=True, exclude_none=True)) for tool in each.tools}
    return len(shown.model_dump_json(by_alias=True, exclude_none=True)), per_tool


def _print_tools(tools: dict[str, ToolDef], *, as_json: bool, profile: Profile = "full") -> None:
    total, per_tool = listing_size(tools, profile)
    sizes = {p: listing_size(tools, p)[0] for p in PROFILES}
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
    if as_json:
        print(json.dumps({"tools": rows, "count": len(rows), "tools_list_bytes": total, "profiles": sizes}, indent=2))
        return
    width = max((len(r["name"]) for r in rows), default=4)
    for row in rows:
        auth = "+".join(row["auth"])
        print(f"{row['name']:<{width}}  {row['method']:<6} {row['bytes']:>6} B  {auth:<32} {row['path']}")
    print(f"\n{len(rows)} tools; tools/list response: {total:,} bytes ({profile} profile)")
    print("by profile: " + ", ".join(f"{p} {size:,} B" for p, size in sizes.items()))


def build_consent(startup: Startup, store: TokenStore, *, listener_always: bool = False) -> Consent:
    """The consent flows this configuration allows, and where their callbacks are served."""
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
    if listener is not None:
        listener.app = Starlette(routes=_oauth_routes(consent, settings, control=False))
    return consent


def oauth2_scopes(tools: dict[str, ToolDef], *, oauth1_available: bool) -> list[str]:
    """Scopes of the allowed operations that would use an OAuth 2.0 user token (least privilege)."""
    scopes: set[str] = set()
    for tool in tools.values():
        accepted = tool.auth.accepted
        if CredentialKind.OAUTH2_USER in accepted and not (oauth1_available and CredentialKind.OAUTH1_USER in accepted):
            scopes.update(tool.auth.scopes)
    return sorted(scopes)


def _oauth_routes(consent: Consent, settings: Settings, *, control: bool) -> list[Any]:
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
    else:
        print("The tokens lived in this process's memory only and are gone now; `xapi-mcp` runs the same flow.")
    return 0


def _serve(startup: Startup) -> None:
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
    if settings.oauth_flow == "startup" and settings.consumer_key and not store.has_oauth1_user():
        try:
            done = asyncio.run(_run_consent(startup, store, CredentialKind.OAUTH1_USER))
        except ConsentError as exc:
            print(f"xapi-mcp: {exc}", file=sys.stderr)
            raise SystemExit(2) from None
        if not done:
            print("xapi-mcp: X_OAUTH_FLOW=startup and the authorisation did not complete.", file=sys.stderr)
            raise SystemExit(2)
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
        asyncio.run(_serve_stdio(server, shutdown, settings.shutdown_grace))
        return

    import uvicorn

    def health() -> dict[str, Any]:
        return {"spec_version": startup.spec.version, "tools": len(startup.tools), "version": __version__}

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
    log.info(
        "Serving %d tools (X API spec %s) at http://%s:%d/mcp",
        len(startup.tools),
        startup.spec.version,
        settings.mcp_host,
        settings.mcp_port,
    )
    config = uvicorn.Config(
        app,
        host=settings.mcp_host,
        port=settings.mcp_port,
        log_level="warning",
        lifespan="on",
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
    )
    GracefulServer(config, in_flight=app.state.in_flight, grace=settings.shutdown_grace).run()


async def _serve_stdio(server: Any, shutdown: Any, grace: float) -> None:
    from mcp.server.stdio import stdio_server

    async def run(read_stream: Any, write_stream: Any) -> None:
        await server.run(read_stream, write_stream, server.create_initialization_options())

    try:
        async with stdio_server() as (read_stream, write_stream):
            await answer_before_eof(run, read_stream, write_stream, grace)
    finally:
        await shutdown()
