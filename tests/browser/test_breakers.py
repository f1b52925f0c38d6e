"""The breaker banner in real Chromium: it appears live when a breaker trips, a reset clears it."""

from __future__ import annotations

import httpx
import pytest
from playwright.sync_api import expect

from tests.browser.test_dashboard import sign_in
from tests.conftest import asgi_server

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


@pytest.fixture
def server_url(demo, test_database_name, tmp_path):
    """A server process started after the demo breaker exists. A running server keeps the
    definitions it read for DEFINITIONS_TTL_SECONDS; a new one has read none yet."""
    with asgi_server("config.asgi:application", test_database_name, tmp_path / "web.log") as url:
        yield url


def test_a_tripped_breaker_shows_live_and_a_reset_with_a_reason_clears_it(
    agent, supervisor, server_url, celery_worker_process, page, js_errors
):
    # Arrange: the page is live (its socket open) before anything happens
    sign_in(page, server_url)
    expect(page.locator("#live-status")).to_have_attribute("data-state", "live")
    banner = page.locator("#breaker-banner")
    expect(banner).to_be_hidden()

    # Act: 21 small refunds from one agent within the window
    statuses = [small_refund(server_url, agent) for _ in range(21)]

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
    assert small_refund(server_url, agent) == "approved"
    assert js_errors == []
