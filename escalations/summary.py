"""The hand-off summary a case carries: who, what the agent did and proposes, and why it is here.

What the agent states (`given`) wins over what Countersign reads from the action; amounts and
targets always come from the action's validated params, never from agent prose.
"""

from __future__ import annotations

from typing import Any

from policies.money import params_money_text

FIELDS = (
    "customer_id", "order_id", "what_agent_did", "what_agent_proposes", "customer_words",
    "sentiment",
)  # fmt: skip
# How much of the customer's words a handler reads first; the action page holds the rest.
WORDS_EXCERPT = 500
LIMITS = {"customer_id": 64, "order_id": 64, "what_agent_did": 1000,
          "what_agent_proposes": 1000, "customer_words": 4000, "sentiment": 32}  # fmt: skip


def _text(value: Any, limit: int) -> str:
    return value.strip()[:limit] if isinstance(value, str) else ""


def summary_of(action=None, given: dict[str, Any] | None = None) -> dict[str, Any]:
    given = given or {}
    summary = {field: _text(given.get(field), LIMITS[field]) for field in FIELDS}
    if action is not None:
        params = action.final_params or action.params or {}
        context = action.context or {}
        money = params_money_text(params)
        proposes = f"{action.action_type.name}" + (f" of {money}" if money else "")
        if action.order_ref:
            proposes += f" on {action.order_ref}"
        fallback = {
            "customer_id": params.get("customer_id") or context.get("customer_id"),
            "order_id": action.order_ref or context.get("order_id"),
            "what_agent_did": f"Submitted {action.action_type.key} ({action.status})",
            "what_agent_proposes": proposes,
            "customer_words": context.get("customer_words") or context.get("customer_message"),
            "sentiment": context.get("sentiment"),
        }
        for field in FIELDS:
            if not summary[field]:
                summary[field] = _text(fallback[field], LIMITS[field])
        summary.update(
            action_id=str(action.pk),
            action_type=action.action_type.key,
            amount=money,
            rule=action.rule_name,
            explanation=action.explanation,
        )
    summary["customer_words"] = summary["customer_words"][:WORDS_EXCERPT]
    return summary
