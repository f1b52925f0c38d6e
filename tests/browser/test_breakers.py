"""The breaker banner in real Chromium: it appears live when a breaker trips, a reset clears it."""

from __future__ import annotations

import time

import httpx
import pytest
from playwright.sync_api import expect

from approvals.breakers import DEFINITIONS_TTL_SECONDS
from tests.browser.test_dashboard import sign_in

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
]


def small_refund(base_url: str, agent) -> str:
    response = httpx.post(
        f"{base_url}/api/v1/actions/",
        json={"action_type": "refund.issue",
              "params": {"order_id": "ORD-1002", "amount": 1000, "currency": "USD",
                         "reason": "late delivery"}},
        headers={"Authorization": f"Api-Key {agent.key}"},
        timeout=10,
    )  # fmt: skip
    assert response.status_code == 201, response.text
    return response.json()["status"]


def test_a_tripped_breaker_shows_live_and_a_reset_with_a_reason_clears_it(
    demo, agent, supervisor, live_server_url, celery_worker_process, page, js_errors
):
    # Arrange: the server process sees the demo breaker once its cached definitions expire
    loaded_at = time.monotonic()
    sign_in(page, live_server_url)
    time.sleep(max(0.0, DEFINITIONS_TTL_SECONDS + 0.5 - (time.monotonic() - loaded_at)))
    banner = page.locator("#breaker-banner")
    expect(banner).to_be_hidden()

    # Act: 21 small refunds from one agent within the window
    statuses = [small_refund(live_server_url, agent) for _ in range(21)]

    # Assert: the 21st waits, and the banner arrives without a reload
    assert statuses == ["approved"] * 20 + ["pending"]
    notice = banner.locator(".notice-breaker")
    expect(notice).to_be_visible()
    expect(notice).to_contain_text(
        "breaker `refund-burst` tripped for agent `support-bot` "
        "(21 refunds / 210.00 USD in 10 min): held for a human"
    )

    # Act: alice resets it with a reason
    notice.locator("input[name=reason]").fill("checked with the bot's owner")
    notice.locator("button").click()

    # Assert: the banner is gone and refunds execute on their own again
    expect(banner).to_be_hidden()
    expect(page.locator("#flash .notice-error")).to_have_count(0)
    assert small_refund(live_server_url, agent) == "approved"
    assert js_errors == []
