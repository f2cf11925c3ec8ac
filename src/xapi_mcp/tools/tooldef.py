"""The tool model: what clients see of a tool and how a call becomes a request.

`ToolDef` (name, description, portable schema, annotations) carries the `RequestPlan` the executor
follows and the `AuthRequirement` (credential kinds the operation's `security` accepts). The catalog
builder (catalog.py) makes them from the spec; everything after it only reads them.

Which credential signs which request: X operations declare the kinds they accept in `security`.
Sending the wrong kind is the most common failure of generic OpenAPI-to-MCP servers (XMCP signs
every call with OAuth 1.0a, and X rejects 28 of its 124 tools for it). Each operation gets the best
kind it accepts that we hold: OAuth 1.0a user context, then an OAuth 2.0 user token, then the app
bearer token.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from jsonschema.protocols import Validator

from xapi_mcp.errors import MissingCredentials
from xapi_mcp.stores import PREFERENCE, CredentialKind
from xapi_mcp.tools.schema import Schema

WHAT_TO_SET = {
    CredentialKind.OAUTH1_USER: (
        "X_OAUTH_CONSUMER_KEY and X_OAUTH_CONSUMER_SECRET (your X app's API key and secret; the browser "
        "consent flow then runs on first use, or also set X_OAUTH_ACCESS_TOKEN and X_OAUTH_ACCESS_TOKEN_SECRET)"
    ),
    CredentialKind.OAUTH2_USER: (
        "X_OAUTH2_CLIENT_ID (and X_OAUTH2_CLIENT_SECRET) from your X app's OAuth 2.0 settings, to authorise in "
        "the browser, or X_OAUTH2_ACCESS_TOKEN (a user access token with these scopes)"
    ),
    CredentialKind.BEARER: "X_BEARER_TOKEN (your X app's bearer token)",
}


class Holder(Protocol):
    """What choosing a credential needs to know of the token store: which kinds it holds."""

    def has(self, kind: CredentialKind) -> bool: ...


Location = Literal["path", "query", "header"]


@dataclass(frozen=True)
class ParamPlan:
    """One path/query/header parameter: `arg` is the tool argument, `name` the spec's spelling."""

    arg: str
    name: str
    location: Location
    required: bool
    is_array: bool = False
    explode: bool = True
    scalar_type: str | None = None  # "integer" / "number" / "boolean" / "string", for light coercion


@dataclass(frozen=True)
class BodyPlan:
    """The JSON request body: its top-level properties are flat tool arguments."""

    content_type: str
    args: dict[str, str]  # tool argument -> body property
    required: bool
    validator: Validator | None
    note: str = ""  # for oneOf/anyOf bodies: which argument combinations are valid
    file_args: dict[str, str] = field(default_factory=dict)  # `media_path` -> `media`: sent as multipart


@dataclass(frozen=True)
class RequestPlan:
    method: str
    path: str
    params: tuple[ParamPlan, ...]
    body: BodyPlan | None
    security: tuple[dict[str, list[str]], ...] | None  # None = no security declared anywhere


@dataclass(frozen=True)
class StreamCaps:
    """How much one call of a stream tool may collect: items and seconds (X_API_STREAM_MAX_ITEMS/_SECONDS)."""

    max_items: int = 100
    max_seconds: float = 30.0


@dataclass
class ToolDef:
    name: str
    title: str
    description: str
    input_schema: Schema
    annotations: dict[str, Any]
    plan: RequestPlan
    tags: tuple[str, ...]
    operation_id: str
    args_validator: Validator
    auth: AuthRequirement
    aliases: dict[str, str] = field(default_factory=dict)  # spec spelling -> tool argument
    arg_types: dict[str, ParamPlan] = field(default_factory=dict)
    # Argument descriptions every profile shows: ours (file arguments), and where a name cannot say
    # it (an `id` that must be the caller's own). The rest of X's wording is in describe_x_api.
    notes: dict[str, str] = field(default_factory=dict)
    # Tools that are a workflow of several requests (uploadMedia): the workflow's name, which the
    # executor runs (calls/ layer); None for a tool that is one spec operation.
    workflow: str | None = None
    # Optional arguments that, when given, run the call as a workflow (createPosts' media_paths: upload first).
    routes: dict[str, str] = field(default_factory=dict)
    # A stream (X's x-twitter-streaming operations): each call collects up to these caps, then closes it.
    stream: StreamCaps | None = None

    @property
    def arg_names(self) -> list[str]:
        return list(self.input_schema.get("properties", {}))


@dataclass
class Catalog:
    tools: dict[str, ToolDef]
    spec_version: str
    excluded: list[str]
    security_schemes: dict[str, Any]

    def __len__(self) -> int:
        return len(self.tools)


def scheme_kinds(security_schemes: Mapping[str, Any]) -> dict[str, CredentialKind]:
    """Map the document's security scheme names to credential kinds by what the schemes are."""
    kinds: dict[str, CredentialKind] = {}
    for name, scheme in security_schemes.items():
        if not isinstance(scheme, dict):
            continue
        scheme_type = scheme.get("type")
        http_scheme = str(scheme.get("scheme", "")).lower()
        if scheme_type == "http" and http_scheme == "bearer":
            kinds[name] = CredentialKind.BEARER
        elif scheme_type == "http" and http_scheme == "oauth":
            kinds[name] = CredentialKind.OAUTH1_USER
        elif scheme_type in ("oauth2", "openIdConnect"):
            kinds[name] = CredentialKind.OAUTH2_USER
    return kinds


@dataclass(frozen=True)
class AuthRequirement:
    """The credential kinds one operation accepts, and the OAuth 2.0 scopes it names."""

    accepted: tuple[CredentialKind, ...]
    scopes: tuple[str, ...] = ()

    @classmethod
    def from_security(
        cls, security: Iterable[Mapping[str, list[str]]] | None, kinds: Mapping[str, CredentialKind]
    ) -> AuthRequirement:
        if security is None:
            return cls(accepted=(CredentialKind.NONE,))
        accepted: list[CredentialKind] = []
        scopes: list[str] = []
        for alternative in security:
            if not alternative:  # `{}`: anonymous access allowed
                accepted.append(CredentialKind.NONE)
                continue
            if len(alternative) != 1:
                continue  # combined requirements (A and B) are not used by X; not supported
            ((name, names_scopes),) = alternative.items()
            kind = kinds.get(name)
            if kind is not None:
                accepted.append(kind)
                if kind is CredentialKind.OAUTH2_USER:
                    scopes.extend(names_scopes or [])
        if not list(security):
            accepted.append(CredentialKind.NONE)
        return cls(accepted=tuple(dict.fromkeys(accepted)), scopes=tuple(dict.fromkeys(scopes)))

    def choose(self, store: Holder) -> CredentialKind:
        """The preferred kind we hold, or MissingCredentials naming what to configure."""
        for kind in PREFERENCE:
            if kind in self.accepted and store.has(kind):
                return kind
        if CredentialKind.NONE in self.accepted:
            return CredentialKind.NONE
        raise MissingCredentials(self.missing_message())

    def missing_message(self) -> str:
        options = [WHAT_TO_SET[kind] for kind in PREFERENCE if kind in self.accepted]
        if not options:
            return "This operation declares no credential kind that xapi-mcp supports."
        scope_note = f" (OAuth 2.0 scopes: {', '.join(self.scopes)})" if self.scopes else ""
        names = " or ".join(kind.value for kind in PREFERENCE if kind in self.accepted)
        return (
            f"This tool needs {names}{scope_note}, and none is configured. Set "
            + "; or ".join(options)
            + " in the environment or .env, then restart xapi-mcp."
        )
