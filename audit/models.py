"""The append-only, hash-chained audit log."""

import pgtrigger
from django.db import models

# Raised by the append-only guard; the app's database role is refused before it by its privileges.
APPEND_ONLY_REFUSAL = """
    RAISE EXCEPTION 'audit_auditevent is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
"""


class ActorKind(models.TextChoices):
    USER = "user", "User"
    AGENT = "agent", "Agent"
    SYSTEM = "system", "System"


@pgtrigger.register(
    # One statement-level trigger: TRUNCATE fires no row triggers, and a refused UPDATE or DELETE
    # is refused whether it matches rows or not. The test suite's flush, which truncates every
    # table between transactional tests, passes it with `pgtrigger.ignore` (tests/conftest.py).
    pgtrigger.Trigger(
        name="audit_append_only",
        level=pgtrigger.Statement,
        when=pgtrigger.Before,
        operation=pgtrigger.Update | pgtrigger.Delete | pgtrigger.Truncate,
        func=APPEND_ONLY_REFUSAL,
    )
)
class AuditEvent(models.Model):
    # The sequence number is assigned under a lock, so the chain has no gaps and no forks.
    seq = models.BigIntegerField(primary_key=True)
    occurred_at = models.DateTimeField()
    actor_kind = models.CharField(max_length=16, choices=ActorKind.choices)
    actor_id = models.CharField(max_length=64, blank=True)
    verb = models.CharField(max_length=64)
    object_type = models.CharField(max_length=64)
    object_id = models.CharField(max_length=64)
    data = models.JSONField(default=dict)
    request_id = models.CharField(max_length=64, blank=True)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)

    class Meta:
        ordering = ["seq"]
        indexes = [models.Index(fields=["object_type", "object_id", "seq"])]

    def __str__(self) -> str:
        return f"#{self.seq} {self.verb} {self.object_type}:{self.object_id}"
