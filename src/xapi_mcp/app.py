"""The composition root: settings -> spec -> catalog -> tools -> stores, auth -> executor -> MCP server.

`load(settings)` builds what every command needs (the spec and the allowed tools); `build(settings)`
wires the rest once; `serve_http(app)` / `serve_stdio(app)` run it (like uvicorn's main/run split).
Nothing else in the package decides which implementation of a store, a consent flow or a transport
is used: a Redis token store or a cost-checking executor is plugged in here.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import sys
from dataclasses import dataclass
from typing import Any

from xapi_mcp import __version__, logs
from xapi_mcp.auth.consent import Consent
from xapi_mcp.auth.credentials import Signers
from xapi_mcp.calls.cost_settings import build_spending
from xapi_mcp.calls.executor import Executor
from xapi_mcp.config import Settings
from xapi_mcp.errors import AllowlistError, ConfigError, ConsentError, XapiMcpError
from xapi_mcp.spec import LoadedSpec, load_spec
from xapi_mcp.stores import CredentialKind, MemoryTokenStore, TokenStore
from xapi_mcp.tools.allowlist import Allowlist
from xapi_mcp.tools.catalog import build_catalog
from xapi_mcp.tools.profiles import Profile, served_profile
from xapi_mcp.tools.tooldef import Catalog, StreamCaps, ToolDef

log = logging.getLogger("xapi_mcp")


class StartupError(XapiMcpError):
    """The server cannot start serving (port, startup consent); the message says what to do."""


@dataclass
class Startup:
    """What every command needs: settings, the spec, its catalog and the tools the allowlist keeps."""

    settings: Settings
    spec: LoadedSpec
    catalog: Catalog
    tools: dict[str, ToolDef]
    profile: Profile  # X_API_TOOL_PROFILE, or the one chosen for it (profiles.choose_profile)
    direct: tuple[str, ...]  # the tools the hybrid profile lists (profiles.hybrid_direct)


@dataclass
class App:
    """Everything a transport serves, wired once."""

    startup: Startup
    store: TokenStore
    consent: Consent
    executor: Executor
    server: Any  # mcp.server.Server
    remote: Any = None  # server.mcp_auth.Remote in remote mode (X_MCP_AUTH=oauth)
    redis: Any = None  # redis_state.Shared when X_MCP_REDIS_URL is set

    async def aclose(self) -> None:
        await self.consent.aclose()
        await self.remote.aclose() if self.remote is not None else None
        await self.executor.aclose()
        if self.executor.spending is not None:
            self.executor.spending.ledger.close()
        await self.redis.aclose() if self.redis is not None else None
        self.store.clear()


def load(settings: Settings) -> Startup:
    """Spec -> catalog (with workflow tools) -> allowed tools; raises XapiMcpError subclasses."""
    if settings.debug:
        logging.getLogger().setLevel(logging.DEBUG)
    spec = load_spec(settings.spec, settings.spec_cache_dir, timeout=settings.api_timeout)
    caps = StreamCaps(max_items=settings.stream_max_items, max_seconds=settings.stream_max_seconds)
    catalog = build_catalog(spec.document, workflows=True, streams=caps)
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
    operations = sum(1 for tool in catalog.tools.values() if tool.workflow is None)
    log.info(
        "Offering %d tools: %d of %d operations (%d of them streams) plus %d workflow tools, "
        "after the allowlist removed %d",
        len(tools),
        sum(1 for tool in tools.values() if tool.workflow is None),
        operations + len(catalog.excluded),
        sum(1 for tool in tools.values() if tool.stream is not None),
        sum(1 for tool in tools.values() if tool.workflow is not None),
        len(catalog.tools) - len(tools),
    )
    profile, direct = served_profile(settings.tool_profile, tools, allowlist.chooses)  # logs a choice it made
    return Startup(settings, spec, catalog, tools, profile, direct)


def build(startup: Startup) -> App:
    """Stores, consent, executor and MCP server for `startup`, wired once."""
    from xapi_mcp.server.guards import is_loopback
    from xapi_mcp.server.mcp_server import build_server
    from xapi_mcp.server.remote import build_remote, remote_state

    settings = startup.settings
    auth_token = settings.mcp_auth_token.get_secret_value() if settings.mcp_auth_token else None
    if auth_token:
        logs.watch_secrets(lambda: [auth_token])
    remote_mode = settings.mcp_auth == "oauth"  # each request acts as its token's person (server/remote.py)
    if settings.transport == "http" and not is_loopback(settings.mcp_host) and not auth_token and not remote_mode:
        raise ConfigError(
            f"refusing to listen on {settings.mcp_host}: beyond this machine, anyone who reaches the "
            "port could act as your X account. Set MCP_AUTH_TOKEN to a long random secret (clients then send "
            "'Authorization: Bearer <token>'), or keep MCP_HOST=127.0.0.1."
        )
    app_store = token_store(settings)
    store: TokenStore = app_store
    redis = shared_state(settings)
    remote, prompt = None, None
    if remote_mode:  # the store becomes each request's person's (OAuth 2.0 sign-in asks these scopes)
        scopes = oauth2_scopes(startup.tools, oauth1_available=False)
        remote, store, prompt = build_remote(settings, app_store, remote_state(settings, redis), scopes=scopes)
    _log_credentials(settings)
    consent = build_consent(startup, store)
    if settings.transport == "http":  # consent links go through /oauth/start, which wants our one-time code
        host = settings.mcp_host if settings.mcp_host not in ("0.0.0.0", "::", "") else "127.0.0.1"
        consent.start_url = f"http://{f'[{host}]' if ':' in host else host}:{settings.mcp_port}/oauth/start"
    executor = Executor(
        settings.api_base_url,
        store,
        timeout=settings.api_timeout,
        max_result_bytes=settings.max_result_bytes,
        consent=prompt or consent,
        signers=Signers(store, refresh=remote.refresh_oauth2 if remote is not None else consent.refresh_oauth2),
        rate_limit_wait=settings.rate_limit_wait,
        media_dir=settings.media_dir,
        tools=startup.catalog.tools,
        dry_run=settings.dry_run,
        spending=build_spending(
            settings, startup.spec.document, store, redis=redis.client if redis else None, people=remote_mode
        ),
        limits=rate_limits(redis) if redis is not None or remote_mode else None,
        allowed=frozenset(startup.tools),  # collect_x_api pages only what the allowlist lets through
        collect_max_items=settings.collect_max_items,
    )
    server = build_server(
        startup.tools,
        executor,
        spec_version=startup.spec.version,
        profile=startup.profile,
        direct=startup.direct,
        confirm_writes=settings.confirm_writes,
    )
    return App(startup, store, consent, executor, server, remote, redis)


def shared_state(settings: Settings) -> Any:
    """The Redis of X_MCP_REDIS_URL (redis_state.Shared), or None: state stays in this process."""
    if settings.redis_url is None:
        return None
    from xapi_mcp.redis_state import Shared, unreachable, where

    url = settings.redis_url.get_secret_value()
    logs.watch_secrets(lambda: [url])  # a URL may carry Redis's password
    shared = Shared.connect(url, settings.redis_prefix)
    problem = unreachable(url)
    if problem:
        log.warning("%s. Calls fail with a retry hint until it answers; no restart is needed then.", problem)
    else:
        log.info("Shared state in Redis at %s (prefix %s)", where(shared.client), settings.redis_prefix)
    return shared


def rate_limits(shared: Any) -> Any:
    """X's rate limits per person (remote mode) and shared by replicas (Redis)."""
    from xapi_mcp.auth.people import PersonRateLimits
    from xapi_mcp.stores import MemoryRateLimits

    if shared is None:
        return PersonRateLimits(lambda person: MemoryRateLimits())
    from xapi_mcp.redis_state import RedisRateLimits

    def make(person: str) -> RedisRateLimits:
        return RedisRateLimits(shared.client, person, prefix=shared.prefix, broadcast=shared.broadcast)

    return PersonRateLimits(make)


