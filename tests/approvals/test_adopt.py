"""Adopting, editing and dismissing recommendations and drafts: who may, with what, what runs."""

from __future__ import annotations

import json

import pytest

from approvals import services
from approvals.models import Action, Decision, Status
from audit.models import AuditEvent
from audit.services import Actor
from config.errors import ApplicationError
from policies.services import policy_publish
from sandbox.models import Refund
from tests.approvals.conftest import refund_params

pytestmark = pytest.mark.django_db

API = "/api/v1/actions/"


@pytest.fixture
def propose(demo, agent):
    """propose(amount, intent="recommend"|"draft") -> a recommended or drafted refund."""

    def make(amount: int = 3000, *, intent: str = "recommend") -> Action:
        return services.action_submit(
            agent=agent.agent, action_type="refund.issue", params=refund_params(amount),
            intent=intent,
        ).action  # fmt: skip

    return make


def events(action: Action, verb: str) -> list[AuditEvent]:
    return list(
        AuditEvent.objects.filter(object_type="action", object_id=str(action.pk), verb=verb)
    )


def refusal(call) -> ApplicationError:
    with pytest.raises(ApplicationError) as refused:
        call()
    return refused.value


# ---------------------------------------------------------------------------------------------
# adopt


class TestAdopt:
    def test_an_adopted_recommendation_executes_under_the_adopters_authority(
        self, propose, supervisor, enqueued, django_capture_on_commit_callbacks
    ):
        action = propose(3000)

        with django_capture_on_commit_callbacks(execute=True):
            adopted = services.action_adopt(
                action_id=action.pk, by=supervisor, reason_code="goodwill", note="fine"
            )
        services.action_execute(action_id=action.pk)

        assert adopted.status == Status.APPROVED
        assert enqueued == [str(action.pk)]
        (event,) = events(action, "action.adopted")
        assert (event.actor_kind, event.actor_id) == ("user", str(supervisor.pk))
        assert event.data["authority"]["mode"] == "execute_limited"
        assert event.data["reason_code"] == "goodwill"
        decision = Decision.objects.get(action=action)
        assert (decision.kind, decision.by, decision.reason_code.code) == (
            "adopt",
            supervisor,
            "goodwill",
        )
        assert Action.objects.get(pk=action.pk).status == Status.SUCCEEDED
        assert Refund.objects.filter(action_id=action.pk).count() == 1

    def test_adopting_needs_the_role_the_policy_names(self, propose, make_supervisor, enqueued):
        action = propose(3000)
        reviewer = make_supervisor("quinn", role="qa_reviewer")

        error = refusal(lambda: services.action_adopt(action_id=action.pk, by=reviewer))

        assert (error.status_code, error.code) == (403, "missing_role")
        assert Action.objects.get(pk=action.pk).status == Status.RECOMMENDED

    def test_an_operator_of_the_agent_cannot_adopt_its_recommendation(self, propose, supervisor):
        action = propose(3000)
        action.agent.operators.add(supervisor)

        error = refusal(lambda: services.action_adopt(action_id=action.pk, by=supervisor))

        assert error.code == "own_request"

    def test_a_pending_action_is_approved_not_adopted(self, submit, supervisor):
        action = submit(12000)

        error = refusal(lambda: services.action_adopt(action_id=action.pk, by=supervisor))

        assert (error.status_code, error.code) == (409, "not_a_proposal")

    def test_an_adoption_of_a_stale_view_is_refused(self, propose, supervisor):
        action = propose(3000)

        error = refusal(
            lambda: services.action_adopt(action_id=action.pk, by=supervisor, expected_version=7)
        )

        assert error.code == "stale_version"

    def test_a_recommendation_the_policy_now_escalates_cannot_be_adopted(self, propose, supervisor):
        action = propose(3000)
        policy_publish(
            rules=[{"name": "refunds-escalate", "action_type": "refund.*", "mode": "escalate"}],
            actor=Actor.system("test"),
        )

        error = refusal(lambda: services.action_adopt(action_id=action.pk, by=supervisor))

        assert (error.status_code, error.code) == (403, "policy_refuses")
        assert error.details == {"mode": "escalate", "rule": "refunds-escalate"}
        assert Action.objects.get(pk=action.pk).status == Status.RECOMMENDED

    def test_adopting_what_the_policy_gates_for_two_people_waits_for_a_second_approval(
        self, demo, propose, make_supervisor, enqueued, django_capture_on_commit_callbacks
    ):
        policy_publish(
            rules=[
                {
                    "name": "two-people",
                    "action_type": "refund.issue",
                    "mode": "execute_gated",
                    "approvals_required": 2,
                }
            ],
            actor=Actor.system("test"),
        )
        action = propose(3000)
        alice, bob = make_supervisor("alice"), make_supervisor("bob")

        with django_capture_on_commit_callbacks(execute=True):
            adopted = services.action_adopt(action_id=action.pk, by=alice)
        twice = refusal(lambda: services.action_approve(action_id=action.pk, by=alice))
        with django_capture_on_commit_callbacks(execute=True):
            approved = services.action_approve(action_id=action.pk, by=bob)

        assert (adopted.status, adopted.approvals_required) == (Status.PENDING, 2)
        assert twice.code == "already_approved"
        assert approved.status == Status.APPROVED
        assert enqueued == [str(action.pk)]

    def test_adopting_through_the_api_is_for_people_not_agents(self, propose, agent):
        action = propose(3000)

        response = agent.client().post(f"{API}{action.pk}/adopt/", {}, format="json")

        assert response.status_code == 403
        assert Action.objects.get(pk=action.pk).status == Status.RECOMMENDED


