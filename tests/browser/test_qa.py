"""QA in real Chromium against the real server: a reviewer signs in, finds the week's sample
assigned to them, scores one resolution as wrong, and the scorecard's action accuracy and money
leak change to count it."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from approvals.models import DecisionKind
from config import clock
from qa.models import Assignment
from qa.sampling import period_bounds
from qa.services.sampling import sample_draw
from tests.conftest import SUPERVISOR_PASSWORD
from tests.qa.conftest import make_qa_person, resolution, scorecard
from tests.qa.plan_factory import save_plan

__all__ = ["make_qa_person", "resolution", "scorecard"]  # the QA tests' fixtures, used here too

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
]


def sign_in(page, base_url: str, username: str, then: str) -> None:
    page.goto(f"{base_url}{then}")
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next="))
    page.fill("#id_username", username)
    page.fill("#id_password", SUPERVISOR_PASSWORD)
    page.click("#login-submit")
    expect(page).to_have_url(f"{base_url}{then}")


def overall_cell(page, metric: str):
    return page.locator("#scorecard-latest tbody tr").first.locator(f'td[data-metric="{metric}"]')


def test_a_reviewer_scores_a_sampled_resolution_and_the_scorecard_counts_it(
    resolution, scorecard, make_qa_person, make_supervisor, live_server_url, page, js_errors
):
    # Arrange: alice approved two refunds this week; rita reviews the week's sample
    alice = make_supervisor("alice")
    rita = make_qa_person("rita")
    approved = [
        resolution(amount=amount, decisions=[(DecisionKind.APPROVE, alice, 45)])
        for amount in (7500, 9900)
    ]
    start, _ = period_bounds("weekly", clock.now())
    plan = save_plan(reviewer_usernames=["rita"], starts_at=start, size_count=2)
    sample_draw(plan_id=plan.pk, period_start=start, period_end=clock.now())
    assignments = list(Assignment.objects.filter(reviewer=rita).order_by("id"))
    assert sorted(a.action_id for a in assignments) == sorted(a.pk for a in approved)
    first = assignments[0]
    leaked = next(a for a in approved if a.pk == first.action_id)

    # Act 1: rita signs in at /qa/ and sees her two assignments, open
    sign_in(page, live_server_url, "rita", "/qa/")
    expect(page.locator("#open-count")).to_have_text("2")
    for assignment in assignments:
        expect(page.locator(f"#assignment-{assignment.pk}")).to_be_visible()

    # ... the scorecard counts no review yet
    page.goto(f"{live_server_url}/qa/scorecards/")
    accuracy = overall_cell(page, "action_accuracy")
    expect(accuracy).not_to_contain_text("0 / 1")
    expect(overall_cell(page, "money_leak_USD")).not_to_contain_text(
        f"{leaked.amount // 100}.{leaked.amount % 100:02d}"
    )

    # Act 2: she scores the first one: it should have been rejected, the decision fails
    page.goto(f"{live_server_url}/qa/")
    page.click(f"#assignment-{first.pk} a")
    expect(page).to_have_url(f"{live_server_url}/qa/reviews/{first.pk}/")
    page.check('input[name="score-decision"][value="0"]')
    page.check('input[name="score-policy"][value="2"]')
    page.check('input[name="score-reason"][value="na"]')
    page.check('input[name="score-amount"][value="4"]')
    page.check('input[name="verdict"][value="should_reject"]')
    page.check('input[name="root_causes"][value="rubber_stamp"]')
    page.fill("#review-note", "Order was never delivered <b>bold</b>: refund not due")
    page.click("#submit-button")

    # Assert: the review is recorded (zeroed by the critical category) and the inbox moves on
    expect(page.locator("#current-review")).to_contain_text("Should have been rejected")
    expect(page.locator("#current-review")).to_contain_text("0.00")
    expect(page.locator("#current-review")).to_contain_text("<b>bold</b>")
    page.goto(f"{live_server_url}/qa/")
    expect(page.locator("#open-count")).to_have_text("1")

    # ... and the scorecard counts it: accuracy 0 of 1 reviewed, the refund leaked
    page.goto(f"{live_server_url}/qa/scorecards/")
    expect(overall_cell(page, "action_accuracy")).to_contain_text("0 / 1")
    expect(overall_cell(page, "money_leak_USD")).to_contain_text(
        f"{leaked.amount // 100}.{leaked.amount % 100:02d}"
    )
    assert js_errors == []
