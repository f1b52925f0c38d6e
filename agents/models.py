"""API clients (agents) and their hashed API keys."""

from django.conf import settings
from django.db import models


class Agent(models.Model):
    name = models.SlugField(max_length=64, unique=True)
    description = models.CharField(max_length=200, blank=True)
    is_active = models.BooleanField(default=True)
    # May read the sandbox backend's orders (GET /api/v1/sandbox/orders/{id}/); off by default.
    can_read_sandbox = models.BooleanField(default=False)
    # People who operate this agent may not approve its actions (four eyes).
    operators = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="agents")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class ApiKey(models.Model):
    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="api_keys")
    # Only the prefix is kept in clear, to find the row and to show which key is which.
    prefix = models.CharField(max_length=16, unique=True)
    hashed_key = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.agent.name}:{self.prefix}"


class CircuitBreaker(models.Model):
    """A rolling cap on what one agent does without a human: count and/or money per window.

    `agent` empty means every agent, each counted on its own. Only decisions in `modes` are
    counted and held (by default executions without a human, `execute_limited`).
    """

    name = models.SlugField(max_length=64, unique=True)
    action_type = models.CharField(max_length=64, help_text="Exact key or glob, e.g. refund.*")
    agent = models.ForeignKey(
        Agent, on_delete=models.CASCADE, null=True, blank=True, related_name="breakers"
    )
    max_count = models.PositiveIntegerField(null=True, blank=True)
    # Integer minor units, compared per currency: 100000 is 1,000.00 USD and 1,000.00 EUR apart.
    max_amount = models.BigIntegerField(null=True, blank=True)
    window_seconds = models.PositiveIntegerField()
    modes = models.JSONField(default=list, help_text="Decision modes counted and held")
    # What is counted, in the plural, for explanations: "21 refunds / 1,050.00 USD in 10 min".
    label = models.CharField(max_length=40, default="actions")
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(max_count__isnull=False) | models.Q(max_amount__isnull=False),
                name="breaker_has_a_cap",
            ),
            models.CheckConstraint(
                condition=models.Q(max_amount__isnull=True) | models.Q(max_amount__gte=0),
                name="breaker_max_amount_not_negative",
            ),
            models.CheckConstraint(
                condition=models.Q(window_seconds__gte=1), name="breaker_window_positive"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class BreakerCounter(models.Model):
    """The row a submission locks per (breaker, agent), so counting and tripping are serialized.

    It holds no tally (the actions table is the truth); it says where counting starts after a
    reset, and which trip is open, so a tripped breaker is known from this one locked row.
    """

    breaker = models.ForeignKey(CircuitBreaker, on_delete=models.CASCADE, related_name="+")
    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="+")
    counting_since = models.DateTimeField(null=True, blank=True)
    open_trip = models.OneToOneField(
        "BreakerTrip", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["breaker", "agent"]
        constraints = [
            models.UniqueConstraint(
                fields=["breaker", "agent"], name="one_counter_per_breaker_agent"
            )
        ]

    def __str__(self) -> str:
        return f"{self.breaker_id}:{self.agent_id}"


class BreakerTrip(models.Model):
    """One trip of a breaker for one agent, open until a person resets it with a reason."""

    breaker = models.ForeignKey(CircuitBreaker, on_delete=models.PROTECT, related_name="trips")
    agent = models.ForeignKey(Agent, on_delete=models.PROTECT, related_name="breaker_trips")
    tripped_at = models.DateTimeField()
    # The figures that tripped it, counting the action that did.
    action_count = models.PositiveIntegerField()
    amount = models.BigIntegerField(null=True, blank=True)
    currency = models.CharField(max_length=3, blank=True)
    explanation = models.CharField(max_length=300)
    reset_at = models.DateTimeField(null=True, blank=True)
    reset_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    reset_reason = models.TextField(blank=True)

    class Meta:
        ordering = ["tripped_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["breaker", "agent"],
                condition=models.Q(reset_at__isnull=True),
                name="one_open_trip_per_breaker_agent",
            ),
            models.CheckConstraint(
                condition=models.Q(reset_at__isnull=True) | ~models.Q(reset_reason=""),
                name="trip_reset_has_a_reason",
            ),
        ]
        indexes = [
            models.Index(
                fields=["tripped_at"], condition=models.Q(reset_at__isnull=True), name="trip_open"
            )
        ]

    def __str__(self) -> str:
        return f"{self.breaker_id}:{self.agent_id}@{self.tripped_at:%Y-%m-%d %H:%M}"

    @property
    def is_open(self) -> bool:
        return self.reset_at is None