# ---------------------------------------------------------------------------------------------
# dismiss


class TestDismiss:
    def test_dismissing_requires_a_reason_code(self, propose, supervisor):
        action = propose(3000)

        error = refusal(
            lambda: services.action_dismiss(action_id=action.pk, by=supervisor, reason_code=None)
        )

        assert (error.status_code, error.code) == (400, "reason_code_required")
        assert Action.objects.get(pk=action.pk).status == Status.RECOMMENDED
        assert not Decision.objects.filter(action=action).exists()

    def test_a_reason_code_for_approving_does_not_dismiss(self, propose, supervisor):
        action = propose(3000)

        error = refusal(
            lambda: services.action_dismiss(
                action_id=action.pk, by=supervisor, reason_code="verified-eligible"
            )
        )

        assert error.code == "unknown_reason_code"

    def test_a_dismissed_draft_is_final_and_audited_as_the_person(
        self, propose, supervisor, enqueued, django_capture_on_commit_callbacks
    ):
        action = propose(3000, intent="draft")

        with django_capture_on_commit_callbacks(execute=True):
            dismissed = services.action_dismiss(
                action_id=action.pk, by=supervisor, reason_code="duplicate-request"
            )

        assert dismissed.status == Status.DISMISSED
        assert enqueued == []
        (event,) = events(action, "action.dismissed")
        assert (event.actor_kind, event.actor_id) == ("user", str(supervisor.pk))
        assert Decision.objects.get(action=action).kind == "dismiss"
        error = refusal(lambda: services.action_adopt(action_id=action.pk, by=supervisor))
        assert error.code == "not_a_proposal"

    def test_dismissing_through_the_api_without_a_reason_is_400(self, propose, csrf_client):
        action = propose(3000)

        response = csrf_client.post(f"{API}{action.pk}/dismiss/", {}, format="json")

        assert response.status_code == 400
        assert response.json()["error"]["code"] == "reason_code_required"


# ---------------------------------------------------------------------------------------------
# edit (drafts)


