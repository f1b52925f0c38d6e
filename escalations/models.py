"""Escalation cases: work an agent must hand to a person."""

from django.db import models


class Escalation(models.Model):
    class Status(models.TextChoices):
        OPEN = "open", "Open"
        RESOLVED = "resolved", "Resolved"

    class Source(models.TextChoices):
        POLICY = "policy", "Policy rule"
        AGENT = "agent", "Agent handoff"
        FAILURE = "failure", "Execution failure"
        TIMEOUT = "timeout", "Timeout"

    action = models.ForeignKey(
        "approvals.Action", on_delete=models.PROTECT, null=True, blank=True,
        related_name="escalations",
    )  # fmt: skip
    agent = models.ForeignKey("agents.Agent", on_delete=models.PROTECT, related_name="escalations")
    source = models.CharField(max_length=16, choices=Source.choices)
    tier = models.CharField(max_length=32, blank=True)
    reason = models.CharField(max_length=500)
    summary = models.TextField(blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            # At most one open case per action.
            models.UniqueConstraint(
                fields=["action"],
                condition=models.Q(status="open", action__isnull=False),
                name="one_open_escalation_per_action",
            )
        ]

    def __str__(self) -> str:
        return f"escalation {self.pk} ({self.status})"
