"""Deciding an action by the active policy: its action type and the active version in one read."""

from __future__ import annotations

from django.db import connection

from notifications.events import Event
from notifications.models import Subscription
from policies.engine import Decision as PolicyDecision
from policies.engine import compiled_policy_of, decide
from policies.models import ActionType, PolicyVersion
from policies.validation import action_type_checked
from sandbox.selectors import derived_values


def _action_type_deciding_sql() -> str:
    types, versions = ActionType._meta, PolicyVersion._meta
    subscriptions = Subscription._meta
    columns = ", ".join(f't."{f.column}"' for f in types.concrete_fields)
    # Every name here comes from the models' metadata; the values are parameters.
    return (
        f"SELECT {columns}, "  # noqa: S608
        f'(SELECT v."id" FROM "{versions.db_table}" v WHERE v."is_active" '
        f'ORDER BY v."number" DESC LIMIT 1) AS "active_policy_id", '
        f'(%s::text IS NOT NULL AND EXISTS (SELECT 1 FROM "{subscriptions.db_table}" s '
        f'WHERE s."is_active" AND s."events" @> jsonb_build_array(%s::text))) AS "listened" '
        f'FROM "{types.db_table}" t WHERE t."key" = %s'
    )


_ACTION_TYPE_DECIDING_SQL = _action_type_deciding_sql()
_ACTION_TYPE_FIELDS = ActionType._meta.concrete_fields
_ACTION_TYPE_ATTNAMES = [f.attname for f in _ACTION_TYPE_FIELDS]
# What the ORM would convert as it reads (the JSON of `params_schema`).
_ACTION_TYPE_CONVERTERS = [
    (i, f.from_db_value) for i, f in enumerate(_ACTION_TYPE_FIELDS) if hasattr(f, "from_db_value")
]


def _action_type_deciding(*, key: str, listeners_of: Event | None) -> ActionType | None:
    """The action type `key` with `active_policy_id` (the active version's id, or None) and
    `listened` (whether an active subscription chose `listeners_of`), in one query written as
    SQL: the submit path pays it on every action, where the ORM's building of the same query
    cost several times the query itself (bench/submit_inprocess.py)."""
    event = str(listeners_of) if listeners_of is not None else None
    with connection.cursor() as cursor:
        cursor.execute(_ACTION_TYPE_DECIDING_SQL, [event, event, key])
        row = cursor.fetchone()
    if row is None:
        return None
    values = list(row[: len(_ACTION_TYPE_FIELDS)])
    for i, convert in _ACTION_TYPE_CONVERTERS:
        values[i] = convert(values[i], None, connection)
    action_type = ActionType.from_db(connection.alias, _ACTION_TYPE_ATTNAMES, values)
    action_type.active_policy_id, action_type.listened = row[len(_ACTION_TYPE_FIELDS) :]
    return action_type


def policy_decision(
    *,
    agent_name: str,
    action_type: str,
    params: dict,
    context: dict,
    intent: str = "execute",
    listeners_of: Event | None = None,
) -> tuple[ActionType, PolicyDecision]:
    """The active policy's decision on an action, with `derived.*` read from the sandbox backend
    only if a condition that applies reads it.

    One query reads the action type and which version is active (never cached: a version activated
    by any process decides the very next action); the compiled version comes from this process's
    cache of immutable published versions. With `listeners_of`, the same query says whether any
    active subscription chose that event (`action_type.listened`), so a caller can skip telling
    nobody.
    """
    action_type_obj = action_type_checked(
        _action_type_deciding(key=action_type, listeners_of=listeners_of),
        key=action_type,
        params=params,
    )
    version_id = action_type_obj.active_policy_id
    decision = decide(
        policy=compiled_policy_of(version_id) if version_id is not None else None,
        action_type=action_type_obj,
        agent_name=agent_name,
        params=params,
        context=context,
        intent=intent,
        derived=lambda: derived_values(params=params),
    )
    return action_type_obj, decision
