"""The action page over HTTP: what a reviewer reads, the claim, deciding, editing with a diff."""

from __future__ import annotations

import html as html_lib
import re
import uuid
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone

from approvals import action_page, services
from approvals.models import Action, Status
from audit.models import AuditEvent
from sandbox.models import Order, Refund
from tests.approvals.conftest import refund_params

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}
SCRIPT = "<script>alert(1)</script>"
IMG = "<img src=x onerror=alert(1)>"


def url(action, suffix: str = "") -> str:
    return f"/actions/{action.pk}/{suffix}"


def browser_for(user) -> Client:
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    client.get("/accounts/login/")
    return client


def post(client: Client, path: str, data: dict | None = None, htmx: bool = True):
    extra = HTMX if htmx else {}
    token = client.cookies["csrftoken"].value
    return client.post(path, data or {}, HTTP_X_CSRFTOKEN=token, **extra)


@pytest.fixture
def alice(supervisor) -> Client:
    return browser_for(supervisor)


@pytest.fixture
def draft(demo, agent):
    """A drafted 30.00 refund (an agent asked for a draft, so a person edits and adopts it)."""
    return services.action_submit(
        agent=agent.agent, action_type="refund.issue", params=refund_params(3000), intent="draft"
    ).action


def fresh(action) -> Action:
    return Action.objects.select_related("claimed_by").get(pk=action.pk)


# ------------------------------------------------------------------------------------- access


def test_the_page_sends_anonymous_visitors_to_the_login_page(client, submit):
    action = submit(12000)

    response = client.get(url(action))

    assert response.status_code == 302
    assert response["Location"].startswith(f"/accounts/login/?next=/actions/{action.pk}/")


def test_an_action_of_another_queue_and_an_unknown_id_are_both_not_found(submit, make_supervisor):
    action = submit(12000)  # routed to the Refunds queue
    outsider = browser_for(make_supervisor("olga", queues=["Account security"]))

    assert outsider.get(url(action)).status_code == 404
    assert outsider.get(url(action, "page/panel/"), **HTMX).status_code == 404
    for suffix in ("page/claim/", "page/release/", "page/decide/approve/", "page/edit/"):
        assert post(outsider, url(action, suffix), {"reason_code": "goodwill"}).status_code == 404
    assert outsider.get(f"/actions/{uuid.uuid4()}/").status_code == 404
    assert fresh(action).claimed_by is None
    assert fresh(action).status == Status.PENDING


def test_posts_without_a_csrf_token_are_refused(submit, supervisor):
    action = submit(12000)
    client = Client(enforce_csrf_checks=True)
    client.force_login(supervisor)

    response = client.post(url(action, "page/decide/approve/"), {}, **HTMX)

    assert response.status_code == 403
    assert fresh(action).status == Status.PENDING


def test_a_person_who_is_not_a_supervisor_is_refused(submit):
    action = submit(12000)
    outsider = get_user_model().objects.create_user("bob", password="x-long-enough-pass")
    client = Client()
    client.force_login(outsider)

    assert client.get(url(action)).status_code == 403


# ------------------------------------------------------------------------------------- content


def test_the_page_shows_figures_from_the_params_not_from_the_agents_prose(submit, alice):
    action = submit(
        params=refund_params(12000, order_id="ORD-1002"),
        context={
            "summary": "Refund 9,999.00 USD to ORD-1999",
            "rationale": "Customer is very upset",
            "confidence": 0.87,
        },
    )

    html = alice.get(url(action)).content.decode()

    assert re.search(r'id="fact-amount"[^>]*>120\.00 USD<', html)
    assert re.search(r'id="fact-order"><code>ORD-1002</code>', html)
    assert "Refund 9,999.00 USD to ORD-1999" in html  # shown as the agent's words only
    assert "9,999.00 USD" not in html.split('id="agent-summary"')[0]
    assert "Customer is very upset" in html
    assert re.search(r'id="agent-confidence">87%<', html)
    assert "support-bot" in html
    assert "refund-over-50-needs-approval" in html
    assert "needs 1 approval" in html
    assert re.search(r'id="policy-version">v\d+<', html)
    assert re.search(r'id="approvals-progress">0 of 1 approval<', html)


