"""Reading subscriptions, deliveries and Slack links."""

from __future__ import annotations

from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db.models import Q

from notifications.events import Event
from notifications.models import Channel, Delivery, DeliveryStatus, Scope, SlackLink, Subscription


def subscriptions_matching(
    *, event: Event, queue: str, tier: str, amount: int | None
) -> list[Subscription]:
    """The active subscriptions told of `event` in `queue` or `tier` (one query), one per
    recipient: a person subscribed to both the queue and the tier of a case hears of it once."""
    scopes = Q()
    if queue:
        scopes |= Q(scope=Scope.QUEUE, scope_key=queue)
    if tier:
        scopes |= Q(scope=Scope.TIER, scope_key=tier)
    if not scopes:
        return []
    matching = Subscription.objects.filter(scopes, is_active=True, events__contains=[str(event)])
    if event == Event.ACTION_PENDING:
        # An action without an amount reaches only the subscriptions that set none.
        reaches = Q(min_amount__isnull=True)
        if amount is not None:
            reaches |= Q(min_amount__lte=amount)
        matching = matching.filter(reaches)
    rows = matching.only("id", "user_id", "channel", "target", "digest").order_by("id")
    chosen: dict[tuple, Subscription] = {}
    for subscription in rows:
        recipient = (subscription.channel, subscription.target or subscription.user_id)
        # A per-event subscription wins over a digest one for the same recipient.
        kept = chosen.get(recipient)
        if kept is None or (kept.digest and not subscription.digest):
            chosen[recipient] = subscription
    return sorted(chosen.values(), key=lambda s: s.pk)


def deliveries_waiting_for_digest(*, limit: int) -> list[Delivery]:
    """Digested deliveries not yet in a digest, oldest first, locked (skipping those another run
    holds); inside the caller's transaction."""
    return list(
        Delivery.objects.select_for_update(skip_locked=True, of=("self",))
        .select_related("subscription", "subscription__user")
        .filter(status=DeliveryStatus.DIGESTED, batch__isnull=True)
        .order_by("id")[:limit]
    )


def email_address_of(subscription: Subscription) -> str:
    """Where an email subscription goes: its target, else its person's address ("" if none)."""
    if subscription.target:
        return subscription.target
    user = subscription.user
    return (getattr(user, "email", "") or "") if user is not None else ""


def is_email_address(value: str) -> bool:
    try:
        validate_email(value)
    except ValidationError:
        return False
    return True


def host_of(url: str) -> str:
    """A URL's scheme and host only: what logs and the audit may show of a webhook (a Slack
    incoming-webhook URL carries its credential in the path)."""
    parts = urlsplit(url or "")
    return f"{parts.scheme}://{parts.hostname or ''}"


def own_email_subscriptions(*, user) -> dict[tuple[str, str], Subscription]:
    """A person's own-address email subscriptions, by (scope, scope key)."""
    rows = Subscription.objects.filter(user=user, channel=Channel.EMAIL, target="").order_by(
        "scope", "scope_key"
    )
    return {(s.scope, s.scope_key): s for s in rows}


def own_email_subscription(*, user, scope: str, scope_key: str, lock: bool = False):
    rows = Subscription.objects.filter(
        user=user, channel=Channel.EMAIL, target="", scope=scope, scope_key=scope_key
    )
    if lock:
        rows = rows.select_for_update()
    return rows.first()


def person_of_slack_user(*, team_id: str, slack_user_id: str):
    """The Countersign person a Slack user is linked to, or None (an active account only)."""
    link = (
        SlackLink.objects.select_related("user")
        .filter(slack_team_id=team_id, slack_user_id=slack_user_id, user__is_active=True)
        .first()
    )
    return link.user if link is not None else None
