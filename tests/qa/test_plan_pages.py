"""The QA lead's pages: plans, a sample, scorecards; auditors read them, reviewers do not."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse

from approvals.models import DecisionKind
from audit.models import AuditEvent
from qa.models import Assignment, SamplingPlan, Scorecard
from qa.services.sampling import sample_draw
from tests.clock import frozen
from tests.qa.plan_factory import MONDAY, WEDNESDAY, save_plan


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def lead(make_qa_person):
    return make_qa_person("lena", role="qa_lead")


def plan_form(**overrides) -> dict:
    form = {
        "slug": "weekly-refunds", "name": "Weekly refunds", "description": "50 a week",
        "period": "weekly", "size_kind": "count", "size_value": "50",
        "action_types": ["refund.issue"], "modes": [], "agents": "", "rules": "",
        "decided_by": "any",
        "strata": '[{"name": "unattended", "where": {"decided_by": "none"}, "min_percent": 50}]',
        "rollbacks": "1", "unattended_amount": "50000", "unattended_currency": "USD",
        "scorecard": "resolution-quality", "reviewers": ["rita"], "double_review_percent": "10",
        "starts_at": "2025-03-10T00:00", "is_active": "1",
    }  # fmt: skip
    return {**form, **overrides}


def test_a_lead_creates_a_plan_from_the_form(demo, scorecard, lead, make_qa_person):
    make_qa_person("rita")
    client = client_for(lead)
    blank = client.get(reverse("qa:plan-new"))

    response = client.post(reverse("qa:plan-new"), plan_form())

    assert blank.status_code == 200
    assert 'value="rita"' in blank.content.decode()  # offered as a reviewer
    assert response.status_code == 302, response.content.decode()[:2000]
    assert response["Location"] == reverse("qa:plan", args=["weekly-refunds"])
    plan = SamplingPlan.objects.get()
    assert (plan.size_count, plan.size_percent, plan.period) == (50, None, "weekly")
    assert plan.scope["action_types"] == ["refund.issue"]
    assert plan.strata[0]["min_percent"] == 50
    assert plan.inclusions["rollbacks"] is True
    assert plan.inclusions["unattended_above"] == {"amount": 50000, "currency": "USD"}
    assert list(plan.reviewers.values_list("username", flat=True)) == ["rita"]
    assert plan.starts_at == MONDAY
    assert AuditEvent.objects.filter(verb="qa.plan_saved", actor_id=str(lead.pk)).exists()
    listing = client.get(reverse("qa:plans")).content.decode()
    assert 'id="plan-weekly-refunds"' in listing
    edit_page = client.get(reverse("qa:plan", args=["weekly-refunds"])).content.decode()
    assert "&quot;min_percent&quot;: 50" in edit_page
    assert 'id="plan-save"' in edit_page


def test_a_refused_form_says_why_next_to_the_field_and_keeps_what_was_typed(demo, scorecard, lead):
    client = client_for(lead)
    form = plan_form(reviewers=[], strata='[{"name": "a", "where": {}, "min_percent": 150}]',
                     description="keep me")  # fmt: skip

    response = client.post(reverse("qa:plan-new"), form)

    page = response.content.decode()
    assert response.status_code == 400
    assert "strata[0].min_percent is from 1 to 100" in page
    assert "keep me" in page
    assert "&quot;min_percent&quot;: 150" in page
    assert not SamplingPlan.objects.exists()


def test_broken_json_is_named_not_a_server_error(demo, scorecard, lead):
    response = client_for(lead).post(reverse("qa:plan-new"), plan_form(strata="[{oops"))

    assert response.status_code == 400
    assert "strata is not valid JSON" in response.content.decode()


def test_json_nested_deeper_than_the_decoder_goes_is_named_not_a_server_error(
    demo, scorecard, lead
):
    response = client_for(lead).post(reverse("qa:plan-new"), plan_form(strata="[" * 5000))

    assert response.status_code == 400
    assert "strata is nested too deeply" in response.content.decode()


def test_a_lead_edits_a_plan(demo, scorecard, lead):
    save_plan()
    client = client_for(lead)

    response = client.post(
        reverse("qa:plan", args=["weekly-refunds"]),
        plan_form(size_kind="percent", size_value="5", reviewers=[], name="Five percent"),
    )

    assert response.status_code == 302
    plan = SamplingPlan.objects.get()
    assert (plan.size_count, plan.size_percent, plan.name) == (None, 5, "Five percent")


def test_a_reviewer_is_told_the_pages_are_not_for_their_account(scorecard, make_qa_person):
    rita = make_qa_person("rita")
    save_plan()
    client = client_for(rita)

    for url in (reverse("qa:plans"), reverse("qa:plan", args=["weekly-refunds"]),
                reverse("qa:plan-new"), reverse("qa:scorecard-setup")):  # fmt: skip
        response = client.get(url)
        assert response.status_code == 403, url
        assert "Not for this account" in response.content.decode()
    refused = client.post(reverse("qa:plan-new"), plan_form(slug="sneaky"))
    assert refused.status_code == 403
    assert not SamplingPlan.objects.filter(slug="sneaky").exists()


def test_an_auditor_reads_plans_and_samples_and_changes_nothing(
    demo, scorecard, resolution, make_qa_person
):
    audrey = make_qa_person("audrey", role="auditor")
    with frozen(WEDNESDAY):
        resolution(at=MONDAY - timedelta(days=2))
        plan = save_plan(starts_at=MONDAY - timedelta(weeks=1))
        sample = sample_draw(plan_id=plan.pk, period_start=MONDAY - timedelta(weeks=1))
    client = client_for(audrey)

    listing = client.get(reverse("qa:plans"))
    page = client.get(reverse("qa:plan", args=["weekly-refunds"]))
    sample_page = client.get(reverse("qa:sample", args=[sample.pk]))
    post = client.post(reverse("qa:plan", args=["weekly-refunds"]), plan_form(name="Changed"))

    assert listing.status_code == page.status_code == sample_page.status_code == 200
    assert 'id="new-plan"' not in listing.content.decode()
    assert 'id="plan-save"' not in page.content.decode()
    assert "Reassign" not in sample_page.content.decode()
    assert post.status_code == 403
    assert SamplingPlan.objects.get().name == "Weekly refunds"


def test_the_sample_page_explains_the_draw_and_lists_unassigned_items(
    demo, scorecard, resolution, make_qa_person, lead
):
    rita = make_qa_person("rita")
    with frozen(WEDNESDAY):
        at = MONDAY - timedelta(days=2)
        theirs = resolution(at=at, decisions=[(DecisionKind.APPROVE, rita, 60)])
        resolution(at=at)
        plan = save_plan(starts_at=MONDAY - timedelta(weeks=1), reviewer_usernames=["rita"])
        sample = sample_draw(plan_id=plan.pk, period_start=MONDAY - timedelta(weeks=1))

    page = client_for(lead).get(reverse("qa:sample", args=[sample.pk])).content.decode()

    assert "2 resolutions in the plan's scope" in page
    assert sample.seed in page
    unassigned_item = sample.items.get(action=theirs)
    assert f'id="item-{unassigned_item.pk}" class="is-unassigned"' in page
    assert 'id="unassigned-count">1' in page
    assert "Reassign" in page


def test_a_lead_reassigns_and_removes_from_the_sample_page(
    demo, scorecard, resolution, make_qa_person, lead
):
    make_qa_person("rita")
    make_qa_person("ravi")
    with frozen(WEDNESDAY):
        resolution(at=MONDAY - timedelta(days=2))
        plan = save_plan(starts_at=MONDAY - timedelta(weeks=1), reviewer_usernames=["rita"])
        sample = sample_draw(plan_id=plan.pk, period_start=MONDAY - timedelta(weeks=1))
    assignment = Assignment.objects.get()
    client = client_for(lead)
    reassign = reverse("qa:assignment-reassign", args=[sample.pk, assignment.pk])

    no_reason = client.post(reassign, {"to_username": "ravi", "reason": ""})
    moved = client.post(reassign, {"to_username": "ravi", "reason": "rita is away"})
    new = Assignment.objects.get(state="open")
    removed = client.post(
        reverse("qa:assignment-remove", args=[sample.pk, new.pk]), {"reason": "duplicate"}
    )

    assert no_reason.status_code == 400
    assert "needs a reason" in no_reason.content.decode()
    assert moved.status_code == removed.status_code == 302
    assert new.reviewer.username == "ravi"
    assert list(Assignment.objects.order_by("id").values_list("state", "removed_reason")) == [
        ("removed", "rita is away"), ("removed", "duplicate"),
    ]  # fmt: skip


def test_a_lead_adds_a_scorecard_and_broken_categories_are_named(db, lead):
    client = client_for(lead)
    categories = '[{"key": "right", "label": "Right decision", "weight": 100, "critical": true}]'

    form = {"slug": "basic", "name": "Basic", "scale": "4", "is_active": "1"}

    broken = client.post(reverse("qa:scorecard-setup"), {**form, "categories": "[{"})
    saved = client.post(reverse("qa:scorecard-setup"), {**form, "categories": categories})

    assert broken.status_code == 400
    assert "categories is not valid JSON" in broken.content.decode()
    assert saved.status_code == 302
    card = Scorecard.objects.get()
    assert card.categories == [
        {"key": "right", "label": "Right decision", "weight": 100, "critical": True,
         "allow_na": False}
    ]  # fmt: skip
    assert 'id="scorecard-basic"' in client.get(reverse("qa:scorecard-setup")).content.decode()


def test_signed_out_visitors_are_sent_to_sign_in(db):
    response = Client().get(reverse("qa:plans"))

    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]
