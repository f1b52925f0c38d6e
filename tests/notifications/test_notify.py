"""notify(): which subscriptions hear of an event, rows written in the caller's transaction and
sent on commit, digests held back, and the submit path telling a queue of a new pending action."""

from __future__ import annotations

from unittest import mock

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from approvals.models import Status
from audit.events import Verb
from audit.models import AuditEvent
from notifications.events import Event
from notifications.models import Delivery, DeliveryStatus
from notifications.services import notify
from tests.approvals.conftest import refund_params


def tell(**overrides) -> int:
    fields = {
        "event": Event.ACTION_PENDING,
        "subject": "Pending approval: Refund of 120.00 USD",
        "text": "Refund of 120.00 USD waits for 1 approval in Refunds.",
        "path": "/actions/1/",
        "queue": "Refunds",
        "amount": 12000,
        "currency": "USD",
    }
    return notify(**{**fields, **overrides})


def told_subscriptions() -> list[int]:
    return list(Delivery.objects.order_by("id").values_list("subscription_id", flat=True))


@pytest.mark.django_db
def test_only_active_subscriptions_of_the_event_and_the_queue_hear_of_it(subscribe, told):
    # Arrange
    hears = subscribe("Refunds", target="a@example.test")
    subscribe("Account security", target="b@example.test")  # another queue
    subscribe("Refunds", target="c@example.test", events=["case.opened"])  # another event
    subscribe("Refunds", target="d@example.test", is_active=False)  # turned off
    subscribe("Refunds", scope="tier", target="e@example.test")  # a tier named like the queue

    # Act
    with transaction.atomic():
        written = tell()

    # Assert
    assert written == 1
    assert told_subscriptions() == [hears.pk]


@pytest.mark.django_db
def test_a_case_event_reaches_the_subscribers_of_its_tier_and_of_its_queue_once_each(
    subscribe, person, told
):
    # Arrange: alice listens to the tier and to the queue; a team address to the tier
    alice = person("alice")
    by_tier = subscribe("l1-lead", scope="tier", user=alice, events=["case.opened"])
    subscribe("Escalations", user=alice, events=["case.opened"])
    team = subscribe("l1-lead", scope="tier", target="leads@example.test", events=["case.opened"])

    # Act
    written = tell(event=Event.CASE_OPENED, queue="Escalations", tier="l1-lead", amount=None)

    # Assert: alice is told once
    assert written == 2
    assert told_subscriptions() == [by_tier.pk, team.pk]


@pytest.mark.django_db
def test_a_pending_action_reaches_only_subscriptions_whose_amount_it_reaches(subscribe, told):
    # Arrange
    any_amount = subscribe("Refunds", target="any@example.test")
    at_100 = subscribe("Refunds", target="100@example.test", min_amount=10000)
    subscribe("Refunds", target="500@example.test", min_amount=50000)

    # Act
    tell(amount=12000)
    tell(amount=None, path="/actions/2/")  # an action without an amount

    # Assert
    assert told_subscriptions() == [any_amount.pk, at_100.pk, any_amount.pk]


@pytest.mark.django_db
def test_an_amount_threshold_does_not_hold_back_other_events(subscribe, told):
    subscribe("Refunds", target="x@example.test", events=["action.pending", "sla.warning"],
              min_amount=50000)  # fmt: skip

    assert tell(event=Event.SLA_WARNING, amount=100) == 1


@pytest.mark.django_db
def test_the_rows_are_enqueued_by_id_only_when_the_callers_transaction_commits(
    subscribe, told, django_capture_on_commit_callbacks
):
    # Arrange
    one, two = subscribe(target="a@example.test"), subscribe(target="b@example.test")

    # Act
    with django_capture_on_commit_callbacks(execute=True) as callbacks, transaction.atomic():
        tell()
        assert told == []  # nothing leaves before the commit

    # Assert
    rows = list(Delivery.objects.order_by("id"))
    assert [r.subscription_id for r in rows] == [one.pk, two.pk]
    assert told == [r.pk for r in rows]
    assert len(callbacks) == 1
    assert rows[0].status == DeliveryStatus.PENDING and rows[0].attempts == 0
    assert rows[0].payload == {
        "event": "action.pending",
        "subject": "Pending approval: Refund of 120.00 USD",
        "text": "Refund of 120.00 USD waits for 1 approval in Refunds.",
        "path": "/actions/1/",
        "url": "http://127.0.0.1:8000/actions/1/",
        "queue": "Refunds",
        "tier": "",
        "amount": 12000,
        "currency": "USD",
        "action_id": None,
        "action_version": None,
        "case_id": None,
        "buttons": False,
        "occurred_at": rows[0].created_at.isoformat(),
    }


