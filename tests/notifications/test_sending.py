"""Sending deliveries for real: email to an SMTP server on 127.0.0.1, signed webhooks and Slack
messages to HTTP servers on 127.0.0.1; retries with backoff, failures audited, lost tasks swept,
digests gathered; and a channel that is down never holding up a decision."""

from __future__ import annotations

from datetime import timedelta
from unittest import mock

import pytest

from approvals.models import Status
from audit.events import Verb
from audit.models import AuditEvent
from config.outbound import DELIVERY_HEADER, EVENT_HEADER
from notifications import sending, services
from notifications.events import Event
from notifications.models import DIGEST_EVENT, Delivery, DeliveryStatus
from notifications.services import notify
from notifications.tasks import send_delivery, send_digests, sweep_deliveries
from tests.approvals.conftest import refund_params
from tests.approvals.fake_http import refused_url, status
from tests.clock import wait_for
from tests.conftest import wait_until


def pending_refund(**overrides) -> int:
    fields = {
        "event": Event.ACTION_PENDING,
        "subject": "Pending approval: Issue a refund of 120.00 USD",
        "text": "Issue a refund of 120.00 USD waits for 1 approval in Refunds.",
        "path": "/actions/0b7c6f52-4a0e-4df3-a3b4-4f1f7f9a3c01/",
        "queue": "Refunds",
        "amount": 12000,
        "currency": "USD",
        "action_id": "0b7c6f52-4a0e-4df3-a3b4-4f1f7f9a3c01",
        "action_version": 1,
    }
    return notify(**{**fields, **overrides})


def only_delivery() -> Delivery:
    (delivery,) = Delivery.objects.exclude(event=DIGEST_EVENT)
    return delivery


# ---------------------------------------------------------------------------------------------
# email


@pytest.mark.django_db
def test_an_email_subscription_gets_a_plain_text_message_with_the_link_over_real_smtp(
    subscribe, person, smtp_server, told
):
    # Arrange: alice's own address
    alice = person("alice", email="alice@example.test")
    subscribe(user=alice)
    pending_refund()
    delivery = only_delivery()

    # Act
    outcome = send_delivery.apply(kwargs={"delivery_id": delivery.pk})

    # Assert
    assert outcome.successful(), outcome.traceback
    mail_from, to, message = wait_for(
        lambda: smtp_server.messages() and smtp_server.messages()[0],
        deadline=10, what="the message reached the SMTP server",
    )  # fmt: skip
    assert (mail_from, to) == ("countersign@example.test", ["alice@example.test"])
    assert message["Subject"] == "Pending approval: Issue a refund of 120.00 USD"
    body = message.get_payload(decode=True).decode()
    assert message.get_content_type() == "text/plain"
    assert "waits for 1 approval in Refunds" in body
    assert "http://127.0.0.1:8000/actions/0b7c6f52-4a0e-4df3-a3b4-4f1f7f9a3c01/" in body
    assert "/notifications/" in body
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_error) == (DeliveryStatus.SENT, 1, "")
    assert delivery.sent_at is not None


@pytest.mark.django_db
def test_an_email_to_a_mail_server_that_is_down_is_tried_again_then_fails_audited(
    subscribe, settings, fast_retries, told
):
    # Arrange: nothing listens where the mailer points
    port = int(refused_url().rsplit(":", 1)[1])
    settings.MAILERS = {
        "default": {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {"host": "127.0.0.1", "port": port, "timeout": 2},
        }
    }
    subscription = subscribe(target="ops@example.test")
    pending_refund()
    delivery = only_delivery()

    # Act
    outcome = send_delivery.apply(kwargs={"delivery_id": delivery.pk})

    # Assert: three attempts (NOTIFY_MAX_ATTEMPTS), then failed and audited
    assert outcome.successful(), outcome.traceback
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.FAILED, 3)
    assert "ConnectionRefusedError" in delivery.last_error
    event = AuditEvent.objects.get(verb=Verb.NOTIFICATION_FAILED)
    assert event.object_type == "subscription" and event.object_id == str(subscription.pk)
    assert event.data["delivery_id"] == delivery.pk and event.data["attempts"] == 3
    assert event.data["where"] == "ops@example.test"


