"""The supervisor dashboard over HTTP: who may see it, what it shows, deciding from a row."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from approvals import services
from approvals.models import Action, Decision, Status

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


def submit_refund(agent, *, amount=12000, order_id="ORD-1001", reason="damaged in transit"):
    return services.action_submit(
        agent=agent.agent,
        action_type="refund.issue",
        params={"order_id": order_id, "amount": amount, "currency": "USD", "reason": reason},
    ).action


@pytest.fixture
def browser(supervisor) -> Client:
    """A session client that enforces CSRF, holding the token the page hands out."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(supervisor)
    client.get("/")
    return client


def post(client: Client, url: str, data: dict):
    return client.post(url, data, HTTP_X_CSRFTOKEN=client.cookies["csrftoken"].value, **HTMX)


# ------------------------------------------------------------------------------------- access


def test_the_queue_sends_anonymous_visitors_to_the_login_page(client):
    response = client.get("/")

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=/")


def test_an_htmx_call_without_a_session_redirects_the_whole_page_to_login(client):
    response = client.get("/queue/rows/", **HTMX)

    assert response.status_code == 200
    assert response["HX-Redirect"].startswith("/accounts/login/")


def test_a_signed_in_user_who_is_not_a_supervisor_is_refused(client, demo):
    outsider = get_user_model().objects.create_user("bob", password="x-long-enough-pass")
    client.force_login(outsider)

    page = client.get("/")
    rows = client.get("/queue/rows/")

    assert page.status_code == 403
    assert "The queue is for supervisors." in page.content.decode()
    assert rows.status_code == 403


def test_a_senior_supervisor_and_a_superuser_may_open_the_queue(client, demo, make_supervisor):
    senior = make_supervisor("sam", role="senior_supervisor")
    root = get_user_model().objects.create_superuser("root", password="x-long-enough-pass")

    for user in (senior, root):
        client.force_login(user)
        assert client.get("/").status_code == 200


def test_the_login_page_renders_its_form(client):
    response = client.get("/accounts/login/")

    assert response.status_code == 200
    assert 'id="login-submit"' in response.content.decode()


# ------------------------------------------------------------------------------------- content


def test_the_queue_shows_a_pending_action_with_figures_from_its_params(demo, agent, browser):
    action = submit_refund(agent, amount=12000)

    html = browser.get("/").content.decode()

    assert f'id="action-{action.pk}"' in html
    assert "120.00 USD" in html
    assert "ORD-1001" in html
    assert "support-bot" in html
    assert "needs 1 approval" in html
    assert 'data-version="1"' in html


def test_the_queue_escapes_agent_provided_text(demo, agent, browser):
    submit_refund(agent, reason='<script>alert("pwned")</script> & <b>bold</b>')

    html = browser.get("/").content.decode()

    assert "<script>alert" not in html
    assert "<b>bold</b>" not in html
    assert (
        "&lt;script&gt;alert(&quot;pwned&quot;)&lt;/script&gt; &amp; &lt;b&gt;bold&lt;/b&gt;"
        in html
    )


def test_the_queue_shows_the_sandbox_customer_of_the_order(demo, agent, browser):
    from sandbox.models import Order

    submit_refund(agent, order_id="ORD-1002")
    customer = Order.objects.select_related("customer").get(order_id="ORD-1002").customer

    html = browser.get("/").content.decode()

    assert customer.external_id in html


def test_recent_lists_decided_actions_with_their_status(demo, agent, supervisor, browser):
    action = submit_refund(agent)
    services.action_reject(action_id=action.pk, by=supervisor, reason_code="suspected-fraud")

    html = browser.get("/queue/rows/", **HTMX).content.decode()

    recent = html.split('id="recent-rows"', 1)[1]
    assert f'id="action-{action.pk}"' in recent
    assert 'data-status="rejected"' in recent
    assert "rejected by alice" in recent
    assert "Suspected fraud" in recent


def test_the_list_partial_is_only_the_lists(demo, agent, browser):
    action = submit_refund(agent)

    response = browser.get("/queue/rows/", **HTMX)

    html = response.content.decode()
    assert html.lstrip().startswith('<div id="queue-lists"')
    assert "<html" not in html
    assert f'id="action-{action.pk}"' in html


def test_the_queue_page_makes_the_same_number_of_queries_for_5_and_30_actions(
    demo, agent, supervisor, browser
):
    def count_queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert browser.get("/").status_code == 200
        return len(captured)

    orders = [f"ORD-{1001 + i % 15}" for i in range(30)]
    for i in range(5):
        submit_refund(agent, order_id=orders[i])
    decided = submit_refund(agent, order_id="ORD-1003")
    services.action_approve(action_id=decided.pk, by=supervisor, reason_code="goodwill")
    with_five = count_queries()

    for i in range(5, 30):
        action = submit_refund(agent, order_id=orders[i])
        if i % 4 == 0:
            services.action_reject(action_id=action.pk, by=supervisor, reason_code="outside-policy")
    with_thirty = count_queries()

    assert with_thirty == with_five
    # Two more than before queues (the viewer's queues, the pending count per queue), two more
    # for the filter menus (action types, agents), and the escalation tiers (the rows' escalate
    # menus, and whether the viewer reaches the escalation workspace), and the viewer's roles for
    # sign-in (whether they must prove a second factor).
    assert with_five <= 16


