"""The escalation workspace and case page: who gets them, what they show, and every form's path
through its one service call, with the service's words when it refuses."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.test import Client

from approvals.handoff import Source
from approvals.models import Action, Decision, DecisionKind, Status
from escalations import services
from escalations.models import CaseStatus, Escalation, Outcome
from tests.approvals.conftest import csrf_client, refund_params
from tests.conftest import SUPERVISOR_PASSWORD

pytestmark = pytest.mark.django_db

__all__ = ["csrf_client"]  # the approvals tests' fixture, used here too

HTMX = {"HTTP_HX_REQUEST": "true"}
SCRIPT = '<script>window.__pwned = 1</script><img src=x onerror="alert(1)">'


def browser_for(user) -> Client:
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    client.get("/accounts/login/")  # sets the CSRF cookie, as a page load does
    return client


def post(client: Client, path: str, data: dict | None = None, htmx: bool = True):
    extra = HTMX if htmx else {}
    token = client.cookies["csrftoken"].value
    return client.post(path, data or {}, HTTP_X_CSRFTOKEN=token, **extra)


def url(case, suffix: str = "") -> str:
    return f"/escalations/{case.pk}/{suffix}"


def case_of(action) -> Escalation:
    return Escalation.objects.get(action=action)


def row_ids(html: str) -> list[str]:
    return re.findall(r'<tr id="case-(\d+)"', html)


@pytest.fixture
def lena(make_handler):
    """Handles l1-lead."""
    return make_handler("lena", "l1-lead")


@pytest.fixture
def sam(make_handler):
    """Handles l2-specialist."""
    return make_handler("sam", "l2-specialist")


@pytest.fixture
def auditor(make_supervisor):
    return make_supervisor("audrey", role="auditor", queues=[])


@pytest.fixture
def root(db):
    return get_user_model().objects.create_superuser("root", password=SUPERVISOR_PASSWORD)


@pytest.fixture
def case(escalate, lena):
    """An open case in l1-lead about a 600.00 refund."""
    return case_of(escalate(60000))


# ------------------------------------------------------------------------------ who gets it


class TestWhoGetsTheWorkspace:
    def test_a_handler_an_auditor_and_a_superuser_get_the_workspace(
        self, case, lena, auditor, root
    ):
        for user in (lena, auditor, root):
            response = browser_for(user).get("/escalations/")

            assert response.status_code == 200, user
            assert row_ids(response.content.decode()) == [str(case.pk)], user

    def test_a_supervisor_who_handles_no_tier_gets_the_403_page(self, case, make_supervisor):
        pat = make_supervisor("pat", queues=[])

        response = browser_for(pat).get("/escalations/")
        page = browser_for(pat).get(url(case))

        assert response.status_code == 403
        assert "Not for this account" in response.content.decode()
        assert "handlers of an escalation tier" in response.content.decode()
        assert page.status_code == 403

    def test_someone_signed_out_is_sent_to_sign_in(self, client, policy):
        response = client.get("/escalations/")

        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/login/?next=/escalations/")

    def test_a_handler_of_another_tier_does_not_see_the_case_and_its_page_is_a_404(self, case, sam):
        browser = browser_for(sam)

        listed = browser.get("/escalations/").content.decode()
        page = browser.get(url(case))
        acknowledged = post(browser, url(case, "acknowledge/"))

        assert row_ids(listed) == []
        assert page.status_code == 404
        assert acknowledged.status_code == 404
        assert Escalation.objects.get(pk=case.pk).status == CaseStatus.OPEN

    def test_the_top_bar_and_the_queue_lead_handlers_to_the_workspace(self, case, make_supervisor):
        # Arrange: a supervisor who also handles l1-lead, and one who handles no tier
        both = make_supervisor("bea")
        both.groups.add(Group.objects.get(name="l1-lead"))
        plain = make_supervisor("pat")

        handler_queue = browser_for(both).get("/").content.decode()
        plain_queue = browser_for(plain).get("/").content.decode()

        assert 'id="nav-escalations"' in handler_queue
        count = re.search(
            r'id="escalation-count".*?<span class="count">(\d+)</span>', handler_queue
        )
        assert count and count.group(1) == "1"
        assert 'href="/escalations/"' in handler_queue
        assert 'id="nav-escalations"' not in plain_queue
        assert 'id="escalation-count"' not in plain_queue

    def test_the_top_bar_of_the_workspace_and_the_case_page_links_the_workspace(self, case, lena):
        browser = browser_for(lena)

        for path in ("/escalations/", url(case)):
            assert 'id="nav-escalations"' in browser.get(path).content.decode()


# ------------------------------------------------------------------------------ the list


class TestTheList:
    def test_a_row_shows_tier_source_who_acknowledged_both_clocks_and_the_one_line_summary(
        self, case, lena
    ):
        services.case_acknowledge(case_id=case.pk, by=lena)
        open_one = case_of_fresh_escalation(lena)

        html = browser_for(lena).get("/escalations/").content.decode()

        acknowledged = row_html(html, case.pk)
        assert "L1-LEAD" in acknowledged
        assert "Policy rule" in acknowledged
        assert "Acknowledged by <strong>lena</strong>" in acknowledged
        assert 'class="sla sla-resolve"' in acknowledged
        assert 'class="sla sla-ack"' not in acknowledged  # its acknowledge clock stopped
        assert "Issue a refund of 600.00 USD on ORD-1001" in acknowledged
        waiting = row_html(html, open_one.pk)
        assert 'class="sla sla-ack"' in waiting and "due in 15 min" in waiting
        assert "due in 1 h 0 min" in waiting or "due in 60 min" in waiting
        assert "Nobody acknowledged it yet" in waiting
        assert f"/escalations/{open_one.pk}/row/acknowledge/" in waiting

    def test_breached_cases_come_first_then_the_nearest_resolve_sla(
        self, escalate, lena, frozen_clock
    ):
        first = case_of(escalate(60000))
        frozen_clock.shift(timedelta(minutes=10))
        second = case_of(escalate(61000))
        Escalation.objects.filter(pk=second.pk).update(breached_at=first.created_at)

        html = browser_for(lena).get("/escalations/").content.decode()

        assert row_ids(html) == [str(second.pk), str(first.pk)]
        assert "Breached" in row_html(html, second.pk)

    def test_filters_narrow_the_list_by_status_and_tier(self, escalate, lena, root):
        waiting = case_of(escalate(60000))
        taken = case_of(escalate(61000))
        services.case_acknowledge(case_id=taken.pk, by=lena)
        services.case_reassign(case_id=waiting.pk, by=lena, reason="specialist", tier="finance")
        browser = browser_for(root)

        assert row_ids(
            browser.get("/escalations/", {"status": "acknowledged"}).content.decode()
        ) == [str(taken.pk)]
        assert row_ids(browser.get("/escalations/", {"tier": "finance"}).content.decode()) == [
            str(waiting.pk)
        ]
        assert row_ids(browser.get("/escalations/", {"status": "resolved"}).content.decode()) == []
        bad = browser.get("/escalations/", {"status": "lost", "tier": "nowhere"}).content.decode()
        assert "Unknown status &#x27;lost&#x27;" in bad
        assert "You do not see the cases of a tier &#x27;nowhere&#x27;" in bad
        assert len(row_ids(bad)) == 2

    def test_a_handler_can_filter_only_by_the_tiers_they_see(self, case, lena):
        html = browser_for(lena).get("/escalations/", {"tier": "finance"}).content.decode()

        assert "You do not see the cases of a tier &#x27;finance&#x27;" in html
        assert row_ids(html) == [str(case.pk)]

    def test_the_counts_per_tier_count_the_unresolved_cases(self, escalate, lena, root):
        for amount in (60000, 61000, 62000):
            escalate(amount)
        resolved = Escalation.objects.order_by("id").first()
        services.case_resolve(
            case_id=resolved.pk, by=lena, outcome="resolved_outside", note="phone"
        )

        html = browser_for(root).get("/escalations/").content.decode()

        assert re.search(r'data-tier="l1-lead">.*?<span class="count">2</span>', html)
        assert re.search(r'data-tier="finance">.*?<span class="count">0</span>', html)

    def test_the_list_reads_a_fixed_number_of_queries_whatever_the_number_of_cases(
        self, escalate, lena, django_assert_num_queries
    ):
        escalate(60000)
        browser = browser_for(lena)

        # session, user, whether they must prove a second factor (their roles), the person (roles
        # and agents, queues), the tiers, the cases, the counts (the top bar asks the rulebook
        # about the policy pages with the person already read)
        with django_assert_num_queries(8):
            small = browser.get("/escalations/")
        for amount in range(61000, 61000 + 11 * 100, 100):
            escalate(amount)
        with django_assert_num_queries(8):
            large = browser.get("/escalations/")

        assert len(row_ids(small.content.decode())) == 1
        assert len(row_ids(large.content.decode())) == 12

    def test_the_rows_partial_answers_the_list_for_a_resync(self, case, lena):
        response = browser_for(lena).get("/escalations/rows/", **HTMX)

        html = response.content.decode()
        assert html.lstrip().startswith('<div id="case-lists"')
        assert row_ids(html) == [str(case.pk)]


def case_of_fresh_escalation(lena) -> Escalation:
    """Another open l1-lead case, handed off by an agent without an action."""
    from agents.services import agent_create

    bot = agent_create(name="other-bot").agent
    return services.escalation_handoff(
        agent=bot,
        reason="stuck",
        summary={"what_agent_did": "Looked up the order", "what_agent_proposes": "A call back"},
    )


def row_html(html: str, case_id: int) -> str:
    match = re.search(rf'<tr id="case-{case_id}".*?</tr>', html, re.S)
    assert match, f"no row for case {case_id}"
    return match.group(0)


# ------------------------------------------------------------------------------ agent text


class TestAgentText:
    def test_a_summary_with_markup_is_rendered_inert_on_the_list_and_the_case_page(
        self, policy, agent, lena
    ):
        case = services.escalation_handoff(
            agent=agent.agent,
            reason=SCRIPT,
            summary={
                "what_agent_did": SCRIPT,
                "what_agent_proposes": SCRIPT,
                "customer_words": SCRIPT,
                "sentiment": "<b>angry</b>",
            },
        )
        browser = browser_for(lena)

        listed = browser.get("/escalations/").content.decode()
        page = browser.get(url(case)).content.decode()

        for html in (listed, page):
            assert "<script>window.__pwned" not in html
            assert "<img src=x" not in html
            assert "&lt;script&gt;window.__pwned = 1&lt;/script&gt;" in html
        assert "&lt;b&gt;angry&lt;/b&gt;" in page


# ------------------------------------------------------------------------------ the case page


class TestTheCasePage:
    def test_it_shows_the_hand_off_the_actions_panels_both_clocks_and_the_timeline(
        self, case, lena
    ):
        html = browser_for(lena).get(url(case)).content.decode()

        assert 'id="summary-words"' in html and "I want my money back now!" in html
        assert '<span class="tag">angry</span>' in html
        assert "<code>refund-over-500-escalates</code>" in html
        assert "escalated to L1 leads" in html
        for panel in ("action-params", "action-target", "action-agent", "action-policy",
                      "action-previous"):  # fmt: skip
            assert f'id="{panel}"' in html, panel
        assert 'id="fact-amount" class="num-strong">600.00 USD' in html
        assert 'id="case-ack-due"' in html and 'id="case-resolve-due"' in html
        assert 'data-verb="action.submitted"' in html
        assert 'data-verb="escalation.opened"' in html
        assert "opened the escalation case in l1-lead" in html
        for form in ("case-acknowledge", "case-approve", "case-reject", "case-return",
                     "case-outside", "case-reassign"):  # fmt: skip
            assert f'id="{form}"' in html, form

    def test_an_auditor_reads_the_case_without_forms_and_is_refused_if_they_post(
        self, case, auditor
    ):
        browser = browser_for(auditor)

        html = browser.get(url(case)).content.decode()
        response = post(browser, url(case, "acknowledge/"))

        assert 'id="case-read-only"' in html
        assert 'id="case-acknowledge"' not in html and 'id="case-approve"' not in html
        assert response.status_code == 403
        assert "Only the handlers of its tier work this case." in response.content.decode()
        assert Escalation.objects.get(pk=case.pk).status == CaseStatus.OPEN

    def test_someone_else_sees_who_acknowledged_it_and_gets_no_forms_to_resolve_it(
        self, case, lena, make_handler
    ):
        other = make_handler("otto", "l1-lead")
        services.case_acknowledge(case_id=case.pk, by=lena)

        html = browser_for(other).get(url(case)).content.decode()

        assert "Acknowledged by <strong>lena</strong>" in html
        assert 'id="case-approve"' not in html and 'id="case-acknowledge"' not in html
        assert 'id="case-reassign"' in html  # any handler may free a stuck case

    def test_the_panel_partial_answers_a_refresh(self, case, lena):
        response = browser_for(lena).get(url(case, "panel/"), **HTMX)

        assert response.content.decode().lstrip().startswith('<section id="case-panel"')


# ------------------------------------------------------------------------------ the forms


class TestAcknowledging:
    def test_acknowledging_from_the_page_answers_the_page_body(self, case, lena):
        browser = browser_for(lena)

        response = post(browser, url(case, "acknowledge/"), {"expected_version": case.version})

        assert response.status_code == 200
        assert response["HX-Retarget"] == "#case-page"
        assert "Acknowledged by <strong>lena</strong>" in response.content.decode()
        assert Escalation.objects.get(pk=case.pk).acknowledged_by == lena

    def test_acknowledging_twice_shows_why_not_over_the_fresh_panel(self, case, lena):
        browser = browser_for(lena)
        post(browser, url(case, "acknowledge/"))

        response = post(browser, url(case, "acknowledge/"))

        assert response.status_code == 409
        assert response["HX-Retarget"] == "#case-panel"
        html = response.content.decode()
        assert 'id="panel-message"' in html and "cannot be acknowledged" in html

    def test_a_stale_version_is_refused_with_what_it_is_now(self, case, lena):
        response = post(browser_for(lena), url(case, "acknowledge/"), {"expected_version": 99})

        assert response.status_code == 409
        assert "This case changed since you opened it" in response.content.decode()

    def test_without_javascript_the_form_redirects_to_the_page(self, case, lena):
        response = post(browser_for(lena), url(case, "acknowledge/"), htmx=False)

        assert response.status_code == 302
        assert response["Location"] == url(case)

    def test_acknowledging_from_the_list_answers_the_row_and_a_refusal_goes_to_flash(
        self, case, lena, make_handler
    ):
        other = browser_for(make_handler("otto", "l1-lead"))

        response = post(browser_for(lena), url(case, "row/acknowledge/"), {"expected_version": 1})
        refused = post(other, url(case, "row/acknowledge/"), {"expected_version": 1})

        assert response.status_code == 200
        assert row_ids(response.content.decode()) == [str(case.pk)]
        assert "Acknowledged by <strong>lena</strong>" in response.content.decode()
        assert refused.status_code == 409
        assert refused["HX-Retarget"] == "#flash"
        assert "A case that is acknowledged cannot be acknowledged." in refused.content.decode()


class TestReassigning:
    def test_a_reason_is_required(self, case, lena):
        response = post(browser_for(lena), url(case, "reassign/"), {"tier": "l2-specialist"})

        assert response.status_code == 400
        assert "Reassigning a case needs a reason." in response.content.decode()
        assert Escalation.objects.get(pk=case.pk).tier.key == "l1-lead"

    def test_to_someone_who_does_not_handle_the_tier_is_refused(self, case, lena, sam):
        response = post(
            browser_for(lena), url(case, "reassign/"), {"to_user": "sam", "reason": "help"}
        )

        assert response.status_code == 400
        assert "sam does not handle the cases of L1-LEAD." in response.content.decode()

    def test_passing_it_to_a_tier_one_does_not_handle_sends_one_back_to_the_list(
        self, case, lena, sam
    ):
        response = post(
            browser_for(lena), url(case, "reassign/"),
            {"tier": "l2-specialist", "to_user": "sam", "reason": "needs a specialist"},
        )  # fmt: skip

        assert response.status_code == 200
        assert response["HX-Redirect"] == "/escalations/"
        moved = Escalation.objects.get(pk=case.pk)
        assert (moved.tier.key, moved.assignee, moved.status) == ("l2-specialist", sam, "open")
        assert row_ids(browser_for(sam).get("/escalations/").content.decode()) == [str(case.pk)]


class TestResolving:
    def test_approving_settles_the_action_which_executes(
        self, case, lena, enqueued, django_capture_on_commit_callbacks
    ):
        with django_capture_on_commit_callbacks(execute=True):
            response = post(
                browser_for(lena), url(case, "resolve/approved/"),
                {"reason_code": "verified-eligible", "note": "checked", "expected_version": 1},
            )  # fmt: skip

        assert response.status_code == 200
        resolved = Escalation.objects.get(pk=case.pk)
        assert (resolved.status, resolved.outcome) == (CaseStatus.RESOLVED, Outcome.APPROVED)
        assert Action.objects.get(pk=case.action_id).status == Status.APPROVED
        assert enqueued == [str(case.action_id)]
        assert "Approved by lena" in response.content.decode()

    def test_rejecting_needs_a_reason_code_of_kind_reject(self, case, lena):
        browser = browser_for(lena)

        refused = post(browser, url(case, "resolve/rejected/"))
        wrong = post(browser, url(case, "resolve/rejected/"), {"reason_code": "goodwill"})
        done = post(browser, url(case, "resolve/rejected/"), {"reason_code": "suspected-fraud"})

        assert refused.status_code == 400 and 'id="panel-message"' in refused.content.decode()
        assert wrong.status_code == 400
        assert done.status_code == 200
        assert Action.objects.get(pk=case.action_id).status == Status.REJECTED

    def test_returning_needs_guidance_and_ends_the_action_rejected(self, case, lena):
        browser = browser_for(lena)

        refused = post(browser, url(case, "resolve/returned/"))
        done = post(browser, url(case, "resolve/returned/"), {"note": "Ask for a photo first"})

        assert refused.status_code == 400
        assert "Say in the note what the agent should do" in refused.content.decode()
        assert done.status_code == 200
        decision = Decision.objects.get(action_id=case.action_id, kind=DecisionKind.REJECT)
        assert (decision.reason_code.code, decision.note) == (
            "returned-to-agent", "Ask for a photo first"
        )  # fmt: skip

    def test_resolving_outside_needs_a_note_and_cancels_the_action(self, case, lena):
        browser = browser_for(lena)

        refused = post(browser, url(case, "resolve/resolved_outside/"))
        done = post(browser, url(case, "resolve/resolved_outside/"), {"note": "Refunded by phone"})

        assert refused.status_code == 400
        assert done.status_code == 200
        assert Action.objects.get(pk=case.action_id).status == Status.CANCELLED
        assert Escalation.objects.get(pk=case.pk).outcome == Outcome.RESOLVED_OUTSIDE

    def test_an_unknown_outcome_is_a_404(self, case, lena):
        assert post(browser_for(lena), url(case, "resolve/shrugged/")).status_code == 404

    def test_a_case_without_an_action_offers_only_return_and_resolve_outside(self, policy, lena):
        case = case_of_fresh_escalation(lena)
        browser = browser_for(lena)

        html = browser.get(url(case)).content.decode()
        refused = post(browser, url(case, "resolve/approved/"))

        assert 'id="case-return"' in html and 'id="case-outside"' in html
        assert 'id="case-approve"' not in html and 'id="case-reject"' not in html
        assert refused.status_code == 409
        assert "Only a case whose action is escalated" in refused.content.decode()


class TestApprovingWithChanges:
    def test_the_edit_form_reviews_the_change_then_approves_the_edited_params(
        self, case, lena, enqueued, django_capture_on_commit_callbacks
    ):
        browser = browser_for(lena)

        form = browser.get(url(case, "edit/"), **HTMX).content.decode()
        review = post(browser, url(case, "edit/"), {
            "step": "review", "expected_version": 1, "param-order_id": "ORD-1001",
            "param-amount": "55000", "param-currency": "USD", "param-reason": "damaged",
        })  # fmt: skip
        params = re.search(r'name="params" value="([^"]+)"', review.content.decode()).group(1)
        unreasoned = post(browser, url(case, "edit/"), {
            "step": "confirm", "expected_version": 1, "params": params.replace("&quot;", '"'),
        })  # fmt: skip
        with django_capture_on_commit_callbacks(execute=True):
            done = post(browser, url(case, "edit/"), {
                "step": "confirm", "expected_version": 1, "params": params.replace("&quot;", '"'),
                "reason_code": "amount-corrected", "note": "partial refund",
            })  # fmt: skip

        assert 'id="edit-amount"' in form and 'value="60000"' in form
        assert review.status_code == 200
        assert 'data-field="amount"' in review.content.decode()
        assert unreasoned.status_code == 400
        assert 'id="edit-message"' in unreasoned.content.decode()
        assert done.status_code == 200 and done["HX-Retarget"] == "#case-page"
        action = Action.objects.get(pk=case.action_id)
        assert action.status == Status.APPROVED
        assert action.final_params["amount"] == 55000
        assert action.params["amount"] == 60000  # the agent's params are kept
        assert Decision.objects.filter(action=action, kind=DecisionKind.EDIT).count() == 1
        assert enqueued == [str(action.pk)]

    def test_a_field_the_schema_refuses_comes_back_with_its_error(self, case, lena):
        response = post(browser_for(lena), url(case, "edit/"), {
            "step": "review", "param-order_id": "ORD-1001", "param-amount": "-5",
            "param-currency": "USD", "param-reason": "damaged",
        })  # fmt: skip

        assert response.status_code == 400
        assert 'class="field-error"' in response.content.decode()

    def test_the_edit_is_refused_once_the_case_is_resolved(self, case, lena):
        services.case_resolve(case_id=case.pk, by=lena, outcome="resolved_outside", note="phone")

        response = browser_for(lena).get(url(case, "edit/"), **HTMX)

        assert response.status_code == 409
        assert "You cannot approve this case now" in response.content.decode()


# ------------------------------------------------------------------------------ escalate button


@pytest.fixture
def alice_client(supervisor):
    return browser_for(supervisor)


@pytest.fixture
def pending(policy, agent):
    """A 450.00 refund waiting for two supervisors in Refunds."""
    from approvals import services as actions

    return actions.action_submit(
        agent=agent.agent, action_type="refund.issue", params=refund_params(45000)
    ).action


class TestEscalatingAnAction:
    def test_the_queue_row_offers_escalating_with_a_reason_and_a_tier(self, pending, alice_client):
        html = alice_client.get("/").content.decode()

        assert f"/actions/{pending.pk}/escalate/" in html
        assert '<option value="needs-specialist">Needs a specialist</option>' in html
        assert '<option value="l2-specialist">L2-SPECIALIST</option>' in html
        assert '"escalates": ["pending"]' in html

    def test_escalating_from_the_row_opens_a_case_in_the_tier_picked(
        self, pending, alice_client, supervisor
    ):
        response = post(alice_client, f"/actions/{pending.pk}/escalate/", {
            "reason_code": "needs-specialist", "tier": "l2-specialist", "expected_version": 1,
        })  # fmt: skip

        assert response.status_code == 200
        assert 'data-status="escalated"' in response.content.decode()
        case = case_of(pending)
        assert (case.tier.key, case.source) == ("l2-specialist", Source.PERSON)

    def test_escalating_without_a_reason_code_says_why_in_flash(self, pending, alice_client):
        response = post(alice_client, f"/actions/{pending.pk}/escalate/", {"tier": ""})

        assert response.status_code == 400
        assert response["HX-Retarget"] == "#flash"
        assert Action.objects.get(pk=pending.pk).status == Status.PENDING

    def test_the_action_page_escalates_to_the_rules_tier(self, pending, alice_client):
        page = alice_client.get(f"/actions/{pending.pk}/").content.decode()
        response = post(alice_client, f"/actions/{pending.pk}/page/decide/escalate/", {
            "reason_code": "customer-at-risk", "note": "VIP", "tier": "",
        })  # fmt: skip

        assert 'id="decide-escalate"' in page
        assert response.status_code == 200
        assert 'id="action-status">escalated' in response.content.decode()
        assert case_of(pending).tier.key == "l1-lead"  # the default tier: the rule names none

    def test_the_api_says_whether_the_person_may_escalate(self, pending, csrf_client):
        may = csrf_client.get(f"/api/v1/actions/{pending.pk}/").json()["may"]

        assert may["escalate"] == {"allowed": True, "code": None}

    def test_no_escalate_form_for_an_action_that_no_longer_waits(self, case, alice_client):
        page = alice_client.get(f"/actions/{case.action_id}/").content.decode()

        assert 'id="decide-escalate"' not in page


def test_the_hand_off_summary_is_read_from_an_agent_case_too(policy, agent, lena):
    case = services.escalation_handoff(
        agent=agent.agent,
        reason="customer asks for a manager",
        summary={
            "what_agent_did": "Offered a voucher",
            "what_agent_proposes": "Call back",
            "customer_id": "CUS-9",
            "sentiment": "upset",
        },
    )

    html = browser_for(lena).get(url(case)).content.decode()

    assert "Offered a voucher" in html and "<code>CUS-9</code>" in html
    assert "This case is about no single action." in html