@pytest.mark.django_db
def test_a_person_without_an_address_fails_at_once_without_retries(subscribe, person, told):
    # Arrange: alice's address was removed after she subscribed
    alice = person("alice")
    subscribe(user=alice)
    alice.email = ""
    alice.save(update_fields=["email"])
    pending_refund()

    # Act
    assert sending.delivery_send(delivery_id=only_delivery().pk) is None

    # Assert
    delivery = only_delivery()
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.FAILED, 1)
    assert "no email address" in delivery.last_error
    assert AuditEvent.objects.filter(verb=Verb.NOTIFICATION_FAILED).count() == 1


# ---------------------------------------------------------------------------------------------
# webhooks


@pytest.mark.django_db
def test_a_webhook_is_a_signed_post_the_receiver_can_verify_with_its_subscriptions_key(
    subscribe, receiver, told
):
    # Arrange
    subscription = subscribe(target=receiver.url + "/hooks/countersign")
    other = subscribe("Account security", target=receiver.url + "/other")
    pending_refund()
    delivery = only_delivery()

    # Act
    outcome = send_delivery.apply(kwargs={"delivery_id": delivery.pk})

    # Assert
    assert outcome.successful(), outcome.traceback
    (received,) = receiver.requests
    assert received.path == "/hooks/countersign"
    assert received.headers[EVENT_HEADER] == "action.pending"
    assert received.headers[DELIVERY_HEADER] == str(delivery.pk)
    assert received.verifies(sending.webhook_signing_secret(subscription.pk))
    assert not received.verifies(sending.webhook_signing_secret(other.pk))
    body = received.json()
    assert body["subject"] == "Pending approval: Issue a refund of 120.00 USD"
    assert (body["amount"], body["currency"], body["queue"]) == (12000, "USD", "Refunds")
    assert body["url"].endswith("/actions/0b7c6f52-4a0e-4df3-a3b4-4f1f7f9a3c01/")
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.SENT, 1)


@pytest.mark.django_db
def test_a_receiver_answering_500_gets_it_again_on_the_next_attempt(
    subscribe, receiver, fast_retries, told
):
    # Arrange
    receiver.then(status(500, "busy"), status(200, {"ok": True}))
    subscribe(target=receiver.url + "/hook")
    pending_refund()
    delivery = only_delivery()

    # Act: the task retries itself (eagerly here) until the service says stop
    outcome = send_delivery.apply(kwargs={"delivery_id": delivery.pk})

    # Assert: the same delivery id both times
    assert outcome.successful(), outcome.traceback
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_error) == (DeliveryStatus.SENT, 2, "")
    assert [r.headers[DELIVERY_HEADER] for r in receiver.requests] == [str(delivery.pk)] * 2


@pytest.mark.django_db
def test_a_failed_attempt_waits_a_growing_jittered_backoff(
    subscribe, receiver, settings, frozen_clock, told
):
    # Arrange
    settings.COUNTERSIGN = {**settings.COUNTERSIGN, "NOTIFY_BACKOFF_SECONDS": 10.0,
                            "NOTIFY_BACKOFF_MAX_SECONDS": 600.0}  # fmt: skip
    receiver.then(status(500))
    subscribe(target=receiver.url + "/hook")
    pending_refund()
    delivery_id = only_delivery().pk

    # Act
    first = sending.delivery_send(delivery_id=delivery_id)
    early = sending.delivery_send(delivery_id=delivery_id)  # a duplicate before it is due
    frozen_clock.shift(timedelta(seconds=first))
    second = sending.delivery_send(delivery_id=delivery_id)

    # Assert
    assert 5.0 <= first <= 10.0 and 10.0 <= second <= 20.0
    assert early is None
    delivery = only_delivery()
    assert delivery.attempts == 2 and len(receiver.requests) == 2
    assert delivery.last_error == "HTTP 500: "
    assert delivery.status == DeliveryStatus.PENDING


@pytest.mark.django_db
def test_a_receiver_that_always_fails_gets_a_failed_delivery_after_the_last_attempt_audited(
    subscribe, receiver, fast_retries, told
):
    # Arrange
    receiver.then(status(503, "down for maintenance"))
    subscription = subscribe(target=receiver.url + "/hook?token=s3cret")
    pending_refund()
    delivery = only_delivery()

    # Act
    outcome = send_delivery.apply(kwargs={"delivery_id": delivery.pk})

    # Assert: three attempts, failed, audited without the URL's path or query
    assert outcome.successful(), outcome.traceback
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.FAILED, 3)
    assert delivery.last_error == "HTTP 503: down for maintenance"
    assert len(receiver.requests) == 3
    event = AuditEvent.objects.get(verb=Verb.NOTIFICATION_FAILED)
    assert event.object_id == str(subscription.pk)
    assert event.data["where"] == "http://127.0.0.1"
    assert "s3cret" not in str(event.data)

    # A late duplicate of the task changes nothing
    assert sending.delivery_send(delivery_id=delivery.pk) is None
    assert len(receiver.requests) == 3