@pytest.mark.parametrize(
    ("confidence", "shown"),
    [(0.5, "50%"), (1, "100%"), (72, "72%"), (150, None), (-1, None), ("very", None), (True, None)],
)
def test_confidence_is_shown_only_when_it_is_a_number_in_range(confidence, shown):
    assert (action_page.confidence_label(confidence) or None) == shown


def test_the_page_shows_the_customer_and_order_from_the_sandbox(submit, alice, agent):
    order = Order.objects.select_related("customer").get(order_id="ORD-1003")
    Refund.objects.create(order=order, action_id=uuid.uuid4(), amount=2000, currency="USD")
    action = submit(params=refund_params(12000, order_id="ORD-1003"))

    html = alice.get(url(action)).content.decode()

    assert order.customer.name in html
    assert order.customer.external_id in html
    assert order.customer.tier in html
    assert re.search(r'id="order-total">250\.00 USD<', html)
    assert re.search(r'id="order-paid">250\.00 USD<', html)
    assert re.search(r'id="order-refunded">20\.00 USD<', html)
    assert "Paid" in html


def test_the_page_lists_earlier_actions_for_the_same_customer_newest_first(submit, alice, agent):
    first = submit(params=refund_params(6000, order_id="ORD-1004"))
    second = submit(params=refund_params(7000, order_id="ORD-1004"))
    other_customer = submit(params=refund_params(8000, order_id="ORD-1005"))
    customer = Order.objects.get(order_id="ORD-1004").customer
    reset = services.action_submit(
        agent=agent.agent,
        action_type="credentials.reset",
        params={"customer_id": customer.external_id, "channel": "email"},
    ).action
    action = submit(params=refund_params(9000, order_id="ORD-1004"))

    html = alice.get(url(action)).content.decode()
    listed = re.findall(r'id="previous-([0-9a-f-]{36})"', html)

    assert listed == [str(reset.pk), str(second.pk), str(first.pk)]
    assert str(other_customer.pk) not in listed
    assert f'href="/actions/{first.pk}/"' in html


def test_earlier_actions_of_queues_the_viewer_does_not_work_are_left_out(
    submit, agent, make_supervisor
):
    customer = Order.objects.get(order_id="ORD-1004").customer
    services.action_submit(
        agent=agent.agent,
        action_type="credentials.reset",
        params={"customer_id": customer.external_id},
    )
    action = submit(params=refund_params(9000, order_id="ORD-1004"))
    refunds_only = browser_for(make_supervisor("rita", queues=["Refunds"]))

    html = refunds_only.get(url(action)).content.decode()

    assert re.findall(r'id="previous-([0-9a-f-]{36})"', html) == []


def test_the_lineage_lists_every_audit_event_of_the_action_in_order(
    submit, alice, supervisor, make_supervisor
):
    action = submit(12000)
    services.action_claim(action_id=action.pk, by=supervisor)
    services.action_release(action_id=action.pk, by=supervisor)
    services.action_approve(action_id=action.pk, by=supervisor, reason_code="goodwill", note="ok")

    html = alice.get(url(action)).content.decode()
    shown = re.findall(r'<li id="audit-(\d+)" data-verb="([a-z._]+)"', html)

    events = AuditEvent.objects.filter(object_id=str(action.pk)).order_by("id")
    assert shown == [(str(e.id), e.verb) for e in events]
    assert [verb for _, verb in shown][:4] == [
        "action.submitted",
        "action.claimed",
        "action.released",
        "action.approved",
    ]
    assert "claimed it for review" in html
    assert "<code>goodwill</code>" in html


