"""POST /api/v1/actions/<id>/outcome/: agents report outcomes of their own actions."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from approvals.models import Status
from audit.events import Verb
from audit.models import AuditEvent
from qa.models import OutcomeReport

pytestmark = pytest.mark.django_db


def url(action) -> str:
    return f"/api/v1/actions/{action.pk}/outcome/"


def reported_events():
    return AuditEvent.objects.filter(verb=Verb.ACTION_OUTCOME_REPORTED)


def test_a_report_answers_201_with_the_record_and_is_audited(resolution, agent):
    action = resolution()

    response = agent.client().post(
        url(action), {"resolved": True, "recontact_within_days": 3, "csat": 4}, format="json"
    )

    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["action_id"], body["source"], body["negative"]) == (
        str(action.pk), "agent:support-bot", True,
    )  # fmt: skip
    assert reported_events().filter(object_id=str(action.pk)).count() == 1


def test_the_same_body_again_answers_200_and_writes_nothing(resolution, agent):
    action = resolution()
    first = agent.client().post(url(action), {"resolved": True}, format="json").json()

    response = agent.client().post(url(action), {"resolved": True}, format="json")

    assert (response.status_code, response.json()) == (200, first)
    assert (OutcomeReport.objects.count(), reported_events().count()) == (1, 1)


def test_another_body_answers_409_with_the_existing_report(resolution, agent):
    action = resolution()
    first = agent.client().post(url(action), {"resolved": True}, format="json").json()

    response = agent.client().post(url(action), {"resolved": True, "csat": 1}, format="json")

    assert response.status_code == 409
    error = response.json()["error"]
    assert (error["code"], error["details"]["existing"]) == ("outcome_already_reported", first)
    assert reported_events().count() == 1


def test_another_agents_action_and_an_unknown_id_answer_404(resolution, agent, make_agent):
    action = resolution()
    other = make_agent("other-bot").client()

    stranger = other.post(url(action), {"resolved": True}, format="json")
    malformed = other.post("/api/v1/actions/not-a-uuid/outcome/", {"resolved": True},
                           format="json")  # fmt: skip

    assert [r.status_code for r in (stranger, malformed)] == [404, 404]
    assert stranger.json()["error"]["code"] == "action_not_found"
    assert not OutcomeReport.objects.exists()


def test_an_invalid_body_answers_400_in_the_error_shape(resolution, agent):
    action = resolution()

    response = agent.client().post(url(action), {"resolved": "true", "mood": "great"},
                                   format="json")  # fmt: skip

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_feedback"
    assert set(error["details"]["fields"]) == {"resolved"}
    assert error["details"]["unknown"] == ["mood"]
    assert error["message"]


def test_a_pending_action_answers_409_not_resolved(resolution, agent):
    action = resolution(status=Status.PENDING)

    response = agent.client().post(url(action), {"resolved": True}, format="json")

    assert (response.status_code, response.json()["error"]["code"]) == (409, "not_resolved")
    assert not reported_events().exists()


def test_people_and_strangers_may_not_report(resolution, make_supervisor):
    action = resolution()
    person = APIClient()
    person.force_login(make_supervisor("alice", role="senior_supervisor"))

    signed_in = person.post(url(action), {"resolved": True}, format="json")
    anonymous = APIClient().post(url(action), {"resolved": True}, format="json")

    assert signed_in.status_code == 403
    assert anonymous.status_code == 401
    assert not OutcomeReport.objects.exists()