@pytest.mark.django_db
def test_a_webhook_to_a_private_address_in_production_fails_at_once_without_a_request(
    subscribe, receiver, settings, told
):
    # Arrange: saved outside production, sent once production rules apply
    subscribe(target=receiver.url + "/hook")
    pending_refund()
    settings.COUNTERSIGN = {**settings.COUNTERSIGN, "CALLBACK_ALLOW_PRIVATE_ADDRESSES": False}

    # Act
    assert sending.delivery_send(delivery_id=only_delivery().pk) is None

    # Assert
    delivery = only_delivery()
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.FAILED, 1)
    assert "non-public address" in delivery.last_error
    assert receiver.requests == []


@pytest.mark.django_db
def test_a_subscription_turned_off_before_sending_sends_nothing(subscribe, receiver, told):
    subscription = subscribe(target=receiver.url + "/hook")
    pending_refund()
    subscription.is_active = False
    subscription.save(update_fields=["is_active"])

    assert sending.delivery_send(delivery_id=only_delivery().pk) is None

    assert only_delivery().status == DeliveryStatus.FAILED
    assert receiver.requests == []
    assert not AuditEvent.objects.filter(verb=Verb.NOTIFICATION_FAILED).exists()


# ---------------------------------------------------------------------------------------------
# Slack


@pytest.mark.django_db
def test_a_slack_subscription_posts_block_kit_with_approve_and_reject_controls(
    demo, subscribe, receiver, told
):
    # Arrange: a stand-in for Slack's incoming webhook
    subscribe(channel="slack", target=receiver.url + "/services/T1/B1/xyz")
    pending_refund(buttons=True)
    delivery = only_delivery()

    # Act
    assert sending.delivery_send(delivery_id=delivery.pk) is None

    # Assert
    (received,) = receiver.requests
    assert received.path == "/services/T1/B1/xyz"
    message = received.json()
    assert message["text"] == "Pending approval: Issue a refund of 120.00 USD"
    section, actions = message["blocks"]
    assert "Pending approval: Issue a refund of 120.00 USD" in section["text"]["text"]
    approve, reject, open_ = actions["elements"]
    action_id = "0b7c6f52-4a0e-4df3-a3b4-4f1f7f9a3c01"
    assert (approve["action_id"], approve["value"]) == ("countersign.approve", f"{action_id}:1")
    assert reject["action_id"] == "countersign.reject"
    # The active reason codes of kind reject, from the catalog approvals keeps
    assert [o["value"] for o in reject["options"]] == [
        f"{action_id}:1:{code}"
        for code in ("duplicate-request", "insufficient-evidence", "outside-policy",
                     "suspected-fraud")
    ]  # fmt: skip
    assert open_["url"].endswith(f"/actions/{action_id}/")
    assert only_delivery().status == DeliveryStatus.SENT


@pytest.mark.django_db
def test_a_slack_message_escapes_markup_and_has_no_controls_without_buttons(
    subscribe, receiver, told
):
    subscribe(channel="slack", target=receiver.url + "/services/x", events=["case.opened"],
              scope="tier", scope_key="l1-lead")  # fmt: skip
    notify(event=Event.CASE_OPENED, subject="New escalation", text="<!channel> & <b>",
           path="/escalations/7/", tier="l1-lead", case_id=7, buttons=True)  # fmt: skip

    sending.delivery_send(delivery_id=only_delivery().pk)

    (received,) = receiver.requests
    section, actions = received.json()["blocks"]
    assert "&lt;!channel&gt; &amp; &lt;b&gt;" in section["text"]["text"]
    assert [e["action_id"] for e in actions["elements"]] == ["countersign.open"]


# ---------------------------------------------------------------------------------------------
# the sweeper and digests


@pytest.mark.django_db
def test_the_sweep_enqueues_again_only_deliveries_overdue_past_the_grace(
    subscribe, told, frozen_clock, django_capture_on_commit_callbacks
):
    # Arrange: one delivery's task was lost ten minutes ago (the broker was down), one is new
    subscribe(target="a@example.test")
    pending_refund()
    (lost,) = Delivery.objects.all()
    frozen_clock.shift(timedelta(minutes=10))
    pending_refund(path="/actions/2/")
    told.clear()

    # Act
    with django_capture_on_commit_callbacks(execute=True):
        swept = sweep_deliveries()
        swept_again = sweep_deliveries()

    # Assert
    assert (swept, swept_again) == (1, 0)
    assert told == [lost.pk]


