"""Evidence for QA's suggestions, built row by row: gated and unattended refunds, reviews of
them (Review is append-only, so a review is inserted and its assignment pointed at it), disputes
and chargebacks."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from approvals.models import Action, DecisionKind, Status
from config import clock
from policies.models import Mode
from qa.models import Assignment, Dispute, OutcomeReport, Review, Verdict

GATE = "refund-over-50-needs-approval"
SMALL = "small-refund-executes"


def gated_refunds(resolution, approver, amounts, *, at: datetime) -> list[Action]:
    """Refunds the gate held and `approver` approved, one per amount."""
    return [
        resolution(amount=amount, decisions=[(DecisionKind.APPROVE, approver, 60)], at=at)
        for amount in amounts
    ]


def rejected_refund(resolution, approver, amount: int, *, at: datetime) -> Action:
    return resolution(
        amount=amount,
        status=Status.REJECTED,
        decisions=[(DecisionKind.REJECT, approver, 60)],
        at=at,
    )


def unattended_refunds(resolution, count: int, *, at: datetime, by_agent=None) -> list[Action]:
    """Refunds of 120.00 USD that executed without a person."""
    return [
        resolution(mode=Mode.EXECUTE_LIMITED, rule_name=SMALL, by_agent=by_agent, at=at)
        for _ in range(count)
    ]


def review(action, reviewer, scorecard, verdict: str = Verdict.RIGHT, *, kind="sample") -> Review:
    """A submitted review of `action` by `reviewer`, current on its assignment."""
    now = clock.now()
    assignment = Assignment.objects.create(
        action=action,
        reviewer=reviewer,
        scorecard=scorecard,
        kind=kind,
        state=Assignment.State.SUBMITTED,
        assigned_at=now,
        submitted_at=now,
    )
    right = verdict == Verdict.RIGHT
    written = Review.objects.create(
        assignment=assignment,
        action=action,
        reviewer=reviewer,
        scorecard=scorecard,
        scores={},
        score=Decimal("100.00") if right else Decimal("0.00"),
        critical_failed=not right,
        verdict=verdict,
        created_at=now,
    )
    Assignment.objects.filter(pk=assignment.pk).update(review=written)
    return written


def overturn(written: Review, *, raised_by, decided_by) -> Dispute:
    now = clock.now()
    return Dispute.objects.create(
        review=written,
        raised_by=raised_by,
        reason="the customer had proof",
        state=Dispute.State.OVERTURNED,
        decided_by=decided_by,
        created_at=now,
        decided_at=now,
    )


def chargeback(action) -> OutcomeReport:
    return OutcomeReport.objects.create(
        action=action,
        source="agent:support-bot",
        resolved=False,
        chargeback=True,
        body_hash="0" * 64,
        negative=True,
        created_at=clock.now(),
    )
