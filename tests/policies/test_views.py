"""The policy pages: who may use them, the draft editor, diff, simulation, publish and rollback."""

from __future__ import annotations

import re
from datetime import timedelta
from unittest import mock

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone

from approvals.models import Action
from approvals.services import action_submit
from audit.models import AuditEvent
from audit.services import Actor
from policies import publication, services
from policies.models import PolicyVersion, Rule
from policies.simulation_runs import simulation_run_execute

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}
GATE = "refund-over-50-needs-approval"
SMALL = "small-refund-executes"


def session(user) -> Client:
    """A browser-like client that enforces CSRF and holds the token a page handed out."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    client.get("/accounts/login/")
    return client


def post(client: Client, url: str, data: dict | None = None, *, htmx: bool = True):
    headers = {"HTTP_X_CSRFTOKEN": client.cookies["csrftoken"].value}
    return client.post(url, data or {}, **headers, **(HTMX if htmx else {}))


def form_of(rule: Rule, **changes) -> dict:
    spec = {**rule.spec(), **changes}
    spec["agents"] = ", ".join(spec["agents"])
    spec["sla_seconds"] = "" if spec["sla_seconds"] is None else spec["sla_seconds"]
    return spec


@pytest.fixture
def admin(demo, make_supervisor):
    return make_supervisor("pat", role="policy_admin")


@pytest.fixture
def browser(admin) -> Client:
    return session(admin)


@pytest.fixture
def second_admin(demo, make_supervisor):
    return make_supervisor("sam", role="policy_admin")


def publish_with_two_admins(draft: PolicyVersion, asker, confirmer) -> None:
    request = publication.policy_publication_request(number=draft.number, kind="publish", by=asker)
    publication.policy_publication_confirm(publication_id=request.pk, by=confirmer)


@pytest.fixture
def draft(admin) -> PolicyVersion:
    return services.policy_draft_create(actor=Actor.user(admin.pk), based_on=1)


# ------------------------------------------------------------------------------------- access


def test_anonymous_visitors_are_sent_to_the_login_page(client, demo):
    response = client.get("/policies/")

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=/policies/")


def test_an_htmx_call_without_a_session_sends_the_whole_page_to_login(client, demo):
    response = client.get("/policies/v1/diff/", **HTMX)

    assert response["HX-Redirect"].startswith("/accounts/login/")


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("get", "/policies/"),
        ("get", "/policies/v1/"),
        ("get", "/policies/v1/diff/"),
        ("post", "/policies/v1/simulate/"),
        ("get", "/policies/v1/simulations/0123abcd/"),
        ("get", "/policies/v1/export/"),
        ("post", "/policies/drafts/"),
        ("post", "/policies/v1/activate/"),
        ("post", "/policies/v2/publish/"),
        ("post", "/policies/v2/rules/add/"),
        ("post", "/policies/check-condition/"),
    ],
)
def test_a_supervisor_is_refused_every_policy_page_and_change(make_supervisor, draft, method, url):
    client = session(make_supervisor("sue", role="supervisor"))
    versions, events = PolicyVersion.objects.count(), AuditEvent.objects.count()

    response = client.get(url) if method == "get" else post(client, url, {"name": "x"})

    assert response.status_code == 403
    assert (PolicyVersion.objects.count(), AuditEvent.objects.count()) == (versions, events)


def test_a_superuser_may_use_the_policy_pages(client, demo):
    root = get_user_model().objects.create_superuser("root", password="x-long-enough-pass")
    client.force_login(root)

    assert client.get("/policies/").status_code == 200


def test_the_top_bar_links_to_policies_for_policy_admins_only(browser, make_supervisor):
    supervisor = session(make_supervisor("sue", role="supervisor"))

    assert 'href="/policies/"' in browser.get("/policies/").content.decode()
    assert 'href="/policies/"' not in supervisor.get("/").content.decode()


# ------------------------------------------------------------------------------------- pages


def test_the_versions_page_lists_every_version_and_marks_the_active_one(browser, draft):
    html = browser.get("/policies/").content.decode()

    active_row = re.search(r'<tr id="version-1" class="is-active">.*?</tr>', html, re.S)
    draft_row = re.search(r'<tr id="version-2" class="">.*?</tr>', html, re.S)
    assert active_row and "active</span>" in active_row[0]
    assert draft_row and "draft</span>" in draft_row[0] and "active</span>" not in draft_row[0]


def test_a_published_version_shows_its_rules_without_an_editor(browser):
    html = browser.get("/policies/v1/").content.decode()

    assert html.count('<tr id="rule-') == 6
    assert 'id="rule-form"' not in html
    assert "Make active" not in html  # it already is
    assert "New draft from v1" in html


def test_a_draft_shows_the_editor_and_the_publish_button(browser, draft):
    html = browser.get(f"/policies/v{draft.number}/").content.decode()

    assert 'id="rule-form"' in html
    assert 'id="publish"' in html
    assert "Same rules as v1." in html


def test_an_unknown_version_is_404(browser):
    assert browser.get("/policies/v99/").status_code == 404


def test_text_from_rules_and_notes_is_escaped(browser, admin, draft):
    rule = draft.rules.get(name=SMALL)
    services.policy_rule_update(
        number=draft.number, rule_id=rule.pk, actor=Actor.user(admin.pk),
        spec={**rule.spec(), "explanation": "<script>alert(1)</script>",
              "condition": 'params.reason == "<b>x</b>"'},
    )  # fmt: skip
    post(browser, f"/policies/v{draft.number}/publish/", {"note": "<img src=x onerror=alert(2)>"})

    html = browser.get(f"/policies/v{draft.number}/").content.decode()

    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<b>x</b>" not in html
    assert "<img src=x" not in html


def test_the_export_link_downloads_the_version_as_yaml(browser):
    response = browser.get("/policies/v1/export/")

    assert response["Content-Type"].startswith("application/yaml")
    assert response["Content-Disposition"] == 'attachment; filename="policy-v1.yaml"'
    assert b"name: refund-over-50-needs-approval" in response.content


# ------------------------------------------------------------------------------------- editor


def test_a_bad_condition_is_shown_next_to_its_field_with_the_cel_error_and_position(browser, draft):
    rule = draft.rules.get(name=GATE)

    response = post(
        browser,
        f"/policies/v{draft.number}/rules/{rule.pk}/update/",
        form_of(rule, condition="params.amount >"),
    )

    html = response.content.decode()
    assert response.status_code == 422
    assert html.lstrip().startswith('<form id="rule-form"')
    feedback = re.search(r'<div id="condition-feedback".*?</div>\s*</div>', html, re.S)[0]
    assert 'data-position="1:16"' in feedback
    assert "condition does not compile at line 1, column 16" in feedback
    assert "| ...............^" in feedback  # the compiler's picture of where it stopped
    assert 'name="condition"' in html and "params.amount &gt;</textarea>" in html
    assert draft.rules.get(name=GATE).condition == "params.amount > 5000"


def test_the_live_condition_check_answers_with_the_error_or_nothing(browser, draft):
    bad = post(browser, "/policies/check-condition/", {"condition": "params.amount > > 1"})
    good = post(browser, "/policies/check-condition/", {"condition": "params.amount > 1"})

    assert 'data-position="1:17"' in bad.content.decode()
    assert good.content.decode().strip() == ""


def test_other_bad_fields_are_shown_next_to_each_field(browser, draft):
    response = post(
        browser,
        f"/policies/v{draft.number}/rules/add/",
        {"name": "has spaces", "action_type": "", "mode": "escalate", "sla_seconds": "soon"},
    )

    html = response.content.decode()
    assert response.status_code == 422
    for input_id in ("rule-name", "rule-action-type", "rule-sla"):
        assert re.search(rf'<div class="field has-error">\s*<label for="{input_id}">', html)
    assert '<div class="field has-error">\n      <label for="rule-mode">' not in html
    assert "needs a name of letters" in html
    assert "sla_seconds is a whole number of seconds" in html
    assert draft.rules.count() == 6


def test_adding_a_rule_answers_with_the_fresh_workspace(browser, draft):
    response = post(
        browser,
        f"/policies/v{draft.number}/rules/add/",
        {"name": "vip", "action_type": "refund.*", "mode": "escalate", "condition": "true"},
    )

    assert response.status_code == 200
    assert response["HX-Retarget"] == "#workspace"
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="workspace">')
    assert html.count('<tr id="rule-') == 7
    assert "Added <code>vip</code> at #7" in html
    assert draft.rules.get(name="vip").position == 7


def test_moving_and_deleting_rules_from_the_page(browser, draft):
    small = draft.rules.get(name=SMALL)
    gate = draft.rules.get(name=GATE)

    post(browser, f"/policies/v{draft.number}/rules/{small.pk}/move/", {"to": "1"})
    post(browser, f"/policies/v{draft.number}/rules/{gate.pk}/delete/")

    assert list(draft.rules.order_by("position").values_list("name", flat=True))[:3] == [
        SMALL,
        "refund-over-500-escalates",
        "cancel-after-failed-payment-escalates",
    ]
    html = browser.get(f"/policies/v{draft.number}/").content.decode()
    assert f"Moved <code>{SMALL}</code> from #3 to #1" in html
    assert f"Removed <code>{GATE}</code>" in html


def test_a_plain_form_post_without_htmx_redirects_back_to_the_draft(browser, draft):
    response = post(
        browser,
        f"/policies/v{draft.number}/rules/add/",
        {"name": "plain", "action_type": "order.cancel", "mode": "escalate"},
        htmx=False,
    )

    assert response.status_code == 302
    assert response["Location"] == f"/policies/v{draft.number}/"


def test_changing_a_published_version_is_refused_in_the_flash_area(browser):
    rule = PolicyVersion.objects.get(number=1).rules.get(name=GATE)

    response = post(
        browser, f"/policies/v1/rules/{rule.pk}/update/", form_of(rule, mode="forbidden")
    )

    assert response.status_code == 409
    assert response["HX-Retarget"] == "#flash"
    assert "is published and can no longer change" in response.content.decode()
    assert Rule.objects.get(pk=rule.pk).mode == "execute_gated"


def test_the_editor_is_not_served_for_a_published_version(browser):
    response = browser.get("/policies/v1/rules/new/", **HTMX)

    assert response.status_code == 409
    assert response["HX-Retarget"] == "#flash"


# ----------------------------------------------------------------------------- diff, simulate


def test_the_diff_compares_with_any_other_version(browser, admin, draft):
    gate = draft.rules.get(name=GATE)
    services.policy_rule_update(
        number=draft.number, rule_id=gate.pk, actor=Actor.user(admin.pk),
        spec={**gate.spec(), "approvals_required": 2},
    )  # fmt: skip

    html = browser.get(f"/policies/v{draft.number}/diff/?against=1", **HTMX).content.decode()

    assert html.lstrip().startswith('<div id="diff">')
    assert f"Changed <code>{GATE}</code>" in html
    assert '<th scope="row">approvals_required</th><td class="old"><del>1</del>' in html


def test_a_draft_is_compared_with_the_active_version_and_that_with_the_one_before(
    browser, admin, second_admin, draft
):
    gate = draft.rules.get(name=GATE)
    services.policy_rule_update(
        number=draft.number, rule_id=gate.pk, actor=Actor.user(admin.pk),
        spec={**gate.spec(), "approvals_required": 2},
    )  # fmt: skip
    publish_with_two_admins(draft, admin, second_admin)
    older = services.policy_draft_create(actor=Actor.user(admin.pk), based_on=1)

    draft_page = browser.get(f"/policies/v{older.number}/").content.decode()
    active_page = browser.get(f"/policies/v{draft.number}/").content.decode()

    assert f"<h2>Changes from v{draft.number}</h2>" in draft_page
    assert '<td class="old"><del>2</del></td><td class="new"><ins>1</ins>' in draft_page
    assert "<h2>Changes from v1</h2>" in active_page
    assert '<td class="old"><del>1</del></td><td class="new"><ins>2</ins>' in active_page


def test_the_simulation_panel_shows_what_the_draft_would_change(
    browser, admin, agent, draft, simulations_inline
):
    for amount in (3000, 4000):
        action = action_submit(
            agent=agent.agent,
            action_type="refund.issue",
            params={"order_id": "ORD-1001", "amount": amount, "currency": "USD", "reason": "r"},
        ).action
        Action.objects.filter(pk=action.pk).update(created_at=timezone.now() - timedelta(days=2))
    small = draft.rules.get(name=SMALL)
    services.policy_rule_update(
        number=draft.number, rule_id=small.pk, actor=Actor.user(admin.pk),
        spec={**small.spec(), "mode": "execute_gated"},
    )  # fmt: skip

    post(browser, f"/policies/v{draft.number}/simulate/", {"days": "7"})
    (run_id,) = simulations_inline
    response = browser.get(f"/policies/v{draft.number}/simulations/{run_id}/", **HTMX)

    html = response.content.decode()
    assert html.lstrip().startswith('<div id="simulation"')
    assert '<strong id="changed-count">2</strong> would change outcome (70.00 USD)' in html
    assert f"v{draft.number} would have gated 2 more refund.issue in the last 7 day(s)" in html


def test_a_bad_number_of_days_is_refused_in_the_flash_area(browser, draft, simulations_inline):
    response = post(browser, f"/policies/v{draft.number}/simulate/", {"days": "9999"})

    assert response.status_code == 400
    assert response["HX-Retarget"] == "#flash"
    assert simulations_inline == []


def test_a_started_simulation_shows_its_progress_and_polls_until_its_report(browser, draft):
    # Arrange: no worker takes the run
    with mock.patch("policies.simulation_runs.current_app"):
        started = post(browser, f"/policies/v{draft.number}/simulate/", {"days": "7"})
    run_url = re.search(r'hx-get="(/policies/v\d+/simulations/\w+/)"', started.content.decode())[1]

    # Act
    waiting = browser.get(run_url, **HTMX).content.decode()
    simulation_run_execute(run_id=run_url.rstrip("/").rsplit("/", 1)[1])
    finished = browser.get(run_url, **HTMX).content.decode()

    # Assert
    assert 'id="simulation-progress"' in waiting and 'hx-trigger="every 1s"' in waiting
    assert "Waiting for a worker" in waiting
    assert finished.lstrip().startswith('<div id="simulation"')
    assert "hx-trigger" not in finished


def test_a_simulation_of_another_version_or_one_that_expired_is_not_found(browser, draft):
    with mock.patch("policies.simulation_runs.current_app"):
        started = post(browser, f"/policies/v{draft.number}/simulate/", {"days": "7"})
    run_id = re.search(r"/simulations/(\w+)/", started.content.decode())[1]

    assert browser.get(f"/policies/v1/simulations/{run_id}/", **HTMX).status_code == 404
    assert browser.get(f"/policies/v{draft.number}/simulations/feed/", **HTMX).status_code == 404


# ------------------------------------------------------------------------------------- end to end


def test_a_policy_admin_fixes_a_bad_draft_publishes_it_and_it_decides_new_submissions(
    browser, admin, second_admin, agent
):
    # A new draft from the active version.
    created = post(browser, "/policies/drafts/", {"based_on": "1"})
    assert created["HX-Redirect"] == "/policies/v2/"
    small = PolicyVersion.objects.get(number=2).rules.get(name=SMALL)
    update = f"/policies/v2/rules/{small.pk}/update/"

    # A condition that does not compile is refused, with where it broke.
    refused = post(browser, update, form_of(small, condition="params.amount <= ", mode="escalate"))
    assert refused.status_code == 422
    assert 'data-position="1:17"' in refused.content.decode()

    # Fixed, it is saved; then publishing it is asked for, and a second admin confirms.
    saved = post(
        browser, update, form_of(small, condition="params.amount <= 5000", mode="escalate")
    )
    assert saved.status_code == 200
    asked = post(browser, "/policies/v2/publish/", {"note": "small refunds escalate"})
    assert asked["HX-Redirect"] == "/policies/v2/"
    assert PolicyVersion.objects.get(number=2).is_draft
    waiting = PolicyVersion.objects.get(number=2).publication_requests.get()
    second = session(second_admin)
    confirmed = post(second, f"/policies/v2/publication/{waiting.pk}/confirm/")
    assert confirmed["HX-Redirect"] == "/policies/v2/"

    # An agent's next small refund is decided by the new version and its rule.
    response = agent.client().post(
        "/api/v1/actions/",
        {
            "action_type": "refund.issue",
            "params": {"order_id": "ORD-1001", "amount": 1500, "currency": "USD", "reason": "r"},
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    decision = response.json()["decision"]
    assert (decision["mode"], decision["rule"], decision["policy_version"]) == (
        "escalate",
        SMALL,
        2,
    )
    action = Action.objects.get(pk=response.json()["id"])
    assert action.rule.policy_version.number == 2
    assert list(
        AuditEvent.objects.filter(actor_id=str(admin.pk), object_type="policy_version")
        .order_by("id")
        .values_list("verb", "object_id")
    ) == [
        ("policy.draft_created", "2"),
        ("policy.rule_changed", "2"),
        ("policy.publication_requested", "2"),
    ]
    assert list(
        AuditEvent.objects.filter(actor_id=str(second_admin.pk), object_type="policy_version")
        .order_by("id")
        .values_list("verb", "object_id")
    ) == [("policy.published", "2"), ("policy.publication_confirmed", "2")]


def test_a_policy_admin_rolls_back_to_an_earlier_version_once_a_second_admin_confirms(
    browser, admin, second_admin, draft
):
    publish_with_two_admins(draft, second_admin, admin)

    asked = post(browser, "/policies/v1/activate/", {"reason": "the new gate was too strict"})
    waiting = PolicyVersion.objects.get(number=1).publication_requests.get()
    confirmed = post(session(second_admin), f"/policies/v1/publication/{waiting.pk}/confirm/")

    assert (asked["HX-Redirect"], confirmed["HX-Redirect"]) == ("/policies/v1/", "/policies/v1/")
    assert PolicyVersion.objects.get(is_active=True).number == 1
    activated = AuditEvent.objects.filter(verb="policy.activated").order_by("id").last()
    assert (activated.actor_id, activated.data["reason"], activated.data["requested_by"]) == (
        str(second_admin.pk),
        "the new gate was too strict",
        admin.pk,
    )


def test_the_asking_admin_sees_the_request_waiting_and_no_confirm_button(browser, draft):
    post(browser, f"/policies/v{draft.number}/publish/", {"note": "tighter"})

    html = browser.get(f"/policies/v{draft.number}/").content.decode()

    assert "waiting for a second admin" in html
    assert 'id="confirm-publication"' not in html
    assert 'id="withdraw-publication"' in html
    assert 'id="publish"' not in html


def test_another_admin_sees_the_confirm_button(browser, second_admin, draft):
    post(browser, f"/policies/v{draft.number}/publish/", {"note": "tighter"})

    html = session(second_admin).get(f"/policies/v{draft.number}/").content.decode()
    index = session(second_admin).get("/policies/").content.decode()

    assert "pat asked to publish" in html
    assert 'id="confirm-publication"' in html
    assert "waiting for a second admin" in index


def test_the_asking_admin_cannot_confirm_their_own_request(browser, draft):
    post(browser, f"/policies/v{draft.number}/publish/")
    waiting = draft.publication_requests.get()

    response = post(browser, f"/policies/v{draft.number}/publication/{waiting.pk}/confirm/")

    assert response.status_code == 403
    assert "another policy admin must confirm" in response.content.decode()
    draft.refresh_from_db()
    assert draft.is_draft
