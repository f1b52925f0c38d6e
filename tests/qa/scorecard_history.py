"""A hand-built week of resolutions, reviews and outcome reports whose every figure is known.

The week of Monday 2025-03-10 (the clock stands on Wednesday 2025-03-12, 12:00 UTC), agents
support-bot and billing-bot, supervisor alice, QA reviewers rita and rob:

- a1 support, refund 120.00 USD, alice approves after 5 min; rita: right; outcome csat 5.
- a2 support, refund 50.00 USD, alice edits after 5 min; rita: wrong, but overturned.
- a3 support, refund 30.00 EUR, executes alone and is rolled back.
- a4 support, refund 20.00 USD, alice approves 2 s after opening, 1 min after submission;
  rob: wrong; rita (second review): right; outcome: chargeback, csat 1.
- a5 billing, order.cancel, escalated, alice approves after 10 min; rita: right (rob's
  calibration review, wrong, does not count); outcome csat 4.
- a6 billing, refund 70.00 USD, executes alone; rita: wrong, amended to right; outcome: not
  resolved, recontact within 2 days, chargeback.
- a7 support, refund 10.00 USD, still pending: not counted.

The week before (Monday 2025-03-03): a8 support, refund 100.00 USD, alice approves after 5 min.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from approvals.models import DecisionKind, Status
from policies.models import Mode
from qa.models import Assignment, Dispute, Review, Verdict
from qa.services.outcomes import outcome_report

AT = datetime(2025, 3, 12, 12, 0, tzinfo=UTC)
WEEK = date(2025, 3, 10)
PREVIOUS_WEEK = date(2025, 3, 3)


@dataclass
class History:
    actions: dict
    people: dict
    agents: dict


def review(action, reviewer, verdict, *, scorecard, kind=Assignment.Kind.SAMPLE, supersede=None):
    """A submitted review (amending `supersede`'s assignment when given), made current."""
    if supersede is None:
        assignment = Assignment.objects.create(
            action=action, reviewer=reviewer, scorecard=scorecard, kind=kind,
            state=Assignment.State.SUBMITTED, assigned_at=AT, submitted_at=AT,
        )  # fmt: skip
        version = 1
    else:
        assignment, version = supersede.assignment, supersede.version + 1
    row = Review.objects.create(
        assignment=assignment, action=action, reviewer=reviewer, scorecard=scorecard,
        version=version, supersedes=supersede, scores={}, score=Decimal("75.00"),
        verdict=verdict, created_at=AT,
    )  # fmt: skip
    Assignment.objects.filter(pk=assignment.pk).update(review=row)
    return row


def build(*, resolution, make_agent, agent, make_supervisor, make_qa_person, scorecard) -> History:
    alice = make_supervisor("alice")
    rita, rob = make_qa_person("rita"), make_qa_person("rob")
    billing = make_agent("billing-bot")
    approve, edit = DecisionKind.APPROVE, DecisionKind.EDIT
    a = {
        "a1": resolution(amount=12000, decisions=[(approve, alice, 60)]),
        "a2": resolution(amount=5000, decisions=[(edit, alice, None)]),
        "a3": resolution(amount=3000, currency="EUR", status=Status.ROLLED_BACK,
                         mode=Mode.EXECUTE_LIMITED, rule_name="small-refund-executes"),
        "a4": resolution(amount=2000, decisions=[(approve, alice, 2)],
                         decided_after=timedelta(minutes=1)),
        "a5": resolution(amount=None, action_type="order.cancel", mode="escalate",
                         rule_name="cancel-escalates", by_agent=billing,
                         decisions=[(approve, alice, 120)], decided_after=timedelta(minutes=10)),
        "a6": resolution(amount=7000, by_agent=billing, mode=Mode.EXECUTE_LIMITED,
                         rule_name="small-refund-executes"),
        "a7": resolution(amount=1000, status=Status.PENDING),
        "a8": resolution(amount=10000, decisions=[(approve, alice, 60)],
                         at=AT - timedelta(days=7)),
    }  # fmt: skip
    reviewed = {"scorecard": scorecard}
    review(a["a1"], rita, Verdict.RIGHT, **reviewed)
    wrong = review(a["a2"], rita, Verdict.SHOULD_REJECT, **reviewed)
    Dispute.objects.create(review=wrong, raised_by=alice, reason="It was right",
                           state=Dispute.State.OVERTURNED, created_at=AT)  # fmt: skip
    review(a["a4"], rob, Verdict.SHOULD_REJECT, **reviewed)
    review(a["a4"], rita, Verdict.RIGHT, kind=Assignment.Kind.DOUBLE, **reviewed)
    review(a["a5"], rita, Verdict.RIGHT, **reviewed)
    review(a["a5"], rob, Verdict.SHOULD_REJECT, kind=Assignment.Kind.CALIBRATION, **reviewed)
    first = review(a["a6"], rita, Verdict.SHOULD_REJECT, **reviewed)
    review(a["a6"], rita, Verdict.RIGHT, supersede=first, **reviewed)

    support = agent.agent
    outcome_report(action_id=a["a1"].pk, agent=support, body={"resolved": True, "csat": 5})
    outcome_report(action_id=a["a4"].pk, agent=support,
                   body={"resolved": True, "chargeback": True, "csat": 1})  # fmt: skip
    outcome_report(action_id=a["a5"].pk, agent=billing.agent, body={"resolved": True, "csat": 4})
    unresolved = {"resolved": False, "recontact_within_days": 2, "chargeback": True}
    outcome_report(action_id=a["a6"].pk, agent=billing.agent, body=unresolved)
    return History(
        actions=a,
        people={"alice": alice, "rita": rita, "rob": rob},
        agents={"support": support, "billing": billing.agent},
    )
