"""Fixtures for QA: a scorecard, QA people, and hand-built resolutions.

QA only reads history, so most tests build the history they need row by row (`resolution`): an
action as it stands once resolved, with the decisions people made and when they opened it. Tests
of the way there (submitting, deciding, executing) live with approvals.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from approvals.models import Action, Decision, DecisionKind, Status
from policies.models import ActionType, Mode

CATEGORIES = [
    {"key": "decision", "label": "Right decision", "weight": 40, "critical": True},
    {"key": "policy", "label": "Policy followed", "weight": 30, "critical": False},
    {"key": "reason", "label": "Reason code", "weight": 10, "allow_na": True},
    {"key": "amount", "label": "Amount right", "weight": 20, "critical": True, "allow_na": True},
]
# Keys a category leaves out default to: critical False, allow_na False.


@pytest.fixture
def scorecard(db):
    from qa.models import Scorecard

    return Scorecard.objects.create(
        slug="resolution-quality", name="Resolution quality", scale=4, categories=CATEGORIES
    )


@pytest.fixture
def make_qa_person(make_supervisor):
    """make_qa_person(username, role="qa_reviewer" | "qa_lead" | "auditor"), working no queue."""

    def make(username: str, role: str = "qa_reviewer"):
        return make_supervisor(username, role=role, queues=())

    return make


@pytest.fixture
def resolution(demo, agent):
    """resolution(status=..., amount=..., decisions=[(kind, user, opened_seconds_before)], ...)
    -> Action: a resolved action written as it would stand, submitted `age` before `at`."""

    def make(
        *,
        status: str = Status.SUCCEEDED,
        amount: int | None = 12000,
        currency: str = "USD",
        action_type: str = "refund.issue",
        mode: str = Mode.EXECUTE_GATED,
        rule_name: str = "refund-over-50-needs-approval",
        by_agent=None,
        decisions: list[tuple[str, object, float | None]] = (),
        at: datetime | None = None,
        decided_after: timedelta = timedelta(minutes=5),
        queue: str = "Refunds",
    ) -> Action:
        from config import clock

        finished_at = at or clock.now()
        created_at = finished_at - decided_after - timedelta(seconds=30)
        decided_at = created_at + decided_after if decisions else None
        params = {"order_id": "ORD-1001", "amount": amount, "currency": currency, "reason": "x"}
        action = Action.objects.create(
            agent=(by_agent or agent).agent,
            action_type=ActionType.objects.get(key=action_type),
            status=status,
            params=params,
            amount=amount,
            currency=currency if amount is not None else "",
            order_ref="ORD-1001",
            mode=mode,
            rule_name=rule_name,
            explanation="hand-built",
            queue=queue,
            decided_at=decided_at,
            finished_at=finished_at,
        )
        Action.objects.filter(pk=action.pk).update(created_at=created_at)
        for kind, user, opened_seconds_before in decisions:
            decision = Decision.objects.create(
                action=action,
                kind=kind,
                by=user,
                action_version=1,
                opened_at=(
                    decided_at - timedelta(seconds=opened_seconds_before)
                    if opened_seconds_before is not None
                    else None
                ),
            )
            Decision.objects.filter(pk=decision.pk).update(created_at=decided_at)
        action.refresh_from_db()
        return action

    return make


@pytest.fixture
def history(resolution, make_agent, agent, make_supervisor, make_qa_person, scorecard):
    """The hand-built weeks of actions, reviews and outcomes the scorecard tests count
    (`tests.qa.scorecard_history`), with the clock frozen at its `AT`."""
    from tests.clock import frozen
    from tests.qa.scorecard_history import AT, build

    with frozen(AT):
        yield build(resolution=resolution, make_agent=make_agent, agent=agent,
                    make_supervisor=make_supervisor, make_qa_person=make_qa_person,
                    scorecard=scorecard)  # fmt: skip


@pytest.fixture
def people(make_supervisor, make_qa_person):
    """alice (supervisor), qa (QA reviewer), lead (QA lead) and pat (policy admin)."""
    return {
        "alice": make_supervisor("alice"),
        "qa": make_qa_person("qa"),
        "lead": make_qa_person("lead", role="qa_lead"),
        "admin": make_supervisor("pat", role="policy_admin", queues=()),
    }


__all__ = ["DecisionKind"]
