"""What the notifications page shows a person: each queue they work and tier they handle, with
what they hear of it by email."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from django.utils.text import slugify

from approvals import rulebook
from approvals.models import Queue
from approvals.services.subscriptions import tier_facts
from notifications import selectors as notification_selectors
from notifications.events import Event
from notifications.models import Scope, Subscription
from policies.models import Tier


@dataclass(frozen=True)
class SubscriptionRow:
    scope: str
    key: str
    label: str
    events: frozenset[str] = frozenset()
    min_amount: str = ""  # major units, as typed ("500.00")
    digest: bool = False
    choices: tuple = field(default=tuple(Event.choices))

    @property
    def element_id(self) -> str:
        # A slug: queue names may hold characters an id or a CSS selector (hx-target) cannot.
        return f"subscription-{self.scope}-{slugify(self.key)}"

    @property
    def is_on(self) -> bool:
        return bool(self.events)


def amount_text(minor: int | None) -> str:
    return "" if minor is None else f"{Decimal(minor).scaleb(-2):.2f}"


def row_of(scope: str, key: str, label: str, subscription: Subscription | None) -> SubscriptionRow:
    if subscription is None or not subscription.is_active:
        return SubscriptionRow(scope=scope, key=key, label=label)
    return SubscriptionRow(
        scope=scope,
        key=key,
        label=label,
        events=frozenset(subscription.events),
        min_amount=amount_text(subscription.min_amount),
        digest=subscription.digest,
    )


def subscriptions_context(user) -> dict:
    person = rulebook.person_of(user)
    own = notification_selectors.own_email_subscriptions(user=user)
    queues = [
        row_of(Scope.QUEUE, q.name, q.name, own.get((Scope.QUEUE, q.name)))
        for q in Queue.objects.order_by("name")
        if rulebook.may_see_queue(person, q.name)
    ]
    tiers = [
        row_of(Scope.TIER, t.key, t.name, own.get((Scope.TIER, t.key)))
        for t in Tier.objects.order_by("key")
        if rulebook.handles(person, tier_facts(t))
    ]
    return {"queues": queues, "tiers": tiers, "email": user.email}


def subscription_row(user, scope: str, key: str) -> SubscriptionRow:
    """One row as it stands, after a save (the row's partial)."""
    subscription = notification_selectors.own_email_subscription(
        user=user, scope=scope, scope_key=key
    )
    if scope == Scope.TIER:
        tier = Tier.objects.filter(key=key).first()
        label = tier.name if tier else key
    else:
        label = key
    return row_of(scope, key, label, subscription)
