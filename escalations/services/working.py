"""A handler works a case: acknowledges it (like a claim: others see who), or passes it on."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction

from approvals import rulebook
from audit.events import Verb
from audit.services import Actor
from config import clock
from config.errors import Code, Conflict, InvalidInput
from escalations.models import Escalation
from escalations.selectors import tier_facts
from escalations.services.kernel import enter_tier, lock_case_for, move_case, tell, tier_named
from escalations.transitions import Move
from notifications.events import Event


class StaleCase(Conflict):
    default_code = Code.STALE_VERSION


def check_case_version(case: Escalation, expected_version: int | None) -> None:
    if expected_version is not None and expected_version != case.version:
        raise StaleCase(
            "This case changed since you loaded it; review the fresh state and act again.",
            details={"current_version": case.version, "status": case.status},
        )


def case_acknowledge(
    *, case_id: Any, by, expected_version: int | None = None, request_id: str = ""
) -> Escalation:
    """A handler takes the case: the acknowledge clock stops, and others see who has it."""
    with transaction.atomic(durable=True):
        case, _ = lock_case_for(case_id, by, rulebook.may_acknowledge_case)
        check_case_version(case, expected_version)
        case.acknowledged_by = by
        case.acknowledged_at = clock.now()
        move_case(case, Move.ACKNOWLEDGE, actor=Actor.user(by.pk),
                  verb=Verb.ESCALATION_ACKNOWLEDGED, request_id=request_id)  # fmt: skip
    return case


def case_reassign(
    *, case_id: Any, by, reason: str, tier: str = "", to_user: Any = None,
    expected_version: int | None = None, request_id: str = "",
) -> Escalation:  # fmt: skip
    """Pass a case to another tier (its clocks start again there) and/or to one person, who must
    handle the case's (new) tier; a reason is required. The case is open again."""
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput("Reassigning a case needs a reason.", code=Code.REASON_REQUIRED)
    if not tier and to_user in (None, ""):
        raise InvalidInput(
            "Say where the case goes: a tier, a person, or both.", code=Code.INVALID_INPUT
        )
    with transaction.atomic(durable=True):
        case, _ = lock_case_for(case_id, by, rulebook.may_reassign_case)
        check_case_version(case, expected_version)
        previous = case.tier
        now = clock.now()
        target = tier_named(tier) if tier else case.tier
        assignee = _handler_of(target, to_user) if to_user not in (None, "") else None
        enter_tier(case, target, at=now)
        case.assignee = assignee
        move_case(
            case, Move.REASSIGN, actor=Actor.user(by.pk), verb=Verb.ESCALATION_REASSIGNED,
            data={"from_tier": previous.key, "to_user": getattr(assignee, "pk", None),
                  "reason": reason},
            previous_tier=previous.key, request_id=request_id,
        )  # fmt: skip
        tell(case, Event.CASE_OPENED, subject=f"Escalation reassigned to {target.name}")
    return case


def _handler_of(tier, user_ref: Any):
    """The person `user_ref` (id or username) names, if they handle `tier`."""
    users = get_user_model().objects.filter(is_active=True)
    user = (
        users.filter(pk=user_ref).first()
        if str(user_ref).isdigit()
        else users.filter(username=str(user_ref)).first()
    )
    if user is None or not rulebook.handles(rulebook.person_of(user), tier_facts(tier)):
        raise InvalidInput(
            f"{user_ref} does not handle the cases of {tier.name}.",
            code=Code.NOT_A_HANDLER,
            details={"to_user": str(user_ref), "tier": tier.key},
        )
    return user
