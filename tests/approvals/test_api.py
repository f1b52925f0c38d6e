"""The agents' REST API: every refusal has a status and a code in one JSON shape; happy paths."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from rest_framework.test import APIClient

from approvals import services
from approvals.models import Action, Status
from audit.models import AuditEvent
from tests.approvals.conftest import refund_params

pytestmark = pytest.mark.django_db

SUBMIT = "/api/v1/actions/"
UNKNOWN_ID = "00000000-0000-0000-0000-000000000000"


def refund_body(**params) -> dict:
    return {"action_type": "refund.issue", "params": {**refund_params(12000), **params}}


def assert_error(response, status: int, code: str) -> dict:
    """The response is `{"error": {"code", "message", "details"}}` with this status and code."""
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code, body
    assert body["error"]["message"]
    return body["error"]


@pytest.fixture
def api(demo, agent) -> APIClient:
    return agent.client()


@pytest.fixture
def pending_id(submit) -> str:
    return str(submit(12000).pk)


# ---------------------------------------------------------------------------------------------
# submit: refusals


class TestSubmitRefusals:
    def test_malformed_json_is_400_malformed_json(self, api):
        response = api.post(
            SUBMIT, '{"action_type": "refund.issue",', content_type="application/json"
        )

        assert_error(response, 400, "malformed_json")

    def test_a_body_that_is_not_an_object_is_400_invalid_input(self, api):
        response = api.post(SUBMIT, [1, 2], format="json")

        assert_error(response, 400, "invalid_input")

    def test_an_unknown_action_type_is_400_unknown_action_type(self, api):
        response = api.post(SUBMIT, {"action_type": "refund.teleport", "params": {}}, format="json")

        error = assert_error(response, 400, "unknown_action_type")
        assert error["details"] == {"action_type": "refund.teleport"}

    def test_params_missing_a_required_field_are_400_invalid_params(self, api):
        body = refund_body()
        del body["params"]["reason"]

        response = api.post(SUBMIT, body, format="json")

        error = assert_error(response, 400, "invalid_params")
        assert "'reason' is a required property" in error["details"]["errors"][0]["message"]

    def test_params_with_an_extra_field_are_400_invalid_params(self, api):
        response = api.post(SUBMIT, refund_body(coupon="FREE"), format="json")

        assert_error(response, 400, "invalid_params")

    @pytest.mark.parametrize(
        "amount",
        ["12000", -5, 0, 120.5, 120.0, True, None, 10**13],
        ids=["string", "negative", "zero", "fraction", "float-integral", "boolean", "null", "huge"],
    )
    def test_an_amount_that_is_not_a_positive_strict_integer_is_400_invalid_params(
        self, api, amount
    ):
        response = api.post(SUBMIT, refund_body(amount=amount), format="json")

        error = assert_error(response, 400, "invalid_params")
        assert error["details"]["errors"][0]["path"] == "params['amount']"
        assert Action.objects.count() == 0

    def test_an_unknown_top_level_field_is_400_invalid_input(self, api):
        response = api.post(SUBMIT, {**refund_body(), "priority": "high"}, format="json")

        error = assert_error(response, 400, "invalid_input")
        assert error["details"] == {"fields": {"priority": ["Unknown field."]}}

    @pytest.mark.parametrize(
        "body",
        [
            '{"action_type": "refund.issue", "params": {"order_id": "ORD-1001", "amount": 100,'
            ' "currency": "USD", "reason": "nul \\u0000 inside"}}',
            '{"action_type": "refund.issue", "params": {"order_id": "ORD-1001", "amount": 100,'
            ' "currency": "USD", "reason": "lone \\ud800 surrogate"}}',
            '{"action_type": "refund.issue", "params": {"order_id": "ORD-1001", "amount": 100,'
            ' "currency": "USD", "reason": "r"}, "context": {"k\\u0000": ["v"]}}',
        ],
        ids=["nul-in-params", "surrogate-in-params", "nul-in-a-context-key"],
    )
    def test_text_the_database_cannot_store_is_400_not_500(self, api, body):
        response = api.post(SUBMIT, body, content_type="application/json")

        assert_error(response, 400, "invalid_input")
        assert Action.objects.count() == 0

    def test_params_that_are_not_an_object_are_400_invalid_input(self, api):
        response = api.post(SUBMIT, {"action_type": "refund.issue", "params": [1]}, format="json")

        assert_error(response, 400, "invalid_input")

    def test_an_overlong_idempotency_key_is_400(self, api):
        response = api.post(SUBMIT, refund_body(), format="json", HTTP_IDEMPOTENCY_KEY="k" * 256)

        assert_error(response, 400, "invalid_idempotency_key")

    def test_a_reused_idempotency_key_with_another_body_is_422(self, api):
        api.post(SUBMIT, refund_body(), format="json", HTTP_IDEMPOTENCY_KEY="k-1")

        response = api.post(
            SUBMIT, refund_body(amount=13000), format="json", HTTP_IDEMPOTENCY_KEY="k-1"
        )

        assert_error(response, 422, "idempotency_key_reused")
        assert Action.objects.count() == 1


# ---------------------------------------------------------------------------------------------
# authentication and permissions


class TestAuthentication:
    def test_a_request_without_an_api_key_is_401(self, demo):
        response = APIClient().post(SUBMIT, refund_body(), format="json")

        assert_error(response, 401, "unauthenticated")
        assert response["WWW-Authenticate"] == "Api-Key"

    def test_an_invalid_api_key_is_401(self, demo, agent):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Api-Key {agent.key}x")

        response = client.post(SUBMIT, refund_body(), format="json")

        assert_error(response, 401, "unauthenticated")

    def test_an_agent_reading_another_agents_action_gets_404(self, pending_id, make_agent):
        stranger = make_agent("other-bot").client()

        response = stranger.get(f"/api/v1/actions/{pending_id}/")

        assert_error(response, 404, "action_not_found")

    def test_an_agent_cannot_approve(self, api, pending_id):
        response = api.post(f"/api/v1/actions/{pending_id}/approve/", {}, format="json")

        assert_error(response, 403, "forbidden")
        assert Action.objects.get(pk=pending_id).status == Status.PENDING

    def test_a_session_user_without_a_csrf_token_is_403(self, pending_id, supervisor_client):
        response = supervisor_client.post(
            f"/api/v1/actions/{pending_id}/approve/", {}, format="json"
        )

        assert_error(response, 403, "forbidden")
        assert Action.objects.get(pk=pending_id).status == Status.PENDING

    def test_a_person_cannot_submit_as_an_agent(self, demo, csrf_client):
        response = csrf_client.post(SUBMIT, refund_body(), format="json")

        assert_error(response, 403, "forbidden")


# ---------------------------------------------------------------------------------------------
# decisions


class TestDecisions:
    def test_approving_with_a_csrf_token_approves(self, pending_id, csrf_client):
        response = csrf_client.post(
            f"/api/v1/actions/{pending_id}/approve/",
            {"reason_code": "verified-eligible", "note": "ok", "expected_version": 1},
            format="json",
        )

        assert response.status_code == 200, response.content
        body = response.json()
        assert (body["status"], body["version"]) == ("approved", 2)
        assert [(a["by"], a["kind"]) for a in body["approvals"]] == [("alice", "approve")]

    def test_an_unknown_reason_code_is_400_unknown_reason_code(self, pending_id, csrf_client):
        response = csrf_client.post(
            f"/api/v1/actions/{pending_id}/approve/", {"reason_code": "because"}, format="json"
        )

        assert_error(response, 400, "unknown_reason_code")

    def test_rejecting_without_a_reason_code_is_400(self, pending_id, csrf_client):
        response = csrf_client.post(f"/api/v1/actions/{pending_id}/reject/", {}, format="json")

        assert_error(response, 400, "reason_code_required")

    def test_approving_an_approved_action_is_409_illegal_transition(self, pending_id, csrf_client):
        csrf_client.post(f"/api/v1/actions/{pending_id}/approve/", {}, format="json")

        response = csrf_client.post(f"/api/v1/actions/{pending_id}/approve/", {}, format="json")

        error = assert_error(response, 409, "illegal_transition")
        assert error["details"] == {"from": "approved", "to": "approved"}

    def test_a_stale_expected_version_is_409_stale_version(self, pending_id, csrf_client):
        response = csrf_client.post(
            f"/api/v1/actions/{pending_id}/approve/", {"expected_version": 9}, format="json"
        )

        assert_error(response, 409, "stale_version")

    def test_a_reviewer_without_the_role_is_403_missing_role(self, pending_id, make_supervisor):
        client = APIClient()
        client.force_login(make_supervisor("quinn", role="qa_reviewer"))

        response = client.post(f"/api/v1/actions/{pending_id}/approve/", {}, format="json")

        assert_error(response, 403, "missing_role")

    def test_an_unknown_field_in_a_decision_is_400(self, pending_id, csrf_client):
        response = csrf_client.post(
            f"/api/v1/actions/{pending_id}/approve/", {"verdict": "yes"}, format="json"
        )

        assert_error(response, 400, "invalid_input")

    @pytest.mark.parametrize("action_id", [UNKNOWN_ID, "not-a-uuid", "1"])
    def test_approving_an_unknown_or_malformed_id_is_404(self, demo, csrf_client, action_id):
        response = csrf_client.post(f"/api/v1/actions/{action_id}/approve/", {}, format="json")

        assert_error(response, 404, "action_not_found")


# ---------------------------------------------------------------------------------------------
# reading, cancelling, waiting, unknown paths


class TestReading:
    @pytest.mark.parametrize("action_id", [UNKNOWN_ID, "not-a-uuid"])
    def test_an_unknown_or_malformed_id_is_404(self, api, action_id):
        response = api.get(f"/api/v1/actions/{action_id}/")

        assert_error(response, 404, "action_not_found")

    def test_the_owner_reads_the_current_state(self, api, pending_id):
        response = api.get(f"/api/v1/actions/{pending_id}/")

        assert response.status_code == 200
        body = response.json()
        assert (body["id"], body["status"], body["agent"]) == (pending_id, "pending", "support-bot")
        assert body["params"] == body["effective_params"] == refund_params(12000)
        assert body["approvals"] == []

    def test_a_supervisor_reads_any_action(self, pending_id, supervisor_client):
        response = supervisor_client.get(f"/api/v1/actions/{pending_id}/")

        assert response.status_code == 200
        assert response.json()["id"] == pending_id

    def test_the_owner_cancels_its_pending_action(self, api, pending_id):
        response = api.post(f"/api/v1/actions/{pending_id}/cancel/")

        assert response.status_code == 200, response.content
        assert response.json()["status"] == "cancelled"

    def test_cancelling_another_agents_action_is_404(self, pending_id, make_agent):
        response = make_agent("other-bot").client().post(f"/api/v1/actions/{pending_id}/cancel/")

        assert_error(response, 404, "action_not_found")
        assert Action.objects.get(pk=pending_id).status == Status.PENDING

    def test_cancelling_a_cancelled_action_is_409(self, api, pending_id):
        api.post(f"/api/v1/actions/{pending_id}/cancel/")

        response = api.post(f"/api/v1/actions/{pending_id}/cancel/")

        assert_error(response, 409, "illegal_transition")

    @pytest.mark.parametrize(
        "path", ["/api/v1/nothing/", "/api/v2/actions/", "/api/v1/actions/x/y/"]
    )
    def test_an_unknown_api_path_is_a_json_404(self, api, path):
        response = api.get(path)

        assert_error(response, 404, "not_found")

    def test_a_wrong_method_is_405_in_the_same_shape(self, api):
        response = api.delete(SUBMIT)

        assert_error(response, 405, "method_not_allowed")


@pytest.mark.django_db(transaction=True)
class TestWaitRefusals:
    """The wait view reads on its own threads (see approvals/api/wait.py): committed data only."""

    @pytest.mark.parametrize("timeout", ["abc", "-1", "61", "nan", "inf", "1e9"])
    def test_waiting_with_a_bad_timeout_is_400_invalid_timeout(self, api, pending_id, timeout):
        response = api.get(f"/api/v1/actions/{pending_id}/wait/?timeout={timeout}")

        assert_error(response, 400, "invalid_timeout")

    def test_waiting_until_something_unknown_is_400_invalid_until(self, api, pending_id):
        response = api.get(f"/api/v1/actions/{pending_id}/wait/?timeout=1&until=forever")

        assert_error(response, 400, "invalid_until")

    def test_waiting_without_an_api_key_is_401(self, pending_id):
        response = APIClient().get(f"/api/v1/actions/{pending_id}/wait/?timeout=0")

        assert_error(response, 401, "unauthenticated")

    def test_waiting_on_a_malformed_id_is_404(self, api):
        response = api.get("/api/v1/actions/not-a-uuid/wait/?timeout=0")

        assert_error(response, 404, "action_not_found")


# ---------------------------------------------------------------------------------------------
# happy paths


class TestSubmit:
    def test_a_submission_is_201_with_its_decision(self, api):
        response = api.post(SUBMIT, refund_body(), format="json", HTTP_IDEMPOTENCY_KEY="k-1")

        assert response.status_code == 201, response.content
        body = response.json()
        assert body["status"] == "pending"
        decision = body["decision"]
        assert {"mode", "rule", "explanation", "policy_version"} <= set(decision)
        assert decision["mode"] == "execute_gated"
        assert decision["rule"] == "refund-over-50-needs-approval"
        assert decision["explanation"] == (
            "refund 120.00 USD > 50.00 limit for agent `support-bot`: needs 1 approval"
        )
        assert isinstance(decision["policy_version"], int)
        assert Action.objects.get(pk=body["id"]).idempotency_key == "k-1"

    def test_a_replay_with_the_same_key_and_body_is_200_with_the_same_id(self, api):
        first = api.post(SUBMIT, refund_body(), format="json", HTTP_IDEMPOTENCY_KEY="k-1")
        events = AuditEvent.objects.count()

        again = api.post(SUBMIT, refund_body(), format="json", HTTP_IDEMPOTENCY_KEY="k-1")

        assert again.status_code == 200
        assert again.json()["id"] == first.json()["id"]
        assert again["Idempotent-Replayed"] == "true"
        assert Action.objects.count() == 1
        assert AuditEvent.objects.count() == events

    def test_two_submissions_without_a_key_are_two_actions(self, api):
        api.post(SUBMIT, refund_body(), format="json")
        api.post(SUBMIT, refund_body(), format="json")

        assert Action.objects.count() == 2

    def test_the_reason_code_catalog_lists_codes_by_kind(self, api):
        response = api.get("/api/v1/reason-codes/?kind=reject")

        assert response.status_code == 200
        codes = [c["code"] for c in response.json()["results"]]
        assert codes == [
            "duplicate-request",
            "insufficient-evidence",
            "outside-policy",
            "suspected-fraud",
        ]

    def test_a_policy_check_answers_only_the_mode_and_is_audited(self, api):
        actions, events = Action.objects.count(), AuditEvent.objects.count()

        response = api.post("/api/v1/policy/check/", refund_body(amount=60000), format="json")

        assert response.status_code == 200, response.content
        assert response.json() == {"mode": "escalate"}
        assert Action.objects.count() == actions
        assert AuditEvent.objects.count() == events + 1
        event = AuditEvent.objects.order_by("id").last()
        assert (event.verb, event.actor_kind) == ("policy.checked", "agent")
        assert (event.data["mode"], event.data["rule"]) == ("escalate", "refund-over-500-escalates")

    def test_a_policy_check_validates_params_like_a_submission(self, api):
        response = api.post("/api/v1/policy/check/", refund_body(amount=1.5), format="json")

        assert_error(response, 400, "invalid_params")


class TestSchemaAndDocs:
    def test_the_openapi_schema_is_served(self, api):
        response = api.get("/api/schema/")

        assert response.status_code == 200
        assert b"/api/v1/actions/" in response.content

    def test_the_docs_load_every_script_and_stylesheet_from_this_server(self, api):
        response = api.get("/api/docs/")

        assert response.status_code == 200
        html = response.content.decode()
        sources = re.findall(r'<(?:script|link)[^>]*?(?:src|href)="([^"]+)"', html)
        assert sources, "the docs page loads no assets?"
        for source in sources:
            host = urlsplit(source).netloc
            assert host in ("", "testserver"), f"external asset: {source}"
        assert not re.search(r"https?://(?!testserver)", html)


def test_services_and_api_share_the_idempotency_fingerprint(api, agent):
    # A retry through the API of an action first submitted through services is a replay.
    first = services.action_submit(
        agent=agent.agent,
        action_type="refund.issue",
        params=refund_params(12000),
        idempotency_key="k-1",
    )

    response = api.post(SUBMIT, refund_body(), format="json", HTTP_IDEMPOTENCY_KEY="k-1")

    assert response.status_code == 200
    assert response.json()["id"] == str(first.action.pk)
