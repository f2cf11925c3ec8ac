"""Allowlist rules and per-operation credential choice."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import catalog_for
from tests.servers import REPO
from xapi_mcp.auth.credentials import Signers
from xapi_mcp.errors import MissingCredentials
from xapi_mcp.stores import CredentialKind, MemoryTokenStore
from xapi_mcp.tools.allowlist import Allowlist, AllowlistError
from xapi_mcp.tools.workflows import upload_tool


@pytest.fixture(scope="module")
def tools():
    return catalog_for("2.159").tools


def allowed(tools, **sources) -> list[str]:
    kept, _ = Allowlist.from_sources(**sources).apply(tools)
    return list(kept)


def test_no_rules_allows_everything(tools) -> None:
    assert len(allowed(tools)) == 156  # every operation of 2.159, the 15 streams included


def test_xmcp_style_comma_list(tools) -> None:
    assert set(allowed(tools, allow="getUsersByUsername, createPosts")) == {
        "getUsersByUsername",
        "createPosts",
    }


def test_globs_tags_deny_and_last_rule_wins(tools) -> None:
    users = allowed(tools, allow="tag:Users")
    assert users and all("Users" in tools[n].tags for n in users)
    assert "unfollowUser" not in allowed(tools, allow="tag:Users,!unfollowUser")
    assert set(allowed(tools, allow="getUsers*")) == {n for n in tools if n.startswith("getUsers")}
    assert "getUsersMe" not in allowed(tools, deny="getUsersMe")
    assert allowed(tools, allow="!createPosts,createPosts") == ["createPosts"]


def test_read_only_preset(tools) -> None:
    names = allowed(tools, allow="@read-only")
    assert names and all(tools[n].plan.method == "GET" for n in names)
    with pytest.raises(AllowlistError, match="Unknown preset '@nope'"):
        Allowlist.from_sources(allow="@nope")


def test_write_preset_denies_every_write_after_broad_rules(tools) -> None:
    writes = {n for n, t in tools.items() if t.plan.method != "GET"}
    assert {"createPosts", "followUser", "muteUser", "deletePosts"} <= writes
    assert set(allowed(tools, allow="@write")) == writes
    assert set(allowed(tools, allow="@all,!@write")) == set(tools) - writes
    users = set(allowed(tools, allow="tag:Users,!@write,followUser"))
    assert users & writes == {"followUser"} and any(tools[n].plan.method == "GET" for n in users)
    assert set(allowed(tools, allow="@all", deny="@write")) == set(tools) - writes  # X_API_TOOL_DENYLIST


def test_allowlist_example_does_what_its_comments_say(tools) -> None:
    """The shipped example: users and posts to read, DMs to read, and of the writes posting and liking only."""
    example = REPO / "allowlist.example.txt"
    text = example.read_text()
    assert "posting and liking only" in text and "Direct messages, read-only" in text
    catalog = dict(tools)
    upload = upload_tool(catalog)
    assert upload is not None
    catalog[upload.name] = upload  # as the server builds it: workflow tools are writes too
    kept, warnings = Allowlist.from_sources(file=example).apply(catalog)
    assert warnings == []
    assert {n for n, t in kept.items() if t.plan.method != "GET"} == {"createPosts", "likePost"}
    reads = {n for n, t in catalog.items() if t.plan.method == "GET" and {"Users", "Tweets"} & set(t.tags)}
    dm_reads = {n for n in catalog if n.startswith("getDirectMessagesEvents")}
    assert dm_reads and {n for n, t in kept.items() if t.plan.method == "GET"} == reads | dm_reads


def test_stream_rule_and_webhook_tools_follow_the_presets_and_confirmation(tools) -> None:
    """The 17 calls that manage streams and webhooks are tools like any other: presets, tags, confirmation."""
    from tests.test_catalog import MANAGING_STREAMS_AND_WEBHOOKS as MANAGING
    from xapi_mcp.calls.confirm import needs_confirmation

    writes, reads = set(allowed(tools, allow="@write")), set(allowed(tools, allow="@read-only"))
    assert {n for n, method in MANAGING.items() if method != "GET"} == set(MANAGING) & writes
    assert {n for n, method in MANAGING.items() if method == "GET"} == set(MANAGING) & reads
    assert all(needs_confirmation(tools[n]) == (method != "GET") for n, method in MANAGING.items())
    assert {"getWebhooks", "createWebhooks", "validateWebhooks", "deleteWebhooks"} <= set(
        allowed(tools, allow="tag:Webhooks")
    )
    assert not set(MANAGING) & set(allowed(tools, deny="tag:Webhooks,tag:Account Activity,tag:Stream"))
    store = full_store()
    assert tools["updateRules"].auth.choose(store) is CredentialKind.BEARER  # X takes the app token only
    assert tools["createWebhooks"].auth.choose(store) is CredentialKind.OAUTH1_USER
    assert tools["validateAccountActivitySubscription"].auth.choose(MemoryTokenStore(oauth2_access_token="o2")) is (
        CredentialKind.OAUTH2_USER
    )


def test_no_dm_preset(tools) -> None:
    dm = {n for n, t in tools.items() if {"Direct Messages", "Chat"} & set(t.tags) or "Dms" in n}
    assert {"createDirectMessagesByParticipantId", "sendChatMessage", "blockUsersDms"} <= dm
    names = set(allowed(tools, allow="@no-dm"))
    assert names == set(tools) - dm
    read_no_dm = set(allowed(tools, allow="@read-only,@no-dm"))
    assert read_no_dm and not read_no_dm & dm and all(tools[n].plan.method == "GET" for n in read_no_dm)


def test_file_rules_with_comments(tools, tmp_path: Path) -> None:
    rules = tmp_path / "allow.txt"
    rules.write_text("# my tools\ntag:Users   # people\n!unfollowUser\n\ngetPostsById\n")
    names = allowed(tools, file=rules)
    assert "getPostsById" in names and "getUsersByUsername" in names and "unfollowUser" not in names
    with pytest.raises(AllowlistError, match=r"Cannot read the allowlist file .*missing\.txt"):
        Allowlist.from_sources(file=tmp_path / "missing.txt")


def test_unknown_names_get_suggestions(tools) -> None:
    _, warnings = Allowlist.from_sources(allow="getUserByUsername,tag:user").apply(tools)
    assert warnings[0] == (
        "Allowlist rule 'getUserByUsername' (X_API_TOOL_ALLOWLIST) matches no tool; "
        "did you mean getUsersByUsername or getUsersByUsernames or getUsersMe?"
    )
    assert "did you mean tag:Users" in warnings[1]


def full_store() -> MemoryTokenStore:
    return MemoryTokenStore("ck", "cs", "at", "ats", bearer_token="bt", oauth2_access_token="o2")


def test_user_context_preferred_and_bearer_only_stays_bearer(tools) -> None:
    store = full_store()
    assert tools["createPosts"].auth.choose(store) is CredentialKind.OAUTH1_USER
    assert tools["getUsersPosts"].auth.choose(store) is CredentialKind.OAUTH1_USER
    assert tools["getPostsCountsRecent"].auth.choose(store) is CredentialKind.BEARER
    assert tools["getUsersBookmarks"].auth.choose(store) is CredentialKind.OAUTH2_USER
    # Bearer + OAuth 2.0 user: the user token when there is one, else the app token.
    assert tools["getSpacesById"].auth.choose(store) is CredentialKind.OAUTH2_USER
    assert tools["getSpacesById"].auth.choose(MemoryTokenStore(bearer_token="bt")) is CredentialKind.BEARER


def test_never_sends_oauth1_where_the_operation_does_not_accept_it(tools) -> None:
    store = full_store()
    for tool in tools.values():
        kind = tool.auth.choose(store)
        assert kind in tool.auth.accepted, tool.name


def test_missing_credentials_say_what_to_set(tools) -> None:
    with pytest.raises(MissingCredentials) as err:
        tools["getPostsCountsRecent"].auth.choose(MemoryTokenStore())
    assert "needs app bearer token" in str(err.value) and "X_BEARER_TOKEN" in str(err.value)
    with pytest.raises(MissingCredentials) as err:
        tools["getUsersBookmarks"].auth.choose(MemoryTokenStore(bearer_token="bt"))
    assert "X_OAUTH2_ACCESS_TOKEN" in str(err.value) and "bookmark.read" in str(err.value)
    with pytest.raises(MissingCredentials, match="X_OAUTH_ACCESS_TOKEN_SECRET"):
        tools["createPosts"].auth.choose(MemoryTokenStore(bearer_token="bt"))


def test_store_repr_hides_secrets() -> None:
    store = full_store()
    assert "cs" not in repr(store).replace("holds", "") and "ats" not in repr(store)
    assert repr(Signers(store).signer(CredentialKind.BEARER)) == "BearerAuth(***)"


@pytest.mark.parametrize(
    ("method", "url", "body"),
    [
        ("GET", "http://127.0.0.1:8123/2/users/by/username/jack?user.fields=id,name&expansions=pinned_tweet_id", None),
        ("GET", "http://127.0.0.1/2/tweets/search/recent?query=caf%C3%A9%20%26%20%22x%22%20~y*&max_results=10", None),
        ("POST", "https://api.x.com/2/tweets?x=1,2", {"json": {"text": "hello & «ok»"}}),
        ("DELETE", "https://api.x.com/2/users/1/following/2", None),
        ("POST", "https://api.x.com/2/media/upload", {"files": {"media": ("a.png", b"\x89PNG", "image/png")}}),
    ],
)
def test_oauth1_header_is_authlibs_own_signature(monkeypatch, method: str, url: str, body: dict | None) -> None:
    """The header built in one pass is byte for byte what authlib's ClientAuth.sign makes, nonce and time fixed."""
    import httpx2 as httpx
    from authlib.oauth1.rfc5849 import client_auth

    from xapi_mcp.auth import credentials

    monkeypatch.setattr(client_auth, "generate_nonce", lambda: "n0nce")
    monkeypatch.setattr(client_auth, "generate_timestamp", lambda: "1764480000")
    monkeypatch.setattr(credentials, "generate_timestamp", lambda: "1764480000")
    monkeypatch.setattr(credentials.secrets, "token_hex", lambda size: "n0nce")
    signer = Signers(full_store()).signer(CredentialKind.OAUTH1_USER)
    assert isinstance(signer, credentials.OAuth1Signer)
    request = httpx.Request(method, url, **(body or {}))
    request.read()
    _, expected, _ = client_auth.ClientAuth.prepare(signer, method, url, dict(request.headers), request.content)
    assert next(signer.auth_flow(request)).headers["Authorization"] == expected["Authorization"]
    assert "oauth_signature=" in expected["Authorization"]


def test_oauth1_form_body_takes_authlibs_whole_path(monkeypatch) -> None:
    """A form-encoded body's fields are part of the signature: that request is signed by authlib's `prepare`."""
    import httpx2 as httpx

    from xapi_mcp.auth.credentials import OAuth1Signer

    signer = Signers(full_store()).signer(CredentialKind.OAUTH1_USER)
    request = httpx.Request("POST", "https://api.x.com/oauth/x", data={"a": "1 2"})
    request.read()
    seen: list[bytes] = []
    original = OAuth1Signer.prepare

    def spy(self: OAuth1Signer, method: str, uri: str, headers: object, body: bytes) -> object:
        seen.append(body)
        return original(self, method, uri, headers, body)

    monkeypatch.setattr(OAuth1Signer, "prepare", spy)
    assert signer is not None
    assert next(signer.auth_flow(request)).headers["Authorization"].startswith("OAuth ")
    assert seen == [b"a=1+2"]
