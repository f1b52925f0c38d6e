"""A person's live sockets close when they sign out or their roles or queues change.

Sockets read a person's rights once, at connect; closing them makes the page reload and connect
again with the rights the person holds now (or go to the sign-in page). Wired to Django's signals
because roles change from more places than our services (the admin, the shell): the sign-out
signal, and any change to a person's groups or queue memberships, from either side.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_out
from django.db import transaction
from django.db.models.signals import m2m_changed

from approvals.models import Queue
from approvals.realtime.publish import publish_person_sockets_close

_CHANGES = frozenset({"post_add", "post_remove", "post_clear"})


def sockets_close_on_commit(user_ids) -> None:
    for user_id in sorted(set(user_ids)):
        transaction.on_commit(lambda user_id=user_id: publish_person_sockets_close(user_id=user_id))


def _signed_out(sender, request, user, **kwargs) -> None:
    if user is not None:
        sockets_close_on_commit([user.pk])


def _people_of(instance) -> list[int]:
    people = instance.members if isinstance(instance, Queue) else instance.user_set
    return list(people.values_list("pk", flat=True).order_by("pk"))


def _people_changed(sender, instance, action, pk_set, **kwargs) -> None:
    """A person's groups or queues changed (`instance` is the person), or a group's or queue's
    people did (`pk_set` holds them; a clear empties the set, so it is read just before)."""
    if isinstance(instance, get_user_model()):
        if action in _CHANGES:
            sockets_close_on_commit([instance.pk])
    elif action == "pre_clear":
        instance._people_before_clear = _people_of(instance)
    elif action == "post_clear":
        sockets_close_on_commit(getattr(instance, "_people_before_clear", []))
    elif action in _CHANGES:
        sockets_close_on_commit(pk_set or [])


def connect() -> None:
    """Wire the receivers (from the app's `ready`)."""
    user_logged_out.connect(_signed_out, dispatch_uid="person_sockets.signed_out")
    for through in (get_user_model().groups.through, Queue.members.through):
        m2m_changed.connect(
            _people_changed, sender=through, dispatch_uid=f"person_sockets.{through.__name__}"
        )
