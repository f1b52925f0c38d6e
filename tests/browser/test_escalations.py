"""The escalation workspace in real Chromium, against the real server, websocket, Redis and Celery
worker: a case arrives live, is acknowledged, moves up a tier when its clock runs out, and is
approved with an edit that then executes."""

from __future__ import annotations

import re
from datetime import timedelta

import httpx
import pytest
from playwright.sync_api import expect

from escalations.models import Escalation
from escalations.services import slas_sweep
from sandbox.models import Refund
from tests.clock import frozen, wait_for
from tests.conftest import SUPERVISOR_PASSWORD
from tests.escalations.conftest import make_handler, policy, tiers

__all__ = ["make_handler", "policy", "tiers"]  # the escalation tests' fixtures, used here too

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
]

WORDS = "I was charged twice <script>window.__pwned = 1</script>"


def sign_in_to_workspace(page, base_url: str, username: str) -> None:
    page.goto(f"{base_url}/escalations/")
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next=/escalations/$"))
    page.fill("#id_username", username)
    page.fill("#id_password", SUPERVISOR_PASSWORD)
    page.click("#login-submit")
    expect(page).to_have_url(f"{base_url}/escalations/")
    expect(page.locator("#live-status")).to_have_attribute("data-state", "live")


def submit_refund(base_url: str, agent, amount: int) -> dict:
    response = httpx.post(
        f"{base_url}/api/v1/actions/",
        json={"action_type": "refund.issue",
              "params": {"order_id": "ORD-1011", "amount": amount, "currency": "USD",
                         "reason": "charged twice"},
              "context": {"customer_words": WORDS, "sentiment": "angry"}},
        headers={"Authorization": f"Api-Key {agent.key}"},
        timeout=10,
    )  # fmt: skip
    assert response.status_code == 201, response.text
    return response.json()


def wait_for_status(base_url: str, agent, action_id: str, status: str) -> dict:
    """Long-poll the agent's `wait/` until the action is `status` (each poll returns at once once
    the action left `pending`, so this asks again until the worker is done)."""

    def reached():
        body = httpx.get(
            f"{base_url}/api/v1/actions/{action_id}/wait/",
            params={"timeout": 5},
            headers={"Authorization": f"Api-Key {agent.key}"},
            timeout=15,
        ).json()
        return body if body["status"] == status else None

    return wait_for(reached, deadline=45, what=f"the agent's wait/ saying {status}", interval=0.2)


def test_a_case_arrives_live_moves_up_a_tier_when_its_sla_passes_and_is_approved_with_an_edit(
    agent, policy, make_handler, live_server_url, celery_worker_process, chromium_browser, page,
    js_errors,
):  # fmt: skip
    # Arrange: lena handles L1 leads and sam L2 specialists; both have the workspace open
    make_handler("lena", "l1-lead")
    make_handler("sam", "l2-specialist")
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    sign_in_to_workspace(page, live_server_url, "lena")
    other = chromium_browser.new_context(viewport={"width": 1400, "height": 900})
    other.set_default_timeout(15_000)
    sam = other.new_page()
    sam.on("pageerror", lambda exc: js_errors.append(str(exc)))
    try:
        sign_in_to_workspace(sam, live_server_url, "sam")

        # Act: the agent's 600.00 refund is escalated by the policy
        action = submit_refund(live_server_url, agent, 60000)
        assert action["status"] == "escalated"
        case = Escalation.objects.get(action_id=action["id"])

        # Assert: the case appears on lena's list without a reload, and not on sam's
        row = page.locator(f"#case-{case.pk}")
        expect(row).to_be_visible()
        expect(row.locator(".tier-tag")).to_have_text("L1-LEAD")
        expect(row.locator(".case-line")).to_have_text("Issue a refund of 600.00 USD on ORD-1011")
        expect(row.locator(".sla-ack time")).to_have_text(re.compile(r"due in 1[45] min"))
        expect(page.locator('#tier-counts li[data-tier="l1-lead"] .count')).to_have_text("1")
        expect(sam.locator(f"#case-{case.pk}")).to_have_count(0)

        # Act: she selects it with j and acknowledges it with a
        page.keyboard.press("j")
        expect(row).to_have_class(re.compile(r"\bselected\b"))
        page.keyboard.press("a")

        # Assert: the row says she has it; the acknowledge clock is gone
        expect(row.locator(".ack-by")).to_have_text("Acknowledged by lena")
        expect(row.locator(".sla-ack")).to_have_count(0)
        assert Escalation.objects.get(pk=case.pk).acknowledged_by.username == "lena"

        # Act: the resolve SLA of L1 (an hour) passes and the sweep runs
        due = Escalation.objects.get(pk=case.pk).resolve_due_at
        with frozen(due + timedelta(minutes=1)):
            swept = slas_sweep()
        assert swept["tier_moves"] == 1

        # Assert: the case leaves lena's list and arrives on sam's, in L2, live
        expect(page.locator(f"#case-{case.pk}")).to_have_count(0)
        moved = sam.locator(f"#case-{case.pk}")
        expect(moved).to_be_visible()
        expect(moved.locator(".tier-tag")).to_have_text("L2-SPECIALIST")
        expect(moved.locator(".c-who")).to_contain_text("Nobody acknowledged it yet")

        # Act: sam opens it (j, o) and approves it with the amount edited to 550.00
        sam.keyboard.press("j")
        expect(moved).to_have_class(re.compile(r"\bselected\b"))
        sam.keyboard.press("o")
        expect(sam).to_have_url(f"{live_server_url}/escalations/{case.pk}/")
        expect(sam.locator("#live-status")).to_have_attribute("data-state", "live")
        expect(sam.locator("#summary-words")).to_have_text(WORDS)
        sam.click("#case-edit-link")
        expect(sam.locator("#edit-amount")).to_have_value("60000")
        sam.fill("#edit-amount", "55000")
        sam.click("#edit-review-button")
        amount = sam.locator('#case-edit tr[data-field="amount"]')
        expect(amount.locator(".new")).to_have_text("55000 (550.00 USD)")
        sam.select_option("#edit-reason-code", "amount-corrected")
        sam.click("#edit-confirm-button")

        # Assert: the case is resolved as approved, and the timeline shows the edit
        expect(sam.locator("#case-status")).to_have_text("resolved")
        expect(sam.locator("#case-outcome")).to_contain_text("Approved by sam")
        approved = sam.locator('#timeline li[data-verb="action.approved"]')
        expect(approved.locator('tr[data-field="amount"] .new')).to_have_text("55000 (550.00 USD)")
        expect(sam.locator('#timeline li[data-verb="escalation.resolved"]')).to_contain_text(
            "resolved the case: approved"
        )

        # Assert: the worker refunds 550.00 and the agent's wait/ hears it succeeded
        done = wait_for_status(live_server_url, agent, action["id"], "succeeded")
        assert done["final_params"]["amount"] == 55000
        assert Refund.objects.get(action_id=action["id"]).amount == 55000
    finally:
        other.close()
    assert page.evaluate("window.__pwned") is None
    assert dialogs == []
    assert js_errors == []
