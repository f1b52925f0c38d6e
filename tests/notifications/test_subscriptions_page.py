"""The notifications page: a person chooses what they hear by email of the queues they work and
the tiers they handle, and nothing of the others; admins manage team channels."""

from __future__ import annotations

import pytest
from django.test import Client

from approvals import services
from audit.events import Verb
from audit.models import AuditEvent
from config.errors import ApplicationError
from notifications.models import Channel, Subscription
from policies.models import Tier


@pytest.fixture
def tiers(db):
    l1 = Tier.objects.create(key="l1-lead", name="L1 leads", handler_queue="Refunds")
    finance = Tier.objects.create(key="finance", name="Finance", handler_group="finance")
    return l1, finance


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.django_db
def test_the_page_lists_the_queues_a_person_works_and_the_tiers_they_handle(person, tiers):
    # Arrange: bob works Refunds only, so he handles the L1 tier (its queue) and not Finance
    bob = person("bob", queues=["Refunds"])

    # Act
    response = signed_in(bob).get("/notifications/")

    # Assert
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="subscription-queue-refunds"' in html
    assert "Account security" not in html
    assert 'id="subscription-tier-l1-lead"' in html
    assert "Finance" not in html
    assert 'href="/notifications/"' in html  # the top bar links the page


@pytest.mark.django_db
def test_signing_in_is_required(db):
    response = Client().get("/notifications/")

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


@pytest.mark.django_db
def test_a_person_subscribes_their_own_address_to_a_queue_from_the_page(person):
    # Arrange
    alice = person("alice", queues=["Refunds"])

    # Act
    response = signed_in(alice).post(
        "/notifications/save/",
        {"scope": "queue", "scope_key": "Refunds", "events": ["action.pending", "sla.breached"],
         "min_amount": "500.00", "digest": "on"},
    )  # fmt: skip

    # Assert
    assert response.status_code == 302
    subscription = Subscription.objects.get(user=alice)
    assert (subscription.channel, subscription.target) == (Channel.EMAIL, "")
    assert subscription.events == ["action.pending", "sla.breached"]
    assert (subscription.min_amount, subscription.digest, subscription.is_active) == (
        50000, True, True
    )  # fmt: skip
    event = AuditEvent.objects.get(verb=Verb.SUBSCRIPTION_SAVED)
    assert (event.actor_kind, event.actor_id) == ("user", str(alice.pk))


@pytest.mark.django_db
def test_saving_from_htmx_answers_with_the_row_as_it_now_stands(person):
    alice = person("alice", queues=["Refunds"])

    response = signed_in(alice).post(
        "/notifications/save/",
        {"scope": "queue", "scope_key": "Refunds", "events": ["case.opened"]},
        HTTP_HX_REQUEST="true",
    )

    assert response.status_code == 200
    html = response.content.decode()
    assert html.strip().startswith('<tr id="subscription-queue-refunds"')
    assert 'value="case.opened" checked' in html and "Saved." in html


@pytest.mark.django_db
def test_saving_again_changes_the_one_subscription_and_no_events_turns_it_off(person):
    alice = person("alice", queues=["Refunds"])
    services.subscription_set(by=alice, scope="queue", scope_key="Refunds",
                              events=["action.pending"], min_amount=100)  # fmt: skip

    services.subscription_set(by=alice, scope="queue", scope_key="Refunds", events=[])

    (subscription,) = Subscription.objects.filter(user=alice)
    assert (subscription.is_active, subscription.events, subscription.min_amount) == (
        False, [], None
    )  # fmt: skip


@pytest.mark.django_db
def test_a_queue_the_person_does_not_work_is_refused_as_unknown(person):
    bob = person("bob", queues=["Account security"])

    response = signed_in(bob).post(
        "/notifications/save/",
        {"scope": "queue", "scope_key": "Refunds", "events": ["action.pending"]},
        HTTP_HX_REQUEST="true",
    )

    assert response.status_code == 400
    assert "You work no queue named" in response.content.decode()
    assert not Subscription.objects.exists()


