"""The seven modes end to end through the agents' API, and the intent/rule table.

One published policy sends a refund to each mode by `context.mode`, so every test submits the
same kind of action and only the rule differs.
"""

from __future__ import annotations

import pytest
from django.http import HttpRequest
from rest_framework.test import APIClient

from approvals import services
from approvals.models import Action, Decision, Status
from audit.models import AuditEvent
from audit.services import Actor
from escalations.models import Escalation
from policies.services import policy_publish
from sandbox.models import Refund
from tests.approvals.conftest import refund_params
from tests.conftest import SUPERVISOR_PASSWORD

pytestmark = pytest.mark.django_db

SUBMIT = "/api/v1/actions/"
MODES = [
    "forbidden",
    "read_only",
    "recommend_only",
    "draft_only",
    "execute_limited",
    "execute_gated",
    "escalate",
]
# What a submission's status and HTTP answer are for each mode.
OUTCOMES = {
    "forbidden": ("blocked", 403),
    "read_only": ("blocked", 403),
    "recommend_only": ("recommended", 201),
    "draft_only": ("drafted", 201),
    "execute_limited": ("approved", 201),
    "execute_gated": ("pending", 201),
    "escalate": ("escalated", 201),
}


def one_rule_per_mode() -> list[dict]:
    rules = []
    for mode in MODES:
        rule = {
            "name": f"refund-{mode.replace('_', '-')}",
            "action_type": "refund.issue",
            "condition": f"context.mode == '{mode}'",
            "mode": mode,
            "explanation": f"refunds marked {mode} are {mode}",
        }
        if mode == "execute_gated":
            rule.update(approvals_required=2, approver_role="supervisor", queue="Refunds")
        if mode == "escalate":
            rule.update(escalation_tier="l2-specialist")
        rules.append(rule)
    return rules


@pytest.fixture
def policy(demo):
    return policy_publish(rules=one_rule_per_mode(), actor=Actor.system("test"))


@pytest.fixture
def api(policy, agent) -> APIClient:
    return agent.client()


def body(mode: str, *, amount: int = 3000, intent: str | None = None) -> dict:
    data = {
        "action_type": "refund.issue",
        "params": refund_params(amount),
        "context": {"mode": mode},
    }
    if intent:
        data["intent"] = intent
    return data


def person(make_supervisor, username: str) -> APIClient:
    """A signed-in person's session client sending the CSRF token, as the dashboard does."""
    user = make_supervisor(username)
    client = APIClient(enforce_csrf_checks=True)
    # django-axes, which counts failed sign-ins, needs the request it would count them for.
    assert client.login(request=HttpRequest(), username=username, password=SUPERVISOR_PASSWORD)
    client.get("/accounts/login/")
    client.credentials(HTTP_X_CSRFTOKEN=client.cookies["csrftoken"].value)
    client.user = user
    return client


def submitted_events(action_id) -> list[AuditEvent]:
    return list(
        AuditEvent.objects.filter(object_type="action", object_id=str(action_id)).order_by("id")
    )


# ---------------------------------------------------------------------------------------------
# forbidden and read_only: recorded and refused


class TestBlocked:
    @pytest.mark.parametrize("mode", ["forbidden", "read_only"])
    def test_a_blocked_submission_is_403_with_the_recorded_action_and_the_explanation(
        self, api, enqueued, mode, django_capture_on_commit_callbacks
    ):
        with django_capture_on_commit_callbacks(execute=True):
            response = api.post(SUBMIT, body(mode), format="json")

        assert response.status_code == 403, response.content
        error = response.json()["error"]
        assert error["code"] == "action_blocked"
        assert error["message"] == f"Refused by policy: refunds marked {mode} are {mode}"
        action = Action.objects.get(pk=error["details"]["action_id"])
        assert action.status == Status.BLOCKED
        assert error["details"]["status"] == "blocked"
        assert error["details"]["decision"]["mode"] == mode
        assert error["details"]["decision"]["explanation"] == f"refunds marked {mode} are {mode}"
        assert enqueued == []

    def test_a_blocked_submission_is_audited_as_submitted_and_blocked(self, api, agent):
        response = api.post(SUBMIT, body("forbidden"), format="json")

        (event,) = submitted_events(response.json()["error"]["details"]["action_id"])
        assert (event.verb, event.actor_kind, event.actor_id) == (
            "action.submitted",
            "agent",
            str(agent.agent.pk),
        )
        assert event.data["status"] == "blocked"
        assert event.data["decision"]["rule_name"] == "refund-forbidden"

    def test_the_agent_can_read_its_blocked_action_afterwards(self, api):
        action_id = api.post(SUBMIT, body("read_only"), format="json").json()["error"]["details"][
            "action_id"
        ]

        response = api.get(f"{SUBMIT}{action_id}/")

        assert response.status_code == 200
        assert response.json()["status"] == "blocked"
        assert response.json()["decision"]["mode"] == "read_only"

    def test_replaying_a_blocked_submission_answers_the_same_403_and_records_nothing_new(self, api):
        first = api.post(SUBMIT, body("forbidden"), format="json", HTTP_IDEMPOTENCY_KEY="k-1")

        again = api.post(SUBMIT, body("forbidden"), format="json", HTTP_IDEMPOTENCY_KEY="k-1")

        assert again.status_code == 403
        assert again["Idempotent-Replayed"] == "true"
        assert "Idempotent-Replayed" not in first
        assert again.json() == first.json()
        assert Action.objects.count() == 1

    def test_a_blocked_action_cannot_be_adopted(self, api, make_supervisor):
        action_id = api.post(SUBMIT, body("forbidden"), format="json").json()["error"]["details"][
            "action_id"
        ]
        alice = person(make_supervisor, "alice")

        response = alice.post(f"{SUBMIT}{action_id}/adopt/", {}, format="json")

        assert response.status_code == 409
        assert response.json()["error"]["code"] == "not_a_proposal"


