"""Policy versions as YAML: export a version's rules in order; read a file, checking all of it.

The document holds the rules in order with every field, the version's note and, optionally, the
action types' default modes. It carries no version number, so exporting, importing and exporting
again gives the same text. Reading reports every problem it finds (with line numbers), not only
the first, and changes nothing: the caller passes the checked document to a service.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from typing import Any

import yaml

from policies.models import ActionType, PolicyVersion
from policies.services import default_mode_problems, rule_problems

FORMAT = "countersign-policy/1"
HEADER = "# Countersign policy: rules in order; the first rule that matches an action decides it.\n"
TOP_LEVEL_FIELDS = ("format", "note", "rules", "action_types")
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


_Dumper.add_representer(str, _represent_str)


def policy_to_yaml(version: PolicyVersion, *, with_defaults: bool = False) -> str:
    """The version as a YAML document: its note and its rules in order, every field of each."""
    rules = [rule.spec() for rule in version.rules.order_by("position", "id")]
    document: dict[str, Any] = {"format": FORMAT, "note": version.note, "rules": rules}
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


def _rule_lines(root: yaml.Node) -> list[int]:
    if isinstance(root, yaml.MappingNode):
        for key_node, value_node in root.value:
            if key_node.value == "rules" and isinstance(value_node, yaml.SequenceNode):
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


def _check_rules(rules: Any, lines: list[int]) -> list[str]:
    if not isinstance(rules, list):
        return ["rules is a list of rules"]
    problems: list[str] = []
    first_index: dict[str, int] = {}
    for i, spec in enumerate(rules):
        line = f" (line {lines[i]})" if i < len(lines) else ""
        where = f"rules[{i}]{line}"
        if isinstance(spec, dict) and isinstance(spec.get("condition"), bool):
            # `condition: true` is YAML's boolean; in a condition it can only mean CEL's `true`.
            spec["condition"] = "true" if spec["condition"] else "false"
        for problem in rule_problems(spec):
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
    if "rules" not in data:
        problems.append("the file has no `rules` list")
    else:
        problems += _check_rules(data["rules"], _rule_lines(root))
    default_modes, mode_problems = _check_action_types(data.get("action_types"))
    problems += mode_problems
    if problems:
        raise PolicyFileError(problems)
    rules = data["rules"]
    return PolicyDocument(
        note=note, rules=rules, default_modes=default_modes, warnings=_unmatched_patterns(rules)
    )