def test_the_page_reads_a_fixed_number_of_queries_whatever_the_history(
    submit, agent, supervisor, django_assert_max_num_queries
):
    def history(action, rounds: int) -> None:
        for _ in range(rounds):
            services.action_claim(action_id=action.pk, by=supervisor)
            services.action_release(action_id=action.pk, by=supervisor)

    small = submit(params=refund_params(6000, order_id="ORD-1006"))
    history(small, 1)
    for _ in range(8):
        submit(params=refund_params(6100, order_id="ORD-1007"))
    big = submit(params=refund_params(6000, order_id="ORD-1007"))
    history(big, 10)
    client = browser_for(supervisor)

    for action in (small, big):
        # 27 today: session, viewer, the claim, sandbox facts, decisions, codes, history, names
        with django_assert_max_num_queries(30):
            assert client.get(url(action)).status_code == 200


# ------------------------------------------------------------------------------------- claims


def opened(client: Client, action) -> str:
    """Open the page as a browser does: the GET, then its script's claim (a POST). The panel the
    claim answered with."""
    assert client.get(url(action)).status_code == 200
    return post(client, url(action, "page/claim/")).content.decode()


def test_opening_the_page_does_not_claim_the_action_its_script_does_with_a_post(
    submit, alice, supervisor
):
    # Arrange
    action = submit(12000)

    # Act
    page = alice.get(url(action)).content.decode()
    unclaimed = fresh(action)
    panel = post(alice, url(action, "page/claim/")).content.decode()

    # Assert: a GET (a link from anywhere) locks nothing; the page asks its script to claim
    assert unclaimed.claimed_by is None
    assert 'data-claim-on-open="1"' in page
    assert fresh(action).claimed_by == supervisor
    assert 'id="claim-mine"' in panel
    assert 'data-claimed-by-me="1"' in panel


def test_a_claim_without_the_csrf_token_is_refused(submit, alice):
    action = submit(12000)
    alice.get(url(action))

    response = alice.post(url(action, "page/claim/"), **HTMX)

    assert response.status_code == 403
    assert fresh(action).claimed_by is None


def test_the_page_does_not_ask_to_claim_what_someone_else_holds(
    submit, supervisor, make_supervisor
):
    action = submit(12000)
    services.action_claim(action_id=action.pk, by=supervisor)

    page = browser_for(make_supervisor("bob")).get(url(action)).content.decode()

    assert "data-claim-on-open" not in page


def test_the_heartbeat_renews_ones_claim(submit, alice, supervisor):
    action = submit(12000)
    opened(alice, action)
    claimed = fresh(action)
    assert claimed.claimed_by == supervisor

    Action.objects.filter(pk=action.pk).update(
        claim_expires_at=timezone.now() + timedelta(seconds=20)
    )
    response = post(alice, url(action, "page/claim/"))

    assert response.status_code == 200
    assert 'id="action-panel"' in response.content.decode()
    renewed = fresh(action)
    assert renewed.claim_expires_at > timezone.now() + timedelta(seconds=200)
    assert renewed.version == action.version  # a claim is not a change of the action


def test_someone_elses_claim_is_shown_and_hides_the_decisions(submit, supervisor, make_supervisor):
    action = submit(12000)
    services.action_claim(action_id=action.pk, by=supervisor)
    bob = browser_for(make_supervisor("bob"))

    response = bob.get(url(action))
    html = response.content.decode()

    assert response.status_code == 200
    assert re.search(r"Being reviewed by <strong>alice</strong> until <time[^>]*>\d\d:\d\d<", html)
    assert 'id="decide-approve"' not in html
    assert 'id="decide-reject"' not in html
    assert 'id="edit-link"' not in html
    assert 'id="takeover-form"' not in html  # bob is not a senior supervisor
    assert fresh(action).claimed_by == supervisor


def test_the_release_button_frees_the_action(submit, alice, supervisor):
    action = submit(12000)
    opened(alice, action)

    response = post(alice, url(action, "page/release/"))

    assert response.status_code == 200
    assert fresh(action).claimed_by is None
    assert 'id="claim-button"' in response.content.decode()


