"""The one lock every change to the permission map and its escalation tiers takes."""

from django.db import connection

# One constant key for pg_advisory_xact_lock: policy and tier changes are serialized across
# processes, so a rule naming a tier and that tier's deletion never pass each other.
_POLICY_LOCK_KEY = 0x0C0A5162


def lock_policies() -> None:
    """Hold the policy lock until the current transaction ends (taking it again is a no-op)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_POLICY_LOCK_KEY])
