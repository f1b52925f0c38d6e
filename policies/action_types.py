"""The action type catalog: saving a type, and changing types' default modes (as a policy import
carries them, inside its transaction)."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from audit.events import Verb
from audit.services import Actor, audit_record
from config.errors import Code, InvalidInput
from policies.models import ActionType
from policies.validation import check_schema


def action_type_upsert(
    *,
    key: str,
    name: str,
    params_schema: dict[str, Any],
    default_mode: str,
    is_write: bool = True,
    rollback_window_seconds: int = 24 * 3600,
) -> ActionType:
    check_schema(params_schema)
    if not isinstance(rollback_window_seconds, int) or rollback_window_seconds < 1:
        raise InvalidInput(
            "rollback_window_seconds must be a positive whole number of seconds.",
            code=Code.INVALID_ROLLBACK_WINDOW,
        )
    with transaction.atomic():
        action_type, _ = ActionType.objects.update_or_create(
            key=key,
            defaults={
                "name": name,
                "params_schema": params_schema,
                "default_mode": default_mode,
                "is_write": is_write,
                "rollback_window_seconds": rollback_window_seconds,
            },
        )
    return action_type


def apply_default_modes(default_modes: dict[str, str], *, actor: Actor) -> None:
    for key in sorted(default_modes):
        action_type = ActionType.objects.select_for_update().get(key=key)
        before, after = action_type.default_mode, str(default_modes[key])
        if before == after:
            continue
        action_type.default_mode = after
        action_type.save(update_fields=["default_mode"])
        audit_record(
            actor=actor,
            verb=Verb.ACTION_TYPE_DEFAULT_MODE_CHANGED,
            object_type="action_type",
            object_id=key,
            data={"from": before, "to": after},
        )