def test_a_release_beacon_answers_no_content(submit, alice):
    action = submit(12000)
    opened(alice, action)

    response = post(alice, url(action, "page/release/"), {"beacon": "1"}, htmx=False)

    assert response.status_code == 204
    assert fresh(action).claimed_by is None


def test_the_beacon_of_a_page_left_for_the_same_action_keeps_the_new_pages_claim(submit, alice):
    # The reviewer opens the action, then its edit form: the old page's beacon, sent on its way
    # out, arrives after the new page renewed the claim.
    action = submit(12000)
    old_page = opened(alice, action)
    seen = re.search(r'data-claim-expires="([^"]+)"', old_page).group(1)
    alice.get(url(action) + "?edit=1")
    post(alice, url(action, "page/claim/"))  # the new page's script claims it again

    response = post(
        alice, url(action, "page/release/"), {"beacon": "1", "claim_expires_at": seen}, htmx=False
    )

    assert response.status_code == 204
    assert fresh(action).claimed_by is not None


def test_a_release_with_a_garbled_expiry_is_a_400(submit, alice):
    action = submit(12000)
    opened(alice, action)

    response = post(
        alice,
        url(action, "page/release/"),
        {"beacon": "1", "claim_expires_at": "2026-13-45T99:00:00"},
        htmx=False,
    )

    assert response.status_code == 400
    assert fresh(action).claimed_by is not None


def test_a_senior_supervisor_takes_over_with_a_reason(submit, supervisor, make_supervisor):
    action = submit(12000)
    services.action_claim(action_id=action.pk, by=supervisor)
    sam_user = make_supervisor("sam", role="senior_supervisor")
    sam = browser_for(sam_user)
    assert 'id="takeover-form"' in sam.get(url(action)).content.decode()

    refused = post(sam, url(action, "page/takeover/"), {"reason": "  "})
    taken = post(sam, url(action, "page/takeover/"), {"reason": "alice is off sick"})

    assert refused.status_code == 400
    assert "A reason is required" in refused.content.decode()
    assert taken.status_code == 200
    assert 'id="claim-mine"' in taken.content.decode()
    assert fresh(action).claimed_by == sam_user
    event = AuditEvent.objects.get(object_id=str(action.pk), verb="action.claim_taken_over")
    assert event.data["reason"] == "alice is off sick"


def test_a_supervisor_cannot_take_over(submit, supervisor, make_supervisor):
    action = submit(12000)
    services.action_claim(action_id=action.pk, by=supervisor)
    bob = browser_for(make_supervisor("bob"))

    response = post(bob, url(action, "page/takeover/"), {"reason": "mine now"})

    assert response.status_code == 403
    assert "Only a senior supervisor" in response.content.decode()
    assert fresh(action).claimed_by == supervisor


# ------------------------------------------------------------------------------------- decisions


def test_approving_from_the_page_answers_the_refreshed_panel(submit, alice, enqueued):
    action = submit(12000)
    alice.get(url(action))

    response = post(
        alice,
        url(action, "page/decide/approve/"),
        {"reason_code": "verified-eligible", "expected_version": action.version},
    )

    html = response.content.decode()
    assert response.status_code == 200
    assert 'id="action-panel"' in html
    assert 'data-status="approved"' in html
    assert "approve by alice · Verified: customer is eligible" in html
    assert fresh(action).status == Status.APPROVED


def test_rejecting_needs_a_reason_code_and_says_so(submit, alice):
    action = submit(12000)
    alice.get(url(action))

    response = post(alice, url(action, "page/decide/reject/"), {"expected_version": 1})

    assert response.status_code == 400
    assert "A reason code is required to reject." in response.content.decode()
    assert fresh(action).status == Status.PENDING


