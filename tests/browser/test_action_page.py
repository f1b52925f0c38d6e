"""The action page in real Chromium: the claim seen live by others, inert agent text, an edit."""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.sync_api import expect

from tests.conftest import SUPERVISOR_PASSWORD

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
]

SCRIPT = "<script>window.__pwned = 1; alert(1)</script>"
IMG = "<img src=x onerror=alert(1)>"


def submit(base_url: str, agent, *, amount=12000, reason="damaged", context=None, intent=None):
    body = {
        "action_type": "refund.issue",
        "params": {"order_id": "ORD-1001", "amount": amount, "currency": "USD", "reason": reason},
        "context": context or {},
    }
    if intent:
        body["intent"] = intent
    response = httpx.post(
        f"{base_url}/api/v1/actions/",
        json=body,
        headers={"Authorization": f"Api-Key {agent.key}"},
        timeout=10,
    )
    assert response.status_code == 201, response.text
    return response.json()["id"]


def open_action(page, base_url: str, action_id: str, username: str, query: str = "") -> None:
    """Sign in through the form on the way to the action page, and wait for its socket."""
    page.goto(f"{base_url}/actions/{action_id}/{query}")
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next="))
    page.fill("#id_username", username)
    page.fill("#id_password", SUPERVISOR_PASSWORD)
    page.click("#login-submit")
    expect(page).to_have_url(re.compile(rf"/actions/{action_id}/"))
    expect(page.locator("#live-status")).to_have_attribute("data-state", "live")


def test_others_see_who_reviews_an_action_live_and_see_it_freed(
    demo, agent, supervisor, make_supervisor, live_server_url, chromium_browser, page, js_errors
):
    # Arrange: alice opens a pending refund (and so claims it); bob opens it after her
    make_supervisor("bob")
    action_id = submit(live_server_url, agent)
    open_action(page, live_server_url, action_id, "alice")
    expect(page.locator("#claim-mine")).to_contain_text("You are reviewing this action")
    expect(page.locator("#decide-approve")).to_be_visible()

    other = chromium_browser.new_context(viewport={"width": 1400, "height": 900})
    other.set_default_timeout(15_000)
    bob = other.new_page()
    bob.on("pageerror", lambda exc: js_errors.append(str(exc)))
    try:
        open_action(bob, live_server_url, action_id, "bob")
        expect(bob.locator("#claim-other")).to_contain_text("Being reviewed by alice until")
        expect(bob.locator("#decide-approve")).to_have_count(0)

        # Act: alice releases it
        page.click("#release-button")

        # Assert: bob's page shows it free without a reload, with a way to review it
        expect(bob.locator("#claim-other")).to_have_count(0)
        expect(bob.locator("#claim-button")).to_be_visible()
        expect(page.locator("#claim-button")).to_be_visible()

        # Act: alice takes it back; Assert: bob sees it live again
        page.click("#claim-button")
        expect(page.locator("#claim-mine")).to_be_visible()
        expect(bob.locator("#claim-other")).to_contain_text("Being reviewed by alice")
        expect(bob.locator("#decide-approve")).to_have_count(0)
    finally:
        other.close()
    assert js_errors == []


def test_agent_text_renders_as_inert_text(
    demo, agent, supervisor, live_server_url, page, js_errors
):
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    action_id = submit(
        live_server_url,
        agent,
        reason=SCRIPT,
        context={"summary": IMG, "rationale": SCRIPT + " " + IMG, "confidence": 0.9},
    )

    open_action(page, live_server_url, action_id, "alice")

    expect(page.locator("#agent-summary")).to_have_text(IMG)
    expect(page.locator("#agent-rationale")).to_have_text(SCRIPT + " " + IMG)
    expect(page.locator("#agent-reason")).to_have_text(SCRIPT)
    expect(page.locator("#agent-confidence")).to_have_text("90%")
    expect(page.locator("#fact-amount")).to_have_text("120.00 USD")
    # With no <img> on the page, no onerror of the agent's can fire later.
    assert page.locator("#action-page img").count() == 0
    assert dialogs == []
    assert page.evaluate("window.__pwned") is None
    assert js_errors == []


def test_a_reviewer_edits_a_draft_through_the_form_and_confirms_the_diff(
    demo, agent, supervisor, live_server_url, page, js_errors
):
    # Arrange: a drafted 30.00 refund, opened straight into its edit form
    action_id = submit(live_server_url, agent, amount=3000, intent="draft")
    open_action(page, live_server_url, action_id, "alice", query="?edit=1")
    expect(page.locator("#edit-amount")).to_have_value("3000")

    # Act: she changes the amount and reviews the change
    page.fill("#edit-amount", "2500")
    page.click("#edit-review-button")

    # Assert: the confirm step shows original → new and what the policy would say
    row = page.locator('#action-edit tr[data-field="amount"]')
    expect(row.locator(".old")).to_have_text("3000 (30.00 USD)")
    expect(row.locator(".new")).to_have_text("2500 (25.00 USD)")
    expect(page.locator("#edit-outlook")).to_contain_text("small-refund-executes")

    # Act: she confirms with a reason code
    page.select_option("#edit-reason-code", "amount-corrected")
    page.click("#edit-confirm-button")

    # Assert: the page now shows the edited params, the diff and the edit in the lineage
    expect(page.locator("#params-title")).to_have_text("What would execute (edited)")
    expect(page.locator("#fact-amount")).to_have_text("25.00 USD")
    expect(page.locator('#lineage li[data-verb="action.edited"]')).to_contain_text(
        "alice edited the params"
    )
    expect(page.locator("#action-panel")).to_have_attribute("data-version", "2")
    assert js_errors == []
