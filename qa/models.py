"""QA: scorecards, sampling plans and the samples they draw, assignments, reviews (immutable,
amended by new versions), disputes, calibration sessions, and outcome feedback on actions."""

import secrets

import pgtrigger
from django.conf import settings
from django.db import models


class Period(models.TextChoices):
    DAILY = "daily", "Daily"
    WEEKLY = "weekly", "Weekly"


class Verdict(models.TextChoices):
    """Was the decision on the action right, and if not, what it should have been."""

    RIGHT = "right", "Right"
    SHOULD_APPROVE = "should_approve", "Should have been approved"
    SHOULD_REJECT = "should_reject", "Should have been rejected"
    SHOULD_EDIT = "should_edit", "Should have been edited"
    SHOULD_ESCALATE = "should_escalate", "Should have been escalated"


class RootCause(models.TextChoices):
    POLICY_GAP = "policy_gap", "Policy gap or unclear rule"
    MISREAD_CONTEXT = "misread_context", "Context misread"
    WRONG_AMOUNT = "wrong_amount", "Wrong amount"
    WRONG_REASON_CODE = "wrong_reason_code", "Wrong reason code"
    MISSING_EVIDENCE = "missing_evidence", "Decided without the evidence"
    RUBBER_STAMP = "rubber_stamp", "Approved without reading"
    AGENT_ERROR = "agent_error", "Agent proposed the wrong thing"
    CUSTOMER_FRAUD = "customer_fraud", "Customer fraud or abuse"
    SYSTEM_FAILURE = "system_failure", "System or integration failure"
    TRAINING_GAP = "training_gap", "Training gap"
    OTHER = "other", "Other"


class Scorecard(models.Model):
    """A scorecard kept as data. `categories` is a list of
    `{"key", "label", "weight", "critical", "allow_na"}`; each category is scored 0..`scale`
    (or N/A where allowed). A critical category scored 0 zeroes the whole score. A scorecard that
    reviews used keeps its categories: a change is a new scorecard."""

    slug = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=100)
    description = models.CharField(max_length=300, blank=True)
    scale = models.PositiveSmallIntegerField(default=4)
    categories = models.JSONField(default=list)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.slug


def _new_seed() -> str:
    return secrets.token_hex(8)


class SamplingPlan(models.Model):
    """What QA samples each period, how much, from where, and who reviews it.

    `scope` narrows the population: `{"action_types": [...], "modes": [...], "agents": [names],
    "rules": [names], "decided_by": "any" | "person" | "none"}` (empty lists: all).
    `strata` reserve shares of the sample: `[{"name", "where": {same keys as scope},
    "min_percent": 50}]`. `inclusions` name what is always included on top of the size:
    `{"rollbacks": bool, "unattended_above": {"amount": minor units, "currency": "USD"} | null,
    "overridden": bool, "rubber_stamps": bool, "negative_outcomes": bool}`.
    Exactly one of `size_count` and `size_percent` is set.
    """

    slug = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=100)
    description = models.CharField(max_length=300, blank=True)
    period = models.CharField(max_length=8, choices=Period.choices, default=Period.WEEKLY)
    size_count = models.PositiveIntegerField(null=True, blank=True)
    size_percent = models.PositiveSmallIntegerField(null=True, blank=True)
    scope = models.JSONField(default=dict, blank=True)
    strata = models.JSONField(default=list, blank=True)
    inclusions = models.JSONField(default=dict, blank=True)
    scorecard = models.ForeignKey(Scorecard, on_delete=models.PROTECT, related_name="plans")
    reviewers = models.ManyToManyField(
        settings.AUTH_USER_MODEL, blank=True, related_name="qa_plans"
    )
    # Share of sampled items given to a second reviewer, blind, for calibration.
    double_review_percent = models.PositiveSmallIntegerField(default=10)
    # With the period's start, it seeds the draw: the same plan and period draw the same sample.
    seed = models.CharField(max_length=32, default=_new_seed)
    is_active = models.BooleanField(default=True)
    # The first period drawn starts at or after this moment (periods are aligned to days and weeks
    # in UTC, weeks starting on Monday).
    starts_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.CheckConstraint(
                condition=(
                    models.Q(size_count__isnull=False, size_percent__isnull=True)
                    | models.Q(size_count__isnull=True, size_percent__isnull=False)
                ),
                name="qa_plan_one_size",
            ),
            models.CheckConstraint(
                condition=models.Q(size_percent__isnull=True) | models.Q(size_percent__lte=100),
                name="qa_plan_percent_at_most_100",
            ),
            models.CheckConstraint(
                condition=models.Q(double_review_percent__lte=100),
                name="qa_plan_double_at_most_100",
            ),
        ]

    def __str__(self) -> str:
        return self.slug


