"""The suggestions fragment and page, the button that opens one as a draft and simulates it, and
the one rulebook question that decides who may edit policy."""

from __future__ import annotations

from datetime import timedelta
from unittest import mock

import pytest
from django.test import Client

from approvals import rulebook
from approvals.rulebook import Answer, Person
from config import clock
from config.errors import Code, Forbidden
from policies.models import PolicyVersion
from tests.qa.evidence import GATE, gated_refunds, rejected_refund, review

HTMX = {"HTTP_HX_REQUEST": "true"}
RAISE_KEY = f"raise:{GATE}:8000"
TEXT = f"rule {GATE} gated 20 refunds up to 90.00 USD"
BUTTON = "Open as draft and simulate"

pytestmark = pytest.mark.usefixtures("frozen_clock")


@pytest.fixture
def evidence(resolution, people, scorecard):
    """Two days ago: 19 refunds approved up to 80.00 USD, one rejected, three reviewed right."""
    at = clock.now() - timedelta(days=2)
    approved = gated_refunds(resolution, people["alice"], [6000] * 18 + [8000], at=at)
    rejected_refund(resolution, people["alice"], 9000, at=at)
    for action in approved[-3:]:
        review(action, people["qa"], scorecard)
    return approved


def session(user) -> Client:
    """A browser-like client that enforces CSRF and holds the token a page handed out."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    client.get("/accounts/login/")
    return client


def post(client: Client, url: str, data: dict, **extra):
    return client.post(url, data, HTTP_X_CSRFTOKEN=client.cookies["csrftoken"].value, **extra)


# ---------------------------------------------------------------------------------------------
# the list


def test_a_qa_lead_sees_the_suggestions_with_their_evidence_and_no_draft_button(evidence, people):
    # Act
    response = session(people["lead"]).get("/qa/suggestions/", **HTMX)

    # Assert
    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in html  # the fragment the scorecards page swaps into #qa-suggestions
    assert TEXT in html
    assert "19 approved as proposed" in html and "3 reviewed by QA" in html
    # A QA lead may not open the queue's action page: the examples are ids, not links there.
    assert f'href="/actions/{evidence[-1].pk}/"' not in html
    assert f"<code>{str(evidence[-1].pk)[:8]}…</code>" in html
    assert f'data-key="{RAISE_KEY}"' in html
    assert BUTTON not in html


def test_a_policy_admin_sees_the_draft_button(evidence, people):
    # Act
    response = session(people["admin"]).get("/qa/suggestions/", **HTMX)

    # Assert
    html = response.content.decode()
    assert BUTTON in html
    assert 'action="/qa/suggestions/draft/"' in html
    assert 'name="csrfmiddlewaretoken"' in html
    assert '<input type="hidden" name="days" value="30">' in html


def test_without_htmx_the_suggestions_are_a_page_of_their_own(evidence, people):
    # Act
    response = session(people["lead"]).get("/qa/suggestions/")

    # Assert
    html = response.content.decode()
    assert "<html" in html and 'id="qa-suggestions"' in html
    assert TEXT in html


def test_weeks_set_the_window(evidence, people, frozen_clock):
    # Arrange: the evidence is now ten days old
    frozen_clock.shift(timedelta(days=8))
    client = session(people["lead"])

    # Act
    one_week = client.get("/qa/suggestions/?weeks=1", **HTMX).content.decode()
    two_weeks = client.get("/qa/suggestions/?weeks=2", **HTMX).content.decode()

    # Assert
    assert "suggests no rule change" in one_week and "last 7 days" in one_week
    assert "in the last 14 days" in two_weeks and "raise the threshold" in two_weeks


def test_a_bad_number_of_weeks_is_said_not_failed(people):
    # Act
    response = session(people["lead"]).get("/qa/suggestions/?weeks=lots", **HTMX)

    # Assert
    assert response.status_code == 400
    assert "whole number of weeks from 1 to 52" in response.content.decode()


def test_people_who_do_not_read_scorecards_are_refused_and_strangers_sent_to_log_in(people, client):
    # Act
    supervisor = session(people["alice"]).get("/qa/suggestions/", **HTMX)
    stranger = client.get("/qa/suggestions/")

    # Assert
    assert supervisor.status_code == 403
    assert stranger.status_code == 302 and stranger["Location"].startswith("/accounts/login/")


# ---------------------------------------------------------------------------------------------
# the button


def test_the_button_opens_a_draft_and_its_page_simulates_the_same_window(evidence, people):
    # Arrange
    client = session(people["admin"])

    # Act
    response = post(client, "/qa/suggestions/draft/", {"key": RAISE_KEY, "days": "30"})

    # Assert
    draft = PolicyVersion.objects.get(status="draft")
    assert draft.rules.get(name=GATE).condition == "params.amount > 8000"
    assert response.status_code == 302
    assert response["Location"] == f"/policies/v{draft.number}/?simulate=30"
    page = client.get(response["Location"]).content.decode()
    assert f'hx-post="/policies/v{draft.number}/simulate/" hx-trigger="load"' in page
    assert '<input type="hidden" name="days" value="30">' in page
    with mock.patch("policies.simulation_runs.current_app") as app:
        simulated = post(client, f"/policies/v{draft.number}/simulate/", {"days": "30"}, **HTMX)
    assert simulated.status_code == 200 and 'id="simulation-progress"' in simulated.content.decode()
    assert app.send_task.call_args.kwargs["kwargs"]["run_id"] in simulated.content.decode()


def test_the_button_from_htmx_redirects_the_browser(evidence, people):
    # Act
    response = post(
        session(people["admin"]), "/qa/suggestions/draft/", {"key": RAISE_KEY, "days": "30"}, **HTMX
    )

    # Assert
    draft = PolicyVersion.objects.get(status="draft")
    assert response["HX-Redirect"] == f"/policies/v{draft.number}/?simulate=30"


def test_a_qa_lead_posting_the_button_anyway_is_refused_and_no_draft_is_made(evidence, people):
    # Act
    response = post(session(people["lead"]), "/qa/suggestions/draft/", {"key": RAISE_KEY}, **HTMX)

    # Assert
    assert response.status_code == 403
    assert "Policies are for policy admins." in response.content.decode()
    assert not PolicyVersion.objects.filter(status="draft").exists()


def test_a_suggestion_gone_since_the_page_was_shown_is_said_on_the_page(evidence, people):
    # Act
    response = post(
        session(people["admin"]), "/qa/suggestions/draft/", {"key": f"raise:{GATE}:1"}, **HTMX
    )

    # Assert
    assert response.status_code == 404
    assert "no longer holds" in response.content.decode()


def test_a_policy_page_without_simulate_does_not_simulate_on_load(people, demo):
    # Act
    page = session(people["admin"]).get("/policies/v1/").content.decode()

    # Assert
    assert 'hx-trigger="load"' not in page


# ---------------------------------------------------------------------------------------------
# who may edit policy: one rulebook question


@pytest.mark.parametrize(
    ("person", "allowed"),
    [
        (Person(user_id=1, roles=frozenset({"policy_admin"})), True),
        (Person(user_id=1, is_superuser=True), True),
        (
            Person(user_id=1, roles=frozenset({"qa_lead", "qa_reviewer", "senior_supervisor"})),
            False,
        ),
        (Person(user_id=None, roles=frozenset({"policy_admin"})), False),
    ],
)
def test_only_policy_admins_and_superusers_may_edit_policy(person, allowed):
    answer = rulebook.may_edit_policy(person)

    assert bool(answer) is allowed
    assert answer.code == (None if allowed else Code.MISSING_ROLE)


def test_the_policy_pages_ask_the_rulebook(people, demo, monkeypatch):
    # Arrange: the rulebook says no, even to a policy admin
    refusal = Answer(Forbidden("Closed for the audit.", code=Code.MISSING_ROLE))
    monkeypatch.setattr(rulebook, "may_edit_policy", lambda person: refusal)

    # Act
    response = session(people["admin"]).get("/policies/")

    # Assert
    assert response.status_code == 403
    assert "Closed for the audit." in response.content.decode()


def test_a_qa_lead_is_refused_the_policy_pages(people, demo):
    assert session(people["lead"]).get("/policies/v1/").status_code == 403
