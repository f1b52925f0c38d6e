"""Sensitive data kept only where execution needs it: the action's params stay whole for the
executor, while audit events and callback payloads mask what the action type's schema marks
`x-sensitive` and card numbers, emails and phones in free text."""

from __future__ import annotations

import json

import pytest

from approvals import services
from approvals.models import Action, CallbackDelivery, Status
from audit.models import AuditEvent
from sandbox.models import Order
from tests.approvals.conftest import refund_params

pytestmark = pytest.mark.django_db

CARD = "4111 1111 1111 1111"  # passes the Luhn check
NOT_A_CARD = "4111 1111 1111 1112"  # fails it
HOME = {"line1": "221B Baker Street", "postal_code": "NW1 6XE", "city": "London", "country": "GB"}
CALLBACK_URL = "http://127.0.0.1:9/hooks/countersign"


@pytest.fixture
def submit_with_callback(demo, agent):
    def make(action_type: str, params: dict, context: dict | None = None) -> Action:
        return services.action_submit(
            agent=agent.agent, action_type=action_type, params=params, context=context or {},
            callback_url=CALLBACK_URL,
        ).action  # fmt: skip

    return make


def event(action, verb: str) -> dict:
    return AuditEvent.objects.get(object_type="action", object_id=str(action.pk), verb=verb).data


def payload(action, event_name: str) -> dict:
    return CallbackDelivery.objects.get(action=action, event=event_name).payload


def everything_kept(action) -> str:
    """Every audit event and callback payload of `action`, as one text to search."""
    events = AuditEvent.objects.filter(object_type="action", object_id=str(action.pk))
    payloads = CallbackDelivery.objects.filter(action=action)
    return json.dumps([e.data for e in events] + [p.payload for p in payloads])


class TestSchemaMarkedFields:
    def test_a_marked_field_is_masked_in_audit_and_callbacks_but_the_executor_gets_it(
        self, submit_with_callback, supervisor, enqueued
    ):
        # Arrange
        action = submit_with_callback("address.change", {"order_id": "ORD-1002", "address": HOME})
        assert action.status == Status.PENDING

        # Act
        services.action_approve(action_id=action.pk, by=supervisor)
        executed = services.action_execute(action_id=action.pk)

        # Assert: executed with the whole address, which the action's row keeps
        assert executed.status == Status.SUCCEEDED
        assert Order.objects.get(order_id="ORD-1002").shipping_address == HOME
        action.refresh_from_db()
        assert action.params["address"] == HOME
        # ...while the audit log and the callbacks keep the city and country only
        masked = {**HOME, "line1": "[address]", "postal_code": "[address]"}
        assert event(action, "action.submitted")["params"]["address"] == masked
        assert payload(action, "approved")["decision"]["params"]["address"] == masked
        result = event(action, "action.succeeded")["result"]
        assert result["shipping_address"]["line1"] == "[address]"  # the executor echoed it
        assert payload(action, "succeeded")["result"]["shipping_address"]["line1"] == "[address]"
        kept = everything_kept(action)
        assert "Baker" not in kept and "NW1 6XE" not in kept

    def test_an_edit_of_a_marked_field_masks_the_old_and_the_new_value(
        self, submit_with_callback, supervisor, enqueued
    ):
        action = submit_with_callback("address.change", {"order_id": "ORD-1002", "address": HOME})
        moved = {**HOME, "line1": "10 Downing Street"}

        services.action_edit(
            action_id=action.pk, by=supervisor, params={"order_id": "ORD-1002", "address": moved},
            reason_code="wrong-target", note="the customer moved from 221B Baker Street",
        )  # fmt: skip

        edited = event(action, "action.edited")
        assert edited["before"]["address"]["line1"] == "[address]"
        assert edited["after"]["address"]["line1"] == "[address]"
        assert edited["note"] == "the customer moved from [address]"
        kept = everything_kept(action)
        assert "Baker" not in kept and "Downing" not in kept


class TestFreeText:
    def test_a_card_number_with_a_valid_luhn_is_masked_in_the_audit_event_and_callback_payload(
        self, submit_with_callback, supervisor, enqueued
    ):
        params = {**refund_params(12000), "reason": f"charged twice on {CARD}"}
        action = submit_with_callback("refund.issue", params, context={"card": f"it was {CARD}"})

        services.action_approve(action_id=action.pk, by=supervisor)

        assert event(action, "action.submitted")["params"]["reason"] == (
            "charged twice on [card ****1111]"
        )
        assert payload(action, "approved")["decision"]["params"]["reason"] == (
            "charged twice on [card ****1111]"
        )
        assert CARD not in everything_kept(action)
        action.refresh_from_db()
        assert action.params["reason"] == f"charged twice on {CARD}"  # for the executor

    def test_a_digit_string_failing_the_luhn_check_is_left_alone(
        self, submit_with_callback, supervisor, enqueued
    ):
        params = {**refund_params(12000), "reason": f"ticket {NOT_A_CARD}"}
        action = submit_with_callback("refund.issue", params)

        services.action_approve(action_id=action.pk, by=supervisor)

        assert event(action, "action.submitted")["params"]["reason"] == f"ticket {NOT_A_CARD}"
        assert payload(action, "approved")["decision"]["params"]["reason"] == (
            f"ticket {NOT_A_CARD}"
        )

    def test_an_email_and_a_phone_number_in_a_note_are_masked_in_the_audit_event(
        self, submit_with_callback, supervisor, enqueued
    ):
        action = submit_with_callback("refund.issue", refund_params(12000))

        services.action_reject(
            action_id=action.pk, by=supervisor, reason_code="outside-policy",
            note="Customer asks to be told at ada@example.com or (555) 123-4567.",
        )  # fmt: skip

        rejected = event(action, "action.rejected")
        assert rejected["note"] == "Customer asks to be told at [email] or [phone]."
        assert "ada@example.com" not in everything_kept(action)