class Sample(models.Model):
    """One period's draw of a plan: reproducible from the plan's seed and the period."""

    plan = models.ForeignKey(SamplingPlan, on_delete=models.PROTECT, related_name="samples")
    period_start = models.DateTimeField()
    period_end = models.DateTimeField()
    seed = models.CharField(max_length=64)
    population = models.PositiveIntegerField(default=0)
    # How the sample was drawn: counts per stratum and inclusion, the size asked and given.
    explanation = models.JSONField(default=dict)
    drawn_at = models.DateTimeField()

    class Meta:
        ordering = ["-period_start", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["plan", "period_start"], name="qa_one_sample_per_period"
            )
        ]

    def __str__(self) -> str:
        return f"{self.plan_id}@{self.period_start:%Y-%m-%d}"


class SampleItem(models.Model):
    """One action drawn into a sample, and why: `random`, `stratum:<name>`, or `included:<kind>`
    (rollbacks, unattended_above, overridden, rubber_stamps, negative_outcomes)."""

    sample = models.ForeignKey(Sample, on_delete=models.CASCADE, related_name="items")
    action = models.ForeignKey("approvals.Action", on_delete=models.PROTECT, related_name="+")
    reason = models.CharField(max_length=100)
    rank = models.PositiveIntegerField()

    class Meta:
        ordering = ["sample", "rank", "id"]
        constraints = [
            models.UniqueConstraint(fields=["sample", "action"], name="qa_item_once_per_sample")
        ]

    def __str__(self) -> str:
        return f"{self.action_id} ({self.reason})"


class CalibrationSession(models.Model):
    """Several reviewers score the same actions blind; once revealed, everybody sees every score."""

    class State(models.TextChoices):
        OPEN = "open", "Open"
        REVEALED = "revealed", "Revealed"

    name = models.CharField(max_length=100)
    scorecard = models.ForeignKey(Scorecard, on_delete=models.PROTECT, related_name="+")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    state = models.CharField(max_length=10, choices=State.choices, default=State.OPEN)
    created_at = models.DateTimeField(auto_now_add=True)
    revealed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "id"]

    def __str__(self) -> str:
        return self.name


class Assignment(models.Model):
    """One action given to one reviewer: from a sample (`sample`, or `double` for the blind second
    review of a calibration share) or from a calibration session (`calibration`)."""

    class Kind(models.TextChoices):
        SAMPLE = "sample", "Sample"
        DOUBLE = "double", "Second review"
        CALIBRATION = "calibration", "Calibration"

    class State(models.TextChoices):
        OPEN = "open", "Open"
        SUBMITTED = "submitted", "Submitted"
        REMOVED = "removed", "Removed"

    action = models.ForeignKey("approvals.Action", on_delete=models.PROTECT, related_name="+")
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="qa_assignments"
    )
    item = models.ForeignKey(
        SampleItem, on_delete=models.PROTECT, null=True, blank=True, related_name="assignments"
    )
    session = models.ForeignKey(
        CalibrationSession, on_delete=models.PROTECT, null=True, blank=True,
        related_name="assignments",
    )  # fmt: skip
    scorecard = models.ForeignKey(Scorecard, on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=12, choices=Kind.choices, default=Kind.SAMPLE)
    state = models.CharField(max_length=10, choices=State.choices, default=State.OPEN)
    # The review that counts now (the latest version); None until one is submitted.
    review = models.ForeignKey(
        "Review", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    # A reassignment closes this row as removed and opens a new one pointing back here.
    reassigned_from = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    removed_reason = models.CharField(max_length=300, blank=True)
    assigned_at = models.DateTimeField()
    submitted_at = models.DateTimeField(null=True, blank=True)
    version = models.PositiveIntegerField(default=1)

    class Meta:
        ordering = ["assigned_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["item", "reviewer"],
                condition=models.Q(item__isnull=False) & ~models.Q(state="removed"),
                name="qa_item_once_per_reviewer",
            ),
            models.UniqueConstraint(
                fields=["session", "action", "reviewer"],
                condition=models.Q(session__isnull=False) & ~models.Q(state="removed"),
                name="qa_session_action_once_per_reviewer",
            ),
            models.CheckConstraint(
                condition=models.Q(item__isnull=True) | models.Q(session__isnull=True),
                name="qa_assignment_one_source",
            ),
        ]
        indexes = [
            models.Index(fields=["reviewer", "state", "assigned_at"], name="qa_assignment_inbox"),
        ]

    def __str__(self) -> str:
        return f"{self.action_id} to {self.reviewer_id} ({self.state})"


