"""Resolutions as QA reads them: actions that reached an outcome, with what QA asks of each.

Sampling draws from `resolutions()` and the scorecards count over it, so "decided by a person",
"overridden", "rubber stamp" and the rest mean one thing everywhere. Reads only.

- resolved_at: when the outcome was reached (finished, else decided, else submitted): it never
  moves afterwards, so a period's population stays the same when drawn again.
- by_person: a person approved, rejected, edited, adopted or dismissed it.
- unattended: it executed without any such decision.
- overridden: a person rejected, edited or dismissed what the agent proposed.
- rubber_stamped: a person decided it within `RUBBER_STAMP_SECONDS` of opening it.
- rolled_back: it was rolled back (or a rollback was asked for).
- escalated: it went to an escalation case.
- negative_outcome: outcome feedback says the problem came back (see `OutcomeReport`).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db.models import Exists, F, OuterRef, Q, QuerySet
from django.db.models.functions import Coalesce

from approvals.models import Action, Decision, DecisionKind, Status
from escalations.models import Escalation
from qa.models import Assignment, Dispute, OutcomeReport, Verdict

RUBBER_STAMP_SECONDS = 3

RESOLVED_STATUSES = (
    Status.SUCCEEDED,
    Status.FAILED,
    Status.REJECTED,
    Status.EXPIRED,
    Status.CANCELLED,
    Status.DISMISSED,
    Status.ROLLING_BACK,
    Status.ROLLED_BACK,
    Status.ROLLBACK_FAILED,
)
# Executed, whatever happened after.
EXECUTED_STATUSES = (
    Status.SUCCEEDED,
    Status.FAILED,
    Status.NEEDS_RECONCILIATION,
    Status.ROLLING_BACK,
    Status.ROLLED_BACK,
    Status.ROLLBACK_FAILED,
)
ROLLED_BACK_STATUSES = (Status.ROLLING_BACK, Status.ROLLED_BACK, Status.ROLLBACK_FAILED)
PERSON_DECISIONS = (
    DecisionKind.APPROVE,
    DecisionKind.REJECT,
    DecisionKind.EDIT,
    DecisionKind.ADOPT,
    DecisionKind.DISMISS,
)
OVERRIDES = (DecisionKind.REJECT, DecisionKind.EDIT, DecisionKind.DISMISS)


def _decisions(**filters) -> Exists:
    return Exists(Decision.objects.filter(action=OuterRef("pk"), by__isnull=False, **filters))


def resolutions(*, since: datetime | None = None, until: datetime | None = None) -> QuerySet:
    """Actions resolved in [since, until), annotated with the flags above, oldest first."""
    qs = Action.objects.filter(status__in=RESOLVED_STATUSES).annotate(
        resolved_at=Coalesce("finished_at", "decided_at", "created_at"),
    )
    if since is not None:
        qs = qs.filter(resolved_at__gte=since)
    if until is not None:
        qs = qs.filter(resolved_at__lt=until)
    return annotate_flags(qs).order_by("resolved_at", "id")


def annotate_flags(qs: QuerySet) -> QuerySet:
    """`qs` (of actions) with the QA flags of the module's docstring."""
    by_person = _decisions(kind__in=PERSON_DECISIONS)
    return qs.annotate(
        by_person=by_person,
        unattended=Q(status__in=EXECUTED_STATUSES) & ~by_person,
        overridden=_decisions(kind__in=OVERRIDES),
        rubber_stamped=_decisions(
            kind__in=(DecisionKind.APPROVE, DecisionKind.ADOPT, DecisionKind.REJECT),
            opened_at__isnull=False,
            created_at__lt=F("opened_at") + timedelta(seconds=RUBBER_STAMP_SECONDS),
        ),
        rolled_back=Q(status__in=ROLLED_BACK_STATUSES) | _decisions(kind=DecisionKind.ROLLBACK),
        escalated=Q(mode="escalate")
        | Exists(Escalation.objects.filter(action=OuterRef("pk")))
        | Exists(Decision.objects.filter(action=OuterRef("pk"), kind=DecisionKind.ESCALATE)),
        negative_outcome=Exists(OutcomeReport.objects.filter(action=OuterRef("pk"), negative=True)),
    )


def involved_user_ids(action_id) -> frozenset[int]:
    """Everyone who decided, edited, adopted, escalated or rolled back the action, or acknowledged
    or resolved a case about it: none of them may review it."""
    deciders = Decision.objects.filter(action_id=action_id, by__isnull=False).values_list(
        "by_id", flat=True
    )
    handlers = Escalation.objects.filter(action_id=action_id).values_list(
        "acknowledged_by_id", "resolved_by_id"
    )
    ids = set(deciders)
    for acknowledged, resolved in handlers:
        ids.update(i for i in (acknowledged, resolved) if i is not None)
    return frozenset(ids)


def counted_reviews() -> QuerySet:
    """The assignments whose current review counts towards QA's figures: sample and second
    reviews, submitted (calibration sessions are practice), each annotated `right`: judged right,
    or its dispute was overturned (the decision stands)."""
    overturned = Dispute.objects.filter(review=OuterRef("review"), state=Dispute.State.OVERTURNED)
    return Assignment.objects.filter(
        kind__in=(Assignment.Kind.SAMPLE, Assignment.Kind.DOUBLE),
        state=Assignment.State.SUBMITTED,
        review__isnull=False,
    ).annotate(right=Q(review__verdict=Verdict.RIGHT) | Exists(overturned))
