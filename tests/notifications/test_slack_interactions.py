"""Clicks in Slack: verified by Slack's v0 signature, decided as the linked person through the
ordinary services, and refused (nothing changes, an ephemeral answer) when any rule says no."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from urllib.parse import urlencode

import pytest
from django.test import Client

from approvals import services
from approvals.models import Decision, Status
from audit.events import Verb
from audit.models import AuditEvent
from audit.services import Actor
from notifications import slack
from notifications.models import SlackLink
from notifications.services import slack_link_save
from tests.approvals.conftest import refund_params

URL = "/integrations/slack/interactions/"
SECRET = "8f742231b10e8888abcd99yyyzzz85a5"


@pytest.fixture
def slack_app(settings, receiver):
    """Slack set up: its signing secret, and response URLs allowed on the stand-in receiver."""
    settings.COUNTERSIGN = {
        **settings.COUNTERSIGN,
        "SLACK_SIGNING_SECRET": SECRET,
        "SLACK_RESPONSE_HOSTS": ["127.0.0.1"],
    }
    return receiver


@pytest.fixture
def linked(person):
    """link(username, queues=...) -> a supervisor linked to the Slack user U-<username>."""

    def make(username: str = "alice", **kwargs):
        user = person(username, **kwargs)
        slack_link_save(
            link=SlackLink(slack_team_id="T1", slack_user_id=f"U-{username}", user=user),
            actor=Actor.system("test"),
        )
        return user

    return make


def click_body(action, *, user="U-alice", reject: str | None = None, response_url: str,
               version: int | None = None) -> bytes:  # fmt: skip
    version = action.version if version is None else version
    if reject is None:
        clicked = {"action_id": slack.APPROVE, "type": "button", "value": f"{action.pk}:{version}"}
    else:
        clicked = {
            "action_id": slack.REJECT,
            "type": "static_select",
            "selected_option": {"value": f"{action.pk}:{version}:{reject}"},
        }
    payload = {
        "type": "block_actions",
        "team": {"id": "T1"},
        "user": {"id": user, "team_id": "T1"},
        "actions": [clicked],
        "response_url": response_url,
    }
    return urlencode({"payload": json.dumps(payload)}).encode()


def post(body: bytes, *, timestamp: int | None = None, signature: str | None = None):
    timestamp = int(time.time()) if timestamp is None else timestamp
    signature = signature or slack.signature_of(SECRET, timestamp, body)
    return Client().post(
        URL,
        data=body,
        content_type="application/x-www-form-urlencoded",
        HTTP_X_SLACK_REQUEST_TIMESTAMP=str(timestamp),
        HTTP_X_SLACK_SIGNATURE=signature,
    )


def answers(receiver) -> list[dict]:
    return [r.json() for r in receiver.requests]


# ---------------------------------------------------------------------------------------------
# a click that counts


@pytest.mark.django_db
def test_a_signed_approve_click_approves_as_the_linked_person_and_answers_them_privately(
    submit, linked, slack_app, told, enqueued, django_capture_on_commit_callbacks
):
    # Arrange
    alice = linked("alice")
    action = submit()

    # Act
    with django_capture_on_commit_callbacks(execute=True):
        response = post(click_body(action, response_url=slack_app.url + "/respond/1"))

    # Assert: approved by alice through the ordinary service, and enqueued for execution
    assert response.status_code == 200, response.content
    action.refresh_from_db()
    assert action.status == Status.APPROVED
    assert enqueued == [str(action.pk)]
    event = AuditEvent.objects.get(verb=Verb.ACTION_APPROVED, object_id=str(action.pk))
    assert (event.actor_kind, event.actor_id) == ("user", str(alice.pk))
    (answer,) = answers(slack_app)
    assert slack_app.requests[0].path == "/respond/1"
    assert answer["response_type"] == "ephemeral"
    assert answer["text"] == "You approved Issue a refund; it will execute now."


@pytest.mark.django_db
def test_a_reason_picked_from_the_reject_menu_rejects_with_that_reason_code(
    submit, linked, slack_app, told, enqueued
):
    linked("alice")
    action = submit()

    response = post(
        click_body(action, reject="outside-policy", response_url=slack_app.url + "/respond")
    )

    assert response.status_code == 200
    action.refresh_from_db()
    assert action.status == Status.REJECTED
    assert Decision.objects.get(action=action).reason_code.code == "outside-policy"
    assert answers(slack_app)[0]["text"] == "You rejected Issue a refund (outside-policy)."


@pytest.mark.django_db
def test_the_open_button_is_acknowledged_and_changes_nothing(submit, linked, slack_app, told):
    linked("alice")
    action = submit()
    payload = {"type": "block_actions", "team": {"id": "T1"}, "user": {"id": "U-alice"},
               "actions": [{"action_id": slack.OPEN, "type": "button"}],
               "response_url": slack_app.url + "/respond"}  # fmt: skip

    response = post(urlencode({"payload": json.dumps(payload)}).encode())

    assert response.status_code == 200
    action.refresh_from_db()
    assert action.status == Status.PENDING
    assert slack_app.requests == []


# ---------------------------------------------------------------------------------------------
# requests that are not Slack's


@pytest.mark.django_db
def test_a_wrong_signature_is_refused_401_and_changes_nothing(submit, linked, slack_app, told):
    # Arrange
    linked("alice")
    action = submit()
    body = click_body(action, response_url=slack_app.url + "/respond")

    # Act
    response = post(body, signature=slack.signature_of("not-the-secret", int(time.time()), body))

    # Assert
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_signature"
    action.refresh_from_db()
    assert action.status == Status.PENDING
    assert slack_app.requests == []


@pytest.mark.django_db
def test_a_tampered_body_is_refused_401(submit, linked, slack_app, told):
    linked("alice")
    action, other = submit(), submit()
    signed = click_body(action, response_url=slack_app.url + "/respond")
    timestamp = int(time.time())

    response = post(
        click_body(other, response_url=slack_app.url + "/respond"),
        timestamp=timestamp,
        signature=slack.signature_of(SECRET, timestamp, signed),
    )

    assert response.status_code == 401
    other.refresh_from_db()
    assert other.status == Status.PENDING


@pytest.mark.django_db
def test_a_request_signed_more_than_five_minutes_ago_is_refused_401(
    submit, linked, slack_app, told, frozen_clock
):
    # Arrange: signed now, arriving six minutes later
    linked("alice")
    action = submit()
    body = click_body(action, response_url=slack_app.url + "/respond")
    signed_at = int(time.time())
    frozen_clock.shift(timedelta(minutes=6))

    # Act
    response = post(body, timestamp=signed_at)

    # Assert
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "stale_request"
    action.refresh_from_db()
    assert action.status == Status.PENDING


@pytest.mark.django_db
def test_a_request_signed_four_minutes_ago_still_counts(
    submit, linked, slack_app, told, enqueued, frozen_clock
):
    linked("alice")
    action = submit()
    body = click_body(action, response_url=slack_app.url + "/respond")
    signed_at = int(time.time())
    frozen_clock.shift(timedelta(minutes=4))

    assert post(body, timestamp=signed_at).status_code == 200

    action.refresh_from_db()
    assert action.status == Status.APPROVED


@pytest.mark.django_db
def test_a_replayed_request_is_refused_403_and_decides_nothing_twice(
    submit, linked, slack_app, told, enqueued
):
    # Arrange: a reject that went through once
    linked("alice")
    action = submit()
    body = click_body(action, reject="outside-policy", response_url=slack_app.url + "/respond")
    timestamp = int(time.time())
    assert post(body, timestamp=timestamp).status_code == 200

    # Act: the same bytes again
    response = post(body, timestamp=timestamp)

    # Assert
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "replayed_request"
    assert Decision.objects.filter(action=action).count() == 1
    assert len(slack_app.requests) == 1


@pytest.mark.django_db
def test_without_a_signing_secret_the_endpoint_answers_404(submit, linked, receiver, told):
    linked("alice")
    action = submit()

    response = post(click_body(action, response_url=receiver.url + "/respond"))

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    action.refresh_from_db()
    assert action.status == Status.PENDING


@pytest.mark.django_db
def test_the_endpoint_takes_only_post(slack_app):
    assert Client().get(URL).status_code == 405


# ---------------------------------------------------------------------------------------------
# clicks the rules refuse: nothing changes, the person is told why


@pytest.mark.django_db
def test_a_click_from_a_slack_user_nobody_linked_is_refused(submit, linked, slack_app, told):
    linked("alice")
    action = submit()

    response = post(click_body(action, user="U-stranger", response_url=slack_app.url + "/r"))

    assert response.status_code == 200
    action.refresh_from_db()
    assert action.status == Status.PENDING
    (answer,) = answers(slack_app)
    assert answer["response_type"] == "ephemeral"
    assert "not linked" in answer["text"]


@pytest.mark.django_db
def test_a_click_on_an_action_outside_the_persons_queues_is_refused_as_unknown(
    submit, linked, slack_app, told
):
    # Arrange: bob works only Account security; the refund sits in Refunds
    linked("bob", queues=["Account security"])
    action = submit()

    # Act
    response = post(click_body(action, user="U-bob", response_url=slack_app.url + "/r"))

    # Assert
    assert response.status_code == 200
    action.refresh_from_db()
    assert action.status == Status.PENDING
    assert answers(slack_app)[0]["text"] == "Nothing changed: No such action."


@pytest.mark.django_db
def test_a_second_approval_by_the_same_person_is_refused_four_eyes(
    submit, linked, slack_app, told, enqueued
):
    # Arrange: a credential reset needs two people; alice already approved it on the page
    alice = linked("alice")
    action = submit(action_type="credentials.reset", params={"customer_id": "CUS-1001"})
    message_version = action.version
    services.action_approve(action_id=action.pk, by=alice, confirm_irreversible=True)

    # Act: she clicks Approve in the message sent before
    response = post(click_body(action, version=message_version, response_url=slack_app.url + "/r"))

    # Assert
    assert response.status_code == 200
    action.refresh_from_db()
    assert action.status == Status.PENDING
    assert Decision.objects.filter(action=action).count() == 1
    assert "already approved" in answers(slack_app)[0]["text"]


@pytest.mark.django_db
def test_an_action_nothing_can_undo_is_not_approved_from_slack(submit, linked, slack_app, told):
    linked("alice")
    action = submit(action_type="credentials.reset", params={"customer_id": "CUS-1001"})

    post(click_body(action, response_url=slack_app.url + "/r"))

    action.refresh_from_db()
    assert action.status == Status.PENDING
    assert "cannot be undone" in answers(slack_app)[0]["text"]


@pytest.mark.django_db
def test_a_click_on_an_action_edited_since_the_message_is_refused_as_stale(
    submit, linked, person, slack_app, told
):
    # Arrange: bob lowered the amount after the message went out
    linked("alice")
    bob = person("bob")
    action = submit()
    message_version = action.version
    services.action_edit(action_id=action.pk, by=bob, params=refund_params(9000),
                         reason_code="amount-corrected")  # fmt: skip

    # Act
    post(click_body(action, version=message_version, response_url=slack_app.url + "/r"))

    # Assert: nobody in Slack saw 90.00; the approval is refused
    action.refresh_from_db()
    assert action.status == Status.PENDING
    assert "changed since you loaded it" in answers(slack_app)[0]["text"]


@pytest.mark.django_db
def test_a_reject_without_a_known_reason_code_is_refused(submit, linked, slack_app, told):
    linked("alice")
    action = submit()

    post(click_body(action, reject="goodwill", response_url=slack_app.url + "/r"))

    action.refresh_from_db()
    assert action.status == Status.PENDING
    assert "not a reason code for reject" in answers(slack_app)[0]["text"]


@pytest.mark.django_db
def test_a_response_url_off_the_allowed_hosts_is_never_called(
    submit, linked, slack_app, settings, told, enqueued
):
    # Arrange: only Slack's host is allowed
    settings.COUNTERSIGN = {**settings.COUNTERSIGN, "SLACK_RESPONSE_HOSTS": ["hooks.slack.com"]}
    linked("alice")
    action = submit()

    # Act
    response = post(click_body(action, response_url=slack_app.url + "/steal"))

    # Assert: the decision stands; the answer was not sent where the body said
    assert response.status_code == 200
    action.refresh_from_db()
    assert action.status == Status.APPROVED
    assert slack_app.requests == []
