"""Rule changes the evidence suggests to the active policy: raise a threshold people always
approve, and gate what leaks when nobody looks.

Reads only; `qa.services.suggestions.suggestion_draft` opens one as a policy draft. Both read the
resolutions of a window (`qa.resolutions`) and what QA made of them:

- Raise a threshold. A rule that gates (execute_gated) on a bare amount, `params.amount > N` (or
  `>=`): when at least MIN_ACTIONS it gated resolved in the window, at least APPROVED_PERCENT % of
  them were approved as proposed (executed, never overridden nor rolled back), and QA judged
  right every one it reviewed (at least MIN_REVIEWED), N rises to the largest amount approved.
  The rule that lets amounts below the bound through (`params.amount <= N` or `< N`, same action
  type and agents) moves with it, so no amount falls between the two.
- Gate a leak. An agent's actions of one type that executed without a person: when at least
  MIN_ACTIONS did and at least LEAK_PERCENT % of them leaked (QA judged them wrong, they were
  rolled back, or outcome feedback reports a chargeback), a rule gates that agent's actions of
  that type, placed just before the first rule that lets them execute without a person.

Only a bare amount comparison is moved: any other condition may mean more than it says, so its
rule is left alone. A threshold is a bare number, so a rule whose actions carry more than one
currency is left alone too.

A review counts when it is the current review of a submitted sample or second review; it judges
the decision right when its verdict is right or a dispute of it was overturned.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db.models import Count, Exists, Max, OuterRef, Q, QuerySet, Sum

from config import clock
from policies.models import Mode, PolicyVersion, Rule
from policies.money import exponent, format_money
from qa.models import OutcomeReport
from qa.resolutions import EXECUTED_STATUSES, counted_reviews, resolutions

DEFAULT_DAYS = 30
MIN_ACTIONS = 20
MIN_REVIEWED = 3
APPROVED_PERCENT = 95
LEAK_PERCENT = 5
EXAMPLES = 20

# Parsed strictly: the whole condition is one comparison of the amount with a whole number.
_GATE_BOUND = re.compile(r"\s*params\.amount\s*(>=|>)\s*(\d{1,15})\s*")
_PASS_BOUND = re.compile(r"\s*params\.amount\s*(<=|<)\s*(\d{1,15})\s*")
_NOT_SLUG = re.compile(r"[^-a-zA-Z0-9_]+")
# Where a rule's routing is copied from when a new rule gates what it did not.
_ROUTING = ("approvals_required", "approver_role", "queue", "sla_seconds", "on_timeout")

# Approved as the agent proposed it: a person let it execute and nobody undid or changed it.
_APPROVED = Q(by_person=True, overridden=False, rolled_back=False, status__in=EXECUTED_STATUSES)
_LEAKED = Q(judged_wrong=True) | Q(rolled_back=True) | Q(charged_back=True)


@dataclass(frozen=True)
class Evidence:
    """What a suggestion stands on: counts, the money at stake per currency (minor units), and
    some of the actions counted."""

    counts: dict[str, int]
    money: dict[str, int] = field(default_factory=dict)
    example_ids: tuple[str, ...] = ()

    def money_text(self) -> str:
        return ", ".join(format_money(self.money[c], c) for c in sorted(self.money))


@dataclass(frozen=True)
class RuleChange:
    """`update`: the rule named `rule` gets `spec`; `add`: a new rule `spec` goes just before
    the rule named `before` (at the end when there is none)."""

    op: str  # update | add
    rule: str
    spec: dict[str, Any]
    before: str = ""


@dataclass(frozen=True)
class Suggestion:
    key: str  # raise:<rule>:<new amount> | gate:<agent>:<action type>
    kind: str  # raise | gate
    text: str
    version: int  # the active policy version it changes
    evidence: Evidence
    changes: tuple[RuleChange, ...]


def suggestions(
    *, since: datetime | None = None, until: datetime | None = None
) -> list[Suggestion]:
    """What the evidence of [since, until) suggests (by default the last DEFAULT_DAYS days):
    raised thresholds in rule order, then gated leaks, the largest share first."""
    until = until or clock.now()
    since = since or until - timedelta(days=DEFAULT_DAYS)
    version = PolicyVersion.objects.filter(is_active=True).first()
    if version is None:
        return []
    rules = list(version.rules.order_by("position", "id"))
    window = with_judgements(resolutions(since=since, until=until))
    days = max(1, round((until - since) / timedelta(days=1)))
    found = [s for rule in rules if (s := _raise(version, rule, rules, window, days))]
    return found + _gates(version, rules, window)


def suggestion_get(*, key: str, since: datetime, until: datetime) -> Suggestion | None:
    return next((s for s in suggestions(since=since, until=until) if s.key == key), None)


def with_judgements(qs: QuerySet) -> QuerySet:
    """`qs` (of actions) with `reviewed` (a review counts), `judged_wrong` (a counted review
    says the decision was wrong) and `charged_back` (outcome feedback reports a chargeback)."""
    counted = counted_reviews().filter(action=OuterRef("pk"))
    return qs.annotate(
        reviewed=Exists(counted),
        judged_wrong=Exists(counted.filter(right=False)),
        charged_back=Exists(OutcomeReport.objects.filter(action=OuterRef("pk"), chargeback=True)),
    )


# ---------------------------------------------------------------------------------------------
# raise a threshold


def _raise(
    version: PolicyVersion, rule: Rule, rules: list[Rule], window: QuerySet, days: int
) -> Suggestion | None:
    bound = _GATE_BOUND.fullmatch(rule.condition or "")
    if rule.mode != Mode.EXECUTE_GATED or bound is None:
        return None
    old = int(bound[2])
    gated = window.filter(rule_name=rule.name, mode=Mode.EXECUTE_GATED)
    # Grouped rather than `aggregate()`: Django cannot aggregate over these annotations.
    figures = (
        gated.values("rule_name")
        .annotate(
            actions=Count("pk"),
            approved=Count("pk", filter=_APPROVED),
            reviewed=Count("pk", filter=Q(reviewed=True)),
            wrong=Count("pk", filter=Q(judged_wrong=True)),
            largest=Max("amount"),
            new=Max("amount", filter=_APPROVED),
        )
        .order_by("rule_name")
        .first()
    )
    if figures is None:
        return None
    money = _money(gated)
    actions, approved, reviewed = figures["actions"], figures["approved"], figures["reviewed"]
    new = figures["new"]
    if (
        actions < MIN_ACTIONS
        or approved * 100 < APPROVED_PERCENT * actions
        or reviewed < MIN_REVIEWED
        or figures["wrong"]
        or len(money) != 1
        or new is None
        or new <= old
    ):
        return None
    (currency,) = money
    changes = [RuleChange("update", rule.name, _moved(rule, bound[1], old, new, currency))]
    companion = _companion(rule, rules, old)
    if companion is not None:
        rule_below, op = companion
        changes.append(
            RuleChange("update", rule_below.name, _moved(rule_below, op, old, new, currency))
        )
    text = (
        f"rule {rule.name} gated {actions} {_things(rule.action_type)} up to "
        f"{format_money(figures['largest'], currency)} in the last {days} days; "
        f"{approved * 100 // actions} % were approved and QA judged all {reviewed} reviewed "
        f"right: raise the threshold to {format_money(new, currency)}?"
    )
    examples = gated.filter(_APPROVED).order_by("-amount", "id").values_list("pk", flat=True)
    return Suggestion(
        key=f"raise:{rule.name}:{new}",
        kind="raise",
        text=text,
        version=version.number,
        evidence=Evidence(
            counts={
                "actions": actions,
                "approved": approved,
                "reviewed": reviewed,
                "judged_right": reviewed,
            },
            money=money,
            example_ids=tuple(str(pk) for pk in examples[:EXAMPLES]),
        ),
        changes=tuple(changes),
    )


def _companion(rule: Rule, rules: list[Rule], old: int) -> tuple[Rule, str] | None:
    """The rule that lets the amounts below `rule`'s bound through, and its operator."""
    for other in rules:
        bound = _PASS_BOUND.fullmatch(other.condition or "")
        if (
            other.pk != rule.pk
            and bound is not None
            and int(bound[2]) == old
            and other.action_type == rule.action_type
            and sorted(other.agents or []) == sorted(rule.agents or [])
        ):
            return other, bound[1]
    return None


