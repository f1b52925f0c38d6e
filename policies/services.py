"""Changing the action type catalog and publishing policy versions."""

from __future__ import annotations

import re
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


_SLUG = re.compile(r"^[-a-zA-Z0-9_]+$")
# Text fields and their column lengths: longer values are refused here, not by the database.
_TEXT_FIELDS = {
    "action_type": 64, "condition": 10_000, "approver_role": 64, "queue": 64,
    "escalation_tier": 32, "explanation": 300,
}  # fmt: skip


def _rule_error(where: str, message: str) -> InvalidInput:
    return InvalidInput(f"{where} {message}", code="invalid_rule", details={"where": where})


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _validate_rule(index: int, spec: Any) -> dict[str, Any]:
    where = f"rules[{index}]"
    if not isinstance(spec, dict):
        raise _rule_error(where, "is not an object")
    unknown = set(spec) - RULE_FIELDS
    if unknown:
        raise _rule_error(where, f"has unknown fields: {sorted(unknown)}")
    name = spec.get("name")
    if not isinstance(name, str) or not _SLUG.match(name) or len(name) > 80:
        raise _rule_error(where, "needs a name of letters, digits, - and _ (at most 80)")
    if not spec.get("action_type"):
        raise _rule_error(where, "needs an action_type")
    for field, limit in _TEXT_FIELDS.items():
        value = spec.get(field, "")
        if not isinstance(value, str) or len(value) > limit:
            raise _rule_error(where, f"{field} is text of at most {limit} characters")
    agents = spec.get("agents", [])
    if not isinstance(agents, list) or not all(isinstance(a, str) and a for a in agents):
        raise _rule_error(where, "agents is a list of agent names (empty for all)")
    if spec.get("mode") not in Mode.values:
        raise _rule_error(where, f"has mode {spec.get('mode')!r}; expected one of {Mode.values}")
    if spec.get("on_timeout", OnTimeout.EXPIRE) not in OnTimeout.values:
        raise _rule_error(where, "has an unknown on_timeout")
    approvals = spec.get("approvals_required", 1)
    if not _is_int(approvals) or approvals not in (1, 2):
        raise _rule_error(where, "approvals_required is 1 or 2")
    sla = spec.get("sla_seconds")
    if sla is not None and (not _is_int(sla) or sla < 0):
        raise _rule_error(where, "sla_seconds is a whole number of seconds")
    try:
        compile_condition(spec.get("condition", "true"))
    except ConditionError as exc:
        raise InvalidInput(
            f"{where} condition does not compile",
            code="invalid_condition",
            details={"rule": name, "position": exc.position, "error": str(exc)},
        ) from exc
    return spec


def _validate_rules(rules: Any) -> list[dict[str, Any]]:
    if not isinstance(rules, list):
        raise InvalidInput("rules is a list of rule objects", code="invalid_rule")
    specs = [_validate_rule(i, spec) for i, spec in enumerate(rules)]
    seen: set[str] = set()
    for i, spec in enumerate(specs):
        if spec["name"] in seen:
            raise _rule_error(f"rules[{i}]", f"repeats the name {spec['name']!r}")
        seen.add(spec["name"])
    return specs


def policy_publish(*, rules: list[dict[str, Any]], note: str = "", actor: Actor) -> PolicyVersion:
    """Create a new immutable version from rule specs, publish it and make it the active one."""
    specs = _validate_rules(rules)
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
