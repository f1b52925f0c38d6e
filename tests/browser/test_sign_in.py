"""Sign-in in real Chromium: a senior supervisor enrols an authenticator app, then works the
queue and an action page live, and the Content-Security-Policy blocks nothing on the way."""

from __future__ import annotations

import base64
import re

import pytest
from django_otp.oath import totp
from playwright.sync_api import expect

from people.roles import Role
from tests.browser.test_action_page import submit
from tests.conftest import SUPERVISOR_PASSWORD

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
]


def test_a_senior_enrols_then_works_live_pages_with_nothing_blocked_by_the_policy(
    demo, agent, make_supervisor, live_server_url, page, js_errors
):
    # Arrange
    blocked: list[str] = []
    page.on(
        "console",
        lambda m: blocked.append(m.text) if "Content Security Policy" in m.text else None,
    )
    make_supervisor("sam", role=Role.SENIOR_SUPERVISOR)
    action_id = submit(live_server_url, agent)

    # Act: password, then the enrolment page, then a code computed from the key it shows
    page.goto(f"{live_server_url}/")
    page.fill("#id_username", "sam")
    page.fill("#id_password", SUPERVISOR_PASSWORD)
    page.click("#login-submit")
    expect(page).to_have_url(re.compile(r"/accounts/two-factor/setup/"))
    expect(page.locator("#two-factor-qr svg")).to_be_visible()
    key = base64.b32decode(page.locator("#two-factor-secret").inner_text())
    page.fill("#id_token", f"{totp(key):06d}")
    page.click("#two-factor-submit")

    # Assert: the queue is live, the action page claims from its script, nothing was blocked
    expect(page).to_have_url(f"{live_server_url}/")
    expect(page.locator("#live-status")).to_have_attribute("data-state", "live")
    page.goto(f"{live_server_url}/actions/{action_id}/")
    expect(page.locator("#claim-mine")).to_contain_text("You are reviewing this action")
    expect(page.locator("#live-status")).to_have_attribute("data-state", "live")
    assert blocked == []
    assert js_errors == []
