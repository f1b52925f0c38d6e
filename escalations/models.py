"""Escalation cases: what agents, policies and failures hand to people, and its tier's clocks."""

from django.conf import settings
from django.db import models

from approvals.handoff import Source

__all__ = ["CaseStatus", "Escalation", "Outcome", "Source"]


class CaseStatus(models.TextChoices):
    OPEN = "open", "Open"
    ACKNOWLEDGED = "acknowledged", "Acknowledged"
    RESOLVED = "resolved", "Resolved"


class Outcome(models.TextChoices):
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"
    RETURNED = "returned", "Returned to the agent"
    RESOLVED_OUTSIDE = "resolved_outside", "Resolved outside Countersign"


class Escalation(models.Model):
    """One case. `summary` is the hand-off: customer, order, what the agent did and proposes, the
    customer's words, sentiment, the rule and its explanation (see `escalations.handoff`)."""

    action = models.ForeignKey(
        "approvals.Action", on_delete=models.PROTECT, null=True, blank=True,
        related_name="escalations",
    )  # fmt: skip
    # Other actions the case is about: the ones a tripped breaker holds.
    linked_actions = models.ManyToManyField(
        "approvals.Action", blank=True, related_name="linked_escalations"
    )
    agent = models.ForeignKey(
        "agents.Agent", on_delete=models.PROTECT, null=True, blank=True, related_name="escalations"
    )
    source = models.CharField(max_length=16, choices=Source.choices)
    tier = models.ForeignKey("policies.Tier", on_delete=models.PROTECT, related_name="cases")
    # Reassigned to one person: the case is theirs to acknowledge (the tier still sees it).
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    reason = models.CharField(max_length=500)
    summary = models.JSONField(default=dict)
    status = models.CharField(max_length=16, choices=CaseStatus.choices, default=CaseStatus.OPEN)
    version = models.PositiveIntegerField(default=1)

    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    # The clocks of the current tier, from when the case entered it.
    tier_entered_at = models.DateTimeField()
    ack_due_at = models.DateTimeField()
    resolve_due_at = models.DateTimeField()
    # Set when the last tier's clock ran out: the case stays open and its handlers are told
    # again at `renotify_at`, every `Tier.renotify_seconds`, until someone acts.
    breached_at = models.DateTimeField(null=True, blank=True)
    renotify_at = models.DateTimeField(null=True, blank=True)
    # When "SLA at 80 %" is due for the current tier (None once told, or when resolved).
    warn_at = models.DateTimeField(null=True, blank=True)
    # What opened it when one cause may recur: one unresolved case per key (a breaker's trip).
    origin_key = models.CharField(max_length=64, blank=True)

    outcome = models.CharField(max_length=20, choices=Outcome.choices, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolution_note = models.TextField(blank=True)
    reason_code = models.CharField(max_length=64, blank=True)

    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            # At most one unresolved case per action.
            models.UniqueConstraint(
                fields=["action"],
                condition=~models.Q(status="resolved") & models.Q(action__isnull=False),
                name="one_open_escalation_per_action",
            ),
            models.UniqueConstraint(
                fields=["origin_key"],
                condition=~models.Q(status="resolved") & ~models.Q(origin_key=""),
                name="one_open_escalation_per_origin",
            ),
            models.CheckConstraint(
                condition=models.Q(status="resolved", resolved_at__isnull=False)
                | (~models.Q(status="resolved") & models.Q(outcome="")),
                name="escalation_outcome_only_when_resolved",
            ),
        ]
        indexes = [
            models.Index(
                fields=["ack_due_at"], condition=models.Q(status="open"), name="esc_open_ack_due"
            ),
            models.Index(
                fields=["resolve_due_at"],
                condition=~models.Q(status="resolved"),
                name="esc_unresolved_resolve_due",
            ),
            models.Index(fields=["tier", "status"], name="esc_tier_status"),
            models.Index(
                fields=["warn_at"], condition=models.Q(warn_at__isnull=False), name="esc_warn_due"
            ),
            models.Index(
                fields=["renotify_at"],
                condition=models.Q(renotify_at__isnull=False),
                name="esc_renotify_due",
            ),
        ]

    def __str__(self) -> str:
        return f"escalation {self.pk} ({self.status})"
