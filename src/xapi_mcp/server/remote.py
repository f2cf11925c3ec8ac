"""Remote mode's settings checked and its pieces built (X_MCP_AUTH=oauth), for app.py to wire.

A setting that cannot work stops the server at startup with what to set; nothing here runs per request.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from xapi_mcp import logs
from xapi_mcp.config import Settings, is_loopback
from xapi_mcp.errors import ConfigError
from xapi_mcp.stores import CredentialKind, MemoryTokenStore
from xapi_mcp.tools.tooldef import AuthRequirement

if TYPE_CHECKING:  # imported when remote mode is built: local mode never loads authlib's server side
    from xapi_mcp.auth.people import PersonStore
    from xapi_mcp.auth.remote_state import RemoteState
    from xapi_mcp.server.mcp_auth import Remote

log = logging.getLogger(__name__)


class SignInAgain:
    """The executor's consent prompt in remote mode: consent happens only when a person signs in."""

    def __init__(self, people: PersonStore | None = None) -> None:
        self.people = people

    async def prompt(self, requirement: AuthRequirement) -> str | None:
        oauth2 = self.people is not None and self.people.has(CredentialKind.OAUTH2_USER)
        if oauth2 and CredentialKind.OAUTH1_USER in requirement.accepted:
            return (
                "This X operation accepts only OAuth 1.0a user tokens, and you signed in with X's OAuth 2.0 (this "
                "server signs people in with OAuth 2.0 because it has an OAuth 2.0 client ID), so it cannot act as "
                "you here. Ask the operator for a server that signs in with OAuth 1.0a to use this tool."
            )
        if CredentialKind.OAUTH1_USER in requirement.accepted:
            return (
                "This tool acts as your X account, and this server holds no X authorisation for you now. "
                "Sign out and sign in again from your MCP client (reconnect this server)."
            )
        return None

    def relink(self, kind: CredentialKind) -> str | None:
        return None


def remote_state(settings: Settings, shared: Any) -> RemoteState:
    """Where sign-ins and people's X tokens are kept: Redis (sealed; any replica), else this process's memory."""
    from xapi_mcp.auth.remote_state import MemoryRemoteState

    if shared is None:
        return MemoryRemoteState()
    from xapi_mcp.auth.remote_state_redis import RedisRemoteState
    from xapi_mcp.auth.vault import ENV_TOKEN_KEYS, Vault

    if not settings.token_key:
        raise ConfigError(
            "X_MCP_REDIS_URL is set, so several replicas may serve the same people: set X_MCP_TOKEN_KEY to the same "
            "long random value on every replica (it signs access tokens; each process would otherwise make its own, "
            "and a token from one replica would be refused by the others)."
        )
    keys = settings.token_keys.get_secret_value() if settings.token_keys else ""
    vault = Vault.from_env({ENV_TOKEN_KEYS: keys})  # ConfigError naming the fix when missing or malformed
    logs.watch_secrets(lambda: [k.strip() for k in keys.split(",") if k.strip()])
    return RedisRemoteState(
        shared.client, vault, prefix=shared.prefix, person_ttl=settings.refresh_token_ttl, broadcast=shared.broadcast
    )


