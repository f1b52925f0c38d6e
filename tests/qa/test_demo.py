"""QA's demo: the scorecard, the weekly refunds plan and the demo QA people, made once."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.contrib.auth import get_user_model

from audit.models import AuditEvent
from qa.demo import demo_qa_ensure
from qa.models import SamplingPlan, Scorecard
from tests.clock import frozen

PASSWORD = "countersign-demo"
# A Thursday: the plan's first week starts on the Monday before.
THURSDAY = datetime(2026, 3, 12, 15, 30, tzinfo=UTC)


@pytest.fixture
def loaded(demo):
    with frozen(THURSDAY):
        return demo_qa_ensure(password=PASSWORD)


def test_the_demo_plan_samples_fifty_refunds_a_week_half_of_them_unattended(loaded):
    # Act
    plan = SamplingPlan.objects.get(slug="weekly-refunds")

    # Assert
    assert (plan.period, plan.size_count, plan.size_percent) == ("weekly", 50, None)
    assert plan.scope == {
        "action_types": ["refund.issue"], "modes": [], "agents": [], "rules": [],
        "decided_by": "any",
    }  # fmt: skip
    assert [(s["name"], s["where"]["decided_by"], s["min_percent"]) for s in plan.strata] == [
        ("unattended", "none", 50)
    ]
    assert plan.inclusions == {
        "rollbacks": True,
        "unattended_above": {"amount": 20000, "currency": "USD"},
        "overridden": True,
        "rubber_stamps": True,
        "negative_outcomes": True,
    }
    assert plan.double_review_percent == 10
    assert plan.starts_at == datetime(2026, 3, 9, tzinfo=UTC)
    assert sorted(plan.reviewers.values_list("username", flat=True)) == ["qa", "qa2"]
    assert plan.scorecard.slug == "resolution-quality"


def test_the_demo_scorecard_weighs_five_categories_two_of_them_critical(loaded):
    # Act
    scorecard = Scorecard.objects.get(slug="resolution-quality")

    # Assert
    assert scorecard.scale == 4
    assert [
        (c["label"], c["weight"], c.get("critical", False), c.get("allow_na", False))
        for c in scorecard.categories
    ] == [
        ("Right decision", 40, True, False),
        ("Policy followed", 25, False, False),
        ("Reason code accurate", 10, False, True),
        ("Amount right", 15, True, True),
        ("Customer outcome", 10, False, True),
    ]


def test_the_demo_qa_people_sign_in_with_the_demo_password_in_their_roles(loaded):
    # Assert
    assert [(login.username, login.password, login.role) for login in loaded] == [
        ("qa", PASSWORD, "QA reviewer"),
        ("qa2", PASSWORD, "QA reviewer"),
        ("qa-lead", PASSWORD, "QA lead"),
        ("auditor", PASSWORD, "Auditor"),
    ]
    users = get_user_model().objects
    assert users.get(username="qa-lead").groups.get().name == "qa_lead"
    assert users.get(username="auditor").groups.get().name == "auditor"
    assert users.get(username="qa2").check_password(PASSWORD)


def test_loading_again_changes_nothing_and_keeps_a_leads_edits(loaded):
    # Arrange: a lead changed the plan, a reviewer their password
    SamplingPlan.objects.filter(slug="weekly-refunds").update(size_count=80)
    qa = get_user_model().objects.get(username="qa")
    qa.set_password("a-private-password-now")
    qa.save()
    events = AuditEvent.objects.count()

    # Act
    with frozen(THURSDAY):
        again = demo_qa_ensure(password=PASSWORD)

    # Assert
    assert SamplingPlan.objects.get().size_count == 80
    assert Scorecard.objects.count() == 1
    assert (
        get_user_model().objects.filter(username__in=["qa", "qa2", "qa-lead", "auditor"]).count()
        == 4
    )
    assert again[0].password is None  # changed: no longer shown
    assert AuditEvent.objects.count() == events


def test_the_first_load_audits_the_scorecard_and_the_plan(loaded):
    # Assert
    card_event = AuditEvent.objects.get(verb="qa.scorecard_saved")
    assert (card_event.data["slug"], card_event.actor_id) == ("resolution-quality", "load_demo")
    plan_event = AuditEvent.objects.get(verb="qa.plan_saved")
    assert plan_event.data["slug"] == "weekly-refunds"
    assert plan_event.data["reviewers"] == ["qa", "qa2"]


def test_the_run_scripts_demo_logins_then_qa_draw_now_draw_the_demo_plans_empty_week(demo):
    # Arrange: what `./run` does on a fresh database (load_demo is the `demo` fixture)
    from io import StringIO

    from django.core.management import call_command

    from config.demo_logins import demo_logins_ensure
    from qa.models import Sample

    with frozen(THURSDAY):
        logins = demo_logins_ensure()
    out = StringIO()

    # Act
    with frozen(THURSDAY):
        call_command("qa_draw", "--now", stdout=out)

    # Assert
    assert [q.username for q in logins.qa] == ["qa", "qa2", "qa-lead", "auditor"]
    sample = Sample.objects.get()
    assert (sample.plan.slug, sample.population, sample.items.count()) == ("weekly-refunds", 0, 0)
    assert sample.explanation["drawn_early"] is True
    assert out.getvalue() == (
        "weekly-refunds: 2026-03-09 00:00..2026-03-12 15:30 (drawn early): nothing in the plan's "
        f"scope resolved in this period, so its sample is empty (sample {sample.pk})\n"
    )
    assert AuditEvent.objects.filter(verb="qa.sample_drawn", object_id=str(sample.pk)).exists()