@pgtrigger.register(
    pgtrigger.Protect(name="review_append_only", operation=pgtrigger.Update | pgtrigger.Delete)
)
class Review(models.Model):
    """A submitted review: never changed. An amendment is a new row with the next `version` that
    `supersedes` the one before; the assignment points at the latest.

    `scores` maps category keys to 0..scale or None (N/A); `score` is the weighted percentage
    (0.00-100.00), zero when a critical category scored 0 (`critical_failed`). The structured
    verdicts are None where the reviewer said N/A."""

    assignment = models.ForeignKey(Assignment, on_delete=models.PROTECT, related_name="reviews")
    action = models.ForeignKey("approvals.Action", on_delete=models.PROTECT, related_name="+")
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    version = models.PositiveSmallIntegerField(default=1)
    supersedes = models.OneToOneField(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="superseded_by"
    )
    scorecard = models.ForeignKey(Scorecard, on_delete=models.PROTECT, related_name="+")
    scores = models.JSONField(default=dict)
    score = models.DecimalField(max_digits=5, decimal_places=2)
    critical_failed = models.BooleanField(default=False)
    verdict = models.CharField(max_length=16, choices=Verdict.choices)
    policy_followed = models.BooleanField(null=True, blank=True)
    reason_code_accurate = models.BooleanField(null=True, blank=True)
    amount_right = models.BooleanField(null=True, blank=True)
    problem_solved = models.BooleanField(null=True, blank=True)
    root_causes = models.JSONField(default=list, blank=True)
    note = models.TextField(blank=True)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["assignment", "version"], name="qa_review_version"),
        ]
        indexes = [models.Index(fields=["action", "created_at"], name="qa_review_action")]

    def __str__(self) -> str:
        return f"review {self.pk} v{self.version} of {self.action_id}"


class Dispute(models.Model):
    """The person who decided a reviewed action disputes the review; a QA lead upholds it (the
    review stands) or overturns it (the decision is counted as right)."""

    class State(models.TextChoices):
        OPEN = "open", "Open"
        UPHELD = "upheld", "Upheld"
        OVERTURNED = "overturned", "Overturned"

    review = models.ForeignKey(Review, on_delete=models.PROTECT, related_name="disputes")
    raised_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    reason = models.TextField()
    state = models.CharField(max_length=12, choices=State.choices, default=State.OPEN)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    decision_note = models.TextField(blank=True)
    created_at = models.DateTimeField()
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["review"],
                condition=models.Q(state="open"),
                name="qa_one_open_dispute_per_review",
            ),
        ]

    def __str__(self) -> str:
        return f"dispute {self.pk} of review {self.review_id} ({self.state})"


class OutcomeReport(models.Model):
    """What happened after an action, as its agent (or a system) reports it: one per action and
    source. A report is negative when the problem was not resolved, the customer came back, rated
    it 2 or less, or charged back."""

    action = models.ForeignKey("approvals.Action", on_delete=models.PROTECT, related_name="+")
    # "agent:<name>" for an agent's report.
    source = models.CharField(max_length=80)
    agent = models.ForeignKey(
        "agents.Agent", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    resolved = models.BooleanField()
    recontact_within_days = models.PositiveSmallIntegerField(null=True, blank=True)
    csat = models.PositiveSmallIntegerField(null=True, blank=True)
    chargeback = models.BooleanField(null=True, blank=True)
    note = models.TextField(blank=True)
    # SHA-256 of the canonical body: the same body again is a replay, another one a conflict.
    body_hash = models.CharField(max_length=64)
    negative = models.BooleanField(default=False)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["action", "source"], name="qa_one_outcome_per_source"),
            models.CheckConstraint(
                condition=models.Q(csat__isnull=True) | models.Q(csat__gte=1, csat__lte=5),
                name="qa_outcome_csat_1_to_5",
            ),
        ]

    def __str__(self) -> str:
        return f"outcome of {self.action_id} from {self.source}"
