"""Evaluating the permission map: compile a published version once, decide many times."""

from __future__ import annotations

import fnmatch
import math
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

import cel
from django.conf import settings

from policies.models import ActionType, Mode, PolicyVersion, Rule
from policies.money import format_money

# From least to most restrictive; the stricter of the agent's intent and the rule applies.
STRICTNESS = [
    Mode.EXECUTE_LIMITED,
    Mode.EXECUTE_GATED,
    Mode.DRAFT_ONLY,
    Mode.RECOMMEND_ONLY,
    Mode.ESCALATE,
    Mode.READ_ONLY,
    Mode.FORBIDDEN,
]
INTENT_MODES = {
    "execute": Mode.EXECUTE_LIMITED,
    "recommend": Mode.RECOMMEND_ONLY,
    "draft": Mode.DRAFT_ONLY,
}
# Modes that leave the action to a person of the rule's approver role (approve, adopt, dismiss).
HUMAN_MODES = frozenset({Mode.EXECUTE_GATED, Mode.RECOMMEND_ONLY, Mode.DRAFT_ONLY})
# The variables a condition may use; `derived` is computed only for rules that reference it.
VARIABLES = ("params", "context", "agent", "derived")

DerivedValues = Mapping[str, Any] | Callable[[], Mapping[str, Any]] | None


def stricter(a: str, b: str) -> Mode:
    return max(Mode(a), Mode(b), key=STRICTNESS.index)


_PLACEHOLDER = re.compile(r"\{([a-z_]+(?:\.[a-z_]+)?)\}")

DEFAULT_EXPLANATIONS = {
    Mode.FORBIDDEN: "{action_type} is forbidden for agents",
    Mode.READ_ONLY: "agent `{agent}` may only read, not change, {action_type}",
    Mode.RECOMMEND_ONLY: "{action_type} by agent `{agent}` is kept as a recommendation for a human",
    Mode.DRAFT_ONLY: "{action_type} by agent `{agent}` is kept as a draft for a human to finish",
    Mode.EXECUTE_LIMITED: "{action_type} by agent `{agent}` executes without a human",
    Mode.EXECUTE_GATED: "{action_type} by agent `{agent}`: needs {approvals} approval(s)",
    Mode.ESCALATE: "{action_type} by agent `{agent}` must be handled by a person",
}


# What conditions read that the agent asserted itself (its own words, unchecked): the editor marks
# such conditions, so a policy admin sees a rule an agent can steer by saying the right thing.
AGENT_ASSERTED = frozenset({"context"})


class ConditionError(ValueError):
    """A CEL condition that does not compile; `position` is where the parser stopped."""

    def __init__(self, message: str, position: str = "") -> None:
        super().__init__(message)
        self.position = position


def compile_condition(source: str) -> cel.Program:
    try:
        return cel.compile(source or "true")
    except ValueError as exc:
        match = re.search(r"<input>:(\d+):(\d+)", str(exc))
        raise ConditionError(str(exc), f"{match[1]}:{match[2]}" if match else "") from exc


def reads_agent_assertions(source: str) -> bool:
    """Whether a condition reads `context.*`, which the agent states and nothing checks (False
    for a condition that does not compile: the editor shows that error instead)."""
    try:
        return bool(AGENT_ASSERTED & set(compile_condition(source).variables()))
    except ConditionError:
        return False


@dataclass(frozen=True)
class Decision:
    mode: str
    rule_id: int | None
    rule_name: str
    policy_version_id: int | None
    policy_version: int | None
    explanation: str
    approvals_required: int = 0
    approver_role: str = ""
    queue: str = ""
    # How urgent the rule says its actions are: an agent's hint is kept only up to this.
    priority: str = "normal"
    sla_seconds: int | None = None
    on_timeout: str = ""
    escalation_tier: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _type_matcher(pattern: str) -> Callable[[str], bool]:
    if not any(ch in pattern for ch in "*?["):
        return pattern.__eq__
    regex = re.compile(fnmatch.translate(pattern))
    return lambda key: regex.fullmatch(key) is not None