def build_remote(
    settings: Settings,
    app_keys: MemoryTokenStore,
    state: RemoteState | None = None,
    documents: object = None,
    scopes: Iterable[str] = (),
) -> tuple[Remote, PersonStore, SignInAgain]:
    """The protected resource, its authorization server, the per-person token store, the executor's prompt.

    People sign in with X's OAuth 2.0 (asking for `scopes`) when X_OAUTH2_CLIENT_ID is set, else OAuth 1.0a.
    """
    from xapi_mcp.auth.cimd import ClientMetadataDocuments
    from xapi_mcp.auth.mcp_as import Issuer
    from xapi_mcp.auth.people import PersonStore
    from xapi_mcp.auth.remote_state import MemoryRemoteState
    from xapi_mcp.auth.signin import Allowed, XSignIn
    from xapi_mcp.auth.signin_oauth2 import XSignInOAuth2
    from xapi_mcp.server.mcp_auth import Remote

    public = check(settings)
    # authlib's grants log each token they issue at DEBUG (X_API_DEBUG would write them to the log).
    logging.getLogger("authlib.oauth2").setLevel(max(logging.INFO, logging.getLogger("authlib.oauth2").level))
    if not settings.token_key:
        log.warning(
            "X_MCP_TOKEN_KEY is not set: access tokens are signed with a key made at startup, so they stop working "
            "on restart and on other replicas (people then sign in again). Set it to the same long random value on "
            "every replica."
        )
    key = settings.token_key.get_secret_value().encode() if settings.token_key else secrets.token_bytes(32)
    logs.watch_secrets(lambda: [key.decode("latin-1")])
    state = state or MemoryRemoteState()
    logs.watch_secrets(state.secrets)
    signin: XSignIn | XSignInOAuth2 = XSignIn(
        state,
        consumer_key=str(app_keys.consumer_key),
        consumer_secret=str(app_keys.consumer_secret),
        oauth_base_url=settings.oauth_base,
        callback_url=public + settings.oauth_callback_path,
        allowed=Allowed(settings.signin_allow),
        timeout=settings.oauth_callback_timeout,
    )
    callback_path = settings.oauth_callback_path
    if settings.oauth2_client_id:
        callback_path = settings.oauth2_callback_path
        signin = XSignInOAuth2(
            state,
            client_id=settings.oauth2_client_id,
            client_secret=settings.oauth2_client_secret.get_secret_value() if settings.oauth2_client_secret else None,
            authorize_url=settings.oauth2_authorize_url,
            token_url=settings.oauth2_token_endpoint,
            api_base_url=settings.api_base_url,
            callback_url=public + callback_path,
            scopes=scopes,
            allowed=Allowed(settings.signin_allow),
            timeout=settings.oauth_callback_timeout,
        )
    people = PersonStore(app_keys)
    metadata = documents if isinstance(documents, ClientMetadataDocuments) else None
    remote = Remote(
        Issuer(public, key, settings.access_token_ttl),
        state,
        signin,
        people,
        metadata or ClientMetadataDocuments(settings.client_metadata_hosts),
        refresh_ttl=settings.refresh_token_ttl,
        callback_path=callback_path,
    )
    log.info(
        "Remote mode: /mcp is an OAuth 2.1 protected resource at %s/mcp; people sign in with X's %s (allowed: %s)",
        public,
        "OAuth 2.0" if settings.oauth2_client_id else "OAuth 1.0a",
        settings.signin_allow,
    )
    return remote, people, SignInAgain(people)


def check(settings: Settings) -> str:
    """The public base URL, once every remote-mode setting it needs is usable."""
    if settings.transport != "http":
        raise ConfigError("X_MCP_AUTH=oauth needs the HTTP transport (MCP_TRANSPORT=http): stdio has one user.")
    public = (settings.public_url or "").rstrip("/")
    parts = urlsplit(public)
    if not public or parts.scheme not in ("http", "https") or not parts.hostname or parts.path or parts.query:
        raise ConfigError(
            "X_MCP_AUTH=oauth needs X_MCP_PUBLIC_URL: the https address people's MCP clients reach this server at, "
            "without a path (e.g. https://mcp.example.com; the MCP endpoint is then https://mcp.example.com/mcp)."
        )
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise ConfigError(
            f"X_MCP_PUBLIC_URL={public} is plain http: OAuth tokens would cross the network unencrypted. Put TLS in "
            "front (a load balancer or reverse proxy, docs/deploy.md) and give its https:// address."
        )
    if not (settings.consumer_key and settings.consumer_secret) and not settings.oauth2_client_id:
        raise ConfigError(
            "X_MCP_AUTH=oauth signs people in with X's consent: set X_OAUTH_CONSUMER_KEY and X_OAUTH_CONSUMER_SECRET "
            "(developer.x.com > your app > Keys and tokens), and register "
            f"{public}{settings.oauth_callback_path} as a callback URL of that app; or, for X's OAuth 2.0, set "
            f"X_OAUTH2_CLIENT_ID (and X_OAUTH2_CLIENT_SECRET) and register {public}{settings.oauth2_callback_path}."
        )
    if settings.access_token or settings.oauth2_access_token:
        raise ConfigError(
            "X_MCP_AUTH=oauth acts only as the people who sign in: unset X_OAUTH_ACCESS_TOKEN/_SECRET and "
            "X_OAUTH2_ACCESS_TOKEN (a configured user token would be one account shared by everyone)."
        )
    if not settings.signin_allow.strip():
        raise ConfigError(
            "X_MCP_AUTH=oauth needs X_MCP_SIGNIN_ALLOW: the X user IDs or @handles who may sign in "
            "(comma-separated), or * for anyone with an X account."
        )
    return public