def test_a_stale_version_shows_the_conflict_and_the_fresh_panel(submit, alice, supervisor, draft):
    alice.get(url(draft))
    services.action_edit(
        action_id=draft.pk,
        by=supervisor,
        params=refund_params(2500),
        reason_code="amount-corrected",
    )

    response = post(
        alice,
        url(draft, "page/decide/adopt/"),
        {"expected_version": draft.version},
    )

    html = response.content.decode()
    assert response.status_code == 409
    assert "This action changed since you opened it" in html
    assert "review the fresh state" in html
    assert 'data-code="stale_version"' in html
    assert f'data-version="{draft.version + 1}"' in html
    assert f'name="expected_version" value="{draft.version + 1}"' in html
    assert fresh(draft).status == Status.DRAFTED


def test_an_unknown_decision_kind_is_not_found(submit, alice):
    action = submit(12000)

    assert post(alice, url(action, "page/decide/execute/")).status_code == 404


# ------------------------------------------------------------------------------------- edit


def test_edit_param_1_opens_the_form_prefilled_with_the_effective_params(draft, alice):
    html = alice.get(url(draft) + "?edit=1").content.decode()

    assert 'id="edit-form"' in html
    assert re.search(r'name="param-amount" id="edit-amount" value="3000" required', html)
    assert 'min="1"' in html
    assert re.search(r'name="param-order_id" id="edit-order_id" value="ORD-1001"', html)
    assert "Amount (minor units)" in html


def test_edit_param_1_opens_no_form_while_someone_else_reviews_it(
    draft, supervisor, make_supervisor
):
    services.action_claim(action_id=draft.pk, by=supervisor)
    bob = browser_for(make_supervisor("bob"))

    html = bob.get(url(draft) + "?edit=1").content.decode()
    form = bob.get(url(draft, "page/edit/"), **HTMX)

    assert 'id="edit-form"' not in html
    assert 'id="action-edit" aria-labelledby="edit-title" hidden' in html
    assert form.status_code == 409
    assert "You cannot edit this action now" in form.content.decode()


def test_the_panel_partial_is_what_a_push_refreshes(submit, alice, supervisor):
    action = submit(12000)
    claimed = services.action_claim(action_id=action.pk, by=supervisor)

    response = alice.get(url(action, "page/panel/"), **HTMX)

    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith('<section id="action-panel"')
    assert 'id="claim-mine"' in html
    assert 'id="lineage"' not in html
    assert fresh(action).claim_expires_at == claimed.claim_expires_at  # reading claims nothing


def test_invalid_values_re_render_the_form_with_per_field_messages(draft, alice):
    response = post(
        alice,
        url(draft, "page/edit/"),
        {
            "step": "review",
            "expected_version": draft.version,
            "param-order_id": "nope",
            "param-amount": "12.5",
            "param-currency": "USD",
            "param-reason": "",
        },
    )

    html = response.content.decode()
    assert response.status_code == 400
    assert 'id="edit-form"' in html
    assert re.search(r'id="field-amount">.*?Enter a whole number\.', html, re.S)
    assert 'value="12.5"' in html  # what they typed stays next to its error

    response = post(
        alice,
        url(draft, "page/edit/"),
        {
            "step": "review",
            "expected_version": draft.version,
            "param-order_id": "nope",
            "param-amount": "2500",
            "param-currency": "USD",
            "param-reason": "",
        },
    )
    html = response.content.decode()
    assert response.status_code == 400
    assert re.search(r'id="field-order_id">.*?does not match', html, re.S)
    assert re.search(r'id="field-reason">.*?required property', html, re.S)


