"""What people can be told about: the events subscriptions choose from."""

from django.db import models


class Event(models.TextChoices):
    ACTION_PENDING = "action.pending", "New pending action (above an amount)"
    CASE_OPENED = "case.opened", "New escalation case"
    SLA_WARNING = "sla.warning", "SLA at 80 %"
    SLA_BREACHED = "sla.breached", "SLA breached"
    CASE_RESOLVED = "case.resolved", "Case resolved"
