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
    assert len(allowed(tools)) == 124


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