def test_the_confirm_step_shows_the_diff_and_what_the_policy_would_require(draft, alice):
    response = post(
        alice,
        url(draft, "page/edit/"),
        {
            "step": "review",
            "expected_version": draft.version,
            "param-order_id": "ORD-1001",
            "param-amount": "60000",
            "param-currency": "USD",
            "param-reason": "damaged",
        },
    )

    html = response.content.decode()
    assert response.status_code == 200
    assert 'id="edit-confirm"' in html
    assert re.search(
        r'<tr class="changed" data-field="amount"><th scope="row">amount</th>'
        r'<td class="old">3000 \(30.00 USD\)</td><td class="new">60000 \(600.00 USD\)</td>',
        html,
    )
    assert '<tr class="same" data-field="order_id">' in html
    assert "<code>escalate</code>" in html
    assert "refund-over-500-escalates" in html
    assert "The policy would refuse these params." in html
    assert 'name="reason_code" id="edit-reason-code" required' in html
    assert "amount-corrected" in html
    assert "goodwill" not in html  # an approve code is no reason to edit


def test_editing_a_draft_end_to_end_keeps_the_original_and_shows_the_diff(draft, alice, supervisor):
    confirm = post(
        alice,
        url(draft, "page/edit/"),
        {
            "step": "review",
            "expected_version": draft.version,
            "param-order_id": "ORD-1001",
            "param-amount": "2500",
            "param-currency": "USD",
            "param-reason": "damaged",
        },
    ).content.decode()
    params_json = re.search(r'name="params" value="([^"]*)"', confirm).group(1)

    response = post(
        alice,
        url(draft, "page/edit/"),
        {
            "step": "confirm",
            "params": html_lib.unescape(params_json),
            "reason_code": "amount-corrected",
            "expected_version": draft.version,
        },
    )

    html = response.content.decode()
    edited = fresh(draft)
    assert response.status_code == 200
    assert response["HX-Retarget"] == "#action-page"
    assert edited.final_params["amount"] == 2500
    assert edited.params["amount"] == 3000
    assert edited.version == draft.version + 1
    assert "What would execute (edited)" in html
    assert re.search(r'id="fact-amount"[^>]*>25\.00 USD<', html)
    assert '<td class="old">3000 (30.00 USD)</td><td class="new">2500 (25.00 USD)</td>' in html
    assert 'data-verb="action.edited"' in html
    assert "edited the params" in html


def test_confirming_without_a_reason_code_shows_the_services_message(draft, alice):
    response = post(
        alice,
        url(draft, "page/edit/"),
        {
            "step": "confirm",
            "params": '{"order_id": "ORD-1001", "amount": 2500, "currency": "USD", "reason": "x"}',
            "expected_version": draft.version,
        },
    )

    assert response.status_code == 400
    assert "A reason code is required to edit." in response.content.decode()
    assert fresh(draft).final_params is None


def test_a_stale_edit_shows_the_conflict_and_the_fresh_panel(draft, alice, supervisor):
    services.action_edit(
        action_id=draft.pk, by=supervisor, params=refund_params(2000), reason_code="wrong-target"
    )

    response = post(
        alice,
        url(draft, "page/edit/"),
        {
            "step": "confirm",
            "params": '{"order_id": "ORD-1001", "amount": 2500, "currency": "USD", "reason": "x"}',
            "reason_code": "amount-corrected",
            "expected_version": draft.version,
        },
    )

    html = response.content.decode()
    assert response.status_code == 409
    assert "This action changed since you opened it" in html
    assert 'hx-swap-oob="outerHTML"' in html
    assert f'data-version="{draft.version + 1}"' in html
    assert fresh(draft).final_params["amount"] == 2000


# ------------------------------------------------------------------------------------- escaping


def test_agent_text_is_escaped_everywhere_on_the_page(submit, alice):
    action = submit(
        params=refund_params(12000) | {"reason": SCRIPT},
        context={"summary": IMG, "rationale": SCRIPT + IMG, "confidence": IMG},
    )

    html = alice.get(url(action) + "?edit=1").content.decode()

    assert SCRIPT not in html
    assert IMG not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "onerror=alert(1)>" not in html
    assert re.findall(r"<script[^>]*>", html) == [
        '<script src="/static/django_htmx/htmx-2.min.js" defer>',
        '<script src="/static/countersign/live.js" defer>',
        '<script src="/static/countersign/action.js" defer>',
    ]
