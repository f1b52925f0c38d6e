"""The escalations API: agents hand cases over and read their own; people list and work them."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from approvals.models import Action, Status
from escalations.models import Escalation
from tests.approvals.conftest import refund_params
from tests.approvals.test_api_claims import session_client

pytestmark = pytest.mark.django_db

API = "/api/v1/escalations/"
SUMMARY = {"what_agent_did": "Checked the order", "what_agent_proposes": "Refund 120.00",
           "customer_words": "Where is my money?", "sentiment": "negative"}  # fmt: skip


def pending(agent) -> str:
    response = agent.client().post(
        "/api/v1/actions/",
        {"action_type": "refund.issue", "params": refund_params(12000),
         "context": {"timeout": "escalate"}},
        format="json",
    )  # fmt: skip
    assert response.status_code == 201, response.content
    return response.json()["id"]


class TestAgentHandOff:
    def test_a_hand_off_answers_201_with_the_case_and_its_clocks(self, policy, agent):
        action_id = pending(agent)

        response = agent.client().post(
            API, {"action_id": action_id, "reason": "Customer threatens to leave",
                  "summary": SUMMARY}, format="json",
        )  # fmt: skip

        assert response.status_code == 201, response.content
        body = response.json()
        assert {"id", "status", "tier", "action_id", "ack_due_at", "resolve_due_at"} <= set(body)
        assert (body["status"], body["tier"], body["action_id"]) == (
            "open", "l2-specialist", action_id,
        )  # fmt: skip
        assert Action.objects.get(pk=action_id).status == Status.ESCALATED

    def test_a_hand_off_without_an_action_goes_to_the_default_tier(self, policy, agent):
        response = agent.client().post(API, {"reason": "stuck", "summary": SUMMARY},
                                       format="json")  # fmt: skip

        assert (response.status_code, response.json()["tier"]) == (201, "l1-lead")

    @pytest.mark.parametrize(
        "body, code",
        [
            ({"summary": SUMMARY}, "invalid_input"),
            ({"reason": "x", "summary": {"what_agent_did": "x"}}, "invalid_input"),
            ({"reason": "x", "summary": SUMMARY, "tier": "nope"}, "unknown_tier"),
            ({"reason": "x", "summary": SUMMARY, "colour": "red"}, "invalid_input"),
            ({"reason": "x", "summary": SUMMARY, "action_id": "not-a-uuid"}, "invalid_input"),
        ],
    )
    def test_bad_hand_offs_are_refused_in_the_usual_error_shape(self, policy, agent, body, code):
        response = agent.client().post(API, body, format="json")

        assert response.status_code == 400, response.content
        assert response.json()["error"]["code"] == code

    def test_naming_a_tier_below_the_policys_is_refused(self, policy, agent):
        response = agent.client().post(
            API, {"action_id": pending(agent), "reason": "x", "summary": SUMMARY,
                  "tier": "l1-lead"}, format="json",
        )  # fmt: skip

        assert (response.status_code, response.json()["error"]["code"]) == (400, "tier_too_low")

    def test_an_agent_reads_its_own_case_and_not_another_agents(self, policy, agent, make_agent):
        case_id = agent.client().post(API, {"reason": "x", "summary": SUMMARY},
                                      format="json").json()["id"]  # fmt: skip
        other = make_agent("other-bot")

        mine = agent.client().get(f"{API}{case_id}/")
        theirs = other.client().get(f"{API}{case_id}/")

        assert (mine.status_code, mine.json()["summary"]["what_agent_did"]) == (
            200, "Checked the order",
        )  # fmt: skip
        assert (theirs.status_code, theirs.json()["error"]["code"]) == (404, "case_not_found")

    def test_an_agent_cannot_work_a_case(self, policy, agent):
        case_id = agent.client().post(API, {"reason": "x", "summary": SUMMARY},
                                      format="json").json()["id"]  # fmt: skip

        response = agent.client().post(f"{API}{case_id}/acknowledge/", {}, format="json")

        assert response.status_code == 403


class TestPeople:
    def test_a_handler_lists_the_cases_of_their_tier_only(self, escalate, make_handler):
        escalate()
        ann, lena = make_handler("ann"), make_handler("lena", "l2-specialist")

        mine = session_client(ann).get(API).json()["results"]
        none = session_client(lena).get(API).json()["results"]

        assert [c["tier"] for c in mine] == ["l1-lead"]
        assert none == []

    def test_a_handler_outside_the_cases_tier_gets_404(self, escalate, make_handler):
        case = Escalation.objects.get(action=escalate())
        lena = session_client(make_handler("lena", "l2-specialist"))

        assert lena.get(f"{API}{case.pk}/").status_code == 404
        assert lena.post(f"{API}{case.pk}/acknowledge/", {}, format="json").status_code == 404

    def test_acknowledge_then_resolve_approves_and_the_action_shows_the_case(
        self, escalate, make_handler, enqueued, agent
    ):
        action = escalate()
        case = Escalation.objects.get(action=action)
        ann = session_client(make_handler("ann"))

        acked = ann.post(f"{API}{case.pk}/acknowledge/", {"expected_version": 1}, format="json")
        resolved = ann.post(
            f"{API}{case.pk}/resolve/",
            {"outcome": "approved", "reason_code": "amount-corrected",
             "params": refund_params(55000)}, format="json",
        )  # fmt: skip

        assert (acked.status_code, acked.json()["acknowledged_by"]) == (200, "ann")
        assert resolved.status_code == 200, resolved.content
        assert (resolved.json()["status"], resolved.json()["outcome"]) == ("resolved", "approved")
        seen = agent.client().get(f"/api/v1/actions/{action.pk}/").json()
        assert seen["status"] == "approved"
        assert seen["escalation"] == {"id": case.pk, "tier": "l1-lead", "status": "resolved",
                                      "outcome": "approved"}  # fmt: skip

    def test_a_stale_version_is_refused(self, escalate, make_handler):
        case = Escalation.objects.get(action=escalate())
        ann = session_client(make_handler("ann"))

        response = ann.post(f"{API}{case.pk}/acknowledge/", {"expected_version": 9},
                            format="json")  # fmt: skip

        assert (response.status_code, response.json()["error"]["code"]) == (409, "stale_version")

    def test_working_a_case_needs_the_csrf_token(self, escalate, make_handler):
        case = Escalation.objects.get(action=escalate())
        client = APIClient(enforce_csrf_checks=True)
        client.force_login(make_handler("ann"))

        response = client.post(f"{API}{case.pk}/acknowledge/", {}, format="json")

        assert response.status_code == 403
        assert Escalation.objects.get(pk=case.pk).status == "open"

    def test_reassign_without_a_reason_is_a_400(self, escalate, make_handler):
        case = Escalation.objects.get(action=escalate())

        response = session_client(make_handler("ann")).post(
            f"{API}{case.pk}/reassign/", {"tier": "l2-specialist"}, format="json"
        )

        assert response.status_code == 400

    def test_an_unknown_case_is_404(self, policy, make_handler):
        client = session_client(make_handler("ann"))

        assert client.get(f"{API}999999/").status_code == 404
        assert client.get(f"{API}abc/").json()["error"]["code"] == "case_not_found"
