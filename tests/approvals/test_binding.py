"""Approvals bound to what executes: the hash of the exact params and the version each approval
saw; execution refuses params no counted approval was given for; a decision counts once."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group

from approvals import services
from approvals.models import Action, Decision, DecisionKind, Status, params_digest
from audit.models import AuditEvent
from config.errors import ApplicationError, Code
from escalations import services as escalation_services
from escalations.models import Escalation
from sandbox.models import Refund
from tests.approvals.conftest import refund_params

pytestmark = pytest.mark.django_db

RESET = {"customer_id": "CUS-1001", "channel": "email"}


@pytest.fixture
def alice(make_supervisor):
    return make_supervisor("alice")


@pytest.fixture
def bob(make_supervisor):
    return make_supervisor("bob")


@pytest.fixture
def carol(make_supervisor):
    return make_supervisor("carol")


@pytest.fixture
def reset(submit, enqueued):
    """A credentials reset: the demo policy wants two supervisors to approve it."""
    action = submit(action_type="credentials.reset", params=RESET)
    assert (action.status, action.approvals_required) == (Status.PENDING, 2)
    return action


def approve(action, by, **kwargs) -> Action:
    return services.action_approve(action_id=action.pk, by=by, confirm_irreversible=True, **kwargs)


def tamper(action, **params) -> None:
    """A write that bypasses the services (a console, a leaked database credential)."""
    Action.objects.filter(pk=action.pk).update(final_params={**action.effective_params, **params})


def code_of(fn) -> Code:
    with pytest.raises(ApplicationError) as caught:
        fn()
    return caught.value.code


class TestAnApprovalIsBoundToTheParamsItSaw:
    def test_an_approval_records_the_hash_of_the_params_and_the_version_it_saw(
        self, submit, alice, enqueued
    ):
        action = submit(12000)

        approve(action, alice)

        decision = Decision.objects.get(action=action, kind=DecisionKind.APPROVE)
        assert decision.params_hash == params_digest(refund_params(12000))
        assert decision.action_version == action.version  # the version the approver saw
        event = AuditEvent.objects.get(verb="action.approved", object_id=str(action.pk))
        assert event.data["params_hash"] == decision.params_hash

    def test_the_hash_is_of_canonical_json_so_key_order_does_not_change_it(self):
        assert params_digest({"a": 1, "b": "é"}) == params_digest({"b": "é", "a": 1})
        assert params_digest({"a": 1}) != params_digest({"a": 2})


class TestExecutionRefusesParamsNobodyApproved:
    def test_params_changed_in_the_database_after_approval_fail_closed_and_never_execute(
        self, submit, alice, enqueued
    ):
        action = submit(12000)
        approve(action, alice)
        tamper(action, amount=49000)

        executed = services.action_execute(action_id=action.pk)

        assert executed is None
        action.refresh_from_db()
        assert action.status == Status.FAILED
        assert action.attempts == 0
        assert action.error["code"] == "params_not_approved"
        assert not Refund.objects.filter(order__order_id="ORD-1001").exists()
        failed = AuditEvent.objects.get(verb="action.failed", object_id=str(action.pk))
        assert failed.data["error"]["code"] == "params_not_approved"
        assert failed.data["from"] == "approved"
        assert not AuditEvent.objects.filter(
            verb="action.execution_started", object_id=str(action.pk)
        ).exists()

    def test_the_params_that_were_approved_execute(self, submit, alice, enqueued):
        action = submit(12000)
        approve(action, alice)

        executed = services.action_execute(action_id=action.pk)

        assert executed.status == Status.SUCCEEDED
        assert Refund.objects.filter(order__order_id="ORD-1001", amount=12000).count() == 1

    def test_params_changed_between_two_attempts_are_refused_before_the_retry(
        self, submit, alice, enqueued
    ):
        action = submit(12000)
        approve(action, alice)
        Action.objects.filter(pk=action.pk).update(
            status=Status.EXECUTING, attempts=1, lease_owner="", lease_expires_at=None
        )
        tamper(action, amount=49000)

        services.action_execute(action_id=action.pk)

        action.refresh_from_db()
        assert (action.status, action.error["code"]) == (Status.FAILED, "params_not_approved")
        assert not Refund.objects.filter(order__order_id="ORD-1001").exists()

    def test_params_put_back_after_an_edit_are_refused_though_an_earlier_approval_saw_them(
        self, reset, alice, bob, carol
    ):
        approve(reset, alice)
        services.action_edit(
            action_id=reset.pk, by=bob, params={**RESET, "channel": "sms"},
            reason_code="wrong-target",
        )  # fmt: skip
        approve(reset, carol)
        reset.refresh_from_db()
        assert reset.status == Status.APPROVED
        Action.objects.filter(pk=reset.pk).update(final_params=RESET)  # what alice approved

        services.action_execute(action_id=reset.pk)

        reset.refresh_from_db()
        assert (reset.status, reset.error["code"]) == (Status.FAILED, "params_not_approved")


class TestOnlyApprovalsOfTheCurrentParamsCount:
    def test_an_approval_made_before_an_edit_does_not_count_for_the_edited_params(
        self, reset, alice, bob, carol
    ):
        approve(reset, alice)

        edited = services.action_edit(
            action_id=reset.pk, by=bob, params={**RESET, "channel": "sms"},
            reason_code="wrong-target",
        )  # fmt: skip

        assert edited.status == Status.PENDING
        event = AuditEvent.objects.get(verb="action.edited", object_id=str(reset.pk))
        assert (event.data["approvals"], event.data["required"]) == (1, 2)  # bob's, not alice's
        approved = approve(reset, carol)
        assert approved.status == Status.APPROVED

    def test_params_changed_in_the_database_while_pending_void_the_approvals_given_before(
        self, reset, alice, bob, carol
    ):
        approve(reset, alice)
        tamper(reset, customer_id="CUS-9999")

        second = approve(reset, bob)

        assert second.status == Status.PENDING  # alice approved CUS-1001, not CUS-9999
        third = approve(reset, carol)
        assert third.status == Status.APPROVED


class TestADecisionCountsOnce:
    def test_a_replayed_approval_is_refused_and_counts_once(self, reset, alice):
        first = approve(reset, alice)

        assert code_of(lambda: approve(reset, alice)) == Code.ALREADY_APPROVED
        assert (
            code_of(lambda: approve(reset, alice, expected_version=first.version - 1))
            == Code.STALE_VERSION
        )

        reset.refresh_from_db()
        assert reset.status == Status.PENDING
        assert Decision.objects.filter(action=reset, kind=DecisionKind.APPROVE).count() == 1

    def test_a_replayed_approval_over_the_api_counts_once(self, reset, alice, bob):
        from rest_framework.test import APIClient

        client = APIClient()
        client.force_login(alice)
        url = f"/api/v1/actions/{reset.pk}/approve/"
        body = {"confirm_irreversible": True}

        responses = [client.post(url, body, format="json") for _ in range(2)]

        assert [r.status_code for r in responses] == [200, 409]
        assert responses[1].json()["error"]["code"] == "already_approved"
        assert Decision.objects.filter(action=reset, kind=DecisionKind.APPROVE).count() == 1

    def test_a_handler_who_approved_before_the_escalation_is_not_counted_twice(
        self, reset, alice, bob, enqueued
    ):
        alice.groups.add(Group.objects.get(name="l1-lead"))
        approve(reset, alice)
        services.action_escalate(action_id=reset.pk, by=bob, reason_code="needs-specialist")
        case = Escalation.objects.get(action=reset)

        escalation_services.case_resolve(case_id=case.pk, by=alice, outcome="approved")

        reset.refresh_from_db()
        assert reset.status == Status.PENDING  # still one of the two approvals it needs
        assert Decision.objects.filter(action=reset, kind=DecisionKind.APPROVE).count() == 1
        assert enqueued == []
