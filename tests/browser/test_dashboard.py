"""The dashboard in real Chromium against the real server, websocket, Redis and Celery worker."""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.sync_api import expect

from tests.browser.conftest import SocketProxy
from tests.conftest import SUPERVISOR_PASSWORD

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
]

AGENT_NOTE = "Box arrived <b>crushed</b> <script>window.__pwned = 1</script>"


def sign_in(page, base_url: str, username: str = "alice") -> None:
    page.goto(f"{base_url}/")
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next=/$"))
    page.fill("#id_username", username)
    page.fill("#id_password", SUPERVISOR_PASSWORD)
    page.click("#login-submit")
    expect(page).to_have_url(f"{base_url}/")
    expect(page.locator("#live-status")).to_have_attribute("data-state", "live")
    expect(page.locator("#live-status")).to_have_text("Live")


def submit_refund(base_url: str, agent, *, amount: int = 12000, reason: str = AGENT_NOTE) -> str:
    response = httpx.post(
        f"{base_url}/api/v1/actions/",
        json={"action_type": "refund.issue",
              "params": {"order_id": "ORD-1001", "amount": amount, "currency": "USD",
                         "reason": reason}},
        headers={"Authorization": f"Api-Key {agent.key}"},
        timeout=10,
    )  # fmt: skip
    assert response.status_code == 201, response.text
    assert response.json()["status"] == "pending"
    return response.json()["id"]


def test_a_supervisor_approves_a_refund_that_arrives_live_and_watches_it_succeed(
    demo, agent, supervisor, live_server_url, celery_worker_process, page, js_errors
):
    # Arrange: alice signs in through the form and the queue is live
    sign_in(page, live_server_url)
    page.evaluate("window.__sameDocument = true")

    # Act: an agent submits a 120.00 refund through the API of the running server
    action_id = submit_refund(live_server_url, agent)

    # Assert: it appears in the pending list without a reload, agent text shown as text
    row = page.locator(f"#pending-rows #action-{action_id}")
    expect(row).to_be_visible()
    expect(row.locator(".c-amount")).to_have_text("120.00 USD")
    expect(row).to_contain_text("ORD-1001")
    expect(row.locator(".agent-note q")).to_have_text(AGENT_NOTE)
    expect(page.locator("#pending-count")).to_have_text("1")

    # Act: she approves it with a reason code from the catalog
    row.locator("form.decide-approve select").select_option("verified-eligible")
    row.locator("form.decide-approve button").click()

    # Assert: the row moves to Recent and, once the worker ran it, shows `succeeded`
    done = page.locator(f"#recent-rows #action-{action_id}")
    expect(done).to_have_attribute("data-status", "succeeded", timeout=30_000)
    expect(done.locator(".badge")).to_have_text("succeeded")
    expect(done).to_contain_text("approved by alice · Verified: customer is eligible")
    expect(page.locator(f"#pending-rows #action-{action_id}")).to_have_count(0)
    expect(page.locator("#pending-empty")).to_be_visible()
    assert page.evaluate("window.__sameDocument") is True
    assert page.evaluate("window.__pwned") is None
    assert js_errors == []


def test_rejecting_without_a_reason_shows_the_services_message_and_keeps_the_row(
    demo, agent, supervisor, live_server_url, page, js_errors
):
    action_id = submit_refund(live_server_url, agent, reason="changed my mind")
    sign_in(page, live_server_url)
    row = page.locator(f"#pending-rows #action-{action_id}")
    expect(row).to_be_visible()

    row.locator("form.decide-reject button").click()

    expect(page.locator("#flash .notice-error")).to_have_text(
        re.compile("A reason code is required to reject.")
    )
    expect(row).to_have_attribute("data-status", "pending")

    row.locator("form.decide-reject select").select_option("duplicate-request")
    row.locator("form.decide-reject button").click()

    rejected = page.locator(f"#recent-rows #action-{action_id}")
    expect(rejected).to_have_attribute("data-status", "rejected")
    expect(rejected).to_contain_text("rejected by alice · Duplicate request")
    expect(page.locator("#flash .notice-error")).to_have_count(0)
    assert js_errors == []


def test_after_a_reconnect_the_list_catches_up_on_what_the_socket_missed(
    demo, agent, supervisor, live_server_url, page, js_errors
):
    # Arrange: the socket goes through a proxy that can drop pushes and cut the connection
    proxy = SocketProxy()
    page.route_web_socket(re.compile(r"/ws/dashboard/$"), proxy)
    sign_in(page, live_server_url)
    proxy.wait_hello(page)
    (first,) = proxy.sockets

    # Act: a push is lost, then the connection drops and the page reconnects
    proxy.forwarding = False
    action_id = submit_refund(live_server_url, agent, reason="lost push")
    proxy.wait_dropped(page, action_id)
    expect(page.locator(f"#action-{action_id}")).to_have_count(0)
    proxy.forwarding = True
    first.close(code=1012, reason="server restart")
    expect(page.locator("#live-status")).to_have_attribute("data-state", "reconnecting")

    # Assert: on the new connection the list is read again and the missed row is there
    expect(page.locator("#live-status")).to_have_attribute("data-state", "live")
    expect(page.locator(f"#pending-rows #action-{action_id}")).to_be_visible()
    assert len(proxy.sockets) == 2
    assert js_errors == []
