"""Drawing samples: one period of one plan (idempotent), and every period that came due (the
beat, `manage.py qa_draw`), catching up after downtime.

A draw writes the sample, its items, their assignments and the audit events in one transaction,
under the plan's row lock, so two drawers of the same period never both write: the second finds
the first's sample and returns it unchanged.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import transaction

from audit.events import Verb
from audit.services import Actor, audit_record
from config import clock
from config.errors import Code, InvalidInput, NotFound
from qa import sampling
from qa.models import Sample, SampleItem, SamplingPlan
from qa.resolutions import resolutions
from qa.services.assignments import sample_assign

log = logging.getLogger(__name__)

SYSTEM = Actor.system("qa-sampling")
_CANDIDATE_FIELDS = (
    "id", "action_type__key", "mode", "agent__name", "rule_name", "by_person", "unattended",
    "overridden", "rubber_stamped", "rolled_back", "negative_outcome", "amount", "currency",
)  # fmt: skip


def candidates(plan: SamplingPlan, *, since: datetime, until: datetime) -> list:
    """The resolutions of [since, until) in the plan's scope, as the draw reads them."""
    rows = resolutions(since=since, until=until).values(*_CANDIDATE_FIELDS)
    found = (
        sampling.Candidate(
            id=row["id"],
            action_type=row["action_type__key"],
            mode=row["mode"],
            agent=row["agent__name"],
            rule=row["rule_name"],
            by_person=row["by_person"],
            unattended=row["unattended"],
            overridden=row["overridden"],
            rubber_stamped=row["rubber_stamped"],
            rolled_back=row["rolled_back"],
            negative_outcome=row["negative_outcome"],
            amount=row["amount"],
            currency=row["currency"] or "",
        )
        for row in rows
    )
    return [c for c in found if sampling.matches(c, plan.scope or {})]


def _bounds(plan: SamplingPlan, period_start: datetime, period_end: datetime | None):
    start, end = sampling.period_bounds(plan.period, period_start)
    if start != period_start:
        raise InvalidInput(
            f"{period_start.isoformat()} does not start a {plan.period} period (they start "
            f"at midnight UTC{', on Mondays' if plan.period == 'weekly' else ''}).",
            code=Code.INVALID_PERIOD,
            details={"period_start": period_start.isoformat()},
        )
    if period_end is not None and not start < period_end <= end:
        raise InvalidInput(
            "A period drawn early ends inside it.",
            code=Code.INVALID_PERIOD,
            details={"period_end": period_end.isoformat()},
        )
    return start, end, (period_end or end)


def sample_draw(
    *, plan_id: Any, period_start: datetime, period_end: datetime | None = None,
    actor: Actor = SYSTEM,
) -> Sample:  # fmt: skip
    """The plan's sample of the period starting at `period_start`, drawn now unless it was
    drawn before (then returned unchanged). `period_end` before the period's end draws it
    early, from the resolutions so far; the beat will not draw that period again."""
    with transaction.atomic(durable=True):
        plan = (
            SamplingPlan.objects.select_for_update().select_related("scorecard")
            .filter(pk=plan_id).first()
        )  # fmt: skip
        if plan is None:
            raise NotFound("No such sampling plan.", code=Code.PLAN_NOT_FOUND)
        start, natural_end, end = _bounds(plan, period_start, period_end)
        existing = Sample.objects.filter(plan=plan, period_start=start).first()
        if existing is not None:
            return existing
        drawn = sampling.draw(plan, candidates(plan, since=start, until=end), period_start=start)
        now = clock.now()
        sample = Sample.objects.create(
            plan=plan, period_start=start, period_end=end, seed=plan.seed,
            population=drawn.explanation["population"], explanation={}, drawn_at=now,
        )  # fmt: skip
        SampleItem.objects.bulk_create(
            SampleItem(sample=sample, action_id=item.candidate_id, reason=item.reason, rank=rank)
            for rank, item in enumerate(drawn.items, start=1)
        )
        items = list(sample.items.select_related("action").order_by("rank", "id"))
        assigned = sample_assign(sample=sample, items=items, actor=actor)
        sample.explanation = {
            **drawn.explanation,
            "period_end": end.isoformat(),
            "drawn_early": end < natural_end,
            "reviewers": sorted(plan.reviewers.values_list("username", flat=True)),
            "assignments": len(assigned.assignments),
            "double_reviewed": assigned.doubles,
            "double_review_percent": plan.double_review_percent,
            "unassigned": assigned.unassigned,
        }
        sample.save(update_fields=["explanation"])
        audit_record(
            actor=actor, verb=Verb.QA_SAMPLE_DRAWN, object_type="qa.sample", object_id=sample.pk,
            data={"plan": plan.slug, "period_start": start.isoformat(),
                  "period_end": end.isoformat(), "population": sample.population,
                  "items": len(items), "unassigned": len(assigned.unassigned),
                  "drawn_early": end < natural_end},
        )  # fmt: skip
    return sample


@dataclass(frozen=True)
class Drawn:
    """One sample a run drew (or found drawn), as the command prints it."""

    plan: str
    sample_id: int
    period_start: datetime
    period_end: datetime
    population: int
    items: int
    unassigned: int
    drawn_early: bool = False


@dataclass
class DrawRun:
    drawn: list[Drawn]
    # Per plan slug: how many due periods were left for the next run (catch-up is capped).
    deferred: dict[str, int]


def _report(plan: SamplingPlan, sample: Sample) -> Drawn:
    explanation = sample.explanation or {}
    return Drawn(
        plan=plan.slug, sample_id=sample.pk, period_start=sample.period_start,
        period_end=sample.period_end, population=sample.population,
        items=sample.items.count(), unassigned=len(explanation.get("unassigned", [])),
        drawn_early=bool(explanation.get("drawn_early")),
    )  # fmt: skip


def samples_draw_due(
    *, now: datetime, plan_slug: str | None = None, early: bool = False, actor: Actor = SYSTEM
) -> DrawRun:
    """Every period that ended by `now` and is not drawn yet, per active plan (or the plan
    `plan_slug`, active or not), oldest first; each draw in its own transaction. `early` also
    draws the period in progress, up to `now`."""
    plans = SamplingPlan.objects.order_by("id")
    if plan_slug is not None:
        plans = plans.filter(slug=plan_slug)
        if not plans.exists():
            raise NotFound(f"No sampling plan {plan_slug!r}.", code=Code.PLAN_NOT_FOUND)
    else:
        plans = plans.filter(is_active=True)
    run = DrawRun(drawn=[], deferred={})
    for plan in plans:
        latest = plan.samples.order_by("-period_start").first()
        due = sampling.due_periods(plan, now, drawn_until=latest.period_end if latest else None)
        if due.deferred:
            run.deferred[plan.slug] = due.deferred
            log.warning(
                "plan %s: %d due periods from %s left for the next run (at most %d per run)",
                plan.slug, due.deferred, due.deferred_from, sampling.MAX_CATCH_UP,
            )  # fmt: skip
        periods = [(start, None) for start, _ in due.periods]
        current_start, _ = sampling.period_bounds(plan.period, now)
        if (
            early
            and not due.deferred
            and plan.starts_at <= current_start < now
            and not plan.samples.filter(period_start=current_start).exists()
        ):
            periods.append((current_start, now))
        for start, end in periods:
            sample = sample_draw(plan_id=plan.pk, period_start=start, period_end=end, actor=actor)
            run.drawn.append(_report(plan, sample))
    return run
