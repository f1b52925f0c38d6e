"""Checking rule specs before anything is written: every problem of a spec, with where it is.

The policy services, the editor's pages and the YAML import ask the same checks here.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection
from dataclasses import asdict, dataclass
from typing import Any

from config.errors import Code, InvalidInput
from people.roles import DECIDING_ROLES
from policies.engine import ConditionError, compile_condition
from policies.models import RULE_SPEC_FIELDS, ActionType, Mode, OnTimeout, Priority
from policies.tiers import unknown_tier_message

RULE_FIELDS = set(RULE_SPEC_FIELDS)
# What a rule spec that leaves a field out gets; a stored rule always has every field.
RULE_DEFAULTS: dict[str, Any] = {
    "agents": [], "condition": "true", "approvals_required": 1, "approver_role": "supervisor",
    "queue": "", "priority": Priority.NORMAL.value, "sla_seconds": None,
    "on_timeout": OnTimeout.EXPIRE.value, "escalation_tier": "", "explanation": "",
}  # fmt: skip

_SLUG = re.compile(r"^[-a-zA-Z0-9_]+$")
# Text fields and their column lengths: longer values are refused here, not by the database.
_TEXT_FIELDS = {
    "action_type": 64, "condition": 10_000, "approver_role": 64, "queue": 64,
    "escalation_tier": 32, "explanation": 300,
}  # fmt: skip
_CEL_MESSAGE = re.compile(r"<input>:\d+:\d+: (.*)")

# Where the queue names come from: queues live in approvals, above policies, so approvals lends
# the reader at startup (see ApprovalsConfig.ready); without one, queues are not checked.
_queue_source: Callable[[], Collection[str]] | None = None


def set_queue_source(source: Callable[[], Collection[str]] | None) -> None:
    global _queue_source
    _queue_source = source


def queue_names() -> frozenset[str] | None:
    """The names of the queues there are, for checking the rules that name one (None: unknown)."""
    return frozenset(_queue_source()) if _queue_source is not None else None


def unknown_queue_message(queue: Any, queues: Collection[str] | None) -> str | None:
    """Why a rule's queue names none of `queues` (no check without them), or None. Empty names
    the default queue."""
    if queues is None or not isinstance(queue, str) or not queue or queue in queues:
        return None
    known = ", ".join(sorted(queues)) or "none"
    return f"queue {queue!r} is not a queue (queues: {known}; leave it empty for the default queue)"


def approver_role_message(role: Any) -> str | None:
    """Why a rule may not name `role` as its approver role, or None: only deciding roles decide
    actions, so a rule naming `qa_reviewer` (or any other group) would let them approve."""
    if isinstance(role, str) and role in DECIDING_ROLES:
        return None
    return (
        f"approver_role {role!r} is not a role that decides actions; "
        f"use one of {sorted(DECIDING_ROLES)}"
    )


@dataclass(frozen=True)
class RuleProblem:
    """One thing wrong with a rule spec: the field at fault ("" for the whole rule) and why.

    For a condition that does not compile, `position` is the line:column where the parser
    stopped and `detail` the compiler's whole message.
    """

    field: str
    message: str
    position: str = ""
    detail: str = ""

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _condition_problem(exc: ConditionError) -> RuleProblem:
    first_line = str(exc).splitlines()[0] if str(exc) else ""
    match = _CEL_MESSAGE.search(first_line)
    summary = match[1] if match else first_line
    line, _, column = exc.position.partition(":")
    where = f" at line {line}, column {column}" if column else ""
    return RuleProblem(
        "condition", f"condition does not compile{where}: {summary}", exc.position, str(exc)
    )


# CEL's comprehension macros: each iterates over a list (or a map's keys) that agents may supply.
COMPREHENSIONS = frozenset({"all", "exists", "exists_one", "map", "filter"})
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_STRING_START = re.compile(r"(?:[rR][bB]?|[bB][rR]?)?(\"\"\"|'''|\"|')")


def _line_column(source: str, at: int) -> str:
    line = source.count("\n", 0, at) + 1
    return f"{line}:{at - (source.rfind(chr(10), 0, at) + 1) + 1}"


def _string_end(source: str, at: int, quote: str, raw: bool) -> int:
    """Where the string literal whose body starts at `at` ends (just past its closing quote)."""
    while at < len(source):
        if source.startswith(quote, at):
            return at + len(quote)
        at += 2 if source[at] == "\\" and not raw else 1
    return at


def nested_comprehension(source: str) -> str:
    """The line:column of a comprehension macro inside another one's arguments, or "".

    `xs.all(x, ys.exists(y, ...))` costs len(xs) * len(ys) evaluations, and each level of nesting
    multiplies again; one after another (`xs.filter(...).all(...)`) costs their sum, so only
    nesting is refused. A scan of the tokens is enough: strings and comments are skipped, and
    each open parenthesis remembers whether it opened a macro's arguments."""
    opened: list[bool] = []  # per open parenthesis: does it hold a macro's arguments?
    at = 0
    while at < len(source):
        string = _STRING_START.match(source, at)
        if string and (at == 0 or not (source[at - 1].isalnum() or source[at - 1] == "_")):
            raw = "r" in string[0].lower().rstrip("\"'")
            at = _string_end(source, string.end(), string[1], raw)
            continue
        if source.startswith("//", at):
            end = source.find("\n", at)
            at = len(source) if end < 0 else end
            continue
        ident = _IDENT.match(source, at)
        if ident:
            after = ident.end()
            while after < len(source) and source[after] in " \t\r\n":
                after += 1
            if ident[0] in COMPREHENSIONS and source.startswith("(", after):
                if any(opened):
                    return _line_column(source, at)
                opened.append(True)
                at = after + 1
            else:
                at = ident.end()
            continue
        if source[at] in "([{":
            opened.append(False)
        elif source[at] in ")]}" and opened:
            opened.pop()
        at += 1
    return ""


