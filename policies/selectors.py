"""Reading the action type catalog and the active policy."""

from __future__ import annotations

from config.errors import InvalidInput
from policies.engine import CompiledPolicy, Decision, DerivedValues, compiled_policy, decide
from policies.models import ActionType, PolicyVersion
from policies.validation import validate_params


def action_type_get(*, key: str) -> ActionType | None:
    return ActionType.objects.filter(key=key).first()


def active_policy() -> CompiledPolicy | None:
    version = PolicyVersion.objects.filter(is_active=True).order_by("-number").first()
    return compiled_policy(version) if version else None


def decision_for(
    *,
    agent_name: str,
    action_type: str,
    params: dict,
    context: dict,
    intent: str = "execute",
    derived: DerivedValues = None,
) -> tuple[ActionType, Decision]:
    """What the active policy decides for this action: validates it, records nothing.

    `derived` (values or a function returning them) is what conditions read as `derived.*`.
    """
    action_type_obj = action_type_get(key=action_type)
    if action_type_obj is None:
        raise InvalidInput(
            f"Unknown action type {action_type!r}.",
            code="unknown_action_type",
            details={"action_type": action_type},
        )
    validate_params(
        action_type_key=action_type, schema=action_type_obj.params_schema, params=params
    )
    decision = decide(
        policy=active_policy(),
        action_type=action_type_obj,
        agent_name=agent_name,
        params=params,
        context=context,
        intent=intent,
        derived=derived,
    )
    return action_type_obj, decision