class TestEditDraft:
    def test_an_edit_keeps_the_agents_params_and_stores_the_final_ones(self, propose, supervisor):
        action = propose(3000, intent="draft")
        corrected = refund_params(2000)

        edited = services.action_edit(
            action_id=action.pk, by=supervisor, params=corrected, reason_code="amount-corrected"
        )

        fresh = Action.objects.get(pk=action.pk)
        assert (fresh.params, fresh.final_params) == (refund_params(3000), corrected)
        assert (fresh.status, fresh.version, fresh.amount) == (Status.DRAFTED, 2, 2000)
        assert edited.effective_params == corrected
        (event,) = events(action, "action.edited")
        assert (event.actor_kind, event.data["before"], event.data["after"]) == (
            "user",
            refund_params(3000),
            corrected,
        )

    def test_an_edit_is_validated_against_the_action_types_schema(self, propose, supervisor):
        action = propose(3000, intent="draft")

        error = refusal(
            lambda: services.action_edit(
                action_id=action.pk,
                by=supervisor,
                params={**refund_params(2000), "amount": "20.00"},
                reason_code="amount-corrected",
            )
        )

        assert (error.status_code, error.code) == (400, "invalid_params")
        assert Action.objects.get(pk=action.pk).final_params is None

    @pytest.mark.parametrize(
        ("reason_code", "code"),
        [(None, "reason_code_required"), ("goodwill", "unknown_reason_code")],
    )
    def test_an_edit_needs_a_reason_code_of_kind_edit(self, propose, supervisor, reason_code, code):
        action = propose(3000, intent="draft")

        error = refusal(
            lambda: services.action_edit(
                action_id=action.pk,
                by=supervisor,
                params=refund_params(2000),
                reason_code=reason_code,
            )
        )

        assert error.code == code
        assert Action.objects.get(pk=action.pk).final_params is None

    def test_a_recommendation_is_not_edited(self, propose, supervisor):
        action = propose(3000, intent="recommend")

        error = refusal(
            lambda: services.action_edit(
                action_id=action.pk,
                by=supervisor,
                params=refund_params(2000),
                reason_code="amount-corrected",
            )
        )

        assert (error.status_code, error.code) == (409, "not_a_draft")

    def test_an_edit_that_raises_the_stakes_needs_the_authority_the_new_params_require(
        self, propose, supervisor
    ):
        action = propose(3000, intent="draft")
        services.action_edit(
            action_id=action.pk,
            by=supervisor,
            params=refund_params(60000),
            reason_code="amount-corrected",
        )

        error = refusal(lambda: services.action_adopt(action_id=action.pk, by=supervisor))

        assert (error.status_code, error.code) == (403, "policy_refuses")
        assert error.details["mode"] == "escalate"
        assert Action.objects.get(pk=action.pk).status == Status.DRAFTED

    def test_an_adopted_edit_executes_the_edited_params(
        self, propose, supervisor, django_capture_on_commit_callbacks, enqueued
    ):
        action = propose(3000, intent="draft")
        services.action_edit(
            action_id=action.pk,
            by=supervisor,
            params=refund_params(1234),
            reason_code="amount-corrected",
        )
        with django_capture_on_commit_callbacks(execute=True):
            services.action_adopt(action_id=action.pk, by=supervisor)

        services.action_execute(action_id=action.pk)

        assert Refund.objects.get(action_id=action.pk).amount == 1234

    def test_editing_through_the_api_with_bad_params_is_400_invalid_params(
        self, propose, csrf_client
    ):
        action = propose(3000, intent="draft")

        response = csrf_client.post(
            f"{API}{action.pk}/edit/",
            {"params": {"order_id": "ORD-1001"}, "reason_code": "amount-corrected"},
            format="json",
        )

        assert response.status_code == 400
        assert response.json()["error"]["code"] == "invalid_params"


# ---------------------------------------------------------------------------------------------
# the dashboard


class TestDashboard:
    @pytest.fixture
    def browser(self, supervisor, client):
        client.force_login(supervisor)
        return client

    def test_recommendations_and_drafts_are_listed_with_their_controls(self, propose, browser):
        recommended = propose(3000, intent="recommend")
        drafted = propose(2500, intent="draft")

        html = browser.get("/").content.decode()

        assert f'id="action-{recommended.pk}"' in html
        assert f"/actions/{recommended.pk}/adopt/" in html
        assert f"/actions/{recommended.pk}/dismiss/" in html
        assert f"/actions/{recommended.pk}/edit/" not in html
        assert f"/actions/{drafted.pk}/edit/" in html
        assert f"/actions/{drafted.pk}/adopt/" in html

    def test_adopting_from_the_dashboard_answers_the_updated_row(
        self, propose, browser, supervisor, enqueued, django_capture_on_commit_callbacks
    ):
        action = propose(3000)
        browser.get("/")

        with django_capture_on_commit_callbacks(execute=True):
            response = browser.post(
                f"/actions/{action.pk}/adopt/",
                {"expected_version": "1"},
                HTTP_HX_REQUEST="true",
            )

        assert response.status_code == 200
        assert 'data-status="approved"' in response.content.decode()
        assert enqueued == [str(action.pk)]

    def test_editing_a_draft_from_the_dashboard_validates_the_params(self, propose, browser):
        action = propose(3000, intent="draft")

        edited = {**refund_params(3000), "amount": 2000}

        refused = browser.post(
            f"/actions/{action.pk}/edit/",
            {
                "params": json.dumps({**edited, "amount": "20.00"}),
                "reason_code": "amount-corrected",
            },
            HTTP_HX_REQUEST="true",
        )
        accepted = browser.post(
            f"/actions/{action.pk}/edit/",
            {"params": json.dumps(edited), "reason_code": "amount-corrected"},
            HTTP_HX_REQUEST="true",
        )
        fresh = Action.objects.get(pk=action.pk)

        assert refused.status_code == 400
        assert refused["HX-Retarget"] == "#flash"
        assert accepted.status_code == 200, accepted.content
        assert (fresh.params, fresh.final_params) == (refund_params(3000), edited)

    def test_a_dashboard_edit_that_is_not_json_is_refused_in_words(self, propose, browser):
        action = propose(3000, intent="draft")

        response = browser.post(
            f"/actions/{action.pk}/edit/",
            {"params": "{amount: 20", "reason_code": "amount-corrected"},
            HTTP_HX_REQUEST="true",
        )

        assert response.status_code == 400
        assert "JSON" in response.content.decode()
        assert Action.objects.get(pk=action.pk).final_params is None
