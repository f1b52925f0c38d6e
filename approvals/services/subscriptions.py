"""A person's own email subscriptions: to the queues they work and the tiers they handle.

Notifications cannot know who may see a queue or handle a tier (that is approvals' rulebook, over
policies' tiers), so the check lives here and the write is notifications' `subscription_save`, in
one transaction with its audit event. Team channels (webhooks, Slack, shared addresses) are the
admin's, in the admin pages.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import transaction

from approvals import rulebook
from approvals.models import Queue
from audit.services import Actor
from config.errors import Code, InvalidInput, NotFound
from notifications import selectors as notification_selectors
from notifications import services as notifications
from notifications.events import Event
from notifications.models import Channel, Scope, Subscription
from policies.models import Tier


def tier_facts(tier: Tier) -> rulebook.TierFacts:
    return rulebook.TierFacts(
        key=tier.key, handler_group=tier.handler_group, handler_queue=tier.handler_queue
    )


def _check_may_listen(person: rulebook.Person, scope: str, scope_key: str) -> None:
    """A person hears of the queues they work and the tiers they handle; any other one reads as
    unknown (a refusal must not say which queues or tiers exist)."""
    if scope == Scope.QUEUE:
        exists = Queue.objects.filter(name=scope_key).exists()
        if not (exists and rulebook.may_see_queue(person, scope_key)):
            raise NotFound(f"You work no queue named {scope_key!r}.", code=Code.UNKNOWN_QUEUE)
    elif scope == Scope.TIER:
        tier = Tier.objects.filter(key=scope_key).first()
        if tier is None or not rulebook.handles(person, tier_facts(tier)):
            raise NotFound(f"You handle no escalation tier {scope_key!r}.", code=Code.UNKNOWN_TIER)
    else:
        raise InvalidInput("Subscribe to a queue or an escalation tier.", details={"scope": scope})


def subscription_set(
    *, by, scope: str, scope_key: str, events: Iterable[str], min_amount: int | None = None,
    digest: bool = False, request_id: str = "",
) -> Subscription:  # fmt: skip
    """Set what `by` hears by email of one queue or tier they may see: no events turns it off."""
    events = list(events)
    with transaction.atomic(durable=True):
        _check_may_listen(rulebook.person_of(by), scope, scope_key)
        if events and not by.email:
            raise InvalidInput(
                "Your account has no email address: ask an admin to add one.",
                code=Code.NO_EMAIL_ADDRESS,
            )
        subscription = notification_selectors.own_email_subscription(
            user=by, scope=scope, scope_key=scope_key, lock=True
        ) or Subscription(user=by, channel=Channel.EMAIL, target="", scope=scope,
                          scope_key=scope_key)  # fmt: skip
        subscription.events = events
        # An amount is about new pending actions only: dropped with that event.
        subscription.min_amount = min_amount if Event.ACTION_PENDING in events else None
        subscription.digest = digest
        subscription.is_active = bool(events)
        return notifications.subscription_save(
            subscription=subscription, actor=Actor.user(by.pk), request_id=request_id
        )
