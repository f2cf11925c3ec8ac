"""Which tools the server offers.

Rules, in order, each either allowing or denying (`!rule`):
- an exact tool name (`getUsersByUsername`), a glob (`get*`, `*Bookmark*`), `tag:Users`,
- `@read-only` (every GET), `@write` (every tool that is not read-only, workflow tools such as
  `uploadMedia` included), `@no-dm` (removes every direct-message and XChat tool), and `@all`.
With no allow rule at all, every tool is allowed and only the deny rules apply. The last matching
rule wins, so `tag:Users` then `!unfollowUser` means "Users tools except unfollowUser", and a
`!@write` after broad rules takes every write back out (allow single writes again after it).
XMCP's `X_API_TOOL_ALLOWLIST` (a comma list of names), `X_API_TOOL_DENYLIST` and
`X_API_TOOL_TAGS` keep their meaning.
"""

from __future__ import annotations

import difflib
import fnmatch
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from xapi_mcp.errors import AllowlistError
from xapi_mcp.tools.tooldef import ToolDef

log = logging.getLogger(__name__)

PRESETS = {"@all", "@read-only", "@write", "@no-dm"}
_DM = re.compile(r"DirectMessages|Dms$|Chat")


@dataclass(frozen=True)
class Rule:
    pattern: str
    deny: bool
    origin: str  # where it came from, for messages

    def matches(self, tool: ToolDef) -> bool:
        pattern = self.pattern
        if pattern == "@all":
            return True
        if pattern == "@read-only":
            return tool.plan.method == "GET"
        if pattern == "@write":
            return tool.plan.method != "GET"  # what confirm.needs_confirmation asks about
        if pattern == "@no-dm":
            return bool(_DM.search(tool.name)) or bool({"Direct Messages", "Chat"} & set(tool.tags))
        if pattern.lower().startswith("tag:"):
            wanted = pattern[4:].strip().lower()
            return any(tag.lower() == wanted for tag in tool.tags)
        if any(ch in pattern for ch in "*?["):
            return fnmatch.fnmatchcase(tool.name, pattern)
        return tool.name == pattern


@dataclass
class Allowlist:
    rules: list[Rule] = field(default_factory=list)

    @classmethod
    def from_sources(
        cls,
        allow: str = "",
        deny: str = "",
        tags: str = "",
        file: Path | None = None,
    ) -> Allowlist:
        rules: list[Rule] = []
        rules += [Rule(f"tag:{t}", False, "X_API_TOOL_TAGS") for t in _split(tags)]
        rules += [_parse(item, "X_API_TOOL_ALLOWLIST") for item in _split(allow)]
        if file is not None:
            rules += _read_file(file)
        rules += [Rule(item.lstrip("!"), True, "X_API_TOOL_DENYLIST") for item in _split(deny)]
        return cls(rules)

    @property
    def chooses(self) -> bool:
        """True when an allow rule picks the tools (not only deny rules taking some away)."""
        return any(not rule.deny for rule in self.rules)

    def allows(self, tool: ToolDef) -> bool:
        allowed = not self.chooses
        for rule in self.rules:
            if rule.matches(tool):
                allowed = not rule.deny
        return allowed

    def apply(self, tools: dict[str, ToolDef]) -> tuple[dict[str, ToolDef], list[str]]:
        """The allowed tools (catalog order kept) and warnings for rules that match nothing."""
        kept = {name: tool for name, tool in tools.items() if self.allows(tool)}
        warnings = [self._unmatched(rule, tools) for rule in self.rules if not _any_match(rule, tools.values())]
        return kept, warnings

    @staticmethod
    def _unmatched(rule: Rule, tools: dict[str, ToolDef]) -> str:
        label = f"{'!' if rule.deny else ''}{rule.pattern}"
        if rule.pattern.lower().startswith("tag:"):
            known = sorted({tag for tool in tools.values() for tag in tool.tags})
            candidates = difflib.get_close_matches(rule.pattern[4:].strip(), known, n=3)
            hint = (
                f"did you mean {', '.join('tag:' + c for c in candidates)}?"
                if candidates
                else (f"known tags: {', '.join(known)}")
            )
        else:
            candidates = difflib.get_close_matches(rule.pattern, list(tools), n=3, cutoff=0.5)
            hint = f"did you mean {' or '.join(candidates)}?" if candidates else "run `xapi-mcp tools` for the names"
        return f"Allowlist rule '{label}' ({rule.origin}) matches no tool; {hint}"


def _any_match(rule: Rule, tools: Iterable[ToolDef]) -> bool:
    return any(rule.matches(tool) for tool in tools)


def _split(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


def _parse(item: str, origin: str) -> Rule:
    deny = item.startswith("!") or item == "@no-dm"  # a preset that only ever removes tools
    pattern = item[1:].strip() if item.startswith("!") else item
    if pattern.startswith("@") and pattern not in PRESETS:
        raise AllowlistError(f"Unknown preset '{pattern}' in {origin}; the presets are {', '.join(sorted(PRESETS))}.")
    return Rule(pattern, deny, origin)


def _read_file(path: Path) -> list[Rule]:
    try:
        lines = path.expanduser().read_text().splitlines()
    except OSError as exc:
        raise AllowlistError(
            f"Cannot read the allowlist file {path} (X_API_TOOL_ALLOWLIST_FILE): {exc.strerror or exc}. "
            "Fix the path, or unset the variable to allow every tool."
        ) from None
    rules = []
    for number, line in enumerate(lines, 1):
        text = line.split("#", 1)[0].strip()
        if text:
            rules.append(_parse(text, f"{path}:{number}"))
    return rules