def condition_problem(condition: str) -> RuleProblem | None:
    """Why a CEL condition is refused, with the position, or None when it may be saved: it
    does not compile, or it nests comprehension macros (`all`, `exists`, `exists_one`, `map`,
    `filter`) over lists agents supply, whose cost multiplies with each level."""
    try:
        compile_condition(condition)
    except ConditionError as exc:
        return _condition_problem(exc)
    position = nested_comprehension(condition)
    if position:
        line, _, column = position.partition(":")
        message = (
            f"condition nests a comprehension (all, exists, exists_one, map, filter) inside "
            f"another at line {line}, column {column}: their cost multiplies; test the lists "
            "one after the other, or compute the value as a derived value"
        )
        return RuleProblem("condition", message, position, message)
    return None


def rule_problems(
    spec: Any, *, tiers: Collection[str] | None = None, queues: Collection[str] | None = None
) -> list[RuleProblem]:
    """Everything wrong with one rule spec, at most one problem per field, in a fixed order.

    With `tiers` (the tier keys that exist), a rule naming another escalation tier is a problem;
    with `queues` (the queue names that exist), so is a rule naming another queue.
    """
    if not isinstance(spec, dict):
        return [RuleProblem("", "is not an object")]
    problems: list[RuleProblem] = []
    unknown = set(spec) - RULE_FIELDS
    if unknown:
        problems.append(RuleProblem("", f"has unknown fields: {sorted(unknown)}"))
    name = spec.get("name")
    if not isinstance(name, str) or not _SLUG.match(name) or len(name) > 80:
        problems.append(
            RuleProblem("name", "needs a name of letters, digits, - and _ (at most 80)")
        )
    if not spec.get("action_type"):
        problems.append(RuleProblem("action_type", "needs an action_type"))
    for field, limit in _TEXT_FIELDS.items():
        value = spec.get(field, "")
        if not isinstance(value, str) or len(value) > limit:
            problems.append(RuleProblem(field, f"{field} is text of at most {limit} characters"))
    agents = spec.get("agents", [])
    if not isinstance(agents, list) or not all(isinstance(a, str) and a for a in agents):
        problems.append(RuleProblem("agents", "agents is a list of agent names (empty for all)"))
    if spec.get("mode") not in Mode.values:
        problems.append(
            RuleProblem("mode", f"has mode {spec.get('mode')!r}; expected one of {Mode.values}")
        )
    role_problem = approver_role_message(spec.get("approver_role", "supervisor"))
    if role_problem:
        problems.append(RuleProblem("approver_role", role_problem))
    unknown_queue = unknown_queue_message(spec.get("queue"), queues)
    if unknown_queue:
        problems.append(RuleProblem("queue", unknown_queue))
    if spec.get("priority", Priority.NORMAL) not in Priority.values:
        problems.append(
            RuleProblem("priority", f"has an unknown priority; one of {Priority.values}")
        )
    if spec.get("on_timeout", OnTimeout.EXPIRE) not in OnTimeout.values:
        problems.append(
            RuleProblem("on_timeout", f"has an unknown on_timeout; one of {OnTimeout.values}")
        )
    approvals = spec.get("approvals_required", 1)
    if not _is_int(approvals) or approvals not in (1, 2):
        problems.append(RuleProblem("approvals_required", "approvals_required is 1 or 2"))
    sla = spec.get("sla_seconds")
    if sla is not None and (not _is_int(sla) or sla < 0):
        problems.append(RuleProblem("sla_seconds", "sla_seconds is a whole number of seconds"))
    condition = spec.get("condition", "true")
    if isinstance(condition, str) and len(condition) <= _TEXT_FIELDS["condition"]:
        problem = condition_problem(condition)
        if problem is not None:
            problems.append(problem)
    unknown_tier = unknown_tier_message(spec.get("escalation_tier"), tiers)
    if unknown_tier:
        problems.append(RuleProblem("escalation_tier", unknown_tier))
    first_per_field: dict[str, RuleProblem] = {}
    for problem in problems:
        first_per_field.setdefault(problem.field or f"rule-{id(problem)}", problem)
    return list(first_per_field.values())


