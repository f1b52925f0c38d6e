"""Changing the action type catalog and publishing policy versions."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from audit.events import Verb
from audit.services import Actor, audit_record
from config.errors import InvalidInput
from policies.engine import ConditionError, compile_condition
from policies.models import ActionType, Mode, OnTimeout, PolicyVersion, Rule
from policies.validation import check_schema

RULE_FIELDS = {
    "name", "action_type", "agents", "condition", "mode", "approvals_required", "approver_role",
    "queue", "sla_seconds", "on_timeout", "escalation_tier", "explanation",
}  # fmt: skip


def action_type_upsert(
    *, key: str, name: str, params_schema: dict[str, Any], default_mode: str, is_write: bool = True
) -> ActionType:
    check_schema(params_schema)
    with transaction.atomic():
        action_type, _ = ActionType.objects.update_or_create(
            key=key,
            defaults={
                "name": name,
                "params_schema": params_schema,
                "default_mode": default_mode,
                "is_write": is_write,
            },
        )
    return action_type


def _validate_rule(index: int, spec: dict[str, Any]) -> dict[str, Any]:
    unknown = set(spec) - RULE_FIELDS
    where = f"rules[{index}]"
    if unknown:
        raise InvalidInput(f"{where} has unknown fields: {sorted(unknown)}", code="invalid_rule")
    if not spec.get("name") or not spec.get("action_type"):
        raise InvalidInput(f"{where} needs a name and an action_type", code="invalid_rule")
    if spec.get("mode") not in Mode.values:
        raise InvalidInput(
            f"{where} has mode {spec.get('mode')!r}; expected one of {Mode.values}", code="invalid_rule"
        )
    if spec.get("on_timeout", OnTimeout.EXPIRE) not in OnTimeout.values:
        raise InvalidInput(f"{where} has an unknown on_timeout", code="invalid_rule")
    if spec.get("approvals_required", 1) not in (1, 2):
        raise InvalidInput(f"{where}: approvals_required is 1 or 2", code="invalid_rule")
    try:
        compile_condition(spec.get("condition", "true"))
    except ConditionError as exc:
        raise InvalidInput(
            f"{where} condition does not compile",
            code="invalid_condition",
            details={"rule": spec["name"], "position": exc.position, "error": str(exc)},
        ) from exc
    return spec


def policy_publish(*, rules: list[dict[str, Any]], note: str = "", actor: Actor) -> PolicyVersion:
    """Create a new immutable version from rule specs, publish it and make it the active one."""
    specs = [_validate_rule(i, spec) for i, spec in enumerate(rules)]
    with transaction.atomic(durable=True):
        # Serialize publishers so version numbers and the active flag never race.
        list(PolicyVersion.objects.select_for_update().filter(is_active=True))
        number = (PolicyVersion.objects.aggregate(n=Max("number"))["n"] or 0) + 1
        PolicyVersion.objects.filter(is_active=True).update(is_active=False)
        version = PolicyVersion.objects.create(
            number=number,
            status=PolicyVersion.Status.PUBLISHED,
            is_active=True,
            note=note,
            published_at=timezone.now(),
        )
        Rule.objects.bulk_create(
            Rule(policy_version=version, position=i + 1, **spec) for i, spec in enumerate(specs)
        )
        audit_record(
            actor=actor,
            verb=Verb.POLICY_PUBLISHED,
            object_type="policy_version",
            object_id=version.number,
            data={"note": note, "rules": specs},
        )
    return version