def serve_stdio(app: App) -> None:
    from xapi_mcp.server.run import serve_stdio as run_stdio

    settings = app.startup.settings
    _startup_consent(app)
    log.info("Serving %s over stdio", _serving(app.startup))
    asyncio.run(run_stdio(app.server, app.aclose, settings.shutdown_grace))


def serve_http(app: App) -> None:
    from xapi_mcp.server.http import build_app
    from xapi_mcp.server.run import bind_sockets, run_http
    from xapi_mcp.server.webhooks import webhook_routes

    startup, settings = app.startup, app.startup.settings
    _startup_consent(app)
    try:  # bound before anything is announced (after startup consent: same port)
        sockets = bind_sockets(settings.mcp_host, settings.mcp_port)
    except OSError as exc:
        raise StartupError(_bind_problem(settings, exc)) from None

    def health() -> dict[str, Any]:
        spec, count = startup.spec, len(startup.tools)
        return {"spec_version": spec.version, "spec_source": spec.kind, "tools": count, "version": __version__}

    routes = oauth_routes(app.consent, settings, control=True)
    if not settings.callback_on_mcp_app():
        routes = [r for r in routes if r.path in ("/oauth/start", "/oauth/status")]
    if app.remote is not None:
        routes = app.remote.routes()
    if settings.consumer_secret:  # X signs its webhook CRC check with the app's consumer secret
        taken = {"/mcp", "/healthz", *(r.path for r in routes)}
        secret = settings.consumer_secret.get_secret_value()
        routes += webhook_routes(settings.webhook_path, secret, host=settings.mcp_host, taken=taken)
    auth_token = settings.mcp_auth_token.get_secret_value() if settings.mcp_auth_token else None
    http_app = build_app(
        app.server,
        host=settings.mcp_host,
        health=health,
        on_shutdown=app.aclose,
        extra_routes=routes,
        auth_token=auth_token,
        session_idle_timeout=settings.session_idle_timeout,
        max_sessions=settings.max_sessions,
        long_calls=frozenset(name for name, tool in startup.tools.items() if tool.stream is not None),
        guard=app.remote.guard if app.remote is not None else None,
    )
    host = f"[{settings.mcp_host}]" if ":" in settings.mcp_host else settings.mcp_host
    url = f"http://{host}:{settings.mcp_port}/mcp"
    announce = lambda: log.info("Serving %s at %s", _serving(startup), url)  # noqa: E731
    run_http(http_app, sockets, announce, in_flight=http_app.state.in_flight, grace=settings.shutdown_grace)


