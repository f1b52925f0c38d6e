"""Fixtures for escalations: three tiers in a chain, handlers for each, and a policy that escalates.

Tiers: l1-lead (ack 15 min, resolve 1 h) -> l2-specialist (ack 30 min, resolve 4 h) -> finance
(ack 1 h, resolve 8 h; the last tier, told again every hour once breached).
"""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group

from approvals import services
from audit.services import Actor
from policies.models import Tier
from policies.services import policy_publish
from tests.approvals.conftest import enqueued, refund_params

__all__ = ["enqueued"]  # the approvals tests' fixture, used here too

TIERS = [
    # key, handler group, ack seconds, resolve seconds, next
    ("finance", "finance", 3600, 8 * 3600, None),
    ("l2-specialist", "l2-specialist", 1800, 4 * 3600, "finance"),
    ("l1-lead", "l1-lead", 900, 3600, "l2-specialist"),
]

RULES = [
    {
        "name": "refund-over-500-escalates",
        "action_type": "refund.issue",
        "condition": "params.amount > 50000",
        "mode": "escalate",
        "escalation_tier": "l1-lead",
        "explanation": "refund {amount} > 500.00: escalated to L1 leads",
    },
    *[
        {
            "name": f"gated-{timeout}",
            "action_type": "refund.issue",
            "condition": f"has(context.timeout) && context.timeout == '{timeout}'",
            "mode": "execute_gated",
            "queue": "Refunds",
            "sla_seconds": 3600,
            "on_timeout": timeout,
            "escalation_tier": "l2-specialist" if timeout == "escalate" else "",
            "explanation": f"gated, {timeout} after an hour",
        }
        for timeout in ("expire", "reject", "escalate")
    ],
    {
        "name": "gated-two",
        "action_type": "refund.issue",
        "condition": "params.amount > 40000",
        "mode": "execute_gated",
        "approvals_required": 2,
        "queue": "Refunds",
        "explanation": "two approvals above 400.00",
    },
    {
        "name": "small-executes",
        "action_type": "refund.issue",
        "condition": "true",
        "mode": "execute_limited",
        "explanation": "small refunds execute",
    },
]


@pytest.fixture
def tiers(db) -> dict[str, Tier]:
    made: dict[str, Tier] = {}
    for key, group, ack, resolve, nxt in TIERS:
        Group.objects.get_or_create(name=group)
        tier, _ = Tier.objects.update_or_create(
            key=key,
            defaults={
                "name": key.upper(), "handler_group": group, "ack_sla_seconds": ack,
                "resolve_sla_seconds": resolve, "next_tier": made.get(nxt) if nxt else None,
                "renotify_seconds": 3600, "weekly_hours": {}, "holidays": [],
            },
        )  # fmt: skip
        made[key] = tier
    Tier.objects.filter(is_default=True).update(is_default=False)
    Tier.objects.filter(key="l1-lead").update(is_default=True)
    return made


@pytest.fixture
def policy(demo, tiers):
    return policy_publish(rules=RULES, actor=Actor.system("test"))


@pytest.fixture
def make_handler(make_supervisor):
    """make(username, tier_group): a person who handles one tier (and works no queue)."""

    def make(username: str, group: str = "l1-lead"):
        user = make_supervisor(username, role="supervisor", queues=[])
        user.groups.add(Group.objects.get(name=group))
        return user

    return make


@pytest.fixture
def escalate(policy, agent):
    """escalate(amount=60000) -> the escalated Action (its case is open in l1-lead)."""

    def make(amount: int = 60000, context: dict | None = None):
        return services.action_submit(
            agent=agent.agent, action_type="refund.issue", params=refund_params(amount),
            context=context or {"customer_words": "I want my money back now!",
                                "sentiment": "angry"},
        ).action  # fmt: skip

    return make
