"""Client ID Metadata Documents: a client_id that is an https URL of the client's own metadata.

Fetched only from the hosts the operator allows (X_MCP_CLIENT_METADATA_HOSTS), without following
redirects, size-capped; the document must name itself as client_id and list its redirect_uris. It is
checked with authlib's RFC 7591 metadata claims, and kept a few minutes.
"""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import urlsplit

import httpx2 as httpx
from authlib.oauth2.rfc7591 import ClientMetadataClaims

from xapi_mcp.auth.mcp_as import Client

MAX_BYTES = 64 * 1024
KEEP_SECONDS = 300.0


class MetadataError(Exception):
    """Why a client ID metadata document cannot be used (shown to the person, no secrets)."""


def is_metadata_url(client_id: str) -> bool:
    parts = urlsplit(client_id)
    return parts.scheme == "https" and bool(parts.hostname) and parts.path not in ("", "/")


class ClientMetadataDocuments:
    def __init__(self, allowed_hosts: str, client: httpx.AsyncClient | None = None) -> None:
        hosts = [h.strip().lower() for h in allowed_hosts.split(",") if h.strip()]
        self.anyone, self.hosts = "*" in hosts, set(hosts) - {"*"}
        self.client = client or httpx.AsyncClient(timeout=5.0, follow_redirects=False)
        self._cache: dict[str, tuple[Client, float]] = {}

    def allowed(self, client_id: str) -> bool:
        host = (urlsplit(client_id).hostname or "").lower()
        return self.anyone or host in self.hosts

    async def client_for(self, client_id: str) -> Client:
        cached = self._cache.get(client_id)
        if cached is not None and cached[1] > time.monotonic():
            return cached[0]
        if not self.allowed(client_id):
            raise MetadataError(
                f"Clients from {urlsplit(client_id).hostname} are not admitted here: the operator lists the hosts "
                "whose client metadata documents are accepted in X_MCP_CLIENT_METADATA_HOSTS."
            )
        try:
            async with self.client.stream("GET", client_id, headers={"Accept": "application/json"}) as response:
                if response.status_code != 200:
                    status = response.status_code
                    raise MetadataError(f"The client metadata document {client_id} answered HTTP {status}.")
                body = b""
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > MAX_BYTES:
                        raise MetadataError(f"The client metadata document {client_id} is over {MAX_BYTES} bytes.")
        except httpx.HTTPError as exc:
            reason = type(exc).__name__
            raise MetadataError(f"The client metadata document {client_id} could not be fetched ({reason}).") from None
        client = parse(client_id, body)
        self._cache[client_id] = (client, time.monotonic() + KEEP_SECONDS)
        return client

    async def aclose(self) -> None:
        await self.client.aclose()


def parse(client_id: str, body: bytes) -> Client:
    """The client a metadata document describes; MetadataError when it is not a usable one."""
    try:
        document: Any = json.loads(body)
    except ValueError:
        raise MetadataError(f"The client metadata document {client_id} is not JSON.") from None
    if not isinstance(document, dict) or document.get("client_id") != client_id:
        raise MetadataError(f"The client metadata document at {client_id} must name that URL as its client_id.")
    claims = ClientMetadataClaims({k: v for k, v in document.items() if k != "client_id"}, {})
    try:
        claims.validate()
    except Exception as exc:
        raise MetadataError(f"The client metadata document {client_id} is not valid: {exc}") from None
    uris = document.get("redirect_uris")
    if not isinstance(uris, list) or not uris or not all(isinstance(u, str) for u in uris):
        raise MetadataError(f"The client metadata document {client_id} lists no redirect_uris.")
    method = document.get("token_endpoint_auth_method") or "none"
    if method != "none":
        raise MetadataError(f"{client_id}: a metadata-document client is public (token_endpoint_auth_method none).")
    return Client(client_id, list(uris), "none", None, str(document.get("client_name") or ""))
