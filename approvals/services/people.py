"""The queues and the people who work them: creating queues, adding members, creating people, and
recording changes of their roles."""

from __future__ import annotations

from collections.abc import Sequence, Set
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.text import slugify

from approvals.models import Queue
from audit.events import Verb
from audit.services import Actor, audit_record
from config.errors import Code, Conflict, InvalidInput
from people.roles import Role


def _queues_named(names: Sequence[str]) -> list[Queue]:
    """The queues called `names`, in that order; an unknown name is refused with the known ones."""
    wanted = [name.strip() for name in names if name.strip()]
    found = {q.name: q for q in Queue.objects.filter(name__in=wanted).order_by("name")}
    unknown = [name for name in wanted if name not in found]
    if unknown:
        known = list(Queue.objects.order_by("name").values_list("name", flat=True))
        raise InvalidInput(
            f"Unknown queue(s): {', '.join(unknown)}; known queues: "
            f"{', '.join(known) or 'none (run load_demo or create one)'}.",
            code=Code.UNKNOWN_QUEUE,
            details={"unknown": unknown, "known": known},
        )
    return [found[name] for name in dict.fromkeys(wanted)]


def queues_ensure(*, names: Sequence[str], actor: Actor) -> int:
    """Create the queues called `names` that do not exist yet; how many were created."""
    created = 0
    with transaction.atomic():
        for name in names:
            queue, is_new = Queue.objects.get_or_create(name=name, defaults={"slug": slugify(name)})
            if is_new:
                created += 1
                audit_record(
                    actor=actor,
                    verb=Verb.QUEUE_CREATED,
                    object_type="queue",
                    object_id=queue.pk,
                    data={"name": name, "slug": queue.slug},
                )
    return created


def queue_members_add(*, user, queue_names: Sequence[str], actor: Actor) -> list[str]:
    """Make `user` a member of the named queues (already a member: nothing changes); the names of
    the queues they newly joined."""
    queues = _queues_named(queue_names)
    with transaction.atomic():
        joined = [q for q in queues if not q.members.filter(pk=user.pk).exists()]
        for queue in joined:
            queue.members.add(user)
            audit_record(
                actor=actor,
                verb=Verb.QUEUE_MEMBER_ADDED,
                object_type="queue",
                object_id=queue.pk,
                data={"queue": queue.name, "user": user.get_username()},
                verbatim=("user",),
            )
    return [q.name for q in joined]


def supervisor_create(
    *,
    username: str,
    password: str,
    role: str = "supervisor",
    queues: Sequence[str] = (),
    teams: Sequence[str] = (),
) -> Any:
    """A person who works the queues named `queues`, in one of the roles (a Django group), and a
    member of the groups named `teams` (e.g. the group that handles an escalation tier)."""
    if role not in Role.values:
        raise InvalidInput(
            f"Unknown role {role!r}; one of {', '.join(Role.values)}.", code=Code.UNKNOWN_ROLE
        )
    queue_objs = _queues_named(queues)
    user_model = get_user_model()
    if user_model.objects.filter(username=username).exists():
        raise Conflict(f"A user named {username!r} already exists.", code=Code.USER_EXISTS)
    try:
        validate_password(password, user_model(username=username))
    except ValidationError as exc:
        raise InvalidInput(" ".join(exc.messages), code=Code.WEAK_PASSWORD) from exc
    with transaction.atomic(durable=True):
        user = user_model.objects.create_user(username=username, password=password)
        for name in (role, *teams):
            group, _ = Group.objects.get_or_create(name=name)
            user.groups.add(group)
        for queue in queue_objs:
            queue.members.add(user)
        audit_record(
            actor=Actor.system("cli"),
            verb=Verb.USER_CREATED,
            object_type="user",
            object_id=user.pk,
            data={
                "username": username,
                "role": role,
                "queues": [q.name for q in queue_objs],
                **({"teams": list(teams)} if teams else {}),
            },
            verbatim=("username",),
        )
    return user


def user_roles_record(*, user, before: Set[str], after: Set[str], actor: Actor) -> None:
    """Audit how a person's roles changed (groups, and superuser and staff as roles), one event
    per role gained or lost. It records a change someone else made (the admin's user page), so it
    joins their transaction: both commit together or neither does."""
    with transaction.atomic():
        for verb, roles in (
            (Verb.USER_ROLE_ADDED, sorted(after - before)),
            (Verb.USER_ROLE_REMOVED, sorted(before - after)),
        ):
            for role in roles:
                audit_record(
                    actor=actor,
                    verb=verb,
                    object_type="user",
                    object_id=user.pk,
                    data={"username": user.get_username(), "role": role},
                )
