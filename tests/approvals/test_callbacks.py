"""Signed callbacks to an agent's `callback_url`, against a real HTTP receiver on 127.0.0.1: written
with the status change, delivered after commit by a Celery task, retried, and failed for good."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO
from unittest import mock

import pytest
from django.core.management import call_command
from django.utils import timezone

from approvals import callbacks, services
from approvals.callbacks import (
    DELIVER_TASK,
    CallbackUrlRefused,
    agent_signing_secret,
    callback_url_check,
)
from approvals.models import Action, CallbackDelivery, Status
from approvals.tasks import deliver_callback, sweep_callbacks
from audit.events import Verb
from audit.models import AuditEvent
from config.outbound import DELIVERY_HEADER, EVENT_HEADER
from tests.approvals.conftest import refund_params
from tests.approvals.fake_http import FakeBackend, ok, status
from tests.conftest import wait_until

Delivery = CallbackDelivery.State


@pytest.fixture
def receiver():
    server = FakeBackend()
    yield server
    server.close()


@pytest.fixture
def fast_retries(settings):
    settings.COUNTERSIGN = {
        **settings.COUNTERSIGN,
        "CALLBACK_BACKOFF_SECONDS": 0.0,
        "CALLBACK_BACKOFF_MAX_SECONDS": 0.0,
        "CALLBACK_MAX_ATTEMPTS": 4,
        "CALLBACK_TIMEOUT_SECONDS": 2.0,
    }
    return settings


@pytest.fixture
def submit_with_callback(demo, agent, receiver):
    def make(amount: int = 12000, url: str | None = None) -> Action:
        return services.action_submit(
            agent=agent.agent,
            action_type="refund.issue",
            params=refund_params(amount),
            callback_url=url if url is not None else receiver.url + "/hooks/countersign",
        ).action

    return make


def deliveries(action) -> list[CallbackDelivery]:
    return list(CallbackDelivery.objects.filter(action=action).order_by("created_at", "id"))


# ---------------------------------------------------------------------------------------------
# scheduling with the status change


@pytest.mark.django_db
def test_a_decision_writes_one_delivery_with_the_change_and_enqueues_it_on_commit(
    submit_with_callback, supervisor, enqueued, django_capture_on_commit_callbacks
):
    # Arrange
    action = submit_with_callback()
    assert deliveries(action) == []  # the agent has the submission's answer already

    # Act
    with (
        mock.patch("approvals.callbacks.current_app") as app,
        django_capture_on_commit_callbacks(execute=True),
    ):
        services.action_approve(action_id=action.pk, by=supervisor, reason_code="verified-eligible")

    # Assert: one `approved` delivery, pending, sent to Celery by id
    (delivery,) = deliveries(action)
    assert (delivery.event, delivery.status, delivery.attempts) == ("approved", Delivery.PENDING, 0)
    assert delivery.payload == {
        "event": "approved",
        "action_id": str(action.pk),
        "action_type": "refund.issue",
        "status": "approved",
        "version": action.version + 1,
        "occurred_at": delivery.payload["occurred_at"],
        "decision": {"reason_code": "verified-eligible", "edited": False,
                     "params": refund_params(12000)},
    }  # fmt: skip
    app.send_task.assert_called_once_with(DELIVER_TASK, kwargs={"delivery_id": delivery.pk})


@pytest.mark.django_db
def test_a_status_change_that_rolls_back_leaves_no_delivery(
    submit_with_callback, supervisor, enqueued
):
    # Arrange: something after the move fails inside the approval's transaction
    action = submit_with_callback()

    # Act
    with (
        mock.patch(
            "approvals.services.decisions.execute_on_commit", side_effect=RuntimeError("boom")
        ),
        pytest.raises(RuntimeError),
    ):
        services.action_approve(action_id=action.pk, by=supervisor)

    # Assert: neither the approval nor its callback happened
    action.refresh_from_db()
    assert action.status == Status.PENDING
    assert deliveries(action) == []


@pytest.mark.django_db
def test_only_decisions_and_outcomes_call_back_and_never_without_a_url(
    submit_with_callback, supervisor, agent, enqueued
):
    # Arrange
    rejected, cancelled, silent = (
        submit_with_callback(), submit_with_callback(), submit_with_callback(url="")
    )  # fmt: skip

    # Act
    services.action_reject(action_id=rejected.pk, by=supervisor, reason_code="outside-policy")
    services.action_cancel(action_id=cancelled.pk, agent=agent.agent)
    services.action_approve(action_id=silent.pk, by=supervisor)
    services.action_execute(action_id=silent.pk)

    # Assert: the rejection calls back with its reason; the agent's own cancel and an action
    # without a callback URL do not
    assert [d.event for d in deliveries(rejected)] == ["rejected"]
    assert deliveries(rejected)[0].payload["decision"]["reason_code"] == "outside-policy"
    assert deliveries(cancelled) == []
    assert deliveries(silent) == []


@pytest.mark.django_db
def test_execution_calls_back_with_its_result(submit_with_callback, supervisor, enqueued):
    action = submit_with_callback()
    services.action_approve(action_id=action.pk, by=supervisor)

    services.action_execute(action_id=action.pk)

    action.refresh_from_db()
    assert [d.event for d in deliveries(action)] == ["approved", "succeeded"]
    succeeded = deliveries(action)[1].payload
    assert succeeded["status"] == "succeeded"
    assert succeeded["version"] == action.version
    assert succeeded["result"] == action.result and succeeded["result"]["refund_id"]


# ---------------------------------------------------------------------------------------------
# delivering


@pytest.mark.django_db
def test_a_delivery_is_a_signed_post_the_agent_can_verify(
    submit_with_callback, supervisor, agent, receiver, enqueued, fast_retries
):
    # Arrange
    action = submit_with_callback()
    services.action_approve(action_id=action.pk, by=supervisor)
    (delivery,) = deliveries(action)

    # Act
    outcome = deliver_callback.apply(kwargs={"delivery_id": delivery.pk})

    # Assert: delivered once, signed with the agent's key (and no other agent's)
    assert outcome.successful(), outcome.traceback
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (Delivery.DELIVERED, 1)
    assert delivery.delivered_at is not None
    (received,) = receiver.requests
    assert received.path == "/hooks/countersign"
    assert received.json() == delivery.payload
    assert received.headers[EVENT_HEADER] == "approved"
    assert received.headers[DELIVERY_HEADER] == str(delivery.pk)
    assert received.verifies(agent_signing_secret(agent.agent.pk))
    assert not received.verifies(agent_signing_secret(agent.agent.pk + 1))


@pytest.mark.django_db
def test_a_receiver_that_fails_twice_then_answers_gets_it_on_the_third_attempt(
    submit_with_callback, supervisor, receiver, enqueued, fast_retries
):
    # Arrange
    receiver.then(status(500), status(502), ok())
    action = submit_with_callback()
    services.action_approve(action_id=action.pk, by=supervisor)
    (delivery,) = deliveries(action)

    # Act: the task retries itself (eagerly here) until the service says stop
    outcome = deliver_callback.apply(kwargs={"delivery_id": delivery.pk})

    # Assert
    assert outcome.successful(), outcome.traceback
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (Delivery.DELIVERED, 3)
    assert delivery.last_error == ""
    assert len(receiver.requests) == 3
    assert len({r.headers[DELIVERY_HEADER] for r in receiver.requests}) == 1


@pytest.mark.django_db
def test_a_receiver_that_always_fails_gets_a_failed_delivery_after_the_last_attempt_audited(
    submit_with_callback, supervisor, receiver, enqueued, fast_retries
):
    # Arrange
    receiver.then(status(503, "down for maintenance"))
    action = submit_with_callback()
    services.action_approve(action_id=action.pk, by=supervisor)
    (delivery,) = deliveries(action)

    # Act
    outcome = deliver_callback.apply(kwargs={"delivery_id": delivery.pk})

    # Assert: four attempts (CALLBACK_MAX_ATTEMPTS), then failed, with the reason, in the audit log
    assert outcome.successful(), outcome.traceback
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (Delivery.FAILED, 4)
    assert delivery.last_error == "HTTP 503: down for maintenance"
    assert len(receiver.requests) == 4
    event = AuditEvent.objects.get(verb=Verb.CALLBACK_FAILED)
    assert event.object_id == str(action.pk)
    assert event.data["event"] == "approved" and event.data["attempts"] == 4

    # A late duplicate of the task changes nothing
    assert callbacks.callback_deliver(delivery_id=delivery.pk) is None
    assert len(receiver.requests) == 4


@pytest.mark.django_db
def test_a_failed_attempt_waits_a_growing_jittered_backoff(
    submit_with_callback, supervisor, receiver, enqueued, settings
):
    # Arrange
    settings.COUNTERSIGN = {**settings.COUNTERSIGN, "CALLBACK_BACKOFF_SECONDS": 10.0,
                            "CALLBACK_BACKOFF_MAX_SECONDS": 600.0}  # fmt: skip
    receiver.then(status(500))
    action = submit_with_callback()
    services.action_approve(action_id=action.pk, by=supervisor)
    (delivery,) = deliveries(action)

    # Act
    first = callbacks.callback_deliver(delivery_id=delivery.pk)
    early = callbacks.callback_deliver(delivery_id=delivery.pk)  # a duplicate before it is due
    CallbackDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())
    second = callbacks.callback_deliver(delivery_id=delivery.pk)

    # Assert
    assert 5.0 <= first <= 10.0 and 10.0 <= second <= 20.0
    assert early is None
    delivery.refresh_from_db()
    assert delivery.attempts == 2 and len(receiver.requests) == 2
    assert delivery.next_attempt_at > timezone.now() + timedelta(seconds=9)


@pytest.mark.django_db
def test_the_sweep_enqueues_again_only_deliveries_overdue_past_the_grace(
    submit_with_callback, supervisor, enqueued, django_capture_on_commit_callbacks
):
    # Arrange: one delivery lost its task long ago, one was just scheduled
    lost_action, fresh_action = submit_with_callback(), submit_with_callback()
    services.action_approve(action_id=lost_action.pk, by=supervisor)
    services.action_approve(action_id=fresh_action.pk, by=supervisor)
    (lost,) = deliveries(lost_action)
    CallbackDelivery.objects.filter(pk=lost.pk).update(
        next_attempt_at=timezone.now() - timedelta(minutes=10)
    )

    # Act
    with (
        mock.patch("approvals.callbacks.current_app") as app,
        django_capture_on_commit_callbacks(execute=True),
    ):
        swept = sweep_callbacks()

    # Assert
    assert swept == 1
    app.send_task.assert_called_once_with(DELIVER_TASK, kwargs={"delivery_id": lost.pk})


# ---------------------------------------------------------------------------------------------
# where callbacks may go


@pytest.fixture
def production_addresses(settings):
    settings.COUNTERSIGN = {**settings.COUNTERSIGN, "CALLBACK_ALLOW_PRIVATE_ADDRESSES": False}


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:8000/hook", "http://localhost/hook", "http://10.1.2.3/hook",
     "http://192.168.0.10/hook", "http://169.254.169.254/latest/meta-data", "http://[::1]/hook",
     "http://0.0.0.0/hook", "ftp://example.com/hook", "javascript:alert(1)"],
)  # fmt: skip
def test_loopback_private_and_non_http_callback_urls_are_refused_in_production(
    url, production_addresses
):
    with pytest.raises(CallbackUrlRefused):
        callback_url_check(url)


def test_public_callback_urls_pass_and_private_ones_pass_outside_production(settings):
    assert callback_url_check("https://93.184.216.34/hook") == "https://93.184.216.34/hook"
    settings.COUNTERSIGN = {**settings.COUNTERSIGN, "CALLBACK_ALLOW_PRIVATE_ADDRESSES": None}
    settings.PRODUCTION = False
    assert callback_url_check("http://127.0.0.1:8000/hook")
    with pytest.raises(CallbackUrlRefused):
        callback_url_check("ftp://127.0.0.1/hook")  # http(s) only, everywhere
    settings.PRODUCTION = True
    with pytest.raises(CallbackUrlRefused):
        callback_url_check("http://127.0.0.1:8000/hook")


@pytest.mark.django_db
def test_the_api_refuses_a_private_callback_url_in_production(demo, agent, production_addresses):
    response = agent.client().post(
        "/api/v1/actions/",
        {"action_type": "refund.issue", "params": refund_params(),
         "callback_url": "http://127.0.0.1:9/hook"},
        format="json",
    )  # fmt: skip

    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] == "invalid_input"
    assert "callback_url" in response.json()["error"]["details"]["fields"]
    assert not Action.objects.exists()


@pytest.mark.django_db
def test_a_delivery_to_a_private_address_in_production_fails_at_once_without_a_request(
    submit_with_callback, supervisor, receiver, enqueued, settings
):
    # Arrange: accepted outside production, delivered once production rules apply
    action = submit_with_callback()
    services.action_approve(action_id=action.pk, by=supervisor)
    (delivery,) = deliveries(action)
    settings.COUNTERSIGN = {**settings.COUNTERSIGN, "CALLBACK_ALLOW_PRIVATE_ADDRESSES": False}

    # Act
    assert callbacks.callback_deliver(delivery_id=delivery.pk) is None

    # Assert
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (Delivery.FAILED, 1)
    assert "non-public address" in delivery.last_error
    assert receiver.requests == []


# ---------------------------------------------------------------------------------------------
# end to end, with a real worker


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_worker_calls_the_agent_back_signed_when_its_action_is_approved_then_succeeds(
    demo, agent, receiver, supervisor_client, celery_worker_process
):
    # Arrange: the agent submits a refund that needs approval, with a callback URL
    submitted = agent.client().post(
        "/api/v1/actions/",
        {"action_type": "refund.issue", "params": refund_params(),
         "callback_url": receiver.url + "/hooks/countersign"},
        format="json",
    )  # fmt: skip
    assert submitted.status_code == 201, submitted.content
    action_id = submitted.json()["id"]

    # Act: a supervisor approves it; the worker executes it and delivers both callbacks
    supervisor_client.get("/accounts/login/")
    approved = supervisor_client.post(
        f"/api/v1/actions/{action_id}/approve/",
        {"reason_code": "verified-eligible"},
        format="json",
        HTTP_X_CSRFTOKEN=supervisor_client.cookies["csrftoken"].value,
    )
    assert approved.status_code == 200, approved.content
    wait_until(
        lambda: (
            CallbackDelivery.objects.filter(action_id=action_id, status=Delivery.DELIVERED).count()
            == 2
        )
    )

    # Assert: the receiver got `approved` then `succeeded` (by version), each signed for this agent
    secret = agent_signing_secret(agent.agent.pk)
    received = sorted(receiver.requests, key=lambda r: r.json()["version"])
    assert [r.json()["event"] for r in received] == ["approved", "succeeded"]
    assert all(r.verifies(secret) for r in received)
    assert all(r.json()["action_id"] == action_id for r in received)
    assert received[1].json()["result"]["refundable_after"] == 25000 - 12000
    assert set(
        CallbackDelivery.objects.filter(action_id=action_id).values_list("attempts", flat=True)
    ) == {1}


@pytest.mark.django_db
def test_the_callback_secret_command_prints_the_agents_signing_key(agent, settings):
    settings.COUNTERSIGN = {**settings.COUNTERSIGN, "CALLBACK_SIGNING_SECRET": "deployment-key"}
    out = StringIO()

    call_command("callback_secret", agent.agent.name, stdout=out)

    assert out.getvalue().strip() == agent_signing_secret(agent.agent.pk)
    assert agent_signing_secret(agent.agent.pk) != agent_signing_secret(agent.agent.pk + 1)