@pytest.mark.django_db
def test_a_handler_subscribes_to_their_tier_and_others_cannot(person, tiers):
    bob, carol = person("bob", queues=["Refunds"]), person("carol", queues=["Account security"])

    services.subscription_set(by=bob, scope="tier", scope_key="l1-lead", events=["case.opened"])
    with pytest.raises(ApplicationError) as refused:
        services.subscription_set(
            by=carol, scope="tier", scope_key="l1-lead", events=["case.opened"]
        )

    assert Subscription.objects.get().user == bob
    assert refused.value.code == "unknown_tier"


@pytest.mark.django_db
def test_a_person_without_an_email_address_is_told_to_get_one(person):
    alice = person("alice", queues=["Refunds"], email="")

    with pytest.raises(ApplicationError) as refused:
        services.subscription_set(
            by=alice, scope="queue", scope_key="Refunds", events=["action.pending"]
        )

    assert refused.value.code == "no_email_address"
    assert not Subscription.objects.exists()


@pytest.mark.django_db
def test_a_bad_amount_is_refused_with_a_message(person):
    alice = person("alice", queues=["Refunds"])

    response = signed_in(alice).post(
        "/notifications/save/",
        {"scope": "queue", "scope_key": "Refunds", "events": ["action.pending"],
         "min_amount": "12.345"},
        HTTP_HX_REQUEST="true",
    )  # fmt: skip

    assert response.status_code == 400
    assert "at most two decimals" in response.content.decode()
    assert not Subscription.objects.exists()


# ---------------------------------------------------------------------------------------------
# team channels, in the admin


@pytest.fixture
def admin_client(db, django_user_model):
    admin = django_user_model.objects.create_superuser("root", "root@example.test", "pw-admin-1")
    client = Client()
    client.force_login(admin)
    return client, admin


@pytest.mark.django_db
def test_an_admin_adds_a_team_slack_channel_and_the_change_is_audited(admin_client):
    client, admin = admin_client

    response = client.post(
        "/admin/notifications/subscription/add/",
        {"scope": "queue", "scope_key": "Refunds", "events": ["action.pending", "case.opened"],
         "channel": "slack", "target": "https://hooks.slack.com/services/T1/B1/secretpart",
         "is_active": "on"},
    )  # fmt: skip

    assert response.status_code == 302, response.content.decode()[:2000]
    subscription = Subscription.objects.get()
    assert subscription.user is None and subscription.channel == Channel.SLACK
    event = AuditEvent.objects.get(verb=Verb.SUBSCRIPTION_SAVED)
    assert event.actor_id == str(admin.pk)
    assert event.data["where"] == "https://hooks.slack.com"  # never the webhook's secret path


@pytest.mark.django_db
def test_the_admin_refuses_a_digest_for_a_webhook(admin_client):
    client, _ = admin_client

    response = client.post(
        "/admin/notifications/subscription/add/",
        {"scope": "queue", "scope_key": "Refunds", "events": ["action.pending"],
         "channel": "webhook", "target": "https://example.com/hook", "digest": "on",
         "is_active": "on"},
    )  # fmt: skip

    assert response.status_code == 200  # the form again, with the error
    assert "Only email subscriptions can be gathered into digests." in response.content.decode()
    assert not Subscription.objects.exists()


@pytest.mark.django_db
def test_an_admin_links_a_slack_user_to_a_person_audited(admin_client, person):
    client, _ = admin_client
    alice = person("alice")

    response = client.post(
        "/admin/notifications/slacklink/add/",
        {"slack_team_id": "T1", "slack_user_id": "U123", "user": alice.pk},
    )

    assert response.status_code == 302
    event = AuditEvent.objects.get(verb=Verb.SLACK_LINK_SAVED)
    assert event.data == {"created": True, "slack_team_id": "T1", "slack_user_id": "U123",
                          "user": alice.pk}  # fmt: skip
