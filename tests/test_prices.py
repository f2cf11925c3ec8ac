"""The shipped price table and the X_API_PRICES override file."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from xapi_mcp.calls import billing, cost
from xapi_mcp.calls.prices import PriceFileError, load_prices, prices_from_env, shipped_prices

# X's pricing page, November 2026 (the brief's and REFERENCE.md's table).
PUBLISHED = {
    "Posts: Read": "0.005",
    "User: Read": "0.010",
    "DM Event: Read": "0.010",
    "Following/Followers: Read": "0.010",
    "List: Read": "0.005",
    "Space: Read": "0.005",
    "Community: Read": "0.005",
    "Note: Read": "0.005",
    "Media: Read": "0.005",
    "Analytics: Read": "0.005",
    "Trend: Read": "0.010",
    "Owned Reads": "0.001",
    "Content: Create": "0.015",
    "Content: Create with URL": "0.200",
    "DM Interaction: Create": "0.015",
    "User Interaction: Create": "0.015",
    "Interaction: Delete": "0.010",
    "Content: Manage": "0.005",
    "List: Create": "0.010",
    "List: Manage": "0.005",
    "Bookmark": "0.005",
    "Media Metadata": "0.005",
    "Privacy: Update": "0.010",
    "Mute: Delete": "0.005",
    "Counts: Recent": "0.005",
    "Counts: All": "0.010",
}


def test_shipped_table_is_the_published_one_with_its_date_and_source() -> None:
    table = shipped_prices()
    assert {name: str(rate) for name, rate in table.rates.items()} == PUBLISHED
    assert table.date == "2026-11"
    assert "docs.x.com" in table.source
    assert table.override_path is None and not table.overridden
    # Decimal, not float: three posts are exactly $0.015.
    assert table.rate("Posts: Read") * 3 == Decimal("0.015")
    assert table.rate("No such category") is None
    assert table.rate(None) is None


def test_every_category_the_billing_rules_name_has_a_price() -> None:
    named = {category for category, _kind, _id in billing.READ_BY_SCHEMA.values()}
    named |= {category for _pattern, category, _per in billing.READ_BY_PATH}
    named |= {category for _methods, _pattern, category in billing.WRITE_BY_PATH}
    named |= {category for category, _kind, _id in cost.INCLUDES.values()}
    named |= {"Owned Reads", "Content: Create with URL"}
    assert named <= set(shipped_prices().rates)


def test_toml_override_replaces_only_the_rates_it_names(tmp_path: Path) -> None:
    path = tmp_path / "prices.toml"
    path.write_text('date = "2027-01"\n[rates]\n"Posts: Read" = 0.004\n"Content: Create with URL" = "0.25"\n')
    table = load_prices(path)
    assert table.rate("Posts: Read") == Decimal("0.004")
    assert table.rate("Content: Create with URL") == Decimal("0.25")
    assert table.rate("User: Read") == Decimal("0.010")
    assert table.overridden == {"Posts: Read", "Content: Create with URL"}
    assert table.override_path == str(path)
    assert table.date == "2026-11"  # the shipped rates' date; the override is named separately


def test_json_override_at_the_top_level_through_the_environment(tmp_path: Path) -> None:
    path = tmp_path / "prices.json"
    path.write_text('{"User: Read": 0.02, "Counts: All": 0}')
    table = prices_from_env({"X_API_PRICES": str(path)})
    assert table.rate("User: Read") == Decimal("0.02")
    assert table.rate("Counts: All") == Decimal("0")
    assert prices_from_env({"X_API_PRICES": ""}).rates == shipped_prices().rates
    assert prices_from_env({}).override_path is None


def test_unknown_category_names_the_valid_ones_and_the_likely_one(tmp_path: Path) -> None:
    path = tmp_path / "prices.toml"
    path.write_text('[rates]\n"Post: Read" = 0.004\n"Bananas" = 1\n')
    with pytest.raises(PriceFileError) as error:
        load_prices(path)
    message = str(error.value)
    assert str(path) in message
    assert "'Post: Read' (did you mean 'Posts: Read'?)" in message
    assert "'Bananas'" in message
    assert "Valid names" in message and "Counts: All" in message and "Owned Reads" in message


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ('[rates]\n"Posts: Read" = -0.005\n', "zero or more"),
        ('[rates]\n"Posts: Read" = true\n', "must be a number"),
        ('[rates]\n"Posts: Read" = "cheap"\n', "must be a number"),
        ('[rates]\n"Posts: Read" = "nan"\n', "zero or more"),
        ("rates = 5\n", '"rates" must be a table'),
        ("[rates\n", "not valid TOML"),
    ],
)
def test_bad_override_values_are_refused_with_the_fix(tmp_path: Path, content: str, expected: str) -> None:
    path = tmp_path / "prices.toml"
    path.write_text(content)
    with pytest.raises(PriceFileError, match=expected):
        load_prices(path)


def test_bad_json_and_missing_file(tmp_path: Path) -> None:
    bad = tmp_path / "prices.json"
    bad.write_text('{"Posts: Read": 0.004,}')
    with pytest.raises(PriceFileError, match="not valid JSON"):
        load_prices(bad)
    bad.write_text("[0.004]")
    with pytest.raises(PriceFileError, match="must hold a table"):
        load_prices(bad)
    with pytest.raises(PriceFileError, match=r"cannot be read.*unset it"):
        load_prices(tmp_path / "missing.toml")
