"""The queue page in real Chromium: keys, claims and decisions seen live by two people, conflicts,
resyncs after lost pushes, inert agent text, SLA marks and live counts."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from approvals import services
from approvals.models import Action, Decision, Status
from tests.browser.conftest import SocketProxy
from tests.browser.test_dashboard import sign_in, submit_refund

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
]

XSS = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2">'


@pytest.fixture
def second_page(chromium_browser, js_errors):
    context = chromium_browser.new_context(viewport={"width": 1400, "height": 900})
    context.set_default_timeout(15_000)
    page = context.new_page()
    page.on("pageerror", lambda exc: js_errors.append(str(exc)))
    try:
        yield page
    finally:
        context.close()


def row(page, action_id: str):
    return page.locator(f"#action-{action_id}")


def test_j_and_k_move_the_selection_and_a_approves_the_selected_row(
    demo, agent, supervisor, live_server_url, page, js_errors
):
    # Arrange: three refunds wait, listed by SLA due time (the order they came in)
    first, second, third = (submit_refund(live_server_url, agent, reason="ok") for _ in range(3))
    sign_in(page, live_server_url)

    # Act: j j j k selects the second row; typing a "j" into the search box moves nothing
    for key in "jjjk":
        page.keyboard.press(key)
    page.fill("#queue-filters input[name=q]", "j")
    page.locator("#queue-filters input[name=q]").press("j")
    page.locator("#queue-filters input[name=q]").blur()
    expect(row(page, second)).to_have_class(re.compile(r"\bselected\b"))
    expect(row(page, second)).to_have_attribute("aria-selected", "true")
    page.keyboard.press("a")

    # Assert: exactly that one is approved, by alice
    expect(row(page, second)).to_have_attribute(
        "data-status", re.compile("approved|executing|succeeded")
    )
    expect(page.locator(f"#recent-rows #action-{second}")).to_contain_text("approved by alice")
    for other in (first, third):
        expect(row(page, other)).to_have_attribute("data-status", "pending")
    assert Decision.objects.get().action_id.hex == second.replace("-", "")
    assert js_errors == []


def test_question_mark_opens_the_key_list_and_escape_closes_it(
    demo, supervisor, live_server_url, page, js_errors
):
    sign_in(page, live_server_url)
    help_box = page.locator("#keys-help")
    expect(help_box).to_be_hidden()

    page.keyboard.press("?")
    expect(help_box).to_be_visible()
    expect(help_box).to_contain_text("Approve (or adopt) the selected row")
    page.keyboard.press("Escape")

    expect(help_box).to_be_hidden()
    assert js_errors == []


def test_two_supervisors_see_each_others_claims_and_decisions_live(
    demo, agent, supervisor, make_supervisor, live_server_url, page, second_page, js_errors
):
    # Arrange: alice and bob both have the queue open
    make_supervisor("bob")
    action_id = submit_refund(live_server_url, agent, reason="ok")
    sign_in(page, live_server_url)
    sign_in(second_page, live_server_url, "bob")

    # Act: bob claims it
    row(second_page, action_id).locator("form.claim-form button").click()

    # Assert: bob reads "you are reviewing", alice "being reviewed by bob", without a reload
    expect(row(second_page, action_id).locator("[data-claim-label]")).to_have_text(
        "You are reviewing"
    )
    expect(row(page, action_id).locator("[data-claim-label]")).to_have_text("Being reviewed by bob")
    expect(row(page, action_id).locator("form.claim-form")).to_be_hidden()

    # Act: bob approves; Assert: alice's row moves to Recent
    row(second_page, action_id).locator("form.decide-approve button").click()
    expect(page.locator(f"#recent-rows #action-{action_id}")).to_contain_text("approved by bob")
    expect(page.locator(f"#pending-rows #action-{action_id}")).to_have_count(0)
    assert js_errors == []


def test_a_claim_label_disappears_when_the_claim_runs_out(
    demo, agent, supervisor, make_supervisor, live_server_url, page, js_errors
):
    action_id = submit_refund(live_server_url, agent, reason="ok")
    services.action_claim(action_id=action_id, by=make_supervisor("bob"))
    Action.objects.filter(pk=action_id).update(
        claim_expires_at=timezone.now() + timedelta(seconds=4)
    )
    sign_in(page, live_server_url)
    label = row(page, action_id).locator("[data-claim-label]")
    expect(label).to_have_text("Being reviewed by bob")

    expect(label).to_be_hidden(timeout=15_000)
    expect(row(page, action_id)).to_have_attribute("data-claim", "none")
    assert js_errors == []


def test_when_two_approve_at_once_one_decision_stands_and_the_other_sees_the_conflict(
    demo, agent, supervisor, make_supervisor, live_server_url, page, second_page, js_errors
):
    # Arrange
    make_supervisor("bob")
    action_id = submit_refund(live_server_url, agent, reason="ok")
    # Bob's pushes pass through a proxy: the first approval's push must not replace his row
    # (and its form) before he has sent his own approval of version 1.
    proxy = SocketProxy()
    second_page.route_web_socket(re.compile(r"/ws/dashboard/$"), proxy)
    sign_in(page, live_server_url)
    sign_in(second_page, live_server_url, "bob")
    proxy.wait_hello(second_page)
    selector = f"#action-{action_id} form.decide-approve"
    for p in (page, second_page):
        expect(p.locator(selector)).to_be_visible()

    # Act: both send their approval of version 1 without waiting for the other
    def posted(response) -> bool:
        return response.request.method == "POST"

    proxy.holding = True
    with page.expect_response(posted) as first, second_page.expect_response(posted) as second:
        for p in (page, second_page):
            p.evaluate(f"document.querySelector('{selector}').requestSubmit()")
    proxy.release()
    answers = {first.value.status: page, second.value.status: second_page}

    # Assert: one approval is recorded; the loser reads why and sees the fresh row
    assert sorted(answers) == [200, 409]
    winner, loser = answers[200], answers[409]
    for p in (winner, loser):
        expect(p.locator(f"#recent-rows #action-{action_id}")).to_be_visible()
    expect(loser.locator("#flash .notice-error")).to_contain_text(
        "This action changed since you loaded it"
    )
    expect(loser.locator("#flash .notice-error")).to_have_count(1)
    expect(winner.locator("#flash .notice-error")).to_have_count(0)
    assert Decision.objects.filter(action_id=action_id).count() == 1
    assert js_errors == []


def test_a_lost_push_is_noticed_by_its_sequence_number_and_the_list_resyncs(
    demo, agent, supervisor, live_server_url, page, js_errors
):
    # Arrange: pushes pass through a proxy that can drop them
    proxy = SocketProxy()
    page.route_web_socket(re.compile(r"/ws/dashboard/$"), proxy)
    sign_in(page, live_server_url)
    proxy.wait_hello(page)
    resyncs = page.evaluate("document.body.dataset.resyncs")

    # Act: one push is lost, the next arrives (same socket, no reconnect)
    proxy.forwarding = False
    lost = submit_refund(live_server_url, agent, reason="lost")
    proxy.wait_dropped(page, lost)
    proxy.forwarding = True
    seen = submit_refund(live_server_url, agent, reason="seen")

    # Assert: the gap in sequence numbers made the page read the list again
    expect(row(page, seen)).to_be_visible()
    expect(row(page, lost)).to_be_visible()
    assert page.evaluate("document.body.dataset.resyncs") != resyncs
    expect(page.locator("#live-status")).to_have_attribute("data-state", "live")
    assert js_errors == []


def test_after_the_socket_closes_the_page_shows_what_changed_meanwhile(
    demo, agent, supervisor, live_server_url, page, js_errors
):
    # Arrange
    proxy = SocketProxy()
    page.route_web_socket(re.compile(r"/ws/dashboard/$"), proxy)
    decided = submit_refund(live_server_url, agent, reason="ok")
    sign_in(page, live_server_url)
    proxy.wait_hello(page)
    expect(row(page, decided)).to_have_attribute("data-status", "pending")

    # Act: pushes stop reaching the page; meanwhile one action is rejected and one submitted;
    # then the page's own socket closes and it reconnects
    proxy.forwarding = False
    services.action_reject(action_id=decided, by=supervisor, reason_code="duplicate-request")
    new = submit_refund(live_server_url, agent, reason="new")
    proxy.wait_dropped(page, decided, new)
    expect(row(page, new)).to_have_count(0)
    proxy.forwarding = True
    page.evaluate("window.countersignSocket().close()")

    # Assert: the resync on the new connection shows the truth
    expect(page.locator(f"#recent-rows #action-{decided}")).to_have_attribute(
        "data-status", "rejected"
    )
    expect(page.locator(f"#pending-rows #action-{new}")).to_be_visible()
    assert js_errors == []


def test_agent_text_with_markup_renders_inert(
    demo, agent, supervisor, live_server_url, page, js_errors
):
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    on_load = submit_refund(live_server_url, agent, reason=XSS)
    sign_in(page, live_server_url)

    pushed = submit_refund(live_server_url, agent, reason=XSS)

    # With no <img> and no <script> in either row, nothing of the agent's can run later.
    for action_id in (on_load, pushed):
        expect(row(page, action_id).locator(".agent-note q")).to_have_text(XSS)
        expect(row(page, action_id).locator("img")).to_have_count(0)
        expect(row(page, action_id).locator("script")).to_have_count(0)
    assert page.evaluate("window.__pwned") is None
    assert dialogs == []
    assert js_errors == []


def test_an_overdue_row_is_marked_and_a_row_turns_overdue_live(
    demo, agent, supervisor, live_server_url, page, js_errors
):
    late = submit_refund(live_server_url, agent, reason="late")
    soon = submit_refund(live_server_url, agent, reason="soon")
    now = timezone.now()
    Action.objects.filter(pk=late).update(sla_due_at=now - timedelta(minutes=5))
    Action.objects.filter(pk=soon).update(sla_due_at=now + timedelta(seconds=6))

    sign_in(page, live_server_url)

    expect(row(page, late)).to_have_class(re.compile(r"\boverdue\b"))
    expect(row(page, late).locator(".overdue-marker")).to_be_visible()
    expect(row(page, late).locator("time[data-sla-due]")).to_have_text(re.compile("overdue by"))
    expect(row(page, soon).locator(".overdue-marker")).to_be_hidden()
    expect(row(page, soon)).to_have_class(re.compile(r"\boverdue\b"), timeout=20_000)
    expect(row(page, soon).locator(".overdue-marker")).to_be_visible()
    assert js_errors == []


def test_the_pending_count_of_a_queue_changes_live(
    demo, agent, supervisor, live_server_url, page, js_errors
):
    sign_in(page, live_server_url)
    count = page.locator('#queue-counts li[data-queue="Refunds"] .count')
    expect(count).to_have_text("0")

    first = submit_refund(live_server_url, agent, reason="one")
    submit_refund(live_server_url, agent, reason="two")
    expect(count).to_have_text("2")

    services.action_reject(action_id=first, by=supervisor, reason_code="duplicate-request")
    expect(count).to_have_text("1")
    assert Action.objects.filter(status=Status.PENDING).count() == 1
    assert js_errors == []


def test_select_all_eligible_then_approve_shows_a_summary_and_moves_the_rows(
    demo, agent, supervisor, make_supervisor, live_server_url, page, js_errors
):
    # Arrange: two small refunds, one claimed by bob (eligible but his), one above the batch limit
    small = [submit_refund(live_server_url, agent, amount=6000, reason="ok") for _ in range(2)]
    claimed = submit_refund(live_server_url, agent, amount=7000, reason="ok")
    services.action_claim(action_id=claimed, by=make_supervisor("bob"))
    large = submit_refund(live_server_url, agent, amount=50000, reason="big")
    Action.objects.filter(pk=large).update(amount=50001)
    sign_in(page, live_server_url)
    expect(row(page, large).locator(".batch-pick")).to_have_count(0)
    # The socket is live (and any resync it asked for is done) before boxes are ticked by hand.
    expect(page.locator("#live-status")).to_have_attribute("data-state", "live")

    # Act: select all eligible, tick bob's too by hand, approve with one reason code
    page.check("#batch-all")
    expect(page.locator("#batch-count")).to_have_text("2 selected")
    row(page, claimed).locator(".batch-pick").evaluate("box => { box.checked = true }")
    page.select_option("#batch-form select[name=reason_code]", "verified-eligible")
    page.click("#batch-form button[value=approve]")

    # Assert: a summary with bob's refusal; the two approved rows move to Recent
    summary = page.locator("#flash [data-batch-summary]")
    expect(summary).to_contain_text("2 approved, 1 refused:")
    expect(summary).to_contain_text("claimed_by_other")
    for action_id in small:
        expect(page.locator(f"#recent-rows #action-{action_id}")).to_be_visible()
    expect(row(page, claimed)).to_have_attribute("data-status", "pending")
    expect(row(page, large)).to_have_attribute("data-status", "pending")
    assert js_errors == []


def test_c_claims_and_r_then_enter_rejects_the_selected_row(
    demo, agent, supervisor, live_server_url, page, js_errors
):
    action_id = submit_refund(live_server_url, agent, reason="ok")
    sign_in(page, live_server_url)

    page.keyboard.press("j")
    page.keyboard.press("c")
    expect(row(page, action_id).locator("[data-claim-label]")).to_have_text("You are reviewing")
    page.keyboard.press("r")
    reason = row(page, action_id).locator("form.decide-reject select")
    expect(reason).to_be_focused()
    reason.select_option("duplicate-request")
    reason.press("Enter")

    expect(page.locator(f"#recent-rows #action-{action_id}")).to_contain_text(
        "rejected by alice · Duplicate request"
    )
    assert js_errors == []


def test_a_resync_keeps_the_reason_code_being_picked_and_its_focus(
    demo, agent, supervisor, live_server_url, page, js_errors
):
    # Arrange: the reviewer has picked a reason to reject, the select still focused
    action_id = submit_refund(live_server_url, agent, reason="ok")
    sign_in(page, live_server_url)
    reason = row(page, action_id).locator("form.decide-reject select")
    reason.select_option("duplicate-request")
    reason.focus()
    resyncs = page.evaluate("document.body.dataset.resyncs")

    # Act: the socket drops, and the reconnect re-reads and replaces the whole list
    page.evaluate("window.countersignSocket().close()")
    expect(page.locator("body")).not_to_have_attribute("data-resyncs", resyncs or "")

    # Assert: the fresh row has the pick and the focus, and Enter sends it
    fresh = row(page, action_id).locator("form.decide-reject select")
    expect(fresh).to_have_value("duplicate-request")
    expect(fresh).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator(f"#recent-rows #action-{action_id}")).to_contain_text(
        "rejected by alice · Duplicate request"
    )
    assert js_errors == []


def test_a_request_from_an_agent_one_operates_shows_why_instead_of_its_controls(
    demo, agent, make_agent, supervisor, live_server_url, page, js_errors
):
    # Arrange: alice operates support-bot; another agent's refund waits beside its own
    agent.agent.operators.add(supervisor)
    own = submit_refund(live_server_url, agent)
    other = submit_refund(live_server_url, make_agent("billing-bot"))

    # Act
    sign_in(page, live_server_url)

    # Assert: the rulebook's refusal reaches the row: no claim, approve or batch pick, and why
    expect(row(page, own)).to_have_attribute("data-viewer", "own-request")
    expect(row(page, own).locator(".role-note")).to_have_text(
        "You operate the agent that asked for it: someone else decides."
    )
    expect(row(page, own).locator(".decide-controls")).to_be_hidden()
    expect(row(page, own).locator(".claim-controls")).to_be_hidden()
    expect(row(page, other)).to_have_attribute("data-viewer", "may-decide")
    expect(row(page, other).locator(".decide-controls")).to_be_visible()
    assert js_errors == []
