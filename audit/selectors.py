"""Reading the audit log."""

from collections.abc import Iterable

from django.db.models import Q, QuerySet

from audit.models import AuditEvent

# Events are read in insertion order (`id`): an event is on the page before a sealer gave it its
# place in the chain (`seq`), which a commit that came later may give a later place than its id's.


def audit_events_for(*, object_type: str, object_id: str) -> QuerySet[AuditEvent]:
    return AuditEvent.objects.filter(object_type=object_type, object_id=str(object_id)).order_by(
        "id"
    )


def audit_events_for_objects(*, objects: Iterable[tuple[str, str]]) -> QuerySet[AuditEvent]:
    """The events of several objects (`(object_type, object_id)` pairs) in insertion order."""
    match = Q(pk__in=[])
    for object_type, object_id in objects:
        match |= Q(object_type=object_type, object_id=str(object_id))
    return AuditEvent.objects.filter(match).order_by("id")
