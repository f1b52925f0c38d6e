"""What the scorecards count, as querysets: counted reviews, resolutions with QA's evidence, and
the aggregations per week and group. Reads only.

Every figure counts over `qa.resolutions`: its window (`resolved_at`) and its flags are the only
definitions of "decided by a person", "overridden", "rolled back" and the rest. A review or an
outcome report counts in the week its action was resolved.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime

from django.db.models import (
    Aggregate,
    Count,
    DurationField,
    Exists,
    ExpressionWrapper,
    F,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
)
from django.db.models.functions import TruncWeek

from qa.models import OutcomeReport
from qa.resolutions import EXECUTED_STATUSES, counted_reviews, resolutions

# How each grouping reads its key from an action, a counted review and an outcome report. The
# reviewer groups only reviews: an action has no one reviewer.
GROUP_FIELDS = {
    "agent": ("agent__name", "action__agent__name", "action__agent__name"),
    "action_type": ("action_type__key", "action__action_type__key", "action__action_type__key"),
    "rule": ("rule_name", "action__rule_name", "action__rule_name"),
    "reviewer": (None, "reviewer__username", None),
}
REFUND_PREFIX = "refund."

Cell = tuple[date | None, str | None]  # (week's Monday or None for the window, group or None)


class Percentile(Aggregate):
    """PostgreSQL's continuous percentile of an ordered set (`fraction` is ours, never input)."""

    function = "PERCENTILE_CONT"
    name = "Percentile"
    template = "%(function)s(%(fraction)s) WITHIN GROUP (ORDER BY %(expressions)s)%(filter)s"
    output_field = DurationField()

    def __init__(self, expression, *, fraction: float, **extra):
        super().__init__(expression, fraction=float(fraction), **extra)


def with_evidence(qs: QuerySet, *, reviewer: str | None = None) -> QuerySet:
    """Resolutions with what QA and outcome feedback say of each (reviews by `reviewer` only, if
    named): qa_reviewed, qa_right, qa_wrong, reported, recontacted, rated, charged_back."""
    reviews = counted_reviews().filter(action=OuterRef("pk"))
    if reviewer is not None:
        reviews = reviews.filter(reviewer__username=reviewer)
    reports = OutcomeReport.objects.filter(action=OuterRef("pk"))
    return qs.annotate(
        qa_reviewed=Exists(reviews),
        qa_right=Exists(reviews.filter(right=True)),
        qa_wrong=Exists(reviews.filter(right=False)),
        reported=Exists(reports),
        recontacted=Exists(reports.filter(recontact_within_days__isnull=False)),
        rated=Exists(reports.filter(csat__isnull=False)),
        charged_back=Exists(reports.filter(chargeback=True)),
    )


# What a refund leaks: QA judged it wrong, it was rolled back, or the customer charged it back.
LEAKED = Q(qa_wrong=True) | Q(rolled_back=True) | Q(charged_back=True)
REFUNDS = Q(action_type__key__startswith=REFUND_PREFIX, amount__isnull=False)
BY_PERSON = Q(by_person=True)
DECIDED = BY_PERSON & Q(decided_at__isnull=False)
EXECUTED = Q(status__in=EXECUTED_STATUSES)

# Each figure over resolutions with evidence: (what it counts, what of that its numerator counts;
# None: a percentile or a mean). The drill-down lists exactly these; the aggregations below count
# the same conditions.
COUNTED = {
    "override_rate": (BY_PERSON, Q(overridden=True)),
    "action_accuracy": (Q(qa_reviewed=True), Q(qa_right=True)),
    "money_leak": (REFUNDS, LEAKED),
    "rollback_rate": (EXECUTED, Q(rolled_back=True)),
    "escalation_rate": (Q(), Q(escalated=True)),
    "escalation_quality": (Q(escalated=True, qa_reviewed=True), Q(qa_right=True)),
    "time_to_decision_p50": (DECIDED, None),
    "time_to_decision_p90": (DECIDED, None),
    "rubber_stamp_rate": (BY_PERSON, Q(rubber_stamped=True)),
    "recontact_rate": (Q(reported=True), Q(recontacted=True)),
    "csat": (Q(rated=True), None),
}


def decision_time() -> ExpressionWrapper:
    return ExpressionWrapper(F("decided_at") - F("created_at"), output_field=DurationField())