def _startup_consent(app: App) -> None:
    """X_OAUTH_FLOW=startup: the OAuth 1.0a consent before serving, when no user token is configured."""
    settings = app.startup.settings
    if settings.oauth_flow == "startup" and settings.consumer_key and not app.store.has_oauth1_user():
        try:
            done = asyncio.run(run_consent(app.startup, app.store, CredentialKind.OAUTH1_USER))
        except ConsentError as exc:
            raise StartupError(str(exc)) from None
        if not done:
            raise StartupError("X_OAUTH_FLOW=startup and the authorisation did not complete.")


def token_store(settings: Settings) -> MemoryTokenStore:
    def reveal(secret: Any) -> str | None:
        return secret.get_secret_value() if secret is not None else None

    oauth2_secret = reveal(settings.oauth2_client_secret)
    logs.watch_secrets(lambda: [oauth2_secret] if oauth2_secret else [])
    store = MemoryTokenStore(
        consumer_key=reveal(settings.consumer_key),
        consumer_secret=reveal(settings.consumer_secret),
        access_token=reveal(settings.access_token),
        access_token_secret=reveal(settings.access_token_secret),
        bearer_token=reveal(settings.bearer_token),
        oauth2_access_token=reveal(settings.oauth2_access_token),
    )
    logs.watch_secrets(store.secrets)
    return store


def build_consent(startup: Startup, store: TokenStore, *, listener_always: bool = False) -> Consent:
    """The consent flows this configuration allows, and where their callbacks are served."""
    from starlette.applications import Starlette

    from xapi_mcp.auth.oauth1 import OAuth1Flow
    from xapi_mcp.auth.oauth2 import OAuth2PkceFlow
    from xapi_mcp.server.run import CallbackListener

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
        listener.app = Starlette(routes=oauth_routes(consent, settings, control=False))
    return consent


def oauth2_scopes(tools: dict[str, ToolDef], *, oauth1_available: bool) -> list[str]:
    """Scopes of the allowed operations that would use an OAuth 2.0 user token (least privilege)."""
    scopes: set[str] = set()
    for tool in tools.values():
        accepted = tool.auth.accepted
        if CredentialKind.OAUTH2_USER in accepted and not (oauth1_available and CredentialKind.OAUTH1_USER in accepted):
            scopes.update(tool.auth.scopes)
    return sorted(scopes)


def oauth_routes(consent: Consent, settings: Settings, *, control: bool) -> list[Any]:
    from xapi_mcp.server.oauth_pages import oauth_routes as pages

    return pages(
        consent,
        host=settings.mcp_host,
        oauth1_path=settings.oauth_callback_path,
        oauth2_path=settings.oauth2_callback_path,
        control=control,
    )


async def run_consent(startup: Startup, store: TokenStore, kind: CredentialKind) -> bool:
    """Startup mode and `xapi-mcp auth`: one flow, its own listener, wait for the person."""
    consent = build_consent(startup, store, listener_always=True)
    try:
        url = await consent.begin(kind)
        print(f"Open this URL in a browser to authorise xapi-mcp:\n\n  {url}\n", file=sys.stderr, flush=True)
        return await consent.wait(kind)
    finally:
        await consent.aclose()


def _serving(startup: Startup) -> str:
    """What the startup log says is served: in discovery, 3 tools that reach the allowed ones."""
    profile, count, three = startup.profile, len(startup.tools), "search_x_api, describe_x_api, call_x_api"
    if profile == "discovery":
        what = f"3 discovery tools ({three}) over {count} allowed tools"
    elif profile == "hybrid":
        what = f"{len(startup.direct) + 3} tools (hybrid profile: {len(startup.direct)} direct, {three} over {count})"
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
