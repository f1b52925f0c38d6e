"""The action type catalog and the permission map: ordered rules in immutable policy versions.

A version is a draft while a policy admin edits it and published (immutable) once it may decide;
exactly one published version is active. The database itself refuses changes to a published
version's rules and to anything but the active flag of a published version (migration 0002).
"""

from typing import Any

from django.conf import settings
from django.db import models


class Mode(models.TextChoices):
    FORBIDDEN = "forbidden", "Forbidden"
    READ_ONLY = "read_only", "Read only"
    RECOMMEND_ONLY = "recommend_only", "Recommend only"
    DRAFT_ONLY = "draft_only", "Draft only"
    EXECUTE_LIMITED = "execute_limited", "Execute (limited)"
    EXECUTE_GATED = "execute_gated", "Execute after approval"
    ESCALATE = "escalate", "Escalate"


# What the policy may say about params that no person's authority can override: such params can
# be neither adopted nor approved with changes.
UNOVERRIDABLE_MODES = frozenset({Mode.FORBIDDEN, Mode.READ_ONLY, Mode.ESCALATE})


class Priority(models.TextChoices):
    """How urgent a rule's actions are for their reviewers: the policy's word, not the agent's.

    An agent may hint a priority (`context.priority`); it is kept only up to the rule's."""

    LOW = "low", "Low"
    NORMAL = "normal", "Normal"
    HIGH = "high", "High"
    URGENT = "urgent", "Urgent"


class OnTimeout(models.TextChoices):
    EXPIRE = "expire", "Expire"
    ESCALATE = "escalate", "Escalate"
    REJECT = "reject", "Reject"


class ActionType(models.Model):
    key = models.CharField(max_length=64, unique=True)  # e.g. "refund.issue"
    name = models.CharField(max_length=100)
    description = models.TextField(blank=True)
    params_schema = models.JSONField(default=dict)
    # Read-only action types never change the system of record.
    is_write = models.BooleanField(default=True)
    # What applies when no rule of the active policy matches.
    default_mode = models.CharField(max_length=20, choices=Mode.choices, default=Mode.EXECUTE_GATED)
    # How long after it succeeded a person may still roll an action of this type back.
    rollback_window_seconds = models.PositiveIntegerField(default=24 * 3600)

    class Meta:
        ordering = ["key"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(rollback_window_seconds__gte=1),
                name="action_type_rollback_window_positive",
            )
        ]

    def __str__(self) -> str:
        return self.key


