"""X's rules for posts made on a self-serve (pay-per-use) plan, checked before anything is sent.

X refuses these posts anyway; refusing them here says why in X's own words, and spends nothing.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any, Literal

Plan = Literal["pay-per-use", "enterprise"]
ENV_PLAN = "X_API_PLAN"
PLANS: tuple[Plan, ...] = ("pay-per-use", "enterprise")
# X's wording (docs.x.com, "Manage Posts"), quoted in the refusals.
CASHTAG_RULE = "Self-serve customers: Posts created via the API are limited to a maximum of 1 cashtag per post."
QUOTE_RULE = "Quote posts (quote_tweet_id) need an Enterprise plan."
REPLY_RULE = (
    "Self-serve customers: Replies are only permitted if the original post's author has explicitly summoned the "
    "replying account by @mentioning them or quoting one of their posts."
)
# A cashtag as X's text parser finds it: `$` and 1-6 letters (optionally `.X`/`_XX`), not inside a word.
CASHTAG = re.compile(r"(?<![\w$])\$([A-Za-z]{1,6}(?:[._][A-Za-z]{1,2})?)(?![\w$])")


def plan_from_env(environ: Mapping[str, str] | None = None) -> Plan:
    """`X_API_PLAN`: `pay-per-use` (the default) or `enterprise`."""
    raw = (os.environ if environ is None else environ).get(ENV_PLAN, "").strip().lower() or "pay-per-use"
    for plan in PLANS:
        if raw == plan:
            return plan
    raise ValueError(f"{ENV_PLAN}={raw!r} is not a plan: use pay-per-use (self-serve, the default) or enterprise.")


def is_post_create(method: str, path: str) -> bool:
    return method.upper() == "POST" and path == "/2/tweets"


def cashtags(text: Any) -> list[str]:
    """The distinct cashtags in `text`, upper-cased, in order of appearance."""
    found = CASHTAG.findall(text) if isinstance(text, str) else []
    return list(dict.fromkeys(tag.upper() for tag in found))


def posting_rule_violation(method: str, path: str, arguments: Mapping[str, Any], plan: Plan) -> str | None:
    """Why X would refuse this post on `plan`, with X's rule quoted; None when it may be sent."""
    if plan != "pay-per-use" or not is_post_create(method, path):
        return None
    tags = cashtags(arguments.get("text"))
    if len(tags) > 1:
        return (
            f"Not sent: the post has {len(tags)} cashtags ({', '.join('$' + t for t in tags)}); X's rule: "
            f'"{CASHTAG_RULE}" Keep one cashtag, or set {ENV_PLAN}=enterprise if this app is on an Enterprise plan.'
        )
    if arguments.get("quote_tweet_id") not in (None, ""):
        return (
            f'Not sent: quote_tweet_id makes this a quote post; X\'s rule: "{QUOTE_RULE}" Post without '
            f"quote_tweet_id (a link to the post in the text also costs the URL rate), or set {ENV_PLAN}=enterprise "
            "if this app is on an Enterprise plan."
        )
    return None


def explain_reply_refusal(method: str, path: str, arguments: Mapping[str, Any], status: int, plan: Plan) -> str | None:
    """For a reply X refused with 403 on a self-serve plan: the likely reason, X's rule quoted."""
    reply = arguments.get("reply")
    target = reply.get("in_reply_to_tweet_id") if isinstance(reply, Mapping) else None
    if status != 403 or plan != "pay-per-use" or not target or not is_post_create(method, path):
        return None
    return (
        f'X refused the reply to post {target}, most likely because of its self-serve rule: "{REPLY_RULE}" A reply '
        "goes through only when that post's author mentioned this account or quoted one of its posts; otherwise "
        "send it as a standalone post (without `reply`)."
    )
