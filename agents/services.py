"""Creating agents, naming the people who operate them, and issuing, checking and revoking their
API keys."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.db import transaction

from agents.models import Agent, ApiKey
from audit.events import Verb
from audit.services import Actor, audit_record
from config import clock
from config.errors import Code, Conflict, InvalidInput

KEY_PREFIX = "cs"


@dataclass(frozen=True)
class IssuedKey:
    agent: Agent
    key: str  # shown once, never stored


def _hash_key(raw_key: str) -> str:
    # Keys carry 256 bits of randomness, so one SHA-256 is enough (no password stretching needed)
    # and keeps authentication cheap on every request.
    return hashlib.sha256(raw_key.encode()).hexdigest()


def _new_key() -> tuple[str, str]:
    prefix = secrets.token_hex(4)
    return prefix, f"{KEY_PREFIX}_{prefix}_{secrets.token_urlsafe(32)}"


def agent_create(
    *,
    name: str,
    description: str = "",
    can_read_sandbox: bool = False,
    actor: Actor | None = None,
) -> IssuedKey:
    if Agent.objects.filter(name=name).exists():
        raise Conflict(f"An agent named {name!r} already exists.", code=Code.AGENT_EXISTS)
    if not name or len(name) > 64:
        raise InvalidInput("An agent name is 1 to 64 characters.", code=Code.INVALID_AGENT_NAME)
    with transaction.atomic(durable=True):
        agent = Agent.objects.create(
            name=name, description=description, can_read_sandbox=can_read_sandbox
        )
        audit_record(
            actor=actor or Actor.system("cli"),
            verb=Verb.AGENT_CREATED,
            object_type="agent",
            object_id=agent.pk,
            data={"name": name, "can_read_sandbox": can_read_sandbox},
        )
        raw = _issue_key(agent=agent, actor=actor)
    return IssuedKey(agent=agent, key=raw)


def agent_issue_key(*, agent_id: int, actor: Actor | None = None) -> IssuedKey:
    with transaction.atomic(durable=True):
        agent = Agent.objects.get(pk=agent_id)
        raw = _issue_key(agent=agent, actor=actor)
    return IssuedKey(agent=agent, key=raw)


def _issue_key(*, agent: Agent, actor: Actor | None) -> str:
    prefix, raw = _new_key()
    ApiKey.objects.create(agent=agent, prefix=prefix, hashed_key=_hash_key(raw))
    audit_record(
        actor=actor or Actor.system("cli"),
        verb=Verb.API_KEY_ISSUED,
        object_type="agent",
        object_id=agent.pk,
        data={"prefix": prefix},
    )
    return raw


def agent_for_key(*, raw_key: str) -> Agent | None:
    """The active agent a key belongs to, or None. Constant-time comparison of the hash."""
    # The secret part is urlsafe base64 and may itself contain "_": split off the first two only.
    parts = raw_key.split("_", 2)
    if len(parts) != 3 or parts[0] != KEY_PREFIX:
        return None
    key = (
        ApiKey.objects.select_related("agent")
        .filter(prefix=parts[1], revoked_at__isnull=True, agent__is_active=True)
        .first()
    )
    if key is None or not hmac.compare_digest(key.hashed_key, _hash_key(raw_key)):
        return None
    return key.agent


def api_key_revoke(*, prefix: str, actor: Actor | None = None) -> bool:
    """Revoke one key by its prefix; False when there was no active key with it."""
    with transaction.atomic(durable=True):
        key = (
            ApiKey.objects.select_for_update()
            .filter(prefix=prefix, revoked_at__isnull=True)
            .first()
        )
        if key is None:
            return False
        key.revoked_at = clock.now()
        key.save(update_fields=["revoked_at"])
        audit_record(
            actor=actor or Actor.system("cli"),
            verb=Verb.API_KEY_REVOKED,
            object_type="agent",
            object_id=key.agent_id,
            data={"prefix": prefix},
        )
    return True


def agent_operators_change(
    *, agent_name: str, add: Iterable[str] = (), remove: Iterable[str] = (), actor: Actor
) -> list[str]:
    """Add people to, and remove people from, the operators of an agent; the usernames of its
    operators afterwards. Operators never review, decide, reconcile or reset breakers for the
    agent they run (the rulebook), so who operates what is audited like a role."""
    add, remove = sorted(set(add)), sorted(set(remove))
    if set(add) & set(remove):
        raise InvalidInput(
            f"Add or remove, not both: {sorted(set(add) & set(remove))}.",
            code=Code.INVALID_INPUT,
        )
    users = get_user_model().objects
    with transaction.atomic(durable=True):
        agent = Agent.objects.select_for_update().filter(name=agent_name).first()
        if agent is None:
            raise InvalidInput(f"No agent named {agent_name!r}.", code=Code.UNKNOWN_AGENT)
        named = {u.get_username(): u for u in users.filter(username__in=[*add, *remove])}
        missing = sorted((set(add) | set(remove)) - set(named))
        if missing:
            raise InvalidInput(f"No such person: {', '.join(missing)}.", code=Code.UNKNOWN_USER)
        current = set(agent.operators.values_list("username", flat=True))
        changes = [(u, Verb.AGENT_OPERATOR_ADDED) for u in add if u not in current]
        changes += [(u, Verb.AGENT_OPERATOR_REMOVED) for u in remove if u in current]
        for username, verb in changes:
            if verb == Verb.AGENT_OPERATOR_ADDED:
                agent.operators.add(named[username])
            else:
                agent.operators.remove(named[username])
            audit_record(
                actor=actor,
                verb=verb,
                object_type="agent",
                object_id=agent.pk,
                data={"agent": agent.name, "user_id": named[username].pk, "username": username},
            )
        return sorted(agent.operators.values_list("username", flat=True))