def _moved(rule: Rule, op: str, old: int, new: int, currency: str) -> dict[str, Any]:
    """`rule`'s spec with its bound moved from `old` to `new`, in its condition and in the
    explanation's words ("> 50.00 limit" becomes "> 80.00 limit")."""
    spec = rule.spec()
    spec["condition"] = f"params.amount {op} {new}"
    said = re.compile(rf"(?<![\d.,]){re.escape(_plain(old, currency))}(?!\d)")
    spec["explanation"] = said.sub(_plain(new, currency), spec["explanation"])[:300]
    return spec


def _plain(amount: int, currency: str) -> str:
    """An amount as a rule's explanation writes it: "50.00", without the currency."""
    places = exponent(currency)
    return f"{Decimal(amount).scaleb(-places):.{places}f}"


# ---------------------------------------------------------------------------------------------
# gate a leak


def _gates(version: PolicyVersion, rules: list[Rule], window: QuerySet) -> list[Suggestion]:
    unattended = window.filter(unattended=True)
    groups = (
        unattended.values("agent__name", "action_type__key")
        .annotate(
            actions=Count("pk"),
            leaked=Count("pk", filter=_LEAKED),
            judged_wrong=Count("pk", filter=Q(judged_wrong=True)),
            rolled_back=Count("pk", filter=Q(rolled_back=True)),
            charged_back=Count("pk", filter=Q(charged_back=True)),
        )
        .order_by("agent__name", "action_type__key")
    )
    names = {rule.name for rule in rules}
    found = []
    for group in groups:
        agent, action_type = group.pop("agent__name"), group.pop("action_type__key")
        actions, leaked = group["actions"], group["leaked"]
        name = _NOT_SLUG.sub("-", f"gate-{agent}-{action_type}")[:80]
        if actions < MIN_ACTIONS or leaked * 100 < LEAK_PERCENT * actions or name in names:
            continue
        percent = (leaked * 200 + actions) // (2 * actions)  # rounded half up
        leaks = unattended.filter(_LEAKED, agent__name=agent, action_type__key=action_type)
        evidence = Evidence(
            counts=group,
            money=_money(leaks),
            example_ids=tuple(
                str(pk)
                for pk in leaks.order_by("-amount", "id").values_list("pk", flat=True)[:EXAMPLES]
            ),
        )
        money = f"; {evidence.money_text()}" if evidence.money else ""
        things = _things(action_type)
        text = (
            f"{things} executed without a person for agent {agent} leaked {percent} % "
            f"({leaked} of {actions}{money}): gate them"
        )
        spec = _gate_spec(rules, name, agent, action_type, things, percent)
        before = _first_unattended_rule(rules, agent, action_type)
        found.append(
            (
                leaked / actions,
                Suggestion(
                    key=f"gate:{agent}:{action_type}",
                    kind="gate",
                    text=text,
                    version=version.number,
                    evidence=evidence,
                    changes=(RuleChange("add", name, spec, before.name if before else ""),),
                ),
            )
        )
    found.sort(key=lambda item: (-item[0], item[1].key))
    return [suggestion for _, suggestion in found]


