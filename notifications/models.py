"""Who is told about what (subscriptions), every message sent (deliveries), and Slack accounts."""

from __future__ import annotations

from django.conf import settings
from django.db import models

# What a digest delivery carries as its event: the events it gathers are in its payload.
DIGEST_EVENT = "digest"


class Scope(models.TextChoices):
    """What a subscription listens to: a queue (by name) or an escalation tier (by key). Names,
    not foreign keys: queues and tiers belong to apps above notifications."""

    QUEUE = "queue", "Queue"
    TIER = "tier", "Escalation tier"


class Channel(models.TextChoices):
    EMAIL = "email", "Email"
    WEBHOOK = "webhook", "Signed webhook"
    SLACK = "slack", "Slack (incoming webhook)"


class Subscription(models.Model):
    """Tell one person or one team channel about some events of one queue or tier.

    A person's subscription has a `user`; a team channel's has none and is managed by admins. An
    email subscription of a person with an empty `target` goes to the person's own address.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="notification_subscriptions",
        help_text="Empty for a team channel.",
    )
    scope = models.CharField(max_length=8, choices=Scope.choices)
    scope_key = models.CharField(max_length=64, help_text="The queue's name or the tier's key.")
    # Values of notifications.events.Event.
    events = models.JSONField(default=list)
    # action.pending only: tell only of actions of at least this amount (minor units).
    min_amount = models.BigIntegerField(null=True, blank=True)
    channel = models.CharField(max_length=8, choices=Channel.choices, default=Channel.EMAIL)
    target = models.CharField(
        max_length=500,
        blank=True,
        help_text="Email address, webhook URL or Slack incoming-webhook URL. Empty for a "
        "person's email subscription: their own address.",
    )
    # Email only: gather the events into one message per period instead of one per event.
    digest = models.BooleanField(default=False)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["scope", "scope_key", "id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(digest=False) | models.Q(channel="email"),
                name="subscription_digest_is_email",
            ),
            models.CheckConstraint(
                condition=models.Q(min_amount__isnull=True) | models.Q(min_amount__gte=0),
                name="subscription_min_amount_not_negative",
            ),
            # Only a person's email subscription may leave the target to the person's address.
            models.CheckConstraint(
                condition=~models.Q(target="") | models.Q(channel="email", user__isnull=False),
                name="subscription_has_a_target",
            ),
            # The page a person manages keeps one own-address subscription per queue or tier.
            models.UniqueConstraint(
                fields=["user", "scope", "scope_key"],
                condition=models.Q(channel="email", target="", user__isnull=False),
                name="one_own_email_subscription_per_scope",
            ),
        ]
        indexes = [
            # notify(): the active subscriptions of a queue or a tier.
            models.Index(
                fields=["scope", "scope_key"],
                condition=models.Q(is_active=True),
                name="subscription_active_scope",
            ),
        ]

    def __str__(self) -> str:
        who = self.user.get_username() if self.user_id else "team"
        return f"{who}: {self.scope} {self.scope_key} by {self.channel}"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"
    # Held for a digest (`batch` empty: the next one), sent as part of it.
    DIGESTED = "digested", "Digested"


class Delivery(models.Model):
    """One message to one subscription: written in the transaction of the change it tells about,
    sent (with retries) by a worker after commit, and kept as the log of what was sent."""

    subscription = models.ForeignKey(
        Subscription, on_delete=models.CASCADE, related_name="deliveries"
    )
    # An Event value, or DIGEST_EVENT for a digest.
    event = models.CharField(max_length=32)
    # subject, text, url (absolute), path, ids and amounts; a digest holds its items.
    payload = models.JSONField()
    status = models.CharField(
        max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    # When the next attempt is due; while one is in flight, when it counts as lost.
    next_attempt_at = models.DateTimeField()
    # Why the last attempt failed: bounded, and never a URL (a Slack webhook URL is a credential).
    last_error = models.CharField(max_length=500, blank=True)
    # A digested delivery: the digest that carried (or will carry) it.
    batch = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="items"
    )
    created_at = models.DateTimeField()
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        verbose_name_plural = "deliveries"
        indexes = [
            # The sweeper's scan: pending deliveries by due time.
            models.Index(
                fields=["next_attempt_at", "id"],
                condition=models.Q(status="pending"),
                name="notification_pending_due",
            ),
            # The digest run: what waits for the next digest.
            models.Index(
                fields=["id"],
                condition=models.Q(status="digested", batch__isnull=True),
                name="notification_digest_waiting",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event} to subscription {self.subscription_id} ({self.status})"


class SlackLink(models.Model):
    """Who a Slack user is in Countersign: their clicks are that person's decisions."""

    slack_team_id = models.CharField(max_length=32)
    slack_user_id = models.CharField(max_length=32)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="slack_links"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["slack_team_id", "slack_user_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["slack_team_id", "slack_user_id"], name="one_person_per_slack_user"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.slack_team_id}/{self.slack_user_id} -> {self.user_id}"