@dataclass(frozen=True, slots=True)
class _CompiledRule:
    rule: Rule
    matches_type: Callable[[str], bool]
    agents: frozenset[str]
    program: cel.Program
    # The condition's free variables that the engine provides, e.g. ("params", "derived").
    variables: tuple[str, ...]
    # A condition of `true` is not evaluated at all.
    always: bool

    @classmethod
    def build(cls, rule: Rule) -> _CompiledRule:
        program = compile_condition(rule.condition)
        return cls(
            rule=rule,
            matches_type=_type_matcher(rule.action_type),
            agents=frozenset(rule.agents or []),
            program=program,
            variables=tuple(v for v in VARIABLES if v in program.variables()),
            always=(rule.condition or "true").strip() == "true",
        )


# Distinct (action type, agent) pairs remembered per compiled version; both come from catalogs, so
# this is only a bound against a flood of unknown agent names.
_CANDIDATES_LIMIT = 4096


class CompiledPolicy:
    """A version's rules, compiled, with the rules that can apply to each (type, agent) pair.

    Globs and agent lists are resolved once per pair, so a decision walks only the rules that
    apply to its action type and agent and spends its time on their conditions.
    """

    def __init__(self, version: PolicyVersion, rules: list[Rule]) -> None:
        self.version = version
        self.rules = [_CompiledRule.build(r) for r in rules]
        self._candidates: dict[tuple[str, str], tuple[_CompiledRule, ...]] = {}

    def candidates(self, action_type: str, agent_name: str) -> tuple[_CompiledRule, ...]:
        key = (action_type, agent_name)
        found = self._candidates.get(key)
        if found is None:
            found = tuple(
                c
                for c in self.rules
                if c.matches_type(action_type) and (not c.agents or agent_name in c.agents)
            )
            if len(self._candidates) < _CANDIDATES_LIMIT:
                self._candidates[key] = found  # a racing thread computes the same tuple
        return found


_cache: dict[int, CompiledPolicy] = {}
_cache_lock = threading.Lock()


def compiled_policy(version: PolicyVersion) -> CompiledPolicy:
    # Published versions are immutable, so a compiled copy never goes stale.
    compiled = _cache.get(version.pk)
    if compiled is None:
        rules = list(version.rules.order_by("position", "id"))
        compiled = CompiledPolicy(version, rules)
        with _cache_lock:
            _cache[version.pk] = compiled
    return compiled


def compiled_policy_of(version_id: int) -> CompiledPolicy:
    """The compiled published version `version_id`, without a query once this process compiled
    it. Callers read which version is active in a query they make anyway (the submit path reads
    it with the action type), so a version activated by any process decides the next action."""
    compiled = _cache.get(version_id)
    if compiled is None:
        compiled = compiled_policy(PolicyVersion.objects.get(pk=version_id))
    return compiled


def render_explanation(template: str, values: dict[str, Any]) -> str:
    def replace(match: re.Match[str]) -> str:
        name = match[1]
        if "." in name:
            head, _, tail = name.partition(".")
            container = values.get(head)
            value = container.get(tail, "") if isinstance(container, dict) else ""
        else:
            value = values.get(name, "")
        return str(value)

    return _PLACEHOLDER.sub(replace, template)


# The clock of the time budget (tests replace it with one they move).
monotonic = time.perf_counter
# What a variable reads as once a condition is out of time: CEL has no overload for it, so the
# evaluation fails at its next step instead of running on.
_OUT_OF_TIME = cel.OptionalValue.none()


class ConditionOutOfTime(Exception):
    """A condition still running when its time budget (CEL_TIME_BUDGET_MS) ran out."""