def _applies(rule: Rule, agent: str, action_type: str) -> bool:
    return fnmatch.fnmatchcase(action_type, rule.action_type) and (
        not rule.agents or agent in rule.agents
    )


def _first_unattended_rule(rules: list[Rule], agent: str, action_type: str) -> Rule | None:
    """The first rule that lets the agent's actions of this type execute without a person
    (none: they fall through to the action type's default mode, after every rule)."""
    return next(
        (r for r in rules if r.mode == Mode.EXECUTE_LIMITED and _applies(r, agent, action_type)),
        None,
    )


def _gate_spec(
    rules: list[Rule], name: str, agent: str, action_type: str, things: str, percent: int
) -> dict[str, Any]:
    """A rule gating the agent's actions of this type, routed like the rule that gates the
    type already (its queue, approvers and SLA), if there is one."""
    gate = next(
        (r for r in rules if r.mode == Mode.EXECUTE_GATED and _applies(r, agent, action_type)),
        None,
    )
    routing = {f: getattr(gate, f) for f in _ROUTING} if gate else {}
    return {
        "name": name,
        "action_type": action_type,
        "agents": [agent],
        "condition": "true",
        "mode": Mode.EXECUTE_GATED.value,
        **routing,
        "explanation": (
            f"{things} by agent `{{agent}}` need a person: QA found {percent} % of those "
            "executed without one leaked"
        ),
    }


# ---------------------------------------------------------------------------------------------
# words and money


def _money(qs: QuerySet) -> dict[str, int]:
    rows = (
        qs.filter(amount__isnull=False)
        .exclude(currency="")
        .values("currency")
        .annotate(total=Sum("amount"))
        .order_by("currency")
    )
    return {row["currency"]: row["total"] for row in rows}


def _things(action_type: str) -> str:
    """What a rule's actions are called in a sentence: "refunds" for refund.issue or refund.*."""
    noun = action_type.split(".")[0].strip("*?[]") or "action"
    if noun.endswith(("ss", "x", "sh", "ch")):
        return f"{noun}es"
    return noun if noun.endswith("s") else f"{noun}s"
