"""The demo catalog: action types, escalation tiers, the demo policy, reason codes, roles, queues
and sandbox orders.

Docs, demos and tests rely on these; `load_demo` applies them and is safe to run again.
"""

from __future__ import annotations

from django.contrib.auth.models import Group
from django.db import transaction

from approvals.models import Queue
from approvals.services import breaker_save, queues_ensure, reason_code_save
from audit.services import Actor
from people.roles import Role
from policies.models import Mode, PolicyVersion, Rule
from policies.services import RULE_FIELDS, action_type_upsert, policy_publish
from policies.tiers import tiers_import
from sandbox.services import demo_orders_ensure

ROLES = tuple(Role.values)
# The queues the demo rules route to, and the default queue of actions whose rule names none.
DEMO_QUEUES = ("Refunds", "Account security", "Escalations", Queue.DEFAULT_NAME)

_ORDER_ID = {"type": "string", "pattern": "^[A-Z]{2,5}-[0-9]{1,12}$"}
_CUSTOMER_ID = {"type": "string", "pattern": "^[A-Z]{2,5}-[0-9]{1,12}$"}
_REASON = {"type": "string", "minLength": 1, "maxLength": 500}
_MONEY = {"type": "integer", "minimum": 1, "maximum": 10**12}
_CURRENCY = {"type": "string", "pattern": "^[A-Z]{3}$"}
# What identifies where a customer lives is kept for the executor only: audit events and callbacks
# mask it (`x-sensitive`, see config.redaction). The city and the country stay readable.
_STREET = {"type": "string", "maxLength": 200, "x-sensitive": "address"}
_HOUR, _DAY = 3600, 24 * 3600


def _obj(properties: dict, required: list[str]) -> dict:
    return {
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": False,
    }


ACTION_TYPES = [
    {
        "key": "refund.issue",
        "name": "Issue a refund",
        "default_mode": Mode.EXECUTE_GATED,
        "params_schema": _obj(
            {
                "order_id": _ORDER_ID,
                "amount": _MONEY,
                "currency": _CURRENCY,
                "reason": _REASON,
            },
            ["order_id", "amount", "currency", "reason"],
        ),
        "rollback_window_seconds": 7 * _DAY,
    },
    {
        "key": "order.cancel",
        "name": "Cancel an order",
        "default_mode": Mode.EXECUTE_GATED,
        "params_schema": _obj({"order_id": _ORDER_ID, "reason": _REASON}, ["order_id", "reason"]),
        "rollback_window_seconds": _DAY,
    },
    {
        "key": "address.change",
        "name": "Change a shipping address",
        "default_mode": Mode.EXECUTE_GATED,
        "params_schema": _obj(
            {
                "order_id": _ORDER_ID,
                "address": _obj(
                    {
                        "line1": {**_STREET, "minLength": 1},
                        "line2": _STREET,
                        "city": {"type": "string", "minLength": 1, "maxLength": 100},
                        "postal_code": {
                            "type": "string",
                            "maxLength": 20,
                            "x-sensitive": "address",
                        },
                        "country": {"type": "string", "pattern": "^[A-Z]{2}$"},
                    },
                    ["line1", "city"],
                ),
            },
            ["order_id", "address"],
        ),
        # Past this the parcel may be on its way to the new address.
        "rollback_window_seconds": 12 * _HOUR,
    },
    {
        "key": "credentials.reset",
        "name": "Reset a customer's credentials",
        "default_mode": Mode.EXECUTE_GATED,
        "params_schema": _obj(
            {"customer_id": _CUSTOMER_ID, "channel": {"enum": ["email", "sms"]}},
            ["customer_id"],
        ),
        # Never compensable (see sandbox.executors): the window only says when it succeeded.
        "rollback_window_seconds": _DAY,
    },
    {
        "key": "discount.apply",
        "name": "Apply a discount to an order",
        "default_mode": Mode.EXECUTE_GATED,
        "params_schema": _obj(
            {
                "order_id": _ORDER_ID,
                "amount": _MONEY,
                "currency": _CURRENCY,
                "code": {"type": "string", "pattern": "^[A-Z0-9-]{1,40}$"},
                "reason": _REASON,
            },
            ["order_id", "amount", "currency", "reason"],
        ),
        "rollback_window_seconds": 7 * _DAY,
    },
    {
        "key": "ticket.create",
        "name": "Open a support ticket",
        "default_mode": Mode.EXECUTE_LIMITED,
        "params_schema": _obj(
            {
                "customer_id": _CUSTOMER_ID,
                "order_id": _ORDER_ID,
                "subject": {"type": "string", "minLength": 1, "maxLength": 200},
                "body": {"type": "string", "maxLength": 5000},
                "priority": {"enum": ["low", "normal", "high"]},
            },
            ["customer_id", "subject"],
        ),
        "rollback_window_seconds": _DAY,
    },
    {
        "key": "preference.update",
        "name": "Update a customer's preferences",
        "default_mode": Mode.EXECUTE_LIMITED,
        "params_schema": _obj(
            {
                "customer_id": _CUSTOMER_ID,
                "preferences": {
                    "type": "object",
                    "properties": {
                        "marketing_emails": {"type": "boolean"},
                        "sms_notifications": {"type": "boolean"},
                        "language": {"type": "string", "pattern": "^[a-z]{2}$"},
                        "contact_channel": {"enum": ["email", "sms", "phone"]},
                    },
                    "minProperties": 1,
                    "additionalProperties": False,
                },
            },
            ["customer_id", "preferences"],
        ),
        "rollback_window_seconds": 30 * _DAY,
    },
    {
        "key": "order.cancel_and_refund",
        "name": "Cancel an order and refund it in full",
        "default_mode": Mode.EXECUTE_GATED,
        "params_schema": _obj({"order_id": _ORDER_ID, "reason": _REASON}, ["order_id", "reason"]),
        "rollback_window_seconds": _DAY,
    },
    {
        "key": "account.delete",
        "name": "Delete a customer account",
        "default_mode": Mode.FORBIDDEN,
        "params_schema": _obj({"customer_id": _CUSTOMER_ID, "reason": _REASON}, ["customer_id"]),
    },
]

