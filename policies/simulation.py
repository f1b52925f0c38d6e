"""Replaying past actions against a policy version: what it would have decided differently.

Reads only. Every action submitted in the window is decided again by the version (a draft is
compiled afresh, never cached) and compared with the decision recorded when it was submitted:
an outcome changes when the mode differs, or when both gate but ask for a different number of
approvals. Figures are kept per mode, per rule of the replayed version and per shift (action
type, old outcome, new outcome), with money summed per currency in minor units. Actions are
streamed in (created_at, id) order, so memory stays flat however many there are.

Conditions that read `derived` values (computed from the system of record at submission) see
none on replay: those values are not kept with actions, and today's values would tell what the
rule decides now, not then. Such a condition fails closed, as it would live; the report counts
these replays as `uncertain` so nobody mistakes them for real changes.

Policies do not import the app that keeps actions: that app (approvals) lends its reader of past
actions with `set_history_source` when it gets ready, and the reader yields `PastAction` records.

The pages run a simulation in a Celery worker and follow its `progress` (`simulation_runs`); the
`policy simulate` command runs it in place.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from django.core.exceptions import ImproperlyConfigured

from config import clock
from config.errors import Code, InvalidInput
from policies.engine import decide
from policies.models import ActionType, Mode, PolicyVersion
from policies.money import format_money
from policies.selectors import policy_compile, policy_rules

MAX_DAYS = 366
EXAMPLES = 20
# How many replays between two reports of progress.
PROGRESS_EVERY = 200


class PastAction(NamedTuple):
    """What a replay reads of one past action: a tuple, not a model instance, to stream cheaply."""

    id: Any
    action_type_id: int
    agent_name: str
    params: dict[str, Any] | None
    context: dict[str, Any] | None
    intent: str | None
    mode: str
    approvals_required: int
    amount: int | None
    currency: str
    created_at: datetime


# `source(since=..., until=...)`: the actions submitted in [since, until), oldest first (by
# created_at, then id), streamed so that memory stays flat however many there are.
HistorySource = Callable[..., Iterable[PastAction]]
# `count(since=..., until=...)`: how many actions the source yields for the window.
HistoryCount = Callable[..., int]
_history_source: HistorySource | None = None
_history_count: HistoryCount | None = None
# `progress(done, total)`: replays done so far of `total` (None when the source cannot count).
Progress = Callable[[int, int | None], None]


def set_history_source(source: HistorySource, *, count: HistoryCount | None = None) -> None:
    """Say where past actions come from, and how to count them (for progress), when ready."""
    global _history_source, _history_count
    _history_source, _history_count = source, count


def _past_actions(*, since: datetime, until: datetime) -> Iterable[PastAction]:
    if _history_source is None:
        raise ImproperlyConfigured("No history source is set: is the approvals app installed?")
    return _history_source(since=since, until=until)


# "would have <verb> N more <action type>": the target outcome in plain words.
MODE_VERBS = {
    Mode.FORBIDDEN: "blocked",
    Mode.READ_ONLY: "blocked (read only)",
    Mode.RECOMMEND_ONLY: "kept as a recommendation",
    Mode.DRAFT_ONLY: "kept as a draft",
    Mode.EXECUTE_LIMITED: "executed without a human",
    Mode.EXECUTE_GATED: "gated",
    Mode.ESCALATE: "escalated",
}


@dataclass
class Tally:
    """A number of actions and the money they carry, per currency, in minor units."""

    actions: int = 0
    money: Counter[str] = field(default_factory=Counter)

    def add(self, amount: int | None, currency: str) -> None:
        self.actions += 1
        if amount is not None and currency:
            self.money[currency] += amount

    def money_text(self) -> str:
        return ", ".join(format_money(self.money[c], c) for c in sorted(self.money)) or "no money"


@dataclass
class ModeFigures:
    mode: str
    before: Tally = field(default_factory=Tally)  # decided with this mode when submitted
    after: Tally = field(default_factory=Tally)  # would be decided with it by the version
    gained: Tally = field(default_factory=Tally)  # newly in this mode
    lost: Tally = field(default_factory=Tally)  # no longer in this mode


@dataclass
class RuleFigures:
    name: str  # "" for the action types' defaults
    position: int | None
    mode: str
    decided: Tally = field(default_factory=Tally)
    changed: Tally = field(default_factory=Tally)


@dataclass
class Shift:
    action_type: str
    before: str
    after: str
    tally: Tally = field(default_factory=Tally)

    @property
    def sentence(self) -> str:
        return (
            f"{self.tally.actions} {self.action_type}: {self.before} -> {self.after} "
            f"({self.tally.money_text()})"
        )


@dataclass(frozen=True)
class Example:
    action_id: str
    action_type: str
    agent: str
    created_at: datetime
    amount: str
    before: str
    after: str
    rule: str


@dataclass
class SimulationReport:
    version: PolicyVersion
    days: int
    since: datetime
    until: datetime
    replayed: int = 0
    changed: Tally = field(default_factory=Tally)
    # Replays that reached a condition reading `derived.*` values (not kept with actions).
    uncertain: Tally = field(default_factory=Tally)
    modes: list[ModeFigures] = field(default_factory=list)
    rules: list[RuleFigures] = field(default_factory=list)
    shifts: list[Shift] = field(default_factory=list)
    examples: list[Example] = field(default_factory=list)

    def headlines(self) -> list[str]:
        """One sentence per (new mode, action type) that gained actions, biggest first."""
        gained: dict[tuple[str, str], Tally] = defaultdict(Tally)
        for shift in self.shifts:
            mode = _mode_of(shift.after)
            if mode == _mode_of(shift.before):
                continue
            tally = gained[(mode, shift.action_type)]
            tally.actions += shift.tally.actions
            tally.money.update(shift.tally.money)
        ordered = sorted(gained.items(), key=lambda item: (-item[1].actions, item[0]))
        return [
            f"v{self.version.number} would have {MODE_VERBS[Mode(mode)]} {tally.actions} more "
            f"{action_type} in the last {self.days} day(s), {tally.money_text()} at stake"
            for (mode, action_type), tally in ordered
        ]

    def lines(self) -> list[str]:
        """The whole report as plain text, for the command line."""
        out = [
            f"Simulation of v{self.version.number} ({self.version.status}) against "
            f"{self.replayed} action(s) submitted in the last {self.days} day(s) "
            f"({self.since:%Y-%m-%d %H:%M} to {self.until:%Y-%m-%d %H:%M} UTC)",
            f"{self.changed.actions} would change outcome ({self.changed.money_text()})",
        ]
        if self.uncertain.actions:
            out.append(
                f"{self.uncertain.actions} replay(s) reached a condition on derived.* values, "
                "which actions do not keep: those outcomes are uncertain"
            )
        out += [f"  {line}" for line in self.headlines()]
        out.append("By mode (actual -> simulated; gained / lost):")
        out += [
            f"  {m.mode:<16} {m.before.actions:>7} -> {m.after.actions:<7} "
            f"+{m.gained.actions} ({m.gained.money_text()}) / "
            f"-{m.lost.actions} ({m.lost.money_text()})"
            for m in self.modes
        ]
        out.append("By rule of the simulated version (decides; of which changed):")
        out += [
            f"  {_rule_label(r):<40} {r.decided.actions:>7}; {r.changed.actions} changed "
            f"({r.changed.money_text()})"
            for r in self.rules
        ]
        if self.shifts:
            out.append("Shifts:")
            out += [f"  {shift.sentence}" for shift in self.shifts]
        return out


def _mode_of(outcome: str) -> str:
    return outcome.split(" ", 1)[0]


def _outcome(mode: str, approvals: int) -> str:
    mode = str(mode)
    if mode == Mode.EXECUTE_GATED:
        return f"{mode} ({approvals} approval{'s' if approvals != 1 else ''})"
    return str(mode)


def _rule_label(rule: RuleFigures) -> str:
    if rule.position is None:
        return "(action type default)"
    return f"#{rule.position} {rule.name}"


def days_check(days: Any) -> int:
    if not isinstance(days, int) or isinstance(days, bool) or not 1 <= days <= MAX_DAYS:
        raise InvalidInput(f"days is a whole number from 1 to {MAX_DAYS}.", code=Code.INVALID_DAYS)
    return days


def simulate(
    *,
    version: PolicyVersion,
    days: int,
    now: datetime | None = None,
    progress: Progress | None = None,
) -> SimulationReport:
    """Decide every action of the last `days` days again with `version` and count what changes.

    `progress(done, total)` is called at the start, every PROGRESS_EVERY replays and at the end.
    """
    days_check(days)
    until = now or clock.now()
    since = until - timedelta(days=days)
    policy = policy_compile(version=version)
    report = SimulationReport(version=version, days=days, since=since, until=until)

    types = {t.pk: t for t in ActionType.objects.order_by("pk")}
    modes = {mode: ModeFigures(mode) for mode in Mode.values}
    rules: dict[int | None, RuleFigures] = {
        rule.pk: RuleFigures(rule.name, rule.position, rule.mode)
        for rule in policy_rules(version=version)
    }
    shifts: dict[tuple[str, str, str], Shift] = {}

    total = _history_count(since=since, until=until) if progress and _history_count else None
    if progress:
        progress(0, total)
    for past in _past_actions(since=since, until=until):
        _replay(report, policy, types, modes, rules, shifts, past)
        if progress and report.replayed % PROGRESS_EVERY == 0:
            progress(report.replayed, total)
    if progress:
        progress(report.replayed, total)

    report.modes = [m for m in modes.values() if m.before.actions or m.after.actions]
    report.rules = sorted(
        (r for r in rules.values() if r.decided.actions or r.position is not None),
        key=lambda r: (r.position is None, r.position or 0),
    )
    report.shifts = sorted(
        shifts.values(), key=lambda s: (-s.tally.actions, s.action_type, s.before, s.after)
    )
    return report


class _NoDerivedValues:
    """Stands in for `derived` on replay: provides nothing and remembers being asked."""

    __slots__ = ("asked",)

    def __init__(self) -> None:
        self.asked = False

    def __call__(self) -> dict[str, Any]:
        self.asked = True
        return {}


def _replay(report, policy, types, modes, rules, shifts, past: PastAction) -> None:
    (action_id, type_id, agent_name, params, context, intent, mode, approvals, amount, currency,
     created_at) = past  # fmt: skip
    action_type = types[type_id]
    derived = _NoDerivedValues()
    decision = decide(
        policy=policy,
        action_type=action_type,
        agent_name=agent_name,
        params=params or {},
        context=context or {},
        intent=intent or "execute",
        derived=derived,
    )
    if derived.asked:
        report.uncertain.add(amount, currency)
    new_mode = str(decision.mode)
    before = _outcome(mode, approvals)
    after = _outcome(new_mode, decision.approvals_required)
    report.replayed += 1
    if mode not in modes:  # a mode no longer in the catalog
        modes[mode] = ModeFigures(mode)
    modes[mode].before.add(amount, currency)
    modes[new_mode].after.add(amount, currency)
    rule = rules.get(decision.rule_id)
    if rule is None:
        rule = rules[None] = rules.get(None) or RuleFigures("", None, "")
    rule.decided.add(amount, currency)
    if before == after:
        return
    report.changed.add(amount, currency)
    rule.changed.add(amount, currency)
    if mode != new_mode:
        modes[new_mode].gained.add(amount, currency)
        modes[mode].lost.add(amount, currency)
    key = (action_type.key, before, after)
    if key not in shifts:
        shifts[key] = Shift(*key)
    shifts[key].tally.add(amount, currency)
    if len(report.examples) < EXAMPLES:
        report.examples.append(
            Example(
                action_id=str(action_id),
                action_type=action_type.key,
                agent=agent_name,
                created_at=created_at,
                amount=format_money(amount, currency) if amount is not None else "",
                before=before,
                after=after,
                rule=decision.rule_name or "(default)",
            )
        )
