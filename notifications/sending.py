"""Sending one delivery: one attempt per call, outside any transaction, by email, webhook or Slack.

`delivery_send` claims the row (a short transaction), makes one attempt with no transaction open
(a slow mail server or webhook never holds a row lock or a connection in a transaction), then
records the outcome (another short transaction) and says when to try again: exponential backoff
with jitter, `NOTIFY_BACKOFF_SECONDS` doubling up to `NOTIFY_BACKOFF_MAX_SECONDS`, for at most
`NOTIFY_MAX_ATTEMPTS` attempts. The last failure marks it `failed` and writes
`notification.failed` to the audit log. Every attempt is logged with its outcome.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import transaction

from audit.events import Verb
from audit.services import Actor, audit_record
from config import clock
from config.outbound import (
    OutboundTarget,
    OutboundUrlRefused,
    backoff_delay,
    derived_key,
    json_body,
    outbound_target,
    post_json,
    post_signed,
)
from notifications import selectors, slack
from notifications.events import Event
from notifications.models import DIGEST_EVENT, Channel, Delivery, DeliveryStatus

logger = logging.getLogger(__name__)

# A task that arrives this much before its delivery is due is a duplicate: the due one sends it.
_EARLY_SLACK = timedelta(seconds=1)
# How long an attempt may be in flight before the sweeper counts it as lost, beyond its timeout.
_IN_FLIGHT_GRACE = timedelta(seconds=30)
_ERROR_LIMIT = 500
# What a webhook receives of a payload (never the digest's items: webhooks are not digested).
_WEBHOOK_FIELDS = (
    "event", "subject", "text", "url", "queue", "tier", "amount", "currency", "action_id",
    "action_version", "case_id", "occurred_at",
)  # fmt: skip


def _setting(name: str) -> Any:
    return settings.COUNTERSIGN[name]


def webhook_signing_secret(subscription_id: Any) -> str:
    """The key a webhook subscription's requests are signed with, derived from the deployment
    secret and the subscription (like an agent's callback key; never stored).
    `manage.py notification_secret <subscription id>` prints it for the receiver's owner."""
    return derived_key(f"countersign.notification.v1:{subscription_id}")


class Undeliverable(Exception):
    """A failure another attempt cannot fix (no address, a URL Countersign may not call)."""


@dataclass(frozen=True)
class _Message:
    delivery_id: int
    subscription_id: int
    channel: str
    target: str
    event: str
    payload: dict[str, Any] = field(repr=False)
    scope: str = ""
    scope_key: str = ""


# ---------------------------------------------------------------------------------------------
# the channels: each sends one message, returns None when it went, else why not


def _event_label(event: str) -> str:
    return Event(event).label if event in Event.values else event


def _email_body(message: _Message) -> str:
    payload = message.payload
    site = _setting("SITE_URL")
    if message.event == DIGEST_EVENT:
        body = "\n\n".join(
            f"* {item.get('subject')}\n  {item.get('text') or ''}\n  {item.get('url')}"
            for item in payload.get("items") or []
        )
        why = "you chose a digest for some of your subscriptions"
    else:
        body = f"{payload.get('text') or ''}\n\nOpen: {payload.get('url')}"
        why = (
            f"you subscribed to \u201c{_event_label(message.event)}\u201d in the "
            f"{message.scope} {message.scope_key}"
        )
    return f"{body}\n\n--\nYou get this because {why}. Change it at {site}/notifications/\n"


def _send_email(message: _Message) -> str | None:
    if not message.target:
        raise Undeliverable("no email address: the subscription has none, nor has its person")
    email = EmailMessage(
        subject=message.payload.get("subject") or "Countersign",
        body=_email_body(message),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[message.target],
    )
    try:
        email.send(fail_silently=False)
    except Exception as exc:  # SMTP errors, refused connections, timeouts: all worth a retry
        return f"{type(exc).__name__}: {exc}"
    return None


def _checked_url(message: _Message) -> OutboundTarget:
    """The target URL, checked, with the one address the request will connect to."""
    try:
        return outbound_target(message.target, what=f"{message.channel} URL")
    except OutboundUrlRefused as exc:
        raise Undeliverable(exc.message) from exc


def _send_webhook(message: _Message) -> str | None:
    url = _checked_url(message)
    payload = {key: message.payload.get(key) for key in _WEBHOOK_FIELDS}
    return post_signed(
        url,
        secret=webhook_signing_secret(message.subscription_id),
        delivery_id=message.delivery_id,
        event=message.event,
        payload=payload,
        timeout=_setting("NOTIFY_TIMEOUT_SECONDS"),
    )


def _send_slack(message: _Message) -> str | None:
    url = _checked_url(message)
    body = json_body(slack.message(message.payload))
    return post_json(url, body, headers={}, timeout=_setting("NOTIFY_TIMEOUT_SECONDS"))


_SENDERS = {Channel.EMAIL: _send_email, Channel.WEBHOOK: _send_webhook, Channel.SLACK: _send_slack}


# ---------------------------------------------------------------------------------------------
# one attempt


def _lock(delivery_id: Any) -> Delivery | None:
    return (
        Delivery.objects.select_for_update(of=("self",))
        .select_related("subscription", "subscription__user")
        .filter(pk=delivery_id)
        .first()
    )


def _claim(delivery_id: Any) -> tuple[_Message, int] | None:
    """Count the attempt and keep others off the row while it is in flight; the message to send,
    or None when there is nothing to send now."""
    now = clock.now()
    with transaction.atomic(durable=True):
        delivery = _lock(delivery_id)
        if delivery is None or delivery.status != DeliveryStatus.PENDING:
            return None
        if delivery.next_attempt_at > now + _EARLY_SLACK:
            return None  # in flight elsewhere, or a duplicate ahead of its time
        subscription = delivery.subscription
        if not subscription.is_active and delivery.event != DIGEST_EVENT:
            # Turned off after the event: the person no longer wants it. Not a channel failure.
            delivery.status = DeliveryStatus.FAILED
            delivery.last_error = "the subscription was turned off before it was sent"
            delivery.save(update_fields=["status", "last_error"])
            logger.info("notification %s dropped: subscription turned off", delivery.pk)
            return None
        delivery.attempts += 1
        in_flight = timedelta(seconds=_setting("NOTIFY_TIMEOUT_SECONDS")) + _IN_FLIGHT_GRACE
        delivery.next_attempt_at = now + in_flight
        delivery.save(update_fields=["attempts", "next_attempt_at"])
        channel = subscription.channel
        target = (
            selectors.email_address_of(subscription)
            if channel == Channel.EMAIL
            else subscription.target
        )
        message = _Message(
            delivery_id=delivery.pk,
            subscription_id=subscription.pk,
            channel=channel,
            target=target,
            event=delivery.event,
            payload=delivery.payload,
            scope=subscription.scope,
            scope_key=subscription.scope_key,
        )
        return message, delivery.attempts


def _where(message: _Message) -> str:
    return message.target if message.channel == Channel.EMAIL else selectors.host_of(message.target)


def _record(message: _Message, attempt: int, error: str | None, permanent: bool) -> float | None:
    with transaction.atomic(durable=True):
        delivery = _lock(message.delivery_id)
        if delivery is None or delivery.status != DeliveryStatus.PENDING:
            return None
        finished = clock.now()
        if error is None:
            delivery.status = DeliveryStatus.SENT
            delivery.sent_at = finished
            delivery.last_error = ""
            delivery.save(update_fields=["status", "sent_at", "last_error"])
            logger.info(
                "notification %s (%s by %s) sent, attempt %s",
                delivery.pk, message.event, message.channel, attempt,
            )  # fmt: skip
            return None
        delivery.last_error = error[:_ERROR_LIMIT]
        max_attempts = _setting("NOTIFY_MAX_ATTEMPTS")
        if permanent or attempt >= max_attempts:
            delivery.status = DeliveryStatus.FAILED
            delivery.save(update_fields=["status", "last_error"])
            audit_record(
                actor=Actor.system("notifications"),
                verb=Verb.NOTIFICATION_FAILED,
                object_type="subscription",
                object_id=message.subscription_id,
                data={
                    "delivery_id": delivery.pk,
                    "event": message.event,
                    "channel": message.channel,
                    "where": _where(message),
                    "attempts": attempt,
                    "error": delivery.last_error,
                    "action_id": message.payload.get("action_id"),
                    "case_id": message.payload.get("case_id"),
                },
                verbatim=("where",),
            )
            logger.warning(
                "notification %s (%s by %s) failed for good after %s attempts: %s",
                delivery.pk, message.event, message.channel, attempt, delivery.last_error,
            )  # fmt: skip
            return None
        delay = backoff_delay(
            attempt,
            base=_setting("NOTIFY_BACKOFF_SECONDS"),
            cap=_setting("NOTIFY_BACKOFF_MAX_SECONDS"),
        )
        delivery.next_attempt_at = finished + timedelta(seconds=delay)
        delivery.save(update_fields=["next_attempt_at", "last_error"])
        logger.warning(
            "notification %s (%s by %s) attempt %s/%s failed, next in %.1fs: %s",
            delivery.pk, message.event, message.channel, attempt, max_attempts, delay,
            delivery.last_error,
        )  # fmt: skip
        return delay


def delivery_send(*, delivery_id: Any) -> float | None:
    """Make one attempt to send a delivery. Seconds until the next attempt when this one failed
    and another is allowed; None when it was sent, failed for good, or is not due."""
    claimed = _claim(delivery_id)
    if claimed is None:
        return None
    message, attempt = claimed
    permanent = False
    try:
        error = _SENDERS[Channel(message.channel)](message)
    except Undeliverable as exc:
        error, permanent = str(exc), True
    except OSError as exc:
        error = str(exc)  # a resolver hiccup: worth another try
    return _record(message, attempt, error, permanent)