def _resolved_at_of_action():
    return Subquery(resolutions().filter(pk=OuterRef("action_id")).values("resolved_at")[:1])


def _in_window(qs: QuerySet, since: datetime, until: datetime) -> QuerySet:
    """Reviews or reports, with their action's `resolved_at` (None: not resolved), in the window."""
    return qs.annotate(resolved_at=_resolved_at_of_action()).filter(
        resolved_at__gte=since, resolved_at__lt=until
    )


def grouped(
    qs: QuerySet, *, key: str | None, aggregates: dict, fixed: Iterable[str] = ()
) -> dict[tuple, dict]:
    """`aggregates` over `qs` (which has `resolved_at`) per cell: per week and group, per week,
    per group over the window, and over the window (no key: only the last two). The result maps
    `(week, group, *fixed values)` to the row."""
    qs = qs.order_by().annotate(week=TruncWeek("resolved_at", tzinfo=UTC))
    if key is not None:
        qs = qs.annotate(bucket=F(key))
    fixed = tuple(fixed)
    out: dict[tuple, dict] = {}
    for by_week in (True, False):
        for by_key in (True, False) if key is not None else (False,):
            fields = (["week"] if by_week else []) + (["bucket"] if by_key else []) + list(fixed)
            if fields:
                rows = list(qs.values(*fields).annotate(**aggregates).order_by(*fields))
            else:
                rows = [qs.aggregate(**aggregates)]
            for row in rows:
                week = row["week"].date() if by_week else None
                bucket = row["bucket"] if by_key else None
                out[(week, bucket, *(row[f] for f in fixed))] = row
    return out


def action_counts(since: datetime, until: datetime, key: str | None) -> dict[tuple, dict]:
    qs = resolutions(since=since, until=until)
    return grouped(
        qs,
        key=key,
        aggregates={
            "n_resolutions": Count("pk"),
            "n_by_person": Count("pk", filter=BY_PERSON),
            "n_overridden": Count("pk", filter=BY_PERSON & Q(overridden=True)),
            "n_rubber_stamped": Count("pk", filter=BY_PERSON & Q(rubber_stamped=True)),
            "n_executed": Count("pk", filter=EXECUTED),
            "n_rolled_back": Count("pk", filter=EXECUTED & Q(rolled_back=True)),
            "n_escalated": Count("pk", filter=Q(escalated=True)),
            "n_decided": Count("pk", filter=DECIDED),
            "p50": Percentile(decision_time(), fraction=0.5, filter=DECIDED),
            "p90": Percentile(decision_time(), fraction=0.9, filter=DECIDED),
        },
    )


def money_counts(since: datetime, until: datetime, key: str | None) -> dict[tuple, dict]:
    qs = with_evidence(resolutions(since=since, until=until)).filter(REFUNDS)
    return grouped(
        qs,
        key=key,
        fixed=("currency",),
        aggregates={
            "n_refunds": Count("pk"),
            "n_leaked": Count("pk", filter=LEAKED),
            "leaked_amount": Sum("amount", filter=LEAKED, default=0),
        },
    )


def review_counts(since: datetime, until: datetime, key: str | None) -> dict[tuple, dict]:
    escalated = Subquery(resolutions().filter(pk=OuterRef("action_id")).values("escalated")[:1])
    qs = _in_window(counted_reviews(), since, until).annotate(action_escalated=escalated)
    on_escalated = Q(action_escalated=True)
    return grouped(
        qs,
        key=key,
        aggregates={
            "n_reviews": Count("pk"),
            "n_right": Count("pk", filter=Q(right=True)),
            "n_escalated_reviews": Count("pk", filter=on_escalated),
            "n_escalated_right": Count("pk", filter=on_escalated & Q(right=True)),
        },
    )


def outcome_counts(since: datetime, until: datetime, key: str | None) -> dict[tuple, dict]:
    qs = _in_window(OutcomeReport.objects.all(), since, until)
    return grouped(
        qs,
        key=key,
        aggregates={
            "n_reports": Count("pk"),
            "n_recontacts": Count("pk", filter=Q(recontact_within_days__isnull=False)),
            "n_rated": Count("pk", filter=Q(csat__isnull=False)),
            "csat_total": Sum("csat", default=0),
        },
    )
