"""The demo catalog's escalation tiers: a chain from the support leads to finance, loaded once."""

from __future__ import annotations

import pytest

from approvals.demo import demo_load
from audit.models import AuditEvent
from policies.models import PolicyVersion, Tier

pytestmark = pytest.mark.django_db


def test_the_demo_tiers_pass_cases_from_the_support_leads_to_finance(demo):
    l1 = Tier.objects.get(key="l1-lead")

    assert [t.key for t in l1.chain()] == ["l1-lead", "l2-specialist", "finance"]
    assert Tier.objects.get(is_default=True) == l1
    assert [
        (t.key, t.handler_group, t.ack_sla_seconds, t.resolve_sla_seconds) for t in l1.chain()
    ] == [
        ("l1-lead", "l1-lead", 15 * 60, 3600),
        ("l2-specialist", "l2-specialist", 30 * 60, 4 * 3600),
        ("finance", "finance", 3600, 8 * 3600),
    ]
    finance = Tier.objects.get(key="finance")
    assert finance.name == "Finance (billing escalations)"
    assert finance.time_zone == "Europe/London"
    assert finance.weekly_hours == {
        day: [["09:00", "17:00"]] for day in ("mon", "tue", "wed", "thu", "fri")
    }


def test_the_demo_rules_name_the_demo_tiers(demo):
    rules = PolicyVersion.objects.get(is_active=True).rules

    assert rules.get(name="refund-over-500-escalates").escalation_tier == "l1-lead"
    assert rules.get(name="cancel-after-failed-payment-escalates").escalation_tier == "finance"


def test_loading_the_demo_again_saves_no_tier_twice(demo):
    events = AuditEvent.objects.filter(object_type="tier").count()

    assert demo_load()["tiers_saved"] == 0
    assert AuditEvent.objects.filter(object_type="tier").count() == events
