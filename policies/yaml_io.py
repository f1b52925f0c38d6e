"""Policy versions as YAML: export a version's rules in order; read a file, checking all of it.

The document holds the escalation tiers (every field of each), the rules in order with every
field, the version's note and, optionally, the action types' default modes. It carries no version
number, so exporting, importing and exporting again gives the same text. Tiers travel with the
rules that name them, so an exported file imports on a database that has none of them; files
written before tiers existed have no `tiers` and name the tiers already there. Reading reports
every problem it finds (with line numbers), not only the first, and changes nothing: the caller
passes the checked document to a service."""

from __future__ import annotations

import datetime
import fnmatch
from dataclasses import dataclass, field
from typing import Any

import yaml

from policies.business_hours import DAYS
from policies.models import ActionType, PolicyVersion, Tier
from policies.services import default_mode_problems, rule_problems
from policies.tiers import tier_keys, tier_problems

FORMAT = "countersign-policy/1"
HEADER = "# Countersign policy: rules in order; the first rule that matches an action decides it.\n"
TOP_LEVEL_FIELDS = ("format", "note", "tiers", "rules", "action_types")
NOTE_MAX = 200


class PolicyFileError(ValueError):
    """A policy file that cannot be imported; `problems` lists everything wrong with it."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class PolicyDocument:
    note: str
    rules: list[dict[str, Any]]
    default_modes: dict[str, str] | None = None
    # None for a file without `tiers` (written before tiers travelled with the rules).
    tiers: list[dict[str, Any]] | None = None
    # Not errors: e.g. a rule whose action type pattern matches nothing in the catalog.
    warnings: list[str] = field(default_factory=list)


# ---------------------------------------------------------------------------------------------
# export


class _Dumper(yaml.SafeDumper):
    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        # Indent list items under their key ("rules:\n  - name: ..."), as people write YAML.
        return super().increase_indent(flow, False)


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


class _Span(list):
    """An opening span of weekly hours, written on one line with both times quoted
    (`['09:00', '17:00']`): YAML would read an unquoted 17:00 as a number."""


def _represent_span(dumper: yaml.SafeDumper, span: _Span) -> yaml.SequenceNode:
    times = [dumper.represent_scalar("tag:yaml.org,2002:str", str(t), style="'") for t in span]
    return yaml.SequenceNode("tag:yaml.org,2002:seq", times, flow_style=True)


_Dumper.add_representer(str, _represent_str)
_Dumper.add_representer(_Span, _represent_span)


def _tier_for_export(tier: Tier) -> dict[str, Any]:
    spec = tier.spec()
    hours = spec["weekly_hours"]
    # In week order: PostgreSQL keeps JSON objects with their keys sorted its own way.
    spec["weekly_hours"] = {
        day: [_Span(span) for span in hours[day]] for day in DAYS if day in hours
    }
    return spec


def policy_to_yaml(version: PolicyVersion, *, with_defaults: bool = False) -> str:
    """The version as a YAML document: its note, every escalation tier and the rules in order,
    every field of each."""
    tiers = [_tier_for_export(t) for t in Tier.objects.select_related("next_tier").order_by("key")]
    rules = [rule.spec() for rule in version.rules.order_by("position", "id")]
    document: dict[str, Any] = {
        "format": FORMAT, "note": version.note, "tiers": tiers, "rules": rules,
    }  # fmt: skip
    if with_defaults:
        document["action_types"] = {
            key: {"default_mode": mode}
            for key, mode in ActionType.objects.order_by("key").values_list("key", "default_mode")
        }
    body = yaml.dump(
        document, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100, indent=2
    )
    return HEADER + body


# ---------------------------------------------------------------------------------------------
# import


def _duplicate_keys(node: yaml.Node) -> list[str]:
    """YAML lets a later key silently win over an earlier one; a policy file may not."""
    problems: list[str] = []
    if isinstance(node, yaml.MappingNode):
        seen: set[Any] = set()
        for key_node, value_node in node.value:
            key = getattr(key_node, "value", None)
            if key in seen:
                problems.append(f"line {key_node.start_mark.line + 1}: {key!r} appears twice")
            seen.add(key)
            problems += _duplicate_keys(value_node)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            problems += _duplicate_keys(item)
    return problems


def _item_lines(root: yaml.Node, name: str) -> list[int]:
    """The line of each item of the top-level list `name`."""
    if isinstance(root, yaml.MappingNode):
        for key_node, value_node in root.value:
            if key_node.value == name and isinstance(value_node, yaml.SequenceNode):
                return [item.start_mark.line + 1 for item in value_node.value]
    return []


def _load(text: str) -> tuple[Any, yaml.Node]:
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None)
        if mark is not None and problem:
            context = f" ({exc.context})" if getattr(exc, "context", None) else ""
            message = f"line {mark.line + 1}, column {mark.column + 1}: {problem}{context}"
        else:
            message = " ".join(str(exc).split())
        raise PolicyFileError([f"not valid YAML: {message}"]) from exc
    if root is None:
        raise PolicyFileError(["the file is empty"])
    return data, root


def _where(name: str, i: int, lines: list[int]) -> str:
    return f"{name}[{i}]" + (f" (line {lines[i]})" if i < len(lines) else "")


def _tier_spec(spec: Any) -> Any:
    """A tier as written by hand, read as it is meant: YAML reads an unquoted 2026-12-25 as a date
    and an unquoted 17:00 as a number (1020)."""
    if not isinstance(spec, dict):
        return spec
    if isinstance(spec.get("holidays"), list):
        spec["holidays"] = [
            day.isoformat() if isinstance(day, datetime.date) else day for day in spec["holidays"]
        ]
    if spec.get("next_tier") is None:
        spec["next_tier"] = ""
    return spec


def _hours_hint(spec: Any) -> list[str]:
    hours = spec.get("weekly_hours") if isinstance(spec, dict) else None
    if isinstance(hours, dict) and any(
        isinstance(t, int) for spans in hours.values() if isinstance(spans, list)
        for span in spans if isinstance(span, list) for t in span
    ):  # fmt: skip
        return ["    write times of day in quotes ('17:00'): YAML reads 17:00 as a number"]
    return []


def _tier_graph_problems(specs: list[dict[str, Any]]) -> list[str]:
    """Next tiers that exist neither in the file nor in the database, loops, and defaults."""
    next_of = dict(Tier.objects.order_by("key").values_list("key", "next_tier__key"))
    next_of |= {spec["key"]: spec.get("next_tier") or "" for spec in specs}
    problems = []
    for spec in specs:
        key, path = spec["key"], [spec["key"]]
        current = next_of[key] or ""
        if current and current not in next_of:
            problems.append(f"tiers: {key}: next_tier {current!r} is not a tier")
            continue
        while current and current not in path:
            path.append(current)
            current = next_of.get(current) or ""
        if current == key:
            problems.append(f"tiers: {key}: next_tier makes a loop: {' -> '.join([*path, key])}")
    defaults = [spec["key"] for spec in specs if spec.get("is_default")]
    if len(defaults) > 1:
        problems.append(f"tiers: only one tier is the default, not {', '.join(defaults)}")
    current_default = Tier.objects.filter(is_default=True).values_list("key", flat=True).first()
    if not defaults and any(
        spec["key"] == current_default and not spec.get("is_default") for spec in specs
    ):
        problems.append(
            f"tiers: {current_default} is the default tier; mark another tier as the default"
        )
    return problems


def _check_tiers(tiers: Any, lines: list[int]) -> tuple[list[dict[str, Any]], list[str]]:
    """The tier specs and what is wrong with them (each tier, then how they fit together)."""
    if not isinstance(tiers, list):
        return [], ["tiers is a list of tiers"]
    problems: list[str] = []
    first_index: dict[str, int] = {}
    for i, spec in enumerate(tiers):
        spec = tiers[i] = _tier_spec(spec)
        where = _where("tiers", i, lines)
        found = tier_problems(spec)
        problems += [f"{where}: {problem.message}" for problem in found]
        if found:
            problems += _hours_hint(spec)
        key = spec.get("key") if isinstance(spec, dict) else None
        if isinstance(key, str) and key in first_index:
            problems.append(f"{where}: repeats the key {key!r} of tiers[{first_index[key]}]")
        elif isinstance(key, str):
            first_index[key] = i
    if not problems:
        problems += _tier_graph_problems(tiers)
    return tiers, problems


def _check_rules(rules: Any, lines: list[int], tiers: frozenset[str]) -> list[str]:
    if not isinstance(rules, list):
        return ["rules is a list of rules"]
    problems: list[str] = []
    first_index: dict[str, int] = {}
    for i, spec in enumerate(rules):
        where = _where("rules", i, lines)
        if isinstance(spec, dict) and isinstance(spec.get("condition"), bool):
            # `condition: true` is YAML's boolean; in a condition it can only mean CEL's `true`.
            spec["condition"] = "true" if spec["condition"] else "false"
        for problem in rule_problems(spec, tiers=tiers):
            problems.append(f"{where}: {problem.message}")
            if problem.detail:
                problems += [f"    {row}" for row in problem.detail.splitlines()[1:]]
        name = spec.get("name") if isinstance(spec, dict) else None
        if isinstance(name, str) and name in first_index:
            problems.append(f"{where}: repeats the name {name!r} of rules[{first_index[name]}]")
        elif isinstance(name, str):
            first_index[name] = i
    return problems


def _check_action_types(value: Any) -> tuple[dict[str, str] | None, list[str]]:
    if value is None:
        return None, []
    if not isinstance(value, dict):
        return None, ["action_types maps action type keys to {default_mode: <mode>}"]
    problems, modes = [], {}
    for key, entry in value.items():
        if not isinstance(entry, dict) or set(entry) != {"default_mode"}:
            problems.append(f"action_types: {key!r} needs exactly one field, default_mode")
            continue
        modes[key] = entry["default_mode"]
    return modes, problems + default_mode_problems(modes)


def _unmatched_patterns(rules: list[dict[str, Any]]) -> list[str]:
    keys = list(ActionType.objects.order_by("key").values_list("key", flat=True))
    return [
        f"rule {spec['name']!r}: action_type {spec['action_type']!r} matches no action type "
        "in the catalog"
        for spec in rules
        if not any(fnmatch.fnmatchcase(key, spec["action_type"]) for key in keys)
    ]


def parse_policy(text: str) -> PolicyDocument:
    """The checked document, or PolicyFileError listing every problem found."""
    data, root = _load(text)
    problems = _duplicate_keys(root)
    if not isinstance(data, dict):
        raise PolicyFileError([*problems, "the file must be a mapping with a `rules` list"])
    unknown = [key for key in data if key not in TOP_LEVEL_FIELDS]
    if unknown:
        problems.append(
            f"unknown top-level field(s) {unknown}; expected: {', '.join(TOP_LEVEL_FIELDS)}"
        )
    if data.get("format", FORMAT) != FORMAT:
        problems.append(f"format is {data.get('format')!r}; this version reads {FORMAT!r}")
    note = data.get("note", "") or ""
    if not isinstance(note, str) or len(note) > NOTE_MAX:
        problems.append(f"note is text of at most {NOTE_MAX} characters")
    tiers = None
    if "tiers" in data:
        tiers, tier_problems_found = _check_tiers(data["tiers"], _item_lines(root, "tiers"))
        problems += tier_problems_found
    known_tiers = tier_keys() | {t.get("key") for t in tiers or () if isinstance(t, dict)}
    if "rules" not in data:
        problems.append("the file has no `rules` list")
    else:
        problems += _check_rules(data["rules"], _item_lines(root, "rules"), known_tiers)
    default_modes, mode_problems = _check_action_types(data.get("action_types"))
    problems += mode_problems
    if problems:
        raise PolicyFileError(problems)
    rules = data["rules"]
    return PolicyDocument(
        note=note, rules=rules, default_modes=default_modes, tiers=tiers,
        warnings=_unmatched_patterns(rules),
    )  # fmt: skip