@pytest.mark.django_db
def test_a_digest_gathers_each_persons_held_events_into_one_email_sent_over_smtp(
    subscribe, person, smtp_server, django_capture_on_commit_callbacks
):
    # Arrange: alice digests two queues, bob one; carol hears each event on its own
    alice, bob, carol = person("alice"), person("bob"), person("carol")
    subscribe("Refunds", user=alice, digest=True)
    subscribe("Account security", user=alice, digest=True)
    subscribe("Refunds", user=bob, digest=True)
    subscribe("Refunds", user=carol)
    with mock.patch("notifications.services.current_app"):
        pending_refund()
        pending_refund(queue="Account security", subject="Pending approval: Reset credentials")
        pending_refund(path="/actions/3/", subject="Pending approval: Issue a refund of 70.00 USD")

    # Act: beat's digest run, then the worker sends what it enqueued
    with (
        mock.patch("notifications.services.current_app") as app,
        django_capture_on_commit_callbacks(execute=True),
    ):
        digests = send_digests()
    for call in app.send_task.call_args_list:
        send_delivery.apply(kwargs=call.kwargs["kwargs"])

    # Assert: one email each for alice and bob; carol's were not digested
    assert digests == 2
    by_recipient = {to[0]: message for _, to, message in smtp_server.messages()}
    assert set(by_recipient) == {"alice@example.test", "bob@example.test"}
    alice_mail = by_recipient["alice@example.test"]
    assert alice_mail["Subject"] == "Countersign: 3 notifications"
    body = alice_mail.get_payload(decode=True).decode()
    assert "Pending approval: Reset credentials" in body and "70.00 USD" in body
    assert by_recipient["bob@example.test"]["Subject"] == "Countersign: 2 notifications"
    held = Delivery.objects.filter(status=DeliveryStatus.DIGESTED)
    assert held.count() == 5 and not held.filter(batch__isnull=True).exists()
    assert Delivery.objects.filter(event=DIGEST_EVENT, status=DeliveryStatus.SENT).count() == 2
    assert Delivery.objects.filter(status=DeliveryStatus.PENDING).count() == 2  # carol's, unsent

    # A second run finds nothing new
    with mock.patch("notifications.services.current_app"):
        assert services.digests_gather() == 0


# ---------------------------------------------------------------------------------------------
# a channel that is down never blocks a decision


@pytest.mark.django_db(transaction=True)
def test_a_submission_commits_and_answers_while_every_channel_and_the_broker_are_down(
    demo, agent, subscribe
):
    # Arrange: a webhook where nothing listens, an unreachable mail server, and no broker
    subscribe("Refunds", target=refused_url() + "/hook")
    subscribe("Refunds", target="ops@example.test")

    # Act
    with mock.patch("notifications.services.current_app") as app:
        app.send_task.side_effect = ConnectionError("broker down")
        response = agent.client().post(
            "/api/v1/actions/", {"action_type": "refund.issue", "params": refund_params()},
            format="json",
        )  # fmt: skip

    # Assert: the action is pending, its notifications wait for the sweeper
    assert response.status_code == 201, response.content
    assert response.json()["status"] == Status.PENDING
    assert Delivery.objects.filter(status=DeliveryStatus.PENDING).count() == 2


# ---------------------------------------------------------------------------------------------
# end to end, with a real worker


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_worker_sends_the_queues_webhook_when_an_agents_refund_lands_pending(
    demo, agent, subscribe, receiver, celery_worker_process
):
    # Arrange: a team webhook on the Refunds queue
    subscription = subscribe("Refunds", target=receiver.url + "/hooks/refunds")

    # Act: the agent submits a refund that needs approval
    response = agent.client().post(
        "/api/v1/actions/", {"action_type": "refund.issue", "params": refund_params()},
        format="json",
    )  # fmt: skip
    assert response.status_code == 201, response.content
    action_id = response.json()["id"]

    # Assert: the worker posted it, signed with the subscription's key, once
    wait_until(lambda: Delivery.objects.filter(status=DeliveryStatus.SENT).exists())
    (received,) = receiver.requests
    assert received.verifies(sending.webhook_signing_secret(subscription.pk))
    assert received.json()["action_id"] == action_id
    assert received.json()["event"] == "action.pending"