class PolicyVersion(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        PUBLISHED = "published", "Published"

    number = models.PositiveIntegerField(unique=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DRAFT)
    is_active = models.BooleanField(default=False)
    note = models.CharField(max_length=200, blank=True)
    # The published version a draft was copied from (none for a draft started from scratch);
    # the editor diffs against it. Published versions are never deleted, hence PROTECT.
    based_on = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    published_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["number"]
        constraints = [
            models.UniqueConstraint(
                fields=["is_active"],
                condition=models.Q(is_active=True),
                name="one_active_policy_version",
            ),
            models.CheckConstraint(
                condition=models.Q(is_active=False) | models.Q(status="published"),
                name="only_published_policy_is_active",
            ),
        ]

    def __str__(self) -> str:
        return f"v{self.number} ({self.status})"

    @property
    def is_draft(self) -> bool:
        return self.status == self.Status.DRAFT


# The fields of a rule that a policy admin writes, in the order they are shown and exported.
RULE_SPEC_FIELDS = (
    "name", "action_type", "agents", "condition", "mode", "approvals_required", "approver_role",
    "queue", "priority", "sla_seconds", "on_timeout", "escalation_tier", "explanation",
)  # fmt: skip


class Rule(models.Model):
    policy_version = models.ForeignKey(
        PolicyVersion, on_delete=models.CASCADE, related_name="rules"
    )
    position = models.PositiveIntegerField()
    name = models.SlugField(max_length=80)
    action_type = models.CharField(max_length=64, help_text="Exact key or glob, e.g. refund.*")
    agents = models.JSONField(default=list, blank=True, help_text="Agent names; empty means all")
    condition = models.TextField(default="true", help_text="CEL over params, context, agent")
    mode = models.CharField(max_length=20, choices=Mode.choices)
    approvals_required = models.PositiveSmallIntegerField(default=1)
    approver_role = models.CharField(max_length=64, default="supervisor")
    queue = models.CharField(max_length=64, blank=True)
    priority = models.CharField(max_length=8, choices=Priority.choices, default=Priority.NORMAL)
    sla_seconds = models.PositiveIntegerField(null=True, blank=True)
    on_timeout = models.CharField(
        max_length=16, choices=OnTimeout.choices, default=OnTimeout.EXPIRE
    )
    escalation_tier = models.CharField(max_length=32, blank=True)
    explanation = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["policy_version", "position"]
        constraints = [
            models.UniqueConstraint(
                fields=["policy_version", "position"], name="rule_position_unique"
            ),
            models.UniqueConstraint(fields=["policy_version", "name"], name="rule_name_unique"),
            models.CheckConstraint(
                condition=models.Q(approvals_required__gte=1, approvals_required__lte=2),
                name="rule_approvals_1_or_2",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.action_type} -> {self.mode})"

    def spec(self) -> dict[str, Any]:
        """The rule as a policy admin wrote it: every spec field, in the export order."""
        return {field: getattr(self, field) for field in RULE_SPEC_FIELDS}


class PublicationRequest(models.Model):
    """One policy admin's request to publish a draft or to make a published version active again,
    waiting for a second policy admin to confirm it (or for someone to withdraw it).

    Publishing decides what agents may do without a person, so no one admin does it alone; the
    database keeps the confirming admin from being the requesting one.
    """

    class Kind(models.TextChoices):
        PUBLISH = "publish", "Publish"
        ACTIVATE = "activate", "Activate"

    class State(models.TextChoices):
        PENDING = "pending", "Waiting for a second admin"
        CONFIRMED = "confirmed", "Confirmed"
        WITHDRAWN = "withdrawn", "Withdrawn"

    # A discarded draft takes its requests with it; the audit chain keeps their story.
    policy_version = models.ForeignKey(
        PolicyVersion, on_delete=models.CASCADE, related_name="publication_requests"
    )
    kind = models.CharField(max_length=16, choices=Kind.choices)
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING)
    # The publishing note, or the reason for an activation.
    note = models.CharField(max_length=500, blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    requested_at = models.DateTimeField()
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["requested_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["policy_version"],
                condition=models.Q(state="pending"),
                name="one_pending_publication_per_version",
            ),
            models.CheckConstraint(
                condition=~models.Q(state="confirmed")
                | (
                    models.Q(decided_by__isnull=False)
                    & ~models.Q(decided_by=models.F("requested_by"))
                ),
                name="publication_confirmed_by_a_second_admin",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} v{self.policy_version_id} ({self.state})"


# The fields of a tier that a policy admin writes, in the order they are shown and exported.
TIER_SPEC_FIELDS = (
    "key", "name", "handler_group", "handler_queue", "ack_sla_seconds", "resolve_sla_seconds",
    "next_tier", "renotify_seconds", "time_zone", "weekly_hours", "holidays", "is_default",
)  # fmt: skip


class Tier(models.Model):
    """An escalation tier: who handles its cases, how fast, and where a case goes when they don't.

    Tiers form chains through `next_tier` (l1 -> l2 -> finance); a tier is higher than another
    when the chain from the other reaches it. With `weekly_hours` set, SLA clocks count only
    business time in `time_zone`, skipping `holidays` (see `policies.business_hours`).
    """

    key = models.SlugField(max_length=32, unique=True)
    name = models.CharField(max_length=100)
    # Who handles its cases: members of this group, or members of this queue (at least one).
    handler_group = models.CharField(max_length=64, blank=True)
    handler_queue = models.CharField(max_length=64, blank=True)
    ack_sla_seconds = models.PositiveIntegerField(default=15 * 60)
    resolve_sla_seconds = models.PositiveIntegerField(default=4 * 3600)
    next_tier = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    # At the last tier a breached case stays open and its handlers are told again this often.
    renotify_seconds = models.PositiveIntegerField(default=3600)
    time_zone = models.CharField(max_length=64, default="UTC")
    # {"mon": [["09:00", "17:00"]], ...}; empty: every hour counts.
    weekly_hours = models.JSONField(default=dict, blank=True)
    holidays = models.JSONField(default=list, blank=True)  # ["2026-12-25", ...]
    # Where a case goes when nothing names a tier (a rule without one, an agent's plain hand-off).
    is_default = models.BooleanField(default=False)

    class Meta:
        ordering = ["key"]
        constraints = [
            models.UniqueConstraint(
                fields=["is_default"], condition=models.Q(is_default=True), name="one_default_tier"
            ),
            models.CheckConstraint(
                condition=~models.Q(handler_group="", handler_queue=""),
                name="tier_has_handlers",
            ),
            models.CheckConstraint(
                condition=models.Q(
                    ack_sla_seconds__gte=1, resolve_sla_seconds__gte=1, renotify_seconds__gte=60
                ),
                name="tier_slas_positive",
            ),
            models.CheckConstraint(
                condition=~models.Q(next_tier=models.F("id")), name="tier_next_is_another"
            ),
        ]

    def __str__(self) -> str:
        return self.key

    def spec(self) -> dict[str, Any]:
        """The tier as a policy admin wrote it: every spec field, the next tier by its key."""
        values = {field: getattr(self, field) for field in TIER_SPEC_FIELDS if field != "next_tier"}
        values["next_tier"] = self.next_tier.key if self.next_tier_id else ""
        return {field: values[field] for field in TIER_SPEC_FIELDS}

    def chain(self) -> list["Tier"]:
        """This tier and every tier above it, in order (a cycle ends the walk)."""
        seen: list[Tier] = []
        tier: Tier | None = self
        while tier is not None and tier not in seen:
            seen.append(tier)
            tier = tier.next_tier
        return seen
