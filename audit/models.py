"""The append-only, hash-chained audit log."""

import json

import pgtrigger
from django.db import models
from django.db.models import Q

# Raised by the append-only guard; the app's database role is refused before it by its privileges.
APPEND_ONLY_REFUSAL = """
    RAISE EXCEPTION 'audit_auditevent is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
"""
# The one UPDATE the log allows: a sealer giving an unsealed event its seal. A seal is never
# changed, nor the content of any event, sealed or not.
SEAL_ONCE = """
    IF OLD.seq IS NOT NULL OR OLD.prev_hash IS NOT NULL OR OLD.hash IS NOT NULL
       OR NEW.seq IS NULL OR NEW.prev_hash IS NULL OR NEW.hash IS NULL
       OR (NEW.id, NEW.occurred_at, NEW.actor_kind, NEW.actor_id, NEW.verb, NEW.object_type,
           NEW.object_id, NEW.data::text, NEW.request_id)
          IS DISTINCT FROM
          (OLD.id, OLD.occurred_at, OLD.actor_kind, OLD.actor_id, OLD.verb, OLD.object_type,
           OLD.object_id, OLD.data::text, OLD.request_id) THEN
        RAISE EXCEPTION 'audit_auditevent is append-only: % refused (a seal is set once)', TG_OP
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
"""


def json_text(value) -> str:
    """The JSON text an event's data is stored as (and its hash covers)."""
    return json.dumps(value)


class JSONText(models.JSONField):
    """JSON kept as the text written: a PostgreSQL `json` column, not `jsonb`, so what is read
    back as text is byte for byte what was written and hashed, and reading it as text costs no
    rendering (jsonb renders its binary form again on every read). Key lookups (`data__key`)
    work on it; jsonb's containment operators do not."""

    def db_type(self, connection):
        return "json"

    def get_db_prep_value(self, value, connection, prepared=False):
        if isinstance(value, models.expressions.Expression) or value is None:
            return super().get_db_prep_value(value, connection, prepared)
        return json_text(value)

    def from_db_value(self, value, expression, connection):
        if not isinstance(value, str):
            return value  # psycopg parses `json` itself
        return super().from_db_value(value, expression, connection)


class ActorKind(models.TextChoices):
    USER = "user", "User"
    AGENT = "agent", "Agent"
    SYSTEM = "system", "System"


@pgtrigger.register(
    # A statement-level trigger: TRUNCATE fires no row triggers, and a refused DELETE is refused
    # whether it matches rows or not. The test suite's flush, which truncates every table between
    # transactional tests, passes it with `pgtrigger.ignore` (tests/conftest.py).
    pgtrigger.Trigger(
        name="audit_append_only",
        level=pgtrigger.Statement,
        when=pgtrigger.Before,
        operation=pgtrigger.Delete | pgtrigger.Truncate,
        func=APPEND_ONLY_REFUSAL,
    ),
    # UPDATE is judged row by row: only sealing an unsealed event passes.
    pgtrigger.Trigger(
        name="audit_seal_once",
        level=pgtrigger.Row,
        when=pgtrigger.Before,
        operation=pgtrigger.Update,
        func=SEAL_ONCE,
    ),
)
class AuditEvent(models.Model):
    # Insertion order: what orders events before they are sealed (an id rolled back is skipped).
    id = models.BigAutoField(primary_key=True)
    # The seal, set once after commit by a sealer holding the seal lock (`audit.chain`): the
    # position in the chain (contiguous from 1: no gap, no fork), the previous event's hash and
    # this event's. Null until then.
    seq = models.BigIntegerField(null=True, blank=True, unique=True)
    occurred_at = models.DateTimeField()
    actor_kind = models.CharField(max_length=16, choices=ActorKind.choices)
    actor_id = models.CharField(max_length=64, blank=True)
    verb = models.CharField(max_length=64)
    object_type = models.CharField(max_length=64)
    object_id = models.CharField(max_length=64)
    data = JSONText(default=dict)
    request_id = models.CharField(max_length=64, blank=True)
    # Null, not "", until sealed: "no seal yet" is not a value, and `hash` is unique.
    prev_hash = models.CharField(max_length=64, null=True, blank=True)  # noqa: DJ001
    hash = models.CharField(max_length=64, unique=True, null=True, blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(fields=["object_type", "object_id", "id"], name="audit_event_object"),
            # What sealers look for: small however long the log grows.
            models.Index(fields=["id"], condition=Q(seq__isnull=True), name="audit_event_unsealed"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(seq__isnull=True, prev_hash__isnull=True, hash__isnull=True)
                | Q(seq__gte=1, prev_hash__isnull=False, hash__isnull=False),
                name="audit_event_sealed_whole",
            )
        ]

    def __str__(self) -> str:
        return f"#{self.id} {self.verb} {self.object_type}:{self.object_id}"

    def data_text(self) -> str:
        return json_text(self.data)
