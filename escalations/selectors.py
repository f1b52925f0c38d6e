"""Reading escalation cases: one, a person's list, counts per tier, and the rulebook's facts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import Count, F, Q

from approvals import rulebook
from config.errors import Code, NotFound
from escalations.models import CaseStatus, Escalation
from policies.models import Tier

UNRESOLVED = (CaseStatus.OPEN, CaseStatus.ACKNOWLEDGED)


def tier_facts(tier: Tier) -> rulebook.TierFacts:
    return rulebook.TierFacts.of(tier)


def case_facts(case: Escalation) -> rulebook.CaseFacts:
    return rulebook.CaseFacts(
        status=case.status,
        tier=tier_facts(case.tier),
        agent_id=case.agent_id,
        assignee_id=case.assignee_id,
        acknowledged_by_id=case.acknowledged_by_id,
        acknowledged_by_name=(
            case.acknowledged_by.get_username() if case.acknowledged_by_id else ""
        ),
    )


def parse_case_id(case_id: Any) -> int:
    try:
        return int(case_id)
    except (TypeError, ValueError) as exc:
        raise NotFound("No such escalation case.", code=Code.CASE_NOT_FOUND) from exc


def _cases():
    return Escalation.objects.select_related(
        "tier", "action", "action__action_type", "agent", "acknowledged_by", "assignee",
        "resolved_by",
    )  # fmt: skip


def case_get(*, case_id: Any) -> Escalation:
    case = _cases().filter(pk=parse_case_id(case_id)).first()
    if case is None:
        raise NotFound("No such escalation case.", code=Code.CASE_NOT_FOUND)
    return case


def tiers_handled(person: rulebook.Person) -> list[Tier]:
    """The tiers whose cases `person` works (every tier for superusers and auditors' reading is
    separate: see `cases_visible`)."""
    return [t for t in Tier.objects.order_by("key") if rulebook.handles(person, tier_facts(t))]


@dataclass(frozen=True)
class Workspace:
    """What the escalation workspace knows of one person, from one read of the tiers: every tier,
    the ones they handle, and the rulebook's answers about them."""

    tiers: list[Tier]
    handled: list[Tier]
    may_use: bool  # the workspace and its feed (`rulebook.may_use_escalations`)
    sees_all: bool  # reads every tier's cases (`rulebook.may_see_every_case`)

    @property
    def handled_keys(self) -> list[str]:
        return [t.key for t in self.handled]

    @property
    def shown_tiers(self) -> list[Tier]:
        """The tiers whose cases the person sees (their counts, their filter)."""
        return self.tiers if self.sees_all else self.handled


def workspace_of(*, person: rulebook.Person) -> Workspace:
    """One query: the tiers, answered for `person`."""
    tiers = list(Tier.objects.order_by("key"))
    facts = [tier_facts(t) for t in tiers]
    return Workspace(
        tiers=tiers,
        handled=[t for t, f in zip(tiers, facts, strict=True) if rulebook.handles(person, f)],
        may_use=rulebook.may_use_escalations(person, facts),
        sees_all=rulebook.may_see_every_case(person),
    )


def _visible(person: rulebook.Person, handled: list[str] | None = None):
    """The cases `person` may see, as a filter (the rulebook's `may_see_case`, for many rows);
    `handled`: the keys of the tiers they handle, when already read."""
    if person.user_id is None:
        return Q(pk__in=[])
    if rulebook.may_see_every_case(person):
        return Q()
    keys = handled if handled is not None else [t.key for t in tiers_handled(person)]
    return Q(tier__key__in=keys) | Q(assignee_id=person.user_id)


def cases_visible(
    *, person: rulebook.Person, status: str = "", tier: str = "", limit: int = 200
) -> list[Escalation]:
    """Unresolved first; breached first; then by the nearest due time."""
    cases = _cases().filter(_visible(person))
    if status:
        cases = cases.filter(status=status)
    if tier:
        cases = cases.filter(tier__key=tier)
    return list(
        cases.order_by(
            F("resolved_at").desc(nulls_first=True),
            F("breached_at").asc(nulls_last=True),
            "resolve_due_at",
            "id",
        )[:limit]
    )


# The workspace's status filter: "" is every unresolved case, "all" every case.
STATUS_FILTERS: dict[str, tuple[str, ...] | None] = {
    "": UNRESOLVED,
    CaseStatus.OPEN.value: (CaseStatus.OPEN,),
    CaseStatus.ACKNOWLEDGED.value: (CaseStatus.ACKNOWLEDGED,),
    CaseStatus.RESOLVED.value: (CaseStatus.RESOLVED,),
    "all": None,
}


def cases_listed(
    *, person: rulebook.Person, handled: list[str], status: str = "", tier: str = "",
    limit: int = 200,
) -> list[Escalation]:  # fmt: skip
    """The workspace's list in one query, ordered as `cases_visible` orders it; `status` is a key
    of `STATUS_FILTERS`, `handled` the keys of the tiers the person handles."""
    cases = _cases().filter(_visible(person, handled))
    statuses = STATUS_FILTERS[status]
    if statuses is not None:
        cases = cases.filter(status__in=statuses)
    if tier:
        cases = cases.filter(tier__key=tier)
    return list(
        cases.order_by(
            F("resolved_at").desc(nulls_first=True),
            F("breached_at").asc(nulls_last=True),
            "resolve_due_at",
            "id",
        )[:limit]
    )


def unresolved_counts(*, tier_keys: list[str]) -> dict[str, int]:
    """Unresolved cases in each of `tier_keys`, as everybody who sees those tiers counts them."""
    rows = (
        Escalation.objects.filter(tier__key__in=tier_keys, status__in=UNRESOLVED)
        .values("tier__key")
        .annotate(n=Count("id"))
        .order_by("tier__key")
    )
    found = {row["tier__key"]: row["n"] for row in rows}
    return {key: found.get(key, 0) for key in tier_keys}


def open_counts_by_tier(
    *, person: rulebook.Person, handled: list[str] | None = None
) -> dict[str, int]:
    rows = (
        Escalation.objects.filter(_visible(person, handled), status__in=UNRESOLVED)
        .values("tier__key")
        .annotate(n=Count("id"))
        .order_by("tier__key")
    )
    return {row["tier__key"]: row["n"] for row in rows}


def open_count(*, person: rulebook.Person) -> int:
    return Escalation.objects.filter(_visible(person), status__in=UNRESOLVED).count()


def case_of_action(*, action_id: Any) -> dict[str, Any] | None:
    """The action's newest case as the agent is told of it: `{id, tier, status, outcome}`."""
    row = (
        Escalation.objects.filter(action_id=action_id)
        .order_by("-created_at", "-id")
        .values("id", "status", "outcome", "tier__key")
        .first()
    )
    if row is None:
        return None
    return {"id": row["id"], "tier": row["tier__key"], "status": row["status"],
            "outcome": row["outcome"] or None}  # fmt: skip
