"""Comparing two lists of rule specs: rules added, removed, changed field by field, and moved.

Rules are matched by name (unique within a version). A rule counts as moved when its place
relative to the other common rules changed, not when rules inserted above it shifted its number:
the common rules that keep their relative order are a longest common subsequence of the two
orders, and every other common rule moved. That is the change that matters for first-match-wins.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from policies.models import RULE_SPEC_FIELDS


@dataclass(frozen=True)
class FieldChange:
    field: str
    old: Any
    new: Any


@dataclass(frozen=True)
class PlacedRule:
    position: int
    spec: dict[str, Any]

    @property
    def name(self) -> str:
        return self.spec["name"]


@dataclass(frozen=True)
class ChangedRule:
    name: str
    old_position: int
    new_position: int
    changes: tuple[FieldChange, ...]


@dataclass(frozen=True)
class MovedRule:
    name: str
    old_position: int
    new_position: int


@dataclass(frozen=True)
class RulesDiff:
    added: tuple[PlacedRule, ...]
    removed: tuple[PlacedRule, ...]
    changed: tuple[ChangedRule, ...]
    moved: tuple[MovedRule, ...]

    @property
    def is_empty(self) -> bool:
        return not (self.added or self.removed or self.changed or self.moved)

    def lines(self) -> list[str]:
        """The diff as plain text lines, for the command line."""
        if self.is_empty:
            return ["no differences"]
        out = [
            f"+ #{r.position} {r.name} ({r.spec['action_type']} -> {r.spec['mode']})"
            for r in self.added
        ]
        out += [
            f"- #{r.position} {r.name} ({r.spec['action_type']} -> {r.spec['mode']})"
            for r in self.removed
        ]
        for rule in self.changed:
            out.append(f"~ #{rule.new_position} {rule.name}")
            out += [f"    {c.field}: {c.old!r} -> {c.new!r}" for c in rule.changes]
        out += [f"> {r.name} moved from #{r.old_position} to #{r.new_position}" for r in self.moved]
        return out


def _kept_in_order(a: list[str], b: list[str], moved_by: dict[str, int]) -> set[str]:
    """Names in a longest common subsequence of two orders (each name occurs once in each).

    Among equally long ones, the one that keeps the rules that moved least: when a rule is
    dragged from #3 to #1, it is that rule that moved, not the two it jumped over.
    """
    score = [[(0, 0)] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i in range(len(a) - 1, -1, -1):
        for j in range(len(b) - 1, -1, -1):
            best = max(score[i + 1][j], score[i][j + 1])
            if a[i] == b[j]:
                kept, cost = score[i + 1][j + 1]
                best = max(best, (kept + 1, cost - moved_by[a[i]]))
            score[i][j] = best
    kept_names, i, j = set(), 0, 0
    while i < len(a) and j < len(b):
        if a[i] == b[j]:
            kept, cost = score[i + 1][j + 1]
            if score[i][j] == (kept + 1, cost - moved_by[a[i]]):
                kept_names.add(a[i])
                i, j = i + 1, j + 1
                continue
        if score[i + 1][j] >= score[i][j + 1]:
            i += 1
        else:
            j += 1
    return kept_names


def diff_rules(old: list[dict[str, Any]], new: list[dict[str, Any]]) -> RulesDiff:
    """What changed from `old` to `new`, two ordered lists of complete rule specs."""
    old_at = {spec["name"]: (i + 1, spec) for i, spec in enumerate(old)}
    new_at = {spec["name"]: (i + 1, spec) for i, spec in enumerate(new)}
    added = tuple(PlacedRule(p, s) for name, (p, s) in new_at.items() if name not in old_at)
    removed = tuple(PlacedRule(p, s) for name, (p, s) in old_at.items() if name not in new_at)
    changed = []
    for name, (new_position, new_spec) in new_at.items():
        if name not in old_at:
            continue
        old_position, old_spec = old_at[name]
        changes = tuple(
            FieldChange(field, old_spec.get(field), new_spec.get(field))
            for field in RULE_SPEC_FIELDS
            if old_spec.get(field) != new_spec.get(field)
        )
        if changes:
            changed.append(ChangedRule(name, old_position, new_position, changes))
    common_old = [s["name"] for s in old if s["name"] in new_at]
    common_new = [s["name"] for s in new if s["name"] in old_at]
    moved_by = {name: abs(old_at[name][0] - new_at[name][0]) for name in common_old}
    kept = _kept_in_order(common_old, common_new, moved_by)
    moved = tuple(
        MovedRule(name, old_at[name][0], new_at[name][0]) for name in common_new if name not in kept
    )
    return RulesDiff(added=added, removed=removed, changed=tuple(changed), moved=moved)