# The types added for rollbacks (discount.apply, ticket.create, preference.update,
# order.cancel_and_refund) are decided by their type's default mode: gated for a discount and a
# cancel-and-refund (1 supervisor approval), limited for a ticket and a preference change.
DEMO_RULES = [
    {
        "name": "refund-over-500-escalates",
        "action_type": "refund.issue",
        "condition": "params.amount > 50000",
        "mode": Mode.ESCALATE,
        "escalation_tier": "l1-lead",
        "queue": "Escalations",
        "priority": "high",
        "explanation": (
            "refund {amount} > 500.00 limit for agent `{agent}`: escalated to the support leads"
        ),
    },
    {
        "name": "refund-over-50-needs-approval",
        "action_type": "refund.issue",
        "condition": "params.amount > 5000",
        "mode": Mode.EXECUTE_GATED,
        "approvals_required": 1,
        "approver_role": "supervisor",
        "queue": "Refunds",
        "sla_seconds": 4 * 3600,
        "explanation": "refund {amount} > 50.00 limit for agent `{agent}`: needs 1 approval",
    },
    {
        "name": "small-refund-executes",
        "action_type": "refund.issue",
        "condition": "params.amount <= 5000",
        "mode": Mode.EXECUTE_LIMITED,
        "explanation": "refund {amount} is within the 50.00 limit for agent `{agent}`",
    },
    {
        "name": "cancel-after-failed-payment-escalates",
        "action_type": "order.cancel",
        # The system of record says whether the payment failed (derived.*), not the agent
        # (context.* is the agent's own word, and the policy editor badges conditions reading it).
        "condition": "derived.order_payment_failed",
        "mode": Mode.ESCALATE,
        "escalation_tier": "finance",
        "queue": "Escalations",
        "explanation": "cancelling {params.order_id} after a failed payment: escalated to finance",
    },
    {
        "name": "credentials-reset-needs-a-human",
        "action_type": "credentials.reset",
        "condition": "true",
        "mode": Mode.EXECUTE_GATED,
        "approvals_required": 2,
        "approver_role": "supervisor",
        "queue": "Account security",
        "priority": "high",
        "explanation": (
            "credential resets always need a human: needs 2 approvals from different people"
        ),
    },
    {
        "name": "account-delete-forbidden",
        "action_type": "account.delete",
        "condition": "true",
        "mode": Mode.FORBIDDEN,
        "explanation": "agents may never delete accounts",
    },
]

# Escalation tiers, lowest first: a case the support leads do not acknowledge or resolve in time
# moves to the specialists, and theirs to finance. Each tier's handlers are the Django group of
# the same name; `./run` creates one demo handler in each (`DEMO_HANDLERS`).
_WEEKDAYS_9_TO_5 = {day: [["09:00", "17:00"]] for day in ("mon", "tue", "wed", "thu", "fri")}
_TIER = {"handler_queue": "", "renotify_seconds": _HOUR, "time_zone": "UTC", "weekly_hours": {},
         "holidays": [], "is_default": False}  # fmt: skip
