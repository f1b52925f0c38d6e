"""What the plan, sample and scorecard pages read: plans with their next period and last sample,
a sample with its items and everyone assigned, the people who may review. Reads only."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import Prefetch

from approvals import rulebook
from policies.models import ActionType, Mode, Rule
from policies.money import format_money
from qa import sampling
from qa.models import Assignment, Sample, SampleItem, SamplingPlan, Scorecard

REVIEWER_CHOICES_LIMIT = 500


@dataclass(frozen=True)
class PlanRow:
    plan: SamplingPlan
    next_start: datetime
    next_due_at: datetime
    last_sample: Sample | None


def plan_rows() -> list[PlanRow]:
    plans = SamplingPlan.objects.select_related("scorecard").order_by("name", "id")
    rows = []
    for plan in plans:
        last = plan.samples.order_by("-period_start").first()
        start, end = sampling.next_period(plan, drawn_until=last.period_end if last else None)
        rows.append(PlanRow(plan=plan, next_start=start, next_due_at=end, last_sample=last))
    return rows


def plan_get(*, slug: str) -> SamplingPlan | None:
    return (
        SamplingPlan.objects.select_related("scorecard")
        .prefetch_related("reviewers")
        .filter(slug=slug)
        .first()
    )


def plan_samples(plan: SamplingPlan, *, limit: int = 60) -> list[Sample]:
    return list(plan.samples.order_by("-period_start")[:limit])


@dataclass
class ItemRow:
    item: SampleItem
    assignments: list[Assignment] = field(default_factory=list)

    @property
    def money(self) -> str:
        return format_money(self.item.action.amount, self.item.action.currency)

    @property
    def assigned(self) -> bool:
        return any(a.state != Assignment.State.REMOVED for a in self.assignments)

    @property
    def review_assignment(self) -> Assignment | None:
        """The item's review page (its first assignment not removed), which leads and auditors
        read; None while nobody has it."""
        return next((a for a in self.assignments if a.state != Assignment.State.REMOVED), None)


def sample_get(*, sample_id: Any) -> Sample | None:
    try:
        pk = int(sample_id)
    except (TypeError, ValueError):
        return None
    return Sample.objects.select_related("plan", "plan__scorecard").filter(pk=pk).first()


def sample_items(sample: Sample) -> list[ItemRow]:
    assignments = Assignment.objects.select_related("reviewer").order_by("assigned_at", "id")
    items = (
        sample.items.select_related("action", "action__action_type", "action__agent")
        .prefetch_related(Prefetch("assignments", queryset=assignments))
        .order_by("rank", "id")
    )
    return [ItemRow(item=item, assignments=list(item.assignments.all())) for item in items]


def reviewer_choices(*, also: list | None = None) -> list:
    """Active people the rulebook lets review (for the plan form and reassigning), by name."""
    users = (
        get_user_model()
        .objects.filter(is_active=True)
        .filter(groups__isnull=False)
        .distinct()
        .order_by("username")[:REVIEWER_CHOICES_LIMIT]
    )
    chosen = [u for u in users if rulebook.may_be_plan_reviewer(rulebook.person_of(u))]
    known = {u.pk for u in chosen}
    chosen += [u for u in also or () if u.pk not in known]
    return sorted(chosen, key=lambda u: u.get_username())


def scorecards() -> list[Scorecard]:
    return list(Scorecard.objects.order_by("name", "id"))


def scope_choices() -> dict[str, list[str]]:
    """The names a plan's scope and strata may use, for the form."""
    return {
        "action_types": list(ActionType.objects.order_by("key").values_list("key", flat=True)),
        "modes": list(Mode.values),
        "rules": sorted(set(Rule.objects.order_by("name").values_list("name", flat=True))),
    }
