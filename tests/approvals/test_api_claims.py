"""Claiming and releasing through the API: people only, with CSRF, in their queues; the claim."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from rest_framework.test import APIClient

from approvals import services
from approvals.models import Action
from tests.approvals.conftest import refund_params
from tests.approvals.test_api import UNKNOWN_ID, assert_error

pytestmark = pytest.mark.django_db

API = "/api/v1/actions/"
NOBODY = {"claimed_by": None, "claim_expires_at": None}


@pytest.fixture
def pending(submit) -> Action:
    return submit(12000)


def session_client(user) -> APIClient:
    """A browser-like session client of `user` that sends its CSRF token, as the dashboard does."""
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(user)
    client.get("/accounts/login/")
    client.credentials(HTTP_X_CSRFTOKEN=client.cookies["csrftoken"].value)
    return client


class TestClaimEndpoint:
    def test_claiming_answers_the_action_with_its_claim(self, pending, csrf_client):
        response = csrf_client.post(f"{API}{pending.pk}/claim/", {}, format="json")

        assert response.status_code == 200, response.content
        body = response.json()
        fresh = Action.objects.get(pk=pending.pk)
        assert body["claim"]["claimed_by"] == "alice"
        assert body["claim"]["claim_expires_at"] is not None
        assert fresh.claimed_by.username == "alice"
        assert (body["id"], body["status"], body["version"]) == (str(pending.pk), "pending", 1)
        assert {"decision", "approvals", "escalation"} <= set(body)

    def test_someone_elses_live_claim_is_409_with_who_and_until_when(
        self, pending, csrf_client, make_supervisor
    ):
        csrf_client.post(f"{API}{pending.pk}/claim/", {}, format="json")
        bob = session_client(make_supervisor("bob"))

        response = bob.post(f"{API}{pending.pk}/claim/", {}, format="json")

        error = assert_error(response, 409, "claimed_by_other")
        assert error["details"]["claimed_by"] == "alice"
        assert error["details"]["claim_expires_at"]

    def test_a_senior_supervisor_takes_over_with_a_reason(
        self, pending, csrf_client, make_supervisor
    ):
        csrf_client.post(f"{API}{pending.pk}/claim/", {}, format="json")
        senior = session_client(make_supervisor("sam", role="senior_supervisor"))

        response = senior.post(
            f"{API}{pending.pk}/claim/", {"takeover_reason": "alice is off shift"}, format="json"
        )

        assert response.status_code == 200, response.content
        assert response.json()["claim"]["claimed_by"] == "sam"

    def test_a_plain_supervisor_taking_over_is_403_takeover_needs_senior(
        self, pending, csrf_client, make_supervisor
    ):
        csrf_client.post(f"{API}{pending.pk}/claim/", {}, format="json")
        bob = session_client(make_supervisor("bob"))

        response = bob.post(
            f"{API}{pending.pk}/claim/", {"takeover_reason": "mine now"}, format="json"
        )

        assert_error(response, 403, "takeover_needs_senior")

    def test_an_unknown_field_is_400(self, pending, csrf_client):
        response = csrf_client.post(f"{API}{pending.pk}/claim/", {"minutes": 60}, format="json")

        assert_error(response, 400, "invalid_input")

    def test_claiming_a_decided_action_is_409_not_awaiting(self, pending, csrf_client):
        csrf_client.post(f"{API}{pending.pk}/approve/", {}, format="json")

        response = csrf_client.post(f"{API}{pending.pk}/claim/", {}, format="json")

        assert_error(response, 409, "not_awaiting")


class TestReleaseEndpoint:
    def test_releasing_ones_claim_answers_the_action_unclaimed(self, pending, csrf_client):
        csrf_client.post(f"{API}{pending.pk}/claim/", {}, format="json")

        response = csrf_client.post(f"{API}{pending.pk}/release/", {}, format="json")

        assert response.status_code == 200, response.content
        assert response.json()["claim"] == NOBODY
        assert Action.objects.get(pk=pending.pk).claimed_by is None

    def test_releasing_an_unclaimed_action_is_200_and_changes_nothing(self, pending, csrf_client):
        response = csrf_client.post(f"{API}{pending.pk}/release/", {}, format="json")

        assert response.status_code == 200, response.content
        assert response.json()["claim"] == NOBODY

    def test_releasing_someone_elses_claim_is_409(self, pending, csrf_client, make_supervisor):
        csrf_client.post(f"{API}{pending.pk}/claim/", {}, format="json")
        bob = session_client(make_supervisor("bob"))

        response = bob.post(f"{API}{pending.pk}/release/", {}, format="json")

        assert_error(response, 409, "claimed_by_other")


class TestWhoMayClaim:
    @pytest.mark.parametrize("verb", ["claim", "release"])
    def test_an_agent_is_403(self, pending, agent, verb):
        response = agent.client().post(f"{API}{pending.pk}/{verb}/", {}, format="json")

        assert_error(response, 403, "forbidden")
        assert Action.objects.get(pk=pending.pk).claimed_by is None

    @pytest.mark.parametrize("verb", ["claim", "release"])
    def test_a_session_without_a_csrf_token_is_403(self, pending, supervisor_client, verb):
        response = supervisor_client.post(f"{API}{pending.pk}/{verb}/", {}, format="json")

        assert_error(response, 403, "forbidden")
        assert Action.objects.get(pk=pending.pk).claimed_by is None

    @pytest.mark.parametrize("verb", ["claim", "release"])
    def test_someone_signed_out_is_401(self, pending, verb):
        response = APIClient().post(f"{API}{pending.pk}/{verb}/", {}, format="json")

        assert_error(response, 401, "unauthenticated")
        assert Action.objects.get(pk=pending.pk).claimed_by is None

    @pytest.mark.parametrize("verb", ["claim", "release"])
    @pytest.mark.parametrize("action_id", [UNKNOWN_ID, "not-a-uuid"])
    def test_an_unknown_id_is_404(self, demo, csrf_client, verb, action_id):
        response = csrf_client.post(f"{API}{action_id}/{verb}/", {}, format="json")

        assert_error(response, 404, "action_not_found")

    @pytest.mark.parametrize("verb", ["claim", "release"])
    def test_an_action_outside_ones_queues_is_404(self, pending, make_supervisor, verb):
        outsider = session_client(make_supervisor("olga", queues=["Account security"]))

        response = outsider.post(f"{API}{pending.pk}/{verb}/", {}, format="json")

        assert_error(response, 404, "action_not_found")


class TestClaimInTheOutput:
    def test_an_unclaimed_action_reads_as_nobodys(self, pending, agent):
        body = agent.client().get(f"{API}{pending.pk}/").json()

        assert body["claim"] == NOBODY

    def test_a_live_claim_reads_with_holder_and_expiry(self, pending, supervisor, agent):
        services.action_claim(action_id=pending.pk, by=supervisor)
        until = Action.objects.get(pk=pending.pk).claim_expires_at

        body = agent.client().get(f"{API}{pending.pk}/").json()

        assert body["claim"]["claimed_by"] == "alice"
        assert body["claim"]["claim_expires_at"].replace("Z", "+00:00") == until.isoformat()

    def test_an_expired_claim_reads_as_nobodys(self, pending, supervisor, agent, frozen_clock):
        services.action_claim(action_id=pending.pk, by=supervisor)
        frozen_clock.shift(timedelta(seconds=settings.COUNTERSIGN["CLAIM_SECONDS"] + 1))

        body = agent.client().get(f"{API}{pending.pk}/").json()

        assert body["claim"] == NOBODY


@pytest.mark.django_db
def test_a_person_reads_what_they_may_do_to_an_action_from_the_rulebook(
    demo, agent, make_supervisor
):
    # Arrange: a pending refund, and two people: one holds the claim
    action = agent.client().post(
        "/api/v1/actions/", {"action_type": "refund.issue", "params": refund_params(12000)},
        format="json",
    ).json()  # fmt: skip
    holder, other = make_supervisor("holder"), make_supervisor("other")
    services.action_claim(action_id=action["id"], by=holder)
    client = APIClient()
    client.force_authenticate(other)

    # Act
    may = client.get(f"/api/v1/actions/{action['id']}/").json()["may"]

    # Assert: the claim keeps their hands off; the role lets them take nothing over
    assert may["approve"] == {"allowed": False, "code": "claimed_by_other"}
    assert may["take_over"] == {"allowed": False, "code": "takeover_needs_senior"}
    assert may["adopt"] == {"allowed": False, "code": "not_a_proposal"}
    assert may["claim"] == {"allowed": True, "code": None}


def test_an_agent_is_not_told_what_people_may_do(demo, agent):
    action = agent.client().post(
        "/api/v1/actions/", {"action_type": "refund.issue", "params": refund_params(12000)},
        format="json",
    ).json()  # fmt: skip

    assert "may" not in agent.client().get(f"/api/v1/actions/{action['id']}/").json()
