"""`xapi-mcp tools --prices`: what each offered tool costs, where the rates came from, and what has no price."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import load_document
from tests.fake_spec import PRICED_MINI
from tests.servers import SPEC_157, SPEC_159, run_cli
from xapi_mcp.calls.billing import unpriced
from xapi_mcp.tools.catalog import build_catalog

SPEC = str(SPEC_159)


def tool_lines(stdout: str) -> dict[str, str]:
    """The priced table's line of each tool, by the tool's name (its first word)."""
    table = stdout.split("\n\n", 1)[0].splitlines()[1:]
    return {line.split()[0]: line for line in table}


def unpriced_section(stdout: str) -> tuple[str, list[str]]:
    """The section's heading and its lines, up to the spec line that ends the output."""
    _, section = stdout.split("\nUnpriced operations", 1)
    heading, *lines = section.splitlines()
    return heading, [line for line in lines if line.startswith("  ")]


def test_prices_name_each_tools_category_rate_and_worst_case() -> None:
    result = run_cli("tools", "--prices", "--spec", SPEC)
    assert result.returncode == 0, result.stderr
    lines = tool_lines(result.stdout)
    search = lines["searchPostsRecent"]
    for part in ("Posts: Read", "resource", "$0.005", "up to 10 posts", "= $0.050", "max_results=100: $0.500"):
        assert part in search, (part, search)
    create = lines["createPosts"]
    for part in ("Content: Create", "request", "$0.015", "with a URL $0.200"):
        assert part in create, (part, create)
    followers = lines["getUsersFollowers"]
    for part in ("Following/Followers: Read", "resource", "$0.010", "Owned Reads $0.001"):
        assert part in followers, (part, followers)
    assert "priced per request it makes (Content: Manage)" in lines["uploadMedia"]
    assert "Rates: X's pricing page" in result.stdout and "(date 2026-11)" in result.stdout
    assert "No override file (X_API_PRICES=path" in result.stdout
    heading, section = unpriced_section(result.stdout)
    assert heading.startswith(" (no known price; counted as $0)")
    usage = next(line for line in section if line.split()[0] == "getUsage")
    assert "GET" in usage and "/2/usage/tweets" in usage and "response data Usage has no price" in usage
    assert not {line.split()[0] for line in section} & set(lines)  # a tool is priced or unpriced, never both


@pytest.mark.parametrize("spec", [SPEC_159, SPEC_157], ids=["2.159", "2.157"])
def test_the_unpriced_section_lists_every_offered_operation_billing_cannot_price(spec: Path) -> None:
    document = load_document("2.159" if spec == SPEC_159 else "2.157")
    offered = [tool.operation_id for tool in build_catalog(document, workflows=True).tools.values()]
    expected = unpriced(document, only=offered)
    result = run_cli("tools", "--prices", "--spec", str(spec))
    assert result.returncode == 0, result.stderr
    heading, section = unpriced_section(result.stdout)
    listed = [line.split()[0] for line in section if not line.startswith("  (and ")]
    assert expected and listed == expected
    assert heading.endswith(f": {len(expected)}")
    hidden = len(unpriced(document)) - len(expected)
    assert f"(and {hidden} unpriced operations of the spec not offered as tools here)" in result.stdout


def test_a_response_schema_with_no_price_is_listed_as_unpriced(tmp_path: Path) -> None:
    spec = tmp_path / "newer.json"
    spec.write_text(json.dumps(PRICED_MINI))
    result = run_cli("tools", "--prices", "--spec", str(spec))
    assert result.returncode == 0, result.stderr
    assert list(tool_lines(result.stdout)) == ["listTweets"]
    heading, section = unpriced_section(result.stdout)
    assert heading.endswith(": 1")
    assert section[0].split()[:3] == ["listWidgets", "GET", "/2/widgets"]
    assert "response data Widget has no price on X's pricing page" in section[0]


def no_floats(value: Any) -> bool:
    if isinstance(value, dict):
        return all(no_floats(item) for item in value.values())
    if isinstance(value, list):
        return all(no_floats(item) for item in value)
    return not isinstance(value, float)


def test_prices_json_gives_the_same_as_data_with_amounts_as_strings() -> None:
    result = run_cli("tools", "--prices", "--json", "--spec", SPEC)
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)
    assert no_floats(shown)
    tools = {row["name"]: row for row in shown["tools"]}
    search = tools["searchPostsRecent"]
    assert (search["category"], search["per"], search["rate_usd"]) == ("Posts: Read", "resource", "0.005")
    assert (search["estimate_usd"], search["max_usd"]) == ("0.050", "0.500")
    assert search["estimate"].startswith("up to 10 posts") and search["basis"] == "response data Tweet"
    assert (tools["createPosts"]["rate_usd"], tools["createPosts"]["url_rate_usd"]) == ("0.015", "0.200")
    assert tools["getUsersFollowers"]["owned_reads_usd"] == "0.001"
    upload = tools["uploadMedia"]
    assert upload["workflow"] is True and upload["estimate_usd"] is None and upload["category"] == "Content: Manage"
    usage = next(row for row in shown["unpriced"] if row["name"] == "getUsage")
    assert usage == {
        "name": "getUsage",
        "method": "GET",
        "path": "/2/usage/tweets",
        "basis": "response data Usage has no price on X's pricing page",
    }
    assert shown["count"] == {
        "priced": len(shown["tools"]),
        "unpriced": len(shown["unpriced"]),
        "unpriced_not_offered": shown["count"]["unpriced_not_offered"],
    }
    assert shown["prices"]["date"] == "2026-11" and shown["prices"]["override_file"] is None
    assert shown["prices"]["rates"]["Content: Create with URL"] == "0.200"
    assert shown["spec"]["version"] == "2.159"


def test_an_override_file_changes_the_rate_shown(tmp_path: Path) -> None:
    override = tmp_path / "rates.toml"
    override.write_text('[rates]\n"Posts: Read" = 0.007\n')
    result = run_cli("tools", "--prices", "--spec", SPEC, env={"X_API_PRICES": str(override)})
    assert result.returncode == 0, result.stderr
    search = tool_lines(result.stdout)["searchPostsRecent"]
    assert "$0.007" in search and "= $0.070" in search and "max_results=100: $0.700" in search
    assert f"Override file (X_API_PRICES): {override}, changing Posts: Read." in result.stdout
    # The same setting read from a settings file, with a JSON override.
    rates = tmp_path / "rates.json"
    rates.write_text('{"User: Read": 0.02}')
    dotenv = tmp_path / "settings.env"
    dotenv.write_text(f"X_API_PRICES={rates}\n")
    shown = run_cli("tools", "--prices", "--json", "--spec", SPEC, "--env-file", str(dotenv))
    assert shown.returncode == 0, shown.stderr
    listing = json.loads(shown.stdout)
    me = next(row for row in listing["tools"] if row["name"] == "getUsersMe")
    assert (me["rate_usd"], me["estimate_usd"]) == ("0.02", "0.02")
    assert listing["prices"]["override_file"] == str(rates) and listing["prices"]["overridden"] == ["User: Read"]


def test_a_bad_price_file_is_a_settings_error_with_the_fix(tmp_path: Path) -> None:
    override = tmp_path / "rates.toml"
    override.write_text('"Posts: Reed" = 0.01\n')
    result = run_cli("tools", "--prices", "--spec", SPEC, env={"X_API_PRICES": str(override)})
    assert result.returncode == 2 and result.stdout == ""
    assert "unknown billing category 'Posts: Reed' (did you mean 'Posts: Read'?)" in result.stderr
    assert "Traceback" not in result.stderr