# ---------------------------------------------------------------------------------------------
# recommend_only and draft_only: kept for a person; the agent does not wait


class TestRecommendOnly:
    def test_a_recommendation_is_stored_decided_and_not_executed(
        self, api, enqueued, django_capture_on_commit_callbacks
    ):
        with django_capture_on_commit_callbacks(execute=True):
            response = api.post(SUBMIT, body("recommend_only"), format="json")

        assert response.status_code == 201
        data = response.json()
        assert data["status"] == "recommended"
        assert data["decided_at"] is not None  # nothing for the agent to wait for
        assert data["escalation"] is None
        assert enqueued == []

    def test_an_adopted_recommendation_executes_as_the_person_who_adopted_it(
        self, api, make_supervisor, enqueued, django_capture_on_commit_callbacks
    ):
        action_id = api.post(SUBMIT, body("recommend_only"), format="json").json()["id"]
        alice = person(make_supervisor, "alice")

        with django_capture_on_commit_callbacks(execute=True):
            response = alice.post(
                f"{SUBMIT}{action_id}/adopt/", {"reason_code": "goodwill"}, format="json"
            )
        services.action_execute(action_id=action_id)

        assert response.status_code == 200, response.content
        assert response.json()["status"] == "approved"
        assert enqueued == [action_id]
        assert Action.objects.get(pk=action_id).status == Status.SUCCEEDED
        assert Refund.objects.get(action_id=action_id).amount == 3000
        adopted = [e for e in submitted_events(action_id) if e.verb == "action.adopted"]
        assert [(e.actor_kind, e.actor_id) for e in adopted] == [("user", str(alice.user.pk))]
        assert Decision.objects.get(action_id=action_id).kind == "adopt"

    def test_a_dismissed_recommendation_never_executes(
        self, api, make_supervisor, enqueued, django_capture_on_commit_callbacks
    ):
        action_id = api.post(SUBMIT, body("recommend_only"), format="json").json()["id"]
        alice = person(make_supervisor, "alice")

        with django_capture_on_commit_callbacks(execute=True):
            response = alice.post(
                f"{SUBMIT}{action_id}/dismiss/", {"reason_code": "not-needed"}, format="json"
            )

        assert response.status_code == 200, response.content
        assert response.json()["status"] == "dismissed"
        assert enqueued == []
        assert not Refund.objects.filter(action_id=action_id).exists()


class TestDraftOnly:
    def test_a_draft_is_edited_then_adopted_and_executes_the_edit(
        self, api, make_supervisor, enqueued, django_capture_on_commit_callbacks
    ):
        action_id = api.post(SUBMIT, body("draft_only"), format="json").json()["id"]
        alice = person(make_supervisor, "alice")
        corrected = refund_params(2500)

        edited = alice.post(
            f"{SUBMIT}{action_id}/edit/",
            {"params": corrected, "reason_code": "amount-corrected", "note": "partial"},
            format="json",
        )
        with django_capture_on_commit_callbacks(execute=True):
            adopted = alice.post(f"{SUBMIT}{action_id}/adopt/", {}, format="json")
        services.action_execute(action_id=action_id)

        assert edited.status_code == 200, edited.content
        assert edited.json()["status"] == "drafted"
        assert edited.json()["params"] == refund_params(3000)  # the agent's, never overwritten
        assert edited.json()["final_params"] == corrected
        assert adopted.status_code == 200, adopted.content
        assert enqueued == [action_id]
        assert Refund.objects.get(action_id=action_id).amount == 2500

    def test_a_draft_can_be_discarded(self, api, make_supervisor):
        action_id = api.post(SUBMIT, body("draft_only"), format="json").json()["id"]
        alice = person(make_supervisor, "alice")

        response = alice.post(
            f"{SUBMIT}{action_id}/dismiss/", {"reason_code": "outside-policy"}, format="json"
        )

        assert response.json()["status"] == "dismissed"