DEMO_TIERS = [
    {
        **_TIER, "key": "l1-lead", "name": "L1 support leads", "handler_group": "l1-lead",
        "ack_sla_seconds": 15 * 60, "resolve_sla_seconds": _HOUR, "next_tier": "l2-specialist",
        "is_default": True,
    },
    {
        **_TIER, "key": "l2-specialist", "name": "L2 specialists",
        "handler_group": "l2-specialist", "ack_sla_seconds": 30 * 60,
        "resolve_sla_seconds": 4 * _HOUR, "next_tier": "finance",
    },
    {
        **_TIER, "key": "finance", "name": "Finance (billing escalations)",
        "handler_group": "finance", "ack_sla_seconds": _HOUR, "resolve_sla_seconds": 8 * _HOUR,
        "next_tier": "", "time_zone": "Europe/London", "weekly_hours": _WEEKDAYS_9_TO_5,
    },
]  # fmt: skip
# One demo handler per tier, named after the tier and in its group.
DEMO_HANDLERS = tuple((tier["handler_group"], tier["name"]) for tier in DEMO_TIERS)

REASON_CODES = [
    ("verified-eligible", "Verified: customer is eligible", ["approve", "adopt"]),
    ("goodwill", "Goodwill gesture", ["approve", "adopt"]),
    ("policy-exception", "Approved as a policy exception", ["approve", "adopt"]),
    ("suspected-fraud", "Suspected fraud", ["reject", "dismiss"]),
    ("outside-policy", "Outside policy", ["reject", "dismiss"]),
    ("duplicate-request", "Duplicate request", ["reject", "dismiss"]),
    ("insufficient-evidence", "Insufficient evidence", ["reject", "dismiss"]),
    ("not-needed", "Not needed: handled another way", ["dismiss"]),
    ("amount-corrected", "Amount corrected", ["edit"]),
    ("wrong-target", "Wrong order or customer corrected", ["edit"]),
    ("executed-in-error", "Executed in error", ["rollback"]),
    ("customer-request", "Customer asked to undo it", ["rollback"]),
    ("wrong-customer-or-order", "Applied to the wrong customer or order", ["rollback"]),
    ("confirmed-in-target", "Checked the target system: it applied the action", ["reconcile"]),
    ("absent-in-target", "Checked the target system: it did not apply the action", ["reconcile"]),
    ("needs-specialist", "Needs a specialist", ["escalate"]),
    ("customer-at-risk", "Customer at risk: needs a senior look", ["escalate"]),
]


def _normalized(rule: Rule) -> dict:
    return {field: getattr(rule, field) for field in sorted(RULE_FIELDS)}


def _active_rules_match(rules: list[dict]) -> bool:
    active = PolicyVersion.objects.filter(is_active=True).first()
    if active is None:
        return False
    current = [_normalized(r) for r in active.rules.order_by("position")]
    return current == [_normalized(Rule(**spec)) for spec in rules]


# More than 20 refunds executed without a human, or more than 1,000.00 USD of them, by one agent
# within 10 minutes holds that agent's further refunds for a human until someone resets it.
DEMO_BREAKERS = [
    {
        "name": "refund-burst",
        "action_type": "refund.*",
        "max_count": 20,
        "max_amount": 100000,
        "window_seconds": 600,
        "modes": [Mode.EXECUTE_LIMITED.value],
        "label": "refunds",
    },
]


def demo_breakers_ensure() -> int:
    """Save the demo breakers; how many were created or changed."""
    return sum(breaker_save(**spec, actor=Actor.system("load_demo"))[1] for spec in DEMO_BREAKERS)


def demo_tiers_ensure() -> int:
    """Save the demo tiers (their groups too); how many were created or changed."""
    with transaction.atomic():
        for tier in DEMO_TIERS:
            Group.objects.get_or_create(name=tier["handler_group"])
    return tiers_import(specs=DEMO_TIERS, actor=Actor.system("load_demo"))


def demo_queues_ensure() -> int:
    """Create the demo queues that do not exist yet; how many were created."""
    return queues_ensure(names=DEMO_QUEUES, actor=Actor.system("load_demo"))


def demo_load() -> dict[str, int]:
    """Apply the demo catalog. Publishes the demo policy only when the active one differs."""
    for spec in ACTION_TYPES:
        action_type_upsert(**spec)
    queues = demo_queues_ensure()
    with transaction.atomic():
        for name in ROLES:
            Group.objects.get_or_create(name=name)
    for code, label, kinds in REASON_CODES:
        reason_code_save(code=code, label=label, kinds=kinds, actor=Actor.system("load_demo"))
    tiers = demo_tiers_ensure()  # before the policy whose rules name them
    published = 0
    if not _active_rules_match(DEMO_RULES):
        policy_publish(rules=DEMO_RULES, note="demo policy", actor=Actor.system("load_demo"))
        published = 1
    orders = demo_orders_ensure()
    breakers = demo_breakers_ensure()
    return {
        "policies_published": published,
        "queues_created": queues,
        "tiers_saved": tiers,
        "orders_created": orders,
        "breakers_saved": breakers,
    }