def _rule_error(where: str, message: str) -> InvalidInput:
    return InvalidInput(f"{where} {message}", code=Code.INVALID_RULE, details={"where": where})


def _first_problem_code(spec: dict[str, Any], first: RuleProblem, tiers, queues) -> Code:
    if first.field == "escalation_tier" and first.message == unknown_tier_message(
        spec.get("escalation_tier"), tiers
    ):
        return Code.UNKNOWN_TIER
    if first.field == "queue" and first.message == unknown_queue_message(spec.get("queue"), queues):
        return Code.UNKNOWN_QUEUE
    if first.field == "approver_role":
        return Code.APPROVER_ROLE_NOT_DECIDING
    return Code.INVALID_RULE


def _validate_rule(
    index: int,
    spec: Any,
    *,
    where: str = "",
    tiers: Collection[str] | None = None,
    queues: Collection[str] | None = None,
) -> dict[str, Any]:
    """The spec if it is a valid rule; otherwise InvalidInput naming the first problem.

    `details["problems"]` lists every problem (field, message, position), so a form can show
    each one next to its field. With `tiers`, the escalation tier must be one of them (code
    `unknown_tier` when that is the first problem); with `queues`, the queue (`unknown_queue`).
    An approver role that does not decide actions is `approver_role_not_deciding`.
    """
    problems = rule_problems(spec, tiers=tiers, queues=queues)
    if not problems:
        return spec
    where = where or f"rules[{index}]"
    first = problems[0]
    details: dict[str, Any] = {"where": where, "problems": [p.as_dict() for p in problems]}
    if first.field == "condition" and first.detail:
        raise InvalidInput(
            f"{where} {first.message}",
            code=Code.INVALID_CONDITION,
            details={
                "rule": spec.get("name"), "position": first.position, "error": first.detail,
                **details,
            },
        )  # fmt: skip
    raise InvalidInput(
        f"{where} {first.message}",
        code=_first_problem_code(spec, first, tiers, queues),
        details=details,
    )


def _validate_rules(
    rules: Any, *, tiers: Collection[str] | None = None, queues: Collection[str] | None = None
) -> list[dict[str, Any]]:
    if not isinstance(rules, list):
        raise InvalidInput("rules is a list of rule objects", code=Code.INVALID_RULE)
    specs = [_validate_rule(i, spec, tiers=tiers, queues=queues) for i, spec in enumerate(rules)]
    seen: set[str] = set()
    for i, spec in enumerate(specs):
        if spec["name"] in seen:
            raise _rule_error(f"rules[{i}]", f"repeats the name {spec['name']!r}")
        seen.add(spec["name"])
    return specs


def default_mode_problems(default_modes: Any) -> list[str]:
    """What is wrong with an {action type key: default mode} mapping, as sentences."""
    if not isinstance(default_modes, dict):
        return ["action_types maps action type keys to {default_mode: <mode>}"]
    keys = ActionType.objects.filter(key__in=list(default_modes)).values_list("key", flat=True)
    known = set(keys)
    problems = []
    for key, mode in default_modes.items():
        if key not in known:
            problems.append(f"action_types: {key!r} is not an action type in the catalog")
        if mode not in Mode.values:
            problems.append(
                f"action_types: {key!r} has default_mode {mode!r}; expected one of {Mode.values}"
            )
    return problems


def _complete(spec: dict[str, Any]) -> dict[str, Any]:
    values = {**RULE_DEFAULTS, **spec}
    # Plain strings, not enum members, so audit data and diffs compare like with like.
    return {field: values[field] for field in RULE_SPEC_FIELDS} | {
        "mode": str(values["mode"]),
        "on_timeout": str(values["on_timeout"]),
        "priority": str(values["priority"]),
    }