# ---------------------------------------------------------------------------------------------
# execute_limited, execute_gated, escalate


class TestExecuteLimited:
    def test_it_executes_at_once_without_a_person(
        self, api, enqueued, django_capture_on_commit_callbacks
    ):
        with django_capture_on_commit_callbacks(execute=True):
            response = api.post(SUBMIT, body("execute_limited"), format="json")
        action_id = response.json()["id"]
        services.action_execute(action_id=action_id)

        assert response.status_code == 201
        assert response.json()["status"] == "approved"
        assert enqueued == [action_id]
        assert Action.objects.get(pk=action_id).status == Status.SUCCEEDED
        assert not Decision.objects.filter(action_id=action_id).exists()


class TestExecuteGated:
    def test_two_approvals_must_come_from_two_different_people(
        self, api, make_supervisor, enqueued, django_capture_on_commit_callbacks
    ):
        action_id = api.post(SUBMIT, body("execute_gated"), format="json").json()["id"]
        alice, bob = person(make_supervisor, "alice"), person(make_supervisor, "bob")

        first = alice.post(f"{SUBMIT}{action_id}/approve/", {}, format="json")
        again = alice.post(f"{SUBMIT}{action_id}/approve/", {}, format="json")
        with django_capture_on_commit_callbacks(execute=True):
            second = bob.post(f"{SUBMIT}{action_id}/approve/", {}, format="json")

        assert first.status_code == 200
        assert first.json()["status"] == "pending"
        assert [a["by"] for a in first.json()["approvals"]] == ["alice"]
        assert again.status_code == 409
        assert again.json()["error"]["code"] == "already_approved"
        assert second.json()["status"] == "approved"
        assert [a["by"] for a in second.json()["approvals"]] == ["alice", "bob"]
        assert enqueued == [action_id]

    def test_one_approval_of_two_does_not_execute(
        self, api, make_supervisor, enqueued, django_capture_on_commit_callbacks
    ):
        action_id = api.post(SUBMIT, body("execute_gated"), format="json").json()["id"]
        alice = person(make_supervisor, "alice")

        with django_capture_on_commit_callbacks(execute=True):
            alice.post(f"{SUBMIT}{action_id}/approve/", {}, format="json")

        assert Action.objects.get(pk=action_id).status == Status.PENDING
        assert enqueued == []


class TestEscalate:
    def test_the_agent_is_told_to_stop_and_which_case_holds_the_action(
        self, api, enqueued, django_capture_on_commit_callbacks
    ):
        with django_capture_on_commit_callbacks(execute=True):
            response = api.post(SUBMIT, body("escalate"), format="json")

        assert response.status_code == 201
        data = response.json()
        assert data["status"] == "escalated"
        case = Escalation.objects.get(action_id=data["id"])
        assert data["escalation"] == {
            "id": case.pk, "tier": "l2-specialist", "status": "open", "outcome": None,
        }  # fmt: skip
        assert enqueued == []

    def test_reading_an_escalated_action_shows_its_case(self, api):
        action_id = api.post(SUBMIT, body("escalate"), format="json").json()["id"]

        response = api.get(f"{SUBMIT}{action_id}/")

        assert response.json()["escalation"]["tier"] == "l2-specialist"


# ---------------------------------------------------------------------------------------------
# the stricter of the agent's intent and the rule applies

# Written out, not computed with engine.stricter: this table is what the design promises.
INTENT_TABLE = {
    "execute": {m: m for m in MODES},
    "recommend": {
        "forbidden": "forbidden",
        "read_only": "read_only",
        "recommend_only": "recommend_only",
        "draft_only": "recommend_only",
        "execute_limited": "recommend_only",
        "execute_gated": "recommend_only",
        "escalate": "escalate",
    },
    "draft": {
        "forbidden": "forbidden",
        "read_only": "read_only",
        "recommend_only": "recommend_only",
        "draft_only": "draft_only",
        "execute_limited": "draft_only",
        "execute_gated": "draft_only",
        "escalate": "escalate",
    },
}


@pytest.mark.parametrize("rule_mode", MODES)
@pytest.mark.parametrize("intent", ["execute", "recommend", "draft"])
def test_a_submission_gets_the_stricter_of_its_intent_and_its_rule(
    api, enqueued, intent, rule_mode, django_capture_on_commit_callbacks
):
    expected = INTENT_TABLE[intent][rule_mode]

    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(SUBMIT, body(rule_mode, intent=intent), format="json")

    status, http = OUTCOMES[expected]
    assert response.status_code == http, response.content
    action = Action.objects.get()
    assert (action.mode, action.status, action.intent) == (expected, status, intent)
    assert action.rule_name == f"refund-{rule_mode.replace('_', '-')}"
    assert enqueued == ([str(action.pk)] if expected == "execute_limited" else [])