@pytest.mark.django_db
def test_a_rolled_back_transaction_leaves_no_delivery_and_enqueues_nothing(
    subscribe, told, django_capture_on_commit_callbacks
):
    # Arrange
    subscribe(target="a@example.test")

    # Act
    with (
        django_capture_on_commit_callbacks(execute=True),
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        tell()
        raise RuntimeError("the change being told about fails")

    # Assert
    assert Delivery.objects.count() == 0
    assert told == []


@pytest.mark.django_db
def test_a_broker_that_is_down_leaves_the_rows_pending_for_the_sweeper_and_raises_nothing(
    subscribe, django_capture_on_commit_callbacks
):
    # Arrange
    subscribe(target="a@example.test")
    subscribe(target="b@example.test")

    # Act
    with (
        mock.patch("notifications.services.current_app") as app,
        django_capture_on_commit_callbacks(execute=True),
    ):
        app.send_task.side_effect = ConnectionError("broker down")
        written = tell()

    # Assert: one try (each would hold the request), both rows still pending
    assert written == 2
    assert app.send_task.call_count == 1
    assert set(Delivery.objects.values_list("status", flat=True)) == {DeliveryStatus.PENDING}


@pytest.mark.django_db
def test_a_digest_subscription_holds_its_rows_for_the_digest_and_enqueues_none(
    subscribe, person, told, django_capture_on_commit_callbacks
):
    # Arrange
    alice = person("alice")
    subscribe(user=alice, digest=True)

    # Act
    with django_capture_on_commit_callbacks(execute=True):
        written = tell()

    # Assert
    assert written == 1
    (row,) = Delivery.objects.all()
    assert (row.status, row.batch_id) == (DeliveryStatus.DIGESTED, None)
    assert told == []


@pytest.mark.django_db
def test_nobody_listening_costs_one_query(subscribe):
    subscribe("Account security", target="a@example.test")

    with CaptureQueriesContext(connection) as captured:
        written = tell()

    assert written == 0
    assert len(captured) == 1


# ---------------------------------------------------------------------------------------------
# the submit path


@pytest.mark.django_db
def test_a_submission_that_lands_pending_tells_the_queue_with_text_from_validated_params(
    submit, subscribe, agent, told, enqueued, django_capture_on_commit_callbacks
):
    # Arrange: the agent's own words ride in `reason`
    subscription = subscribe("Refunds", target="refunds@example.test")

    # Act
    with django_capture_on_commit_callbacks(execute=True):
        action = submit(params={**refund_params(12000), "reason": "<b>URGENT</b> ignore policy"})

    # Assert
    assert action.status == Status.PENDING
    (delivery,) = Delivery.objects.all()
    assert delivery.subscription_id == subscription.pk
    assert told == [delivery.pk]
    payload = delivery.payload
    assert payload["subject"] == "Pending approval: Issue a refund of 120.00 USD on order ORD-1001"
    assert payload["text"] == (
        "Issue a refund of 120.00 USD on order ORD-1001, requested by support-bot, waits for "
        "1 approval in Refunds. Rule: refund-over-50-needs-approval."
    )
    assert "URGENT" not in payload["text"]
    assert payload["path"] == f"/actions/{action.pk}/"
    assert (payload["action_id"], payload["action_version"]) == (str(action.pk), action.version)
    assert (payload["amount"], payload["currency"], payload["buttons"]) == (12000, "USD", True)


@pytest.mark.django_db
def test_a_submission_that_does_not_land_pending_tells_nobody(submit, subscribe, told, enqueued):
    subscribe("Refunds", target="refunds@example.test")

    submit(2000)  # within the limit: executes at once

    assert Delivery.objects.count() == 0


@pytest.mark.django_db
def test_a_submission_whose_notification_fails_to_be_written_fails_whole(
    submit, subscribe, told, enqueued
):
    # The rows are the submission's: they commit together or not at all.
    subscribe("Refunds", target="refunds@example.test")

    with (
        mock.patch("approvals.services.submission.push_on_commit", side_effect=RuntimeError),
        pytest.raises(RuntimeError),
    ):
        submit()

    assert Delivery.objects.count() == 0
    assert not AuditEvent.objects.filter(verb=Verb.ACTION_SUBMITTED).exists()
