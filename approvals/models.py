"""Actions agents submit, the human decisions on them, the reason-code catalog and the queues."""

import hashlib
import json
import uuid

from django.conf import settings
from django.db import models


def params_digest(params) -> str:
    """The SHA-256 of `params` as canonical JSON (sorted keys, no spaces, UTF-8): what an approval
    is bound to, so execution can tell the params it runs from the ones a person approved."""
    canonical = json.dumps(params, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


class Status(models.TextChoices):
    SUBMITTED = "submitted", "Submitted"
    BLOCKED = "blocked", "Blocked"
    RECOMMENDED = "recommended", "Recommended"
    DRAFTED = "drafted", "Drafted"
    PENDING = "pending", "Pending"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"
    EXPIRED = "expired", "Expired"
    CANCELLED = "cancelled", "Cancelled"
    ESCALATED = "escalated", "Escalated"
    DISMISSED = "dismissed", "Dismissed"
    EXECUTING = "executing", "Executing"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    # The target may or may not have applied it (an ambiguous answer from a target that is not
    # idempotent): never retried automatically; a person finds out and records the outcome.
    NEEDS_RECONCILIATION = "needs_reconciliation", "Needs reconciliation"
    ROLLING_BACK = "rolling_back", "Rolling back"
    ROLLED_BACK = "rolled_back", "Rolled back"
    ROLLBACK_FAILED = "rollback_failed", "Rollback failed"


class Priority(models.IntegerChoices):
    """How urgent an action is for its reviewers; the queue sorts by it, then by SLA due time."""

    LOW = 10, "Low"
    NORMAL = 20, "Normal"
    HIGH = 30, "High"
    URGENT = 40, "Urgent"


# Statuses in which an action waits for a person (the queue page lists these).
AWAITING_STATUSES = ("pending", "recommended", "drafted")


class DecisionKind(models.TextChoices):
    APPROVE = "approve", "Approve"
    REJECT = "reject", "Reject"
    EDIT = "edit", "Edit"
    ESCALATE = "escalate", "Escalate"
    ROLLBACK = "rollback", "Rollback"
    # A person takes a recommendation or draft on as their own (it then executes) or drops it.
    ADOPT = "adopt", "Adopt"
    DISMISS = "dismiss", "Dismiss"
    # A person records what an execution of unknown outcome actually did.
    RECONCILE = "reconcile", "Reconcile"


class ReasonCode(models.Model):
    code = models.SlugField(max_length=64, unique=True)
    label = models.CharField(max_length=120)
    # Which decision kinds may use this code, e.g. ["approve"] or ["reject", "edit"].
    kinds = models.JSONField(default=list)
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return self.code

    def fits(self, kind: str) -> bool:
        """Whether people may give this code for a decision of `kind` (no kinds: any)."""
        return not self.kinds or kind in self.kinds


class Queue(models.Model):
    """A queue of actions and the people who work it: its members, and the members of its teams.

    An action belongs to the queue its policy rule names (`Action.queue` holds the name); an action
    whose rule names none belongs to the default queue, `Queue.DEFAULT_NAME`.
    """

    DEFAULT_NAME = "General"

    name = models.CharField(max_length=64, unique=True)
    slug = models.SlugField(max_length=64, unique=True)
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL, blank=True, related_name="approval_queues"
    )
    teams = models.ManyToManyField("auth.Group", blank=True, related_name="approval_queues")

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Action(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    agent = models.ForeignKey("agents.Agent", on_delete=models.PROTECT, related_name="actions")
    action_type = models.ForeignKey(
        "policies.ActionType", on_delete=models.PROTECT, related_name="actions"
    )
    status = models.CharField(max_length=24, choices=Status.choices, default=Status.SUBMITTED)
    # Increases with every change, so a client can tell a stale view from a fresh one.
    version = models.PositiveIntegerField(default=1)

    # What the agent sent. `params` is never overwritten; an edit stores `final_params`.
    params = models.JSONField()
    final_params = models.JSONField(null=True, blank=True)
    context = models.JSONField(default=dict, blank=True)
    intent = models.CharField(max_length=16, default="execute")
    callback_url = models.URLField(max_length=500, blank=True)
    # Denormalized from validated params for listing, sorting and search.
    amount = models.BigIntegerField(null=True, blank=True)
    currency = models.CharField(max_length=3, blank=True)
    order_ref = models.CharField(max_length=64, blank=True)

    # NULL, not "", means "no key": the partial unique constraint below only covers real keys.
    idempotency_key = models.CharField(max_length=255, null=True, blank=True)  # noqa: DJ001
    request_hash = models.CharField(max_length=64, blank=True)

    # The decision of the policy that was active at submission.
    mode = models.CharField(max_length=20)
    policy_version = models.ForeignKey(
        "policies.PolicyVersion", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    rule = models.ForeignKey(
        "policies.Rule", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    rule_name = models.CharField(max_length=80, blank=True)
    explanation = models.CharField(max_length=500)
    approvals_required = models.PositiveSmallIntegerField(default=0)
    approver_role = models.CharField(max_length=64, blank=True)
    queue = models.CharField(max_length=64, blank=True)
    priority = models.PositiveSmallIntegerField(choices=Priority.choices, default=Priority.NORMAL)
    # When a person should have decided; set for actions that wait for one (rule SLA or default).
    sla_due_at = models.DateTimeField(null=True, blank=True)
    # When the queue's subscribers are told "SLA at 80 %" (None once told, or not waiting).
    sla_warn_at = models.DateTimeField(null=True, blank=True)

    # Who is reviewing the action now. A claim past `claim_expires_at` is no claim at all.
    claimed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    claimed_at = models.DateTimeField(null=True, blank=True)
    claim_expires_at = models.DateTimeField(null=True, blank=True)

    result = models.JSONField(null=True, blank=True)
    error = models.JSONField(null=True, blank=True)
    # The execution attempt running now (or the last one). Each attempt holds a lease: who runs it
    # (`host:pid:task:attempt`) and until when. A lease past `lease_expires_at` is no lease: its
    # worker died or outran it, and the next delivery takes over as the next attempt. Between
    # attempts (a transient failure backing off) the owner is empty and the expiry is when the
    # next attempt is due.
    attempts = models.PositiveSmallIntegerField(default=0)
    lease_owner = models.CharField(max_length=200, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    execution_started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["agent", "idempotency_key"],
                condition=models.Q(idempotency_key__isnull=False),
                name="action_idempotency_key_per_agent",
            ),
            models.CheckConstraint(
                condition=models.Q(amount__isnull=True) | models.Q(amount__gte=0),
                name="action_amount_not_negative",
            ),
        ]
        indexes = [
            # The SLA sweep's "time is running out" scan.
            models.Index(
                fields=["sla_warn_at"],
                condition=models.Q(sla_warn_at__isnull=False),
                name="action_sla_warn_due",
            ),
            # Keyset pagination of the queue page: one index per sort order, awaiting actions only.
            models.Index(
                fields=["sla_due_at", "id"],
                condition=models.Q(status__in=AWAITING_STATUSES),
                name="action_awaiting_sla",
            ),
            # Keyset pages by priority compare one ascending row, (-priority, sla_due_at, id),
            # so the rank is an expression; and one index per sort order within a single queue.
            models.Index(
                models.F("priority") * -1,
                "sla_due_at",
                "id",
                condition=models.Q(status__in=AWAITING_STATUSES),
                name="action_awaiting_rank",
            ),
            models.Index(
                fields=["queue", "sla_due_at", "id"],
                condition=models.Q(status__in=AWAITING_STATUSES),
                name="action_awaiting_queue_sla",
            ),
            models.Index(
                "queue",
                models.F("priority") * -1,
                "sla_due_at",
                "id",
                condition=models.Q(status__in=AWAITING_STATUSES),
                name="action_awaiting_queue_rank",
            ),
            # The queue page's pending count per queue: an index-only scan, capped per queue.
            models.Index(
                fields=["queue"],
                condition=models.Q(status="pending"),
                name="action_pending_by_queue",
            ),
            # The queue page's recent list: what no longer waits for a person, latest change first.
            models.Index(
                fields=["-updated_at", "-id"],
                condition=~models.Q(status__in=AWAITING_STATUSES),
                name="action_recent",
            ),
            # The sweeper's look for executions whose lease ran out.
            models.Index(
                fields=["lease_expires_at"],
                condition=models.Q(status="executing"),
                name="action_executing_lease",
            ),
            models.Index(fields=["agent", "created_at"], name="action_agent_created"),
            models.Index(fields=["status", "updated_at"], name="action_status_updated"),
        ]

    def __str__(self) -> str:
        return f"{self.action_type_id}:{self.pk}"

    @property
    def effective_params(self) -> dict:
        return self.final_params if self.final_params is not None else self.params

    @property
    def effective_params_hash(self) -> str:
        return params_digest(self.effective_params)

    def claim_holder_id(self, now) -> int | None:
        """The id of the person whose claim is live at `now`, or None."""
        if self.claimed_by_id and self.claim_expires_at and self.claim_expires_at > now:
            return self.claimed_by_id
        return None


class Decision(models.Model):
    """One human decision on an action; two approvals are two rows."""

    action = models.ForeignKey(Action, on_delete=models.CASCADE, related_name="decisions")
    kind = models.CharField(max_length=16, choices=DecisionKind.choices)
    # None: the system decided (an SLA ran out); the audit event names which part.
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    reason_code = models.ForeignKey(
        ReasonCode, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    note = models.TextField(blank=True)
    # What the decider saw: the action's version, and the hash (`params_digest`) of the params
    # that would execute (an edit's: the params it sets). An approval counts only for the params
    # whose hash it holds, and execution refuses params no counted approval holds.
    action_version = models.PositiveIntegerField()
    params_hash = models.CharField(max_length=64, blank=True)
    # When the decider opened (claimed) the action they decided, if they held its claim: QA counts
    # decisions made within seconds of opening as rubber stamps.
    opened_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            # One approval per person per action: the database holds four eyes, not only the code.
            # Adopting a recommendation or draft counts as its adopter's approval.
            models.UniqueConstraint(
                fields=["action", "by"],
                condition=models.Q(kind__in=["approve", "adopt"]),
                name="one_approval_per_person",
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} of {self.action_id} by {self.by_id}"


class CallbackDelivery(models.Model):
    """One event to POST to an action's `callback_url`: written in the transaction that changed the
    action, so no committed change goes untold, and delivered (with retries) after commit."""

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Failed"

    action = models.ForeignKey(Action, on_delete=models.CASCADE, related_name="callbacks")
    event = models.CharField(max_length=32)
    payload = models.JSONField()
    status = models.CharField(max_length=16, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    # When the next attempt is due; while one is in flight, when it counts as lost.
    next_attempt_at = models.DateTimeField()
    last_error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [
            # The sweeper's scan: pending deliveries by due time.
            models.Index(
                fields=["next_attempt_at", "id"],
                condition=models.Q(status="pending"),
                name="callback_pending_due",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event} of {self.action_id} ({self.status})"
