"""The reviewers' API: their assignments, posting a review, reading one; people only."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from approvals.models import DecisionKind
from qa.models import Review
from tests.approvals.test_api_claims import session_client
from tests.qa.reviewing import GOOD, assign, submit

ASSIGNMENTS = "/api/v1/qa/assignments/"
REVIEWS = "/api/v1/qa/reviews/"


@pytest.fixture
def rita(make_qa_person):
    return make_qa_person("rita")


@pytest.fixture
def decided(resolution, make_supervisor):
    return resolution(decisions=[(DecisionKind.APPROVE, make_supervisor("alice"), 60)])


def body(assignment, **overrides) -> dict:
    return {"assignment_id": assignment.pk, "scores": GOOD, "verdict": "right", **overrides}


def test_a_reviewer_lists_their_own_assignments_open_first(
    decided, resolution, rita, make_qa_person, scorecard
):
    # Arrange
    done = assign(resolution(), rita, scorecard)
    submit(done)
    todo = assign(decided, rita, scorecard)
    assign(resolution(), make_qa_person("sam"), scorecard)  # someone else's

    # Act
    response = session_client(rita).get(ASSIGNMENTS)

    # Assert
    assert response.status_code == 200, response.content
    rows = response.json()["results"]
    assert [(r["id"], r["state"]) for r in rows] == [(todo.pk, "open"), (done.pk, "submitted")]
    assert rows[0]["amount"] == "120.00 USD"
    assert rows[0]["action_id"] == str(decided.pk)
    assert (
        session_client(rita).get(ASSIGNMENTS, {"state": "submitted"}).json()["results"][0]["id"]
        == done.pk
    )


def test_only_leads_and_auditors_list_someone_elses(decided, rita, make_qa_person, scorecard):
    assignment = assign(decided, rita, scorecard)
    sam, audrey = make_qa_person("sam"), make_qa_person("audrey", "auditor")

    refused = session_client(sam).get(ASSIGNMENTS, {"reviewer": "rita"})
    read = session_client(audrey).get(ASSIGNMENTS, {"reviewer": "rita"})

    assert (refused.status_code, refused.json()["error"]["code"]) == (403, "forbidden")
    assert [r["id"] for r in read.json()["results"]] == [assignment.pk]


def test_posting_a_review_answers_201_with_its_version_and_score(decided, rita, scorecard):
    assignment = assign(decided, rita, scorecard)

    response = session_client(rita).post(
        REVIEWS, body(assignment, root_causes=["policy_gap"], policy_followed=False),
        format="json",
    )  # fmt: skip

    assert response.status_code == 201, response.content
    review = response.json()
    assert (review["version"], review["score"], review["critical_failed"]) == (1, "91.67", False)
    assert (review["policy_followed"], review["root_causes"]) == (False, ["policy_gap"])
    fetched = session_client(rita).get(f"{REVIEWS}{review['id']}/")
    assert (fetched.status_code, fetched.json()["id"]) == (200, review["id"])


def test_bad_scores_answer_400_with_the_error_shape(decided, rita, scorecard):
    assignment = assign(decided, rita, scorecard)

    response = session_client(rita).post(
        REVIEWS, body(assignment, scores={"decision": 9, "tone": 1}), format="json"
    )

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_review"
    assert {"decision", "tone", "policy"} <= set(error["details"]["scores"])
    assert not Review.objects.exists()


def test_an_unknown_field_is_refused(decided, rita, scorecard):
    assignment = assign(decided, rita, scorecard)

    response = session_client(rita).post(REVIEWS, body(assignment, mood="x"), format="json")

    assert (response.status_code, response.json()["error"]["code"]) == (400, "invalid_input")


def test_someone_elses_assignment_is_not_found(decided, rita, make_qa_person, scorecard):
    assignment = assign(decided, rita, scorecard)

    response = session_client(make_qa_person("sam")).post(REVIEWS, body(assignment),
                                                          format="json")  # fmt: skip

    assert (response.status_code, response.json()["error"]["code"]) == (
        404, "assignment_not_found",
    )  # fmt: skip


def test_an_agent_key_is_refused(decided, rita, agent, scorecard):
    assignment = assign(decided, rita, scorecard)

    listed = agent.client().get(ASSIGNMENTS)
    posted = agent.client().post(REVIEWS, body(assignment), format="json")

    assert listed.status_code in (401, 403)
    assert posted.status_code in (401, 403)
    assert not Review.objects.exists()


def test_a_session_post_without_the_csrf_token_is_refused(decided, rita, scorecard):
    assignment = assign(decided, rita, scorecard)
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(rita)

    response = client.post(REVIEWS, body(assignment), format="json")

    assert response.status_code == 403
    assert "CSRF" in response.json()["error"]["message"]
    assert not Review.objects.exists()


def test_signed_out_callers_get_401_or_403(decided, rita, scorecard):
    response = APIClient().get(ASSIGNMENTS)

    assert response.status_code in (401, 403)


def test_a_supervisor_without_qa_cannot_list_assignments(supervisor):
    response = session_client(supervisor).get(ASSIGNMENTS)

    assert (response.status_code, response.json()["error"]["code"]) == (403, "missing_role")


def test_a_review_is_hidden_from_those_the_rulebook_keeps_out(decided, rita, make_qa_person,
                                                              scorecard):  # fmt: skip
    review = submit(assign(decided, rita, scorecard))

    response = session_client(make_qa_person("sam")).get(f"{REVIEWS}{review.pk}/")

    assert (response.status_code, response.json()["error"]["code"]) == (404, "review_not_found")