# ------------------------------------------------------------------------------------- deciding


def test_approving_from_the_row_approves_and_answers_with_the_new_row(demo, agent, browser):
    action = submit_refund(agent)

    response = post(
        browser,
        f"/actions/{action.pk}/approve/",
        {"reason_code": "verified-eligible", "expected_version": "1"},
    )

    assert response.status_code == 200
    html = response.content.decode()
    assert f'id="action-{action.pk}"' in html
    assert 'data-status="approved"' in html
    action.refresh_from_db()
    assert action.status == Status.APPROVED
    decision = Decision.objects.get(action=action)
    assert (decision.kind, decision.reason_code.code) == ("approve", "verified-eligible")


def test_rejecting_from_the_row_records_the_reason_code(demo, agent, browser):
    action = submit_refund(agent)

    response = post(browser, f"/actions/{action.pk}/reject/", {"reason_code": "suspected-fraud"})

    assert response.status_code == 200
    assert 'data-status="rejected"' in response.content.decode()
    assert Action.objects.get(pk=action.pk).status == Status.REJECTED


def test_rejecting_without_a_reason_code_says_so_in_the_flash(demo, agent, browser):
    action = submit_refund(agent)

    response = post(browser, f"/actions/{action.pk}/reject/", {"reason_code": ""})

    assert response.status_code == 400
    assert response["HX-Retarget"] == "#flash"
    assert response["HX-Reswap"] == "innerHTML"
    html = response.content.decode()
    assert "A reason code is required to reject." in html
    assert 'data-code="reason_code_required"' in html
    assert Action.objects.get(pk=action.pk).status == Status.PENDING


def test_an_unknown_reason_code_is_a_clear_400_not_a_500(demo, agent, browser):
    action = submit_refund(agent)

    response = post(
        browser, f"/actions/{action.pk}/approve/", {"reason_code": "<img src=x onerror=1>"}
    )

    assert response.status_code == 400
    html = response.content.decode()
    assert "is not a reason code for approve" in html
    assert "<img" not in html
    assert Action.objects.get(pk=action.pk).status == Status.PENDING


def test_a_reject_code_cannot_approve(demo, agent, browser):
    action = submit_refund(agent)

    response = post(browser, f"/actions/{action.pk}/approve/", {"reason_code": "suspected-fraud"})

    assert response.status_code == 400
    html = response.content.decode()
    assert "&#x27;suspected-fraud&#x27; is not a reason code for approve." in html


def test_deciding_on_a_stale_version_is_a_409_with_advice(demo, agent, browser):
    action = submit_refund(agent)

    response = post(
        browser, f"/actions/{action.pk}/approve/", {"reason_code": "", "expected_version": "7"}
    )

    assert response.status_code == 409
    assert "changed since you loaded it" in response.content.decode()


def test_a_malformed_expected_version_is_a_400(demo, agent, browser):
    action = submit_refund(agent)

    response = post(browser, f"/actions/{action.pk}/approve/", {"expected_version": "seven"})

    assert response.status_code == 400


def test_approving_an_action_that_is_no_longer_pending_is_a_409(demo, agent, supervisor, browser):
    action = submit_refund(agent)
    services.action_reject(action_id=action.pk, by=supervisor, reason_code="duplicate-request")

    response = post(browser, f"/actions/{action.pk}/approve/", {})

    assert response.status_code == 409
    assert response["HX-Retarget"] == "#flash"


def test_approving_an_unknown_action_is_a_404_in_the_flash(demo, browser):
    response = post(browser, "/actions/00000000-0000-0000-0000-000000000000/approve/", {})

    assert response.status_code == 404
    assert "No such action." in response.content.decode()


def test_a_decision_without_the_csrf_token_is_refused(demo, agent, supervisor):
    action = submit_refund(agent)
    client = Client(enforce_csrf_checks=True)
    client.force_login(supervisor)

    response = client.post(f"/actions/{action.pk}/approve/", {}, **HTMX)

    assert response.status_code == 403
    assert Action.objects.get(pk=action.pk).status == Status.PENDING


def test_a_supervisor_without_the_required_role_is_told_so_and_refused(
    demo, agent, make_supervisor, client
):
    # The row is the same for everyone (rendered once per push): the page's script looks the
    # row's required role up in the rulebook's answers about the viewer (#viewer-grants) and hides
    # the buttons. The service is what refuses.
    action = submit_refund(agent)
    Action.objects.filter(pk=action.pk).update(approver_role="senior_supervisor")
    client = Client(enforce_csrf_checks=True)
    client.force_login(make_supervisor("junior"))

    html = client.get("/").content.decode()
    response = post(client, f"/actions/{action.pk}/approve/", {})

    assert 'data-approver-role="senior_supervisor"' in html
    assert '"decides_for": ["supervisor"]' in html
    assert "Needs the <code>senior_supervisor</code> role." in html
    assert response.status_code == 403
    assert "senior_supervisor" in response.content.decode()


def test_the_decision_endpoints_refuse_get(demo, agent, browser):
    action = submit_refund(agent)

    assert browser.get(f"/actions/{action.pk}/approve/").status_code == 405
