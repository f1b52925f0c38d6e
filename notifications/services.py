"""Telling people: deliveries written in the caller's transaction, sent by workers on commit.

`notify` runs inside the transaction of the change it tells about (a case opened, an action
pending): it writes one `Delivery` per matching subscription, so a committed change is never left
untold and a rolled-back one is never told, and enqueues their sending on commit, ids only. It
never reaches a channel itself, and a broker that is down only leaves the rows for the sweeper:
a decision never waits for, nor fails because of, a notification. Digest subscriptions' rows wait
(`digested`) for `digests_gather`, which beat runs once per period.

Subscriptions and Slack links are saved here, each with its audit event (`subscription_save`,
`slack_link_save`); the checks of who may subscribe to which queue or tier are approvals' (the
person's page) or an admin's (team channels).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from celery import current_app
from django.conf import settings
from django.db import transaction

from audit.events import Verb
from audit.services import Actor, audit_record
from config import clock
from config.errors import Code, InvalidInput
from config.outbound import OutboundUrlRefused, outbound_url_check
from notifications import selectors
from notifications.events import Event
from notifications.models import (
    DIGEST_EVENT,
    Channel,
    Delivery,
    DeliveryStatus,
    Scope,
    SlackLink,
    Subscription,
)

logger = logging.getLogger(__name__)

SEND_TASK = "notifications.tasks.send_delivery"
# Events that may carry Approve and Reject controls (Slack).
BUTTON_EVENTS = frozenset({Event.ACTION_PENDING})
_SUBJECT_LIMIT = 200
_TEXT_LIMIT = 2000


# ---------------------------------------------------------------------------------------------
# notify, inside the caller's transaction


def _enqueue(delivery_ids: Iterable[int]) -> None:
    ids = list(delivery_ids)
    for sent, delivery_id in enumerate(ids):
        try:
            current_app.send_task(SEND_TASK, kwargs={"delivery_id": delivery_id})
        except Exception:
            # The broker is down: the rows stay pending and the sweeper enqueues them again. The
            # rest are not tried: each try would hold the committing request for the publish
            # timeout.
            logger.exception(
                "could not enqueue notifications %s; the sweeper will retry", ids[sent:]
            )
            return


def _one_line(text: str, limit: int) -> str:
    return " ".join(str(text or "").split())[:limit]


def _payload(
    *, event: Event, subject: str, text: str, path: str, queue: str, tier: str,
    amount: int | None, currency: str, action_id: Any, case_id: Any, action_version: int | None,
    buttons: bool, occurred_at,
) -> dict[str, Any]:  # fmt: skip
    return {
        "event": str(event),
        # One line: it becomes an email header and a Slack heading.
        "subject": _one_line(subject, _SUBJECT_LIMIT),
        "text": str(text or "")[:_TEXT_LIMIT],
        "path": path,
        "url": settings.COUNTERSIGN["SITE_URL"] + path,
        "queue": queue,
        "tier": tier,
        "amount": amount,
        "currency": currency,
        "action_id": str(action_id) if action_id is not None else None,
        "action_version": action_version,
        "case_id": case_id,
        "buttons": bool(buttons) and event in BUTTON_EVENTS and action_id is not None,
        "occurred_at": occurred_at.isoformat(),
    }


def notify(
    *, event: Event, subject: str, text: str, path: str, queue: str = "", tier: str = "",
    amount: int | None = None, currency: str = "", action_id: Any = None, case_id: Any = None,
    buttons: bool = False, action_version: int | None = None,
) -> int:  # fmt: skip
    """Write one delivery per matching subscription inside the caller's transaction and send
    them on commit; how many were written.

    A subscription matches when it is active, chose `event`, listens to `queue` (queue
    subscriptions) or `tier` (tier ones), and, for `action.pending`, `amount` reaches its
    `min_amount`. `text` is shown as it is: callers build it from validated data, never from an
    agent's prose. `buttons` asks for Approve and Reject controls (Slack, `action.pending` only);
    `action_version` is the version they decide, so a click on an action changed since is refused.
    One query when nothing matches; an insert more when something does.
    """
    event = Event(event)
    # Joins the caller's transaction without a savepoint: the rows commit or roll back with the
    # change they tell about, and the submit path pays no extra round trips.
    with transaction.atomic(savepoint=False):
        matching = selectors.subscriptions_matching(
            event=event, queue=queue, tier=tier, amount=amount
        )
        if not matching:
            return 0
        now = clock.now()
        payload = _payload(
            event=event, subject=subject, text=text, path=path, queue=queue, tier=tier,
            amount=amount, currency=currency, action_id=action_id, case_id=case_id,
            action_version=action_version, buttons=buttons, occurred_at=now,
        )  # fmt: skip
        held, sent = DeliveryStatus.DIGESTED, DeliveryStatus.PENDING
        rows = Delivery.objects.bulk_create(
            [
                Delivery(
                    subscription_id=subscription.pk,
                    event=event,
                    payload=payload,
                    status=held if subscription.digest else sent,
                    next_attempt_at=now,
                    created_at=now,
                )
                for subscription in matching
            ]
        )
        ids = [row.pk for row in rows if row.status == DeliveryStatus.PENDING]
        if ids:
            transaction.on_commit(lambda: _enqueue(ids))
    return len(rows)


# ---------------------------------------------------------------------------------------------
# digests, once per period


def _digest_payload(items: list[Delivery], now) -> dict[str, Any]:
    count = len(items)
    return {
        "event": DIGEST_EVENT,
        "subject": f"Countersign: {count} notification{'s' if count != 1 else ''}",
        "items": [
            {key: item.payload.get(key) for key in ("event", "subject", "text", "url")}
            for item in items
        ],
        "occurred_at": now.isoformat(),
    }


def digests_gather(*, limit: int = 5000) -> int:
    """Gather what digest subscriptions held since the last run into one email per recipient
    (a digest delivery, sent and retried like any other); how many digests were written."""
    now = clock.now()
    with transaction.atomic(durable=True):
        waiting = selectors.deliveries_waiting_for_digest(limit=limit)
        by_address: dict[str, list[Delivery]] = {}
        for item in waiting:
            address = selectors.email_address_of(item.subscription).lower()
            by_address.setdefault(address, []).append(item)
        digest_ids = []
        for items in by_address.values():
            digest = Delivery.objects.create(
                subscription=items[0].subscription,
                event=DIGEST_EVENT,
                payload=_digest_payload(items, now),
                next_attempt_at=now,
                created_at=now,
            )
            Delivery.objects.filter(pk__in=[item.pk for item in items]).update(batch=digest)
            digest_ids.append(digest.pk)
        if digest_ids:
            transaction.on_commit(lambda: _enqueue(digest_ids))
    return len(digest_ids)


# ---------------------------------------------------------------------------------------------
# the sweeper


def deliveries_requeue_due(*, grace_seconds: float, limit: int = 500) -> int:
    """Enqueue again pending deliveries overdue by more than `grace_seconds`: their task was lost
    (broker down at commit, a worker killed mid-attempt). Beat runs it; duplicates are harmless,
    as an attempt claims its row first."""
    now = clock.now()
    with transaction.atomic(durable=True):
        due = list(
            Delivery.objects.select_for_update(skip_locked=True)
            .filter(
                status=DeliveryStatus.PENDING,
                next_attempt_at__lt=now - timedelta(seconds=grace_seconds),
            )
            .order_by("next_attempt_at", "id")[:limit]
        )
        ids = [delivery.pk for delivery in due]
        # Out of the next sweep's window, until the attempt sets its own due time.
        Delivery.objects.filter(pk__in=ids).update(next_attempt_at=now)
        if ids:
            transaction.on_commit(lambda: _enqueue(ids))
    return len(ids)


# ---------------------------------------------------------------------------------------------
# subscriptions and Slack links


def subscription_check(subscription: Subscription) -> None:
    """Refuse a subscription that cannot work: unknown events, a digest or an amount where they
    mean nothing, a target that is not an address or a URL Countersign may call."""
    problems: dict[str, str] = {}
    events = subscription.events
    known = set(Event.values)
    if not isinstance(events, list) or not all(isinstance(e, str) and e in known for e in events):
        problems["events"] = f"Choose among {', '.join(Event.values)}."
    elif len(set(events)) != len(events):
        problems["events"] = "An event is listed twice."
    if subscription.scope not in Scope.values:
        problems["scope"] = "A subscription listens to a queue or an escalation tier."
    if not subscription.scope_key:
        problems["scope_key"] = "Name the queue or the tier."
    if subscription.min_amount is not None:
        if subscription.min_amount < 0:
            problems["min_amount"] = "The amount cannot be negative."
        elif Event.ACTION_PENDING not in (events or []):
            problems["min_amount"] = "An amount only applies to new pending actions."
    channel, target = subscription.channel, subscription.target
    if subscription.digest and channel != Channel.EMAIL:
        problems["digest"] = "Only email subscriptions can be gathered into digests."
    if channel == Channel.EMAIL:
        if not target and subscription.user_id is None:
            problems["target"] = "A team's email subscription needs an address."
        elif target and not selectors.is_email_address(target):
            problems["target"] = "This is not an email address."
    elif channel in (Channel.WEBHOOK, Channel.SLACK):
        try:
            outbound_url_check(target, what=f"{Channel(channel).label} URL")
        except OutboundUrlRefused as exc:
            problems["target"] = exc.message
    else:
        problems["channel"] = f"Choose among {', '.join(Channel.values)}."
    if problems:
        raise InvalidInput(
            "The subscription is not valid.", code=Code.INVALID_INPUT, details=problems
        )


def _where(subscription: Subscription) -> str:
    # The audit log names where messages go without a webhook's path (Slack's holds its key).
    if subscription.channel == Channel.EMAIL:
        return subscription.target or "(the person's address)"
    return selectors.host_of(subscription.target)


def subscription_save(
    *, subscription: Subscription, actor: Actor, request_id: str = ""
) -> Subscription:
    """Check and save a subscription (new or changed) with its audit event, joining the caller's
    transaction (approvals' checks of who may listen to what run in the same one)."""
    subscription_check(subscription)
    created = subscription.pk is None
    subscription.events = sorted(set(subscription.events), key=Event.values.index)
    with transaction.atomic():
        subscription.save()
        audit_record(
            actor=actor,
            verb=Verb.SUBSCRIPTION_SAVED,
            object_type="subscription",
            object_id=subscription.pk,
            data={
                "created": created,
                "user": subscription.user_id,
                "scope": subscription.scope,
                "scope_key": subscription.scope_key,
                "events": subscription.events,
                "min_amount": subscription.min_amount,
                "channel": subscription.channel,
                "where": _where(subscription),
                "digest": subscription.digest,
                "is_active": subscription.is_active,
            },
            request_id=request_id,
            verbatim=("where",),
        )
    return subscription


def subscription_delete(*, subscription: Subscription, actor: Actor, request_id: str = "") -> None:
    """Remove a subscription and its delivery log, recorded as a save that deleted it."""
    with transaction.atomic():
        subscription_id = subscription.pk
        audit_record(
            actor=actor, verb=Verb.SUBSCRIPTION_SAVED, object_type="subscription",
            object_id=subscription_id, data={"deleted": True, "user": subscription.user_id,
            "scope": subscription.scope, "scope_key": subscription.scope_key},
            request_id=request_id,
        )  # fmt: skip
        subscription.delete()


def slack_link_save(*, link: SlackLink, actor: Actor, request_id: str = "") -> SlackLink:
    """Link a Slack user to a person (their clicks become that person's decisions), audited."""
    link.slack_team_id = link.slack_team_id.strip()
    link.slack_user_id = link.slack_user_id.strip()
    if not (link.slack_team_id and link.slack_user_id and link.user_id):
        raise InvalidInput(
            "A Slack link needs the team id, the Slack user id and the person.",
            details={"slack_team_id": link.slack_team_id, "slack_user_id": link.slack_user_id},
        )
    created = link.pk is None
    with transaction.atomic():
        link.save()
        audit_record(
            actor=actor, verb=Verb.SLACK_LINK_SAVED, object_type="slack_link",
            object_id=link.pk, data={"created": created, "slack_team_id": link.slack_team_id,
            "slack_user_id": link.slack_user_id, "user": link.user_id},
            request_id=request_id,
        )  # fmt: skip
    return link


def slack_link_delete(*, link: SlackLink, actor: Actor, request_id: str = "") -> None:
    with transaction.atomic():
        audit_record(
            actor=actor, verb=Verb.SLACK_LINK_SAVED, object_type="slack_link", object_id=link.pk,
            data={"deleted": True, "slack_team_id": link.slack_team_id,
                  "slack_user_id": link.slack_user_id, "user": link.user_id},
            request_id=request_id,
        )  # fmt: skip
        link.delete()
