"""Agent-provided text is inert in Chromium on every page that shows it: the queue page, the
action page, the escalation workspace and the QA review page. Each field an agent fills (params
strings, context values and keys, the callback URL, an escalation's summary, an outcome note)
carries a script and an image whose onerror would run one; nothing runs (`window.__pwned` stays
undefined, no dialog opens) and the text reads as it was sent."""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.sync_api import expect

from approvals.models import Action, DecisionKind
from config import clock
from qa.models import Assignment
from qa.sampling import period_bounds
from qa.services.outcomes import outcome_report
from qa.services.sampling import sample_draw
from tests.conftest import SUPERVISOR_PASSWORD
from tests.escalations.conftest import make_handler, policy, tiers
from tests.qa.conftest import make_qa_person, resolution, scorecard
from tests.qa.plan_factory import save_plan

# The fixtures of the escalation and QA tests, used here too.
__all__ = ["make_handler", "make_qa_person", "policy", "resolution", "scorecard", "tiers"]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
]

SCRIPT = "<script>window.__pwned = 1</script>"
IMG = '<img src=x onerror="window.__pwned = 2">'
PAYLOAD = f"{SCRIPT} {IMG}"
# A sentiment is at most 32 characters.
SHORT = "<svg onload=__pwned=4>"
# A URL has no spaces: the payload breaks out of an attribute instead.
CALLBACK = 'http://127.0.0.1:9/cb?x="><script>window.__pwned=3</script>'


def sign_in(page, base_url: str, username: str, then: str) -> None:
    page.goto(f"{base_url}{then}")
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next="))
    page.fill("#id_username", username)
    page.fill("#id_password", SUPERVISOR_PASSWORD)
    page.click("#login-submit")
    expect(page).to_have_url(f"{base_url}{then}")


@pytest.fixture
def dialogs(page) -> list[str]:
    opened: list[str] = []
    page.on("dialog", lambda dialog: (opened.append(dialog.message), dialog.dismiss()))
    return opened


def assert_inert(page, dialogs: list[str], js_errors: list[str]) -> None:
    assert page.evaluate("typeof window.__pwned") == "undefined"
    assert dialogs == []
    assert js_errors == []


def api_post(base_url: str, agent, path: str, body: dict) -> dict:
    response = httpx.post(
        f"{base_url}/api/v1/{path}",
        json=body,
        headers={"Authorization": f"Api-Key {agent.key}"},
        timeout=10,
    )
    assert response.status_code == 201, response.text
    return response.json()


def test_agent_text_is_inert_on_the_queue_page_and_the_action_page(
    demo, agent, supervisor, live_server_url, page, dialogs, js_errors
):
    # Arrange: a pending refund whose every free-text field carries the payload
    action = api_post(live_server_url, agent, "actions/", {
        "action_type": "refund.issue",
        "params": {"order_id": "ORD-1001", "amount": 12000, "currency": "USD",
                   "reason": PAYLOAD},
        "context": {"summary": PAYLOAD, "rationale": PAYLOAD, "customer_words": PAYLOAD,
                    PAYLOAD: PAYLOAD},
        "intent": "execute",
        "callback_url": CALLBACK,
    })  # fmt: skip

    # Act 1: the queue page lists it
    sign_in(page, live_server_url, "alice", "/")
    row = page.locator(f"#action-{action['id']}")
    expect(row).to_be_visible()

    # Assert 1
    assert row.locator("img, script").count() == 0
    assert_inert(page, dialogs, js_errors)

    # Act 2: the action page shows it whole
    page.goto(f"{live_server_url}/actions/{action['id']}/")
    expect(page.locator("#agent-reason")).to_have_text(PAYLOAD)

    # Assert 2
    expect(page.locator("#agent-summary")).to_have_text(PAYLOAD)
    expect(page.locator("#agent-rationale")).to_have_text(PAYLOAD)
    expect(page.get_by_text(PAYLOAD).first).to_be_visible()
    assert page.locator("#action-page img, #action-page script").count() == 0
    assert_inert(page, dialogs, js_errors)


def test_an_escalation_summary_is_inert_in_the_workspace_and_on_the_case_page(
    policy, agent, make_handler, live_server_url, page, dialogs, js_errors
):
    # Arrange: the agent hands a conversation over with the payload in every summary field
    make_handler("hana")
    case = api_post(live_server_url, agent, "escalations/", {
        "reason": PAYLOAD,
        "summary": {"order_id": "ORD-1001", "what_agent_did": PAYLOAD,
                    "what_agent_proposes": PAYLOAD, "customer_words": PAYLOAD,
                    "sentiment": SHORT},
    })  # fmt: skip

    # Act 1: the workspace lists the case
    sign_in(page, live_server_url, "hana", "/escalations/")
    expect(page.locator(f"#case-{case['id']}")).to_be_visible()

    # Assert 1
    assert page.locator(f"#case-{case['id']} img, #case-{case['id']} script").count() == 0
    assert_inert(page, dialogs, js_errors)

    # Act 2: the case page shows the whole summary
    page.goto(f"{live_server_url}/escalations/{case['id']}/")

    # Assert 2
    expect(page.get_by_text(PAYLOAD).first).to_be_visible()
    expect(page.get_by_text(SHORT).first).to_be_visible()
    assert page.locator("main img, main script, main svg[onload]").count() == 0
    assert_inert(page, dialogs, js_errors)


def test_agent_text_and_an_outcome_note_are_inert_on_the_qa_review_page(
    resolution, scorecard, make_qa_person, make_supervisor, agent, live_server_url, page,
    dialogs, js_errors,
):  # fmt: skip
    # Arrange: a refund approved this week, with the payload in its params and context and in
    # the agent's outcome note, sampled for rita to review
    alice = make_supervisor("alice")
    rita = make_qa_person("rita")
    action = resolution(decisions=[(DecisionKind.APPROVE, alice, 45)])
    Action.objects.filter(pk=action.pk).update(
        params={**action.params, "reason": PAYLOAD},
        context={"summary": PAYLOAD, "customer_words": PAYLOAD},
    )
    outcome_report(action_id=action.pk, agent=agent.agent, body={"resolved": False,
                   "note": PAYLOAD})  # fmt: skip
    start, _ = period_bounds("weekly", clock.now())
    plan = save_plan(reviewer_usernames=["rita"], starts_at=start, size_count=1)
    sample_draw(plan_id=plan.pk, period_start=start, period_end=clock.now())
    assignment = Assignment.objects.get(reviewer=rita)

    # Act
    sign_in(page, live_server_url, "rita", f"/qa/reviews/{assignment.pk}/")

    # Assert
    expect(page.get_by_text(PAYLOAD).first).to_be_visible()
    assert page.locator("main img, main script").count() == 0
    assert_inert(page, dialogs, js_errors)
