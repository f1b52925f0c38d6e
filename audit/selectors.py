"""Reading the audit log."""

from collections.abc import Iterable

from django.db.models import Q, QuerySet

from audit.models import AuditEvent


def audit_events_for(*, object_type: str, object_id: str) -> QuerySet[AuditEvent]:
    return AuditEvent.objects.filter(object_type=object_type, object_id=str(object_id)).order_by(
        "seq"
    )


def audit_events_for_objects(*, objects: Iterable[tuple[str, str]]) -> QuerySet[AuditEvent]:
    """The events of several objects (`(object_type, object_id)` pairs) in one log order."""
    match = Q(pk__in=[])
    for object_type, object_id in objects:
        match |= Q(object_type=object_type, object_id=str(object_id))
    return AuditEvent.objects.filter(match).order_by("seq")
