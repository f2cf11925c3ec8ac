"""X's self-serve posting rules, checked before a post is sent."""

from __future__ import annotations

import pytest

from xapi_mcp.calls.posting_rules import (
    CASHTAG_RULE,
    REPLY_RULE,
    cashtags,
    explain_reply_refusal,
    plan_from_env,
    posting_rule_violation,
)

POST = ("POST", "/2/tweets")


def test_more_than_one_cashtag_is_refused_on_pay_per_use_with_xs_rule() -> None:
    refusal = posting_rule_violation(*POST, {"text": "Watching $TSLA and $AAPL today"}, "pay-per-use")
    assert refusal is not None
    assert CASHTAG_RULE in refusal and "$TSLA, $AAPL" in refusal and "X_API_PLAN=enterprise" in refusal
    assert posting_rule_violation(*POST, {"text": "Watching $TSLA and $AAPL"}, "enterprise") is None


@pytest.mark.parametrize(
    ("text", "tags"),
    [
        ("$TSLA up, $tsla down", ["TSLA"]),  # one cashtag, twice
        ("It costs $5 or $10.50", []),
        ("$BRK.B and $RDS_A", ["BRK.B", "RDS_A"]),
        ("a$TSLA, US$AAPL", []),
        ("($TSLA) $AAPL.", ["TSLA", "AAPL"]),
        ("$TOOLONGX", []),
    ],
)
def test_cashtags_as_x_counts_them(text: str, tags: list[str]) -> None:
    assert cashtags(text) == tags
    refused = posting_rule_violation(*POST, {"text": text}, "pay-per-use") is not None
    assert refused == (len(tags) > 1)


def test_quote_posts_need_enterprise() -> None:
    refusal = posting_rule_violation(*POST, {"text": "So true", "quote_tweet_id": "1346889436626259968"}, "pay-per-use")
    assert refusal is not None and "quote_tweet_id" in refusal and "Enterprise" in refusal
    assert posting_rule_violation(*POST, {"text": "So true", "quote_tweet_id": "1"}, "enterprise") is None
    assert posting_rule_violation(*POST, {"text": "So true", "quote_tweet_id": ""}, "pay-per-use") is None


def test_other_operations_are_not_checked() -> None:
    assert posting_rule_violation("POST", "/2/dm_conversations", {"text": "$A $B"}, "pay-per-use") is None
    assert posting_rule_violation("DELETE", "/2/tweets", {"quote_tweet_id": "1"}, "pay-per-use") is None


def test_a_refused_reply_is_explained_with_the_summoned_replies_rule() -> None:
    reply = {"text": "Agreed", "reply": {"in_reply_to_tweet_id": "1455953449422516226"}}
    explanation = explain_reply_refusal(*POST, reply, 403, "pay-per-use")
    assert explanation is not None and REPLY_RULE in explanation and "1455953449422516226" in explanation
    assert explain_reply_refusal(*POST, reply, 400, "pay-per-use") is None
    assert explain_reply_refusal(*POST, reply, 403, "enterprise") is None
    assert explain_reply_refusal(*POST, {"text": "Not a reply"}, 403, "pay-per-use") is None


def test_plan_setting() -> None:
    assert plan_from_env({}) == "pay-per-use"
    assert plan_from_env({"X_API_PLAN": " Enterprise "}) == "enterprise"
    with pytest.raises(ValueError, match=r"pay-per-use .* or enterprise"):
        plan_from_env({"X_API_PLAN": "pro"})
