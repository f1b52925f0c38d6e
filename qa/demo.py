"""QA's demo: the demo scorecard, the weekly refunds plan, and the demo QA people who work them.

`./run` calls `demo_qa_ensure` with the demo password. Everything is created once and left alone
afterwards, so a lead's changes to the plan survive restarts.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.db import transaction

from approvals.services import supervisor_create
from audit.services import Actor
from people.roles import Role
from qa.models import Period, SamplingPlan, Scorecard
from qa.services.plans import plan_save, scorecard_save

DEMO_SCORECARD = {
    "slug": "resolution-quality",
    "name": "Resolution quality",
    "description": "Was the decision right, by the policy, with the right reason and amount?",
    "scale": 4,
    "categories": [
        {"key": "decision", "label": "Right decision", "weight": 40, "critical": True},
        {"key": "policy", "label": "Policy followed", "weight": 25},
        {"key": "reason_code", "label": "Reason code accurate", "weight": 10, "allow_na": True},
        {"key": "amount", "label": "Amount right", "weight": 15, "critical": True,
         "allow_na": True},
        {"key": "outcome", "label": "Customer outcome", "weight": 10, "allow_na": True},
    ],
}  # fmt: skip
DEMO_PLAN = {
    "slug": "weekly-refunds",
    "name": "Weekly refunds",
    "description": "50 resolved refunds a week, at least half of them executed without a person.",
    "period": Period.WEEKLY.value,
    "size_count": 50,
    "scope": {"action_types": ["refund.issue"]},
    "strata": [{"name": "unattended", "where": {"decided_by": "none"}, "min_percent": 50}],
    "inclusions": {
        "rollbacks": True,
        "unattended_above": {"amount": 20000, "currency": "USD"},
        "overridden": True,
        "rubber_stamps": True,
        "negative_outcomes": True,
    },
    "double_review_percent": 10,
}
# (username, role): the reviewers review the demo plan's samples.
DEMO_REVIEWERS = (("qa", Role.QA_REVIEWER), ("qa2", Role.QA_REVIEWER))
DEMO_QA_PEOPLE = (*DEMO_REVIEWERS, ("qa-lead", Role.QA_LEAD), ("auditor", Role.AUDITOR))


@dataclass(frozen=True)
class DemoQaLogin:
    username: str
    password: str | None  # None once someone changed it
    role: str  # the role's label


def demo_qa_ensure(*, password: str) -> tuple[DemoQaLogin, ...]:
    """The demo QA people (created once with `password`), the demo scorecard and plan."""
    users = {}
    logins = []
    for username, role in DEMO_QA_PEOPLE:
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            user = supervisor_create(username=username, password=password, role=role.value)
        users[username] = user
        known = user.check_password(password)
        logins.append(DemoQaLogin(username, password if known else None, role.label))
    demo_plan_ensure(reviewers=[users[username] for username, _ in DEMO_REVIEWERS])
    return tuple(logins)


def demo_plan_ensure(*, reviewers) -> SamplingPlan:
    """The demo scorecard and plan, each saved (and audited) only when missing, through the
    services leads use; the plan starts with the week in progress."""
    actor = Actor.system("load_demo")
    with transaction.atomic(durable=True):
        if not Scorecard.objects.filter(slug=DEMO_SCORECARD["slug"]).exists():
            scorecard_save(**DEMO_SCORECARD, actor=actor)
        plan = SamplingPlan.objects.filter(slug=DEMO_PLAN["slug"]).first()
        if plan is None:
            plan = plan_save(
                **DEMO_PLAN,
                scorecard_slug=DEMO_SCORECARD["slug"],
                reviewer_usernames=[user.get_username() for user in reviewers],
                actor=actor,
            )
    return plan