class _Activation:
    """The CEL context of one decision, filled only with the variables a condition uses.

    Converting a variable to CEL costs more than evaluating most conditions, so each is converted
    once per decision, and `derived` (database reads) is computed only if a condition needs it.

    Each evaluation has a time budget. CEL runs in Rust holding the GIL, so it cannot be
    interrupted from outside; but it asks the context's resolver before reading any variable
    (each round of a comprehension that reads one), and past the deadline the resolver hands back
    a value no operation accepts, which ends the evaluation with an error. Whatever an evaluation
    returns after its deadline is discarded: the condition ran out of time.
    """

    __slots__ = ("_added", "_context", "_deadline", "_sources")

    def __init__(self, sources: dict[str, Any]) -> None:
        self._context = cel.Context()
        self._added: set[str] = set()
        self._sources = sources
        self._deadline = math.inf
        self._context.set_variable_resolver(self._resolve)

    def _resolve(self, name: str) -> Any:
        return _OUT_OF_TIME if monotonic() > self._deadline else None

    def evaluate(self, compiled: _CompiledRule) -> Any:
        context = self.for_rule(compiled)  # reading `derived` is not the condition's time
        budget = settings.CEL_TIME_BUDGET_MS
        self._deadline = monotonic() + budget / 1000
        try:
            result = compiled.program.execute(context)
        except Exception:
            if monotonic() > self._deadline:
                raise ConditionOutOfTime(f"ran past its budget of {budget:g} ms") from None
            raise
        finally:
            deadline, self._deadline = self._deadline, math.inf
        if monotonic() > deadline:
            raise ConditionOutOfTime(f"ran past its budget of {budget:g} ms")
        return result

    def for_rule(self, compiled: _CompiledRule) -> cel.Context:
        for name in compiled.variables:
            if name not in self._added:
                value = self._sources[name]
                if callable(value):
                    value = value()
                self._context.add_variable(name, value if value is not None else {})
                self._added.add(name)
        return self._context


def decide(
    *,
    policy: CompiledPolicy | None,
    action_type: ActionType,
    agent_name: str,
    params: dict[str, Any],
    context: dict[str, Any],
    intent: str = "execute",
    derived: DerivedValues = None,
) -> Decision:
    """First matching rule wins; the action type's default applies when none does.

    `derived` holds values computed from the system of record (or a function returning them),
    visible to conditions as `derived.<name>`; a function is called only when a condition that
    references `derived` is evaluated, and at most once.
    """
    activation = _Activation(
        {"params": params, "context": context, "agent": {"name": agent_name}, "derived": derived}
    )
    matched: Rule | None = None
    template = ""
    mode: str = action_type.default_mode
    error = ""
    for compiled in policy.candidates(action_type.key, agent_name) if policy else ():
        rule = compiled.rule
        if compiled.always:
            matched, mode, template = rule, rule.mode, rule.explanation
            break
        try:
            hit = activation.evaluate(compiled)
        except Exception as exc:
            error = f"rule `{rule.name}` could not be evaluated ({type(exc).__name__}: {exc})"
            # Failing closed means at least a human, never less than the rule itself would give:
            # a rule that forbids or escalates keeps doing so when its condition breaks, or when
            # it runs out of time (ConditionOutOfTime): a permissive rule is held for a human.
            matched, mode = rule, stricter(rule.mode, Mode.EXECUTE_GATED)
            break
        if hit is True:
            matched, mode, template = rule, rule.mode, rule.explanation
            break

    intent_mode = INTENT_MODES.get(intent, Mode.EXECUTE_LIMITED)
    if stricter(intent_mode, mode) != Mode(mode):
        mode, template = intent_mode, ""

    approvals = (matched.approvals_required if matched else 1) if mode == Mode.EXECUTE_GATED else 0
    values = {
        "agent": agent_name,
        "action_type": action_type.key,
        "amount": format_money(params.get("amount"), params.get("currency")),
        "params": params,
        "context": context,
        "rule": matched.name if matched else "default",
        "approvals": approvals,
        "mode": mode,
    }
    if error and mode == Mode.EXECUTE_GATED:
        explanation = f"{error}: held for {approvals} human approval(s)"
    elif error:
        explanation = f"{error}: treated as matching, {mode}"
    else:
        explanation = render_explanation(template or DEFAULT_EXPLANATIONS[Mode(mode)], values)
        if matched is None:
            explanation += f" (no rule matched; default for {action_type.key})"
    return Decision(
        mode=mode,
        rule_id=matched.pk if matched else None,
        rule_name=matched.name if matched else "",
        policy_version_id=policy.version.pk if policy else None,
        policy_version=policy.version.number if policy else None,
        explanation=explanation,
        approvals_required=approvals,
        approver_role=(matched.approver_role if matched else "supervisor")
        if mode in HUMAN_MODES
        else "",
        queue=(matched.queue if matched else "") or "",
        priority=matched.priority if matched else "normal",
        sla_seconds=matched.sla_seconds if matched else None,
        on_timeout=matched.on_timeout if matched else "",
        escalation_tier=matched.escalation_tier if matched else "",
    )
