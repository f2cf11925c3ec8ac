"""Settings from the environment and `.env`.

Every setting has an environment name (XMCP's names where XMCP had one, so existing `.env` files
keep working). Secrets are `SecretStr` so that a stray `repr()` or log line never shows them.
"""

from __future__ import annotations

import ipaddress
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from dotenv import dotenv_values
from pydantic import AliasChoices, BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from xapi_mcp.errors import ConfigError

DEFAULT_SPEC_URL = "https://api.x.com/2/openapi.json"
DEFAULT_DOTENV = ".env"

log = logging.getLogger("xapi_mcp")


def _default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "xapi-mcp"


class Settings(BaseModel):
    """All runtime settings. Field aliases are the environment variable names."""

    model_config = ConfigDict(populate_by_name=True, frozen=True, extra="ignore")

    # Where the X API and its spec live.
    spec: str = Field(DEFAULT_SPEC_URL, alias="X_API_SPEC")
    spec_cache_dir: Path = Field(default_factory=_default_cache_dir, alias="X_API_SPEC_CACHE_DIR")
    api_base_url: str = Field("https://api.x.com", alias="X_API_BASE_URL")
    api_timeout: float = Field(30.0, gt=0, alias="X_API_TIMEOUT")
    debug: bool = Field(False, alias="X_API_DEBUG")

    # The MCP endpoint.
    mcp_host: str = Field("127.0.0.1", alias="MCP_HOST")
    # Not 0 (any free port): the callback URL registered in the X app names the port.
    mcp_port: int = Field(8000, ge=1, le=65535, alias="MCP_PORT")
    # Required when MCP_HOST is not loopback: clients send `Authorization: Bearer <token>` on /mcp.
    mcp_auth_token: SecretStr | None = Field(None, alias="MCP_AUTH_TOKEN")
    # 2025-11-25 sessions: closed after this long without a request; at most this many open at once.
    session_idle_timeout: float = Field(1800.0, gt=0, alias="MCP_SESSION_IDLE_TIMEOUT")
    max_sessions: int = Field(1000, ge=1, alias="MCP_MAX_SESSIONS")
    # On SIGTERM (HTTP) or end of input (stdio): how long calls in flight may take to finish.
    shutdown_grace: float = Field(10.0, ge=0, le=3600, alias="MCP_SHUTDOWN_GRACE")
    # Where the HTTP app answers X's webhook CRC check (only with X_OAUTH_CONSUMER_SECRET set).
    webhook_path: str = Field("/webhooks/x", alias="X_WEBHOOK_PATH")

    # Credentials. Only ever held in memory.
    consumer_key: SecretStr | None = Field(None, alias="X_OAUTH_CONSUMER_KEY")
    consumer_secret: SecretStr | None = Field(None, alias="X_OAUTH_CONSUMER_SECRET")
    access_token: SecretStr | None = Field(None, alias="X_OAUTH_ACCESS_TOKEN")
    access_token_secret: SecretStr | None = Field(None, alias="X_OAUTH_ACCESS_TOKEN_SECRET")
    bearer_token: SecretStr | None = Field(None, alias="X_BEARER_TOKEN")
    oauth2_access_token: SecretStr | None = Field(None, alias="X_OAUTH2_ACCESS_TOKEN")

    # Browser consent flows. Callback names kept from XMCP. With no X_OAUTH_CALLBACK_PORT, or the
    # same port as MCP_PORT, the HTTP server serves the callback itself; otherwise (and on stdio) a
    # listener runs while needed.
    oauth_flow: Literal["lazy", "startup"] = Field("lazy", alias="X_OAUTH_FLOW")
    oauth_base_url: str | None = Field(None, alias="X_OAUTH_BASE_URL")
    oauth_callback_host: str = Field("127.0.0.1", alias="X_OAUTH_CALLBACK_HOST")
    oauth_callback_port: int | None = Field(None, ge=1, le=65535, alias="X_OAUTH_CALLBACK_PORT")
    oauth_callback_path: str = Field("/oauth/callback", alias="X_OAUTH_CALLBACK_PATH")
    oauth2_callback_path: str = Field("/oauth2/callback", alias="X_OAUTH2_CALLBACK_PATH")
    oauth_callback_timeout: float = Field(300.0, gt=0, alias="X_OAUTH_CALLBACK_TIMEOUT")
    oauth_open_browser: bool = Field(True, alias="X_OAUTH_OPEN_BROWSER")
    oauth_print_tokens: bool = Field(False, alias="X_OAUTH_PRINT_TOKENS")
    oauth2_client_id: str | None = Field(None, validation_alias=AliasChoices("X_OAUTH2_CLIENT_ID", "CLIENT_ID"))
    oauth2_client_secret: SecretStr | None = Field(
        None, validation_alias=AliasChoices("X_OAUTH2_CLIENT_SECRET", "CLIENT_SECRET")
    )
    oauth2_authorize_url: str = Field("https://x.com/i/oauth2/authorize", alias="X_OAUTH2_AUTHORIZE_URL")
    oauth2_token_url: str | None = Field(None, alias="X_OAUTH2_TOKEN_URL")

    # Which tools exist.
    tool_allowlist: str = Field("", alias="X_API_TOOL_ALLOWLIST")
    tool_allowlist_file: Path | None = Field(None, alias="X_API_TOOL_ALLOWLIST_FILE")
    tool_denylist: str = Field("", alias="X_API_TOOL_DENYLIST")
    tool_tags: str = Field("", alias="X_API_TOOL_TAGS")

    # Results and reliability.
    max_result_bytes: int = Field(100_000, ge=1_000, alias="X_API_MAX_RESULT_BYTES")
    rate_limit_wait: float = Field(0.0, ge=0, le=900, alias="X_API_RATE_LIMIT_WAIT")
    media_dir: Path | None = Field(None, alias="X_MEDIA_DIR")
    collect_max_items: int = Field(1000, ge=1, le=100_000, alias="X_API_COLLECT_MAX_ITEMS")  # collect_x_api's cap
    # What one call of a stream tool may collect at most (and collects when the call does not say).
    stream_max_items: int = Field(100, ge=1, le=1000, alias="X_API_STREAM_MAX_ITEMS")
    stream_max_seconds: float = Field(30.0, ge=1, le=300, alias="X_API_STREAM_MAX_SECONDS")
    # The local Grok test client (`xapi-mcp grok`).
    xai_api_key: SecretStr | None = Field(None, alias="XAI_API_KEY")
    xai_model: str = Field("grok-4-1-fast", alias="XAI_MODEL")
    xai_base_url: str = Field("https://api.x.ai/v1", alias="XAI_BASE_URL")
    mcp_server_url: str | None = Field(None, alias="MCP_SERVER_URL")
    # Ask the person (MCP elicitation) before any tool that writes to X.
    confirm_writes: bool = Field(True, alias="X_API_CONFIRM_WRITES")
    # Answer every call with the exact request it would send (credentials redacted); send nothing.
    dry_run: bool = Field(False, alias="X_API_DRY_RUN")

    # What calls cost (calls/spending.py); parsed where they are used, so each has one parser.
    budget_usd: str = Field("", alias="X_API_BUDGET_USD")  # USD per UTC day (default 5.00), or off
    confirm_cost_usd: str = Field("", alias="X_API_CONFIRM_COST_USD")  # ask above this (default 0.25), or off
    spend_db: str = Field("", alias="X_API_SPEND_DB")  # the ledger's SQLite file, or memory
    prices_file: str = Field("", alias="X_API_PRICES")  # a TOML/JSON file of rates over the shipped ones
    plan: str = Field("", alias="X_API_PLAN")  # pay-per-use (default) or enterprise
    # After X refuses a call for credits or enrolment: how long calls that cost money stay refused here.
    billing_pause: float = Field(900.0, ge=0, le=86_400, alias="X_API_BILLING_PAUSE")

    # Remote mode (docs/deploy.md): /mcp as an OAuth 2.1 protected resource; each person signs in with X.
    mcp_auth: Literal["off", "oauth"] = Field("off", alias="X_MCP_AUTH")
    public_url: str | None = Field(None, alias="X_MCP_PUBLIC_URL")  # issuer; the resource is <it>/mcp
    access_token_ttl: int = Field(600, ge=60, le=86_400, alias="X_MCP_ACCESS_TOKEN_TTL")
    refresh_token_ttl: int = Field(30 * 86_400, ge=300, alias="X_MCP_REFRESH_TOKEN_TTL")
    client_metadata_hosts: str = Field("", alias="X_MCP_CLIENT_METADATA_HOSTS")  # comma list, or *
    signin_allow: str = Field("", alias="X_MCP_SIGNIN_ALLOW")  # X user IDs / @handles, or *
    token_key: SecretStr | None = Field(None, alias="X_MCP_TOKEN_KEY")  # signs access tokens; same on every replica
    # Shared state for several replicas (docs/deploy.md): remote mode's sign-ins and tokens, spend, rate limits.
    redis_url: SecretStr | None = Field(None, alias="X_MCP_REDIS_URL")  # may carry a password
    redis_prefix: str = Field("xapi-mcp", min_length=1, alias="X_MCP_REDIS_PREFIX")
    token_keys: SecretStr | None = Field(None, alias="X_MCP_TOKEN_KEYS")  # seal X tokens kept in Redis (AES-GCM)
    deployment_budget_usd: str = Field("", alias="X_API_DEPLOYMENT_BUDGET_USD")  # everyone's spend per UTC day
    transport: Literal["http", "stdio"] = Field("http", alias="MCP_TRANSPORT")
    # Unset: full, or hybrid when more than 128 tools are allowed (tools/profiles.py choose_profile).
    tool_profile: Literal["full", "lean", "discovery", "hybrid"] | None = Field(None, alias="X_API_TOOL_PROFILE")

    @field_validator(
        "consumer_key",
        "consumer_secret",
        "access_token",
        "access_token_secret",
        "bearer_token",
        "oauth2_access_token",
        "mcp_auth_token",
        "xai_api_key",
        "mcp_server_url",
        "oauth2_client_id",
        "oauth2_client_secret",
        "oauth_base_url",
        "oauth_callback_port",
        "oauth2_token_url",
        "tool_allowlist_file",
        "media_dir",
        "public_url",
        "token_key",
        "redis_url",
        "token_keys",
        mode="before",
    )
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        """`X_BEARER_TOKEN=` in a copied env.example means "not set", not "empty token"."""
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("spec_cache_dir", "tool_allowlist_file", "media_dir", "spec")
    @classmethod
    def _expand_home(cls, value: object) -> object:
        """`~/.cache/xapi-mcp` as env.example writes it: the home folder, not a folder named `~`."""
        if isinstance(value, Path):
            return value.expanduser()
        if isinstance(value, str) and value.startswith("~"):
            return str(Path(value).expanduser())
        return value

    @field_validator("api_base_url")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    @classmethod
    def load(cls, env: Mapping[str, str] | None = None, dotenv_path: str | Path | None = DEFAULT_DOTENV) -> Settings:
        """Read settings: process environment first, then `.env` for what the environment lacks.

        A blank value (`X_OAUTH2_CLIENT_ID=` in a copied env.example) counts as unset, so it neither
        replaces a default nor hides the other name of the same setting (`CLIENT_ID`). The default
        `./.env` is optional; any other dotenv path must exist (a typo must not go unnoticed).
        """
        values: dict[str, str] = {}
        if dotenv_path is not None:
            path = Path(dotenv_path).expanduser()
            if path.is_file():
                values.update({k: v for k, v in dotenv_values(path).items() if v is not None})
                log.info("Read settings from %s (environment variables win over it)", path.resolve())
            elif Path(dotenv_path) != Path(DEFAULT_DOTENV):
                raise ConfigError(
                    f"The settings file {dotenv_path} (--env-file) does not exist (looked for {path.absolute()}). "
                    f"Give the path of an existing file (absolute when a client starts the server), or leave "
                    f"--env-file out to read {DEFAULT_DOTENV} from the working directory when there is one."
                )
            else:
                log.info(
                    "No %s in %s: settings from the environment only (--env-file PATH reads one)",
                    path,
                    Path.cwd(),
                )
        values = {k: v for k, v in values.items() if v.strip()}
        values.update({k: v for k, v in (os.environ if env is None else env).items() if v.strip()})
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            raise ConfigError(_explain(exc)) from None

    def with_overrides(self, **changes: object) -> Settings:
        """A copy with command-line overrides applied (None means "not given"), validated like the rest."""
        given = {k: v for k, v in changes.items() if v is not None}
        if not given:
            return self
        try:
            return type(self).model_validate({**self.model_dump(), **given})
        except ValidationError as exc:
            raise ConfigError(_explain(exc)) from None

    @property
    def oauth_base(self) -> str:
        return (self.oauth_base_url or self.api_base_url).rstrip("/")

    @property
    def oauth2_token_endpoint(self) -> str:
        return self.oauth2_token_url or f"{self.api_base_url}/2/oauth2/token"

    def callback_on_mcp_app(self) -> bool:
        """True when the HTTP MCP app itself serves the OAuth callbacks (no second listener).

        Also when X_OAUTH_CALLBACK_PORT is MCP_PORT on an address the MCP server listens on (one
        forwarded port, a container, one registered callback): a second listener there cannot bind.
        """
        if self.transport != "http":
            return False
        if self.oauth_callback_port is None:
            return True
        host, callback_host = self.mcp_host.strip("[]"), self.oauth_callback_host.strip("[]")
        same_address = (
            host in ("0.0.0.0", "::", "") or host == callback_host or (is_loopback(host) and is_loopback(callback_host))
        )
        return self.oauth_callback_port == self.mcp_port and same_address

    def callback_base(self) -> str:
        """Where X redirects the browser after consent (must be registered in the X app)."""
        if self.callback_on_mcp_app() and self.oauth_callback_port is None:
            host = self.mcp_host if self.mcp_host not in ("0.0.0.0", "::", "") else "127.0.0.1"
            return f"http://{host}:{self.mcp_port}"
        return f"http://{self.oauth_callback_host}:{self.oauth_callback_port or 8976}"


def is_loopback(host: str) -> bool:
    """localhost or a loopback IP address (where plain http and no bearer token are safe)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _explain(exc: ValidationError) -> str:
    lines = []
    for err in exc.errors():
        name = ".".join(str(part) for part in err["loc"]) or "settings"
        given = err.get("input")
        shown = "" if isinstance(given, dict) or "TOKEN" in name or "SECRET" in name else f" (got {given!r})"
        lines.append(f"{name}: {err['msg']}{shown}. Fix it in the environment or in .env (see env.example).")
    return "Invalid configuration:\n  " + "\n  ".join(lines)
