"""Claims: who is reviewing an action now, renewing, taking over and releasing.

A claim is not a decision: it leaves `version` alone, so the version a reviewer decides on stays
the one they saw; `updated_at` orders claim pushes.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction

from approvals import rulebook
from approvals.models import Action
from approvals.services.kernel import clear_claim, lock_for, push_on_commit
from audit.events import Verb
from audit.services import Actor, audit_record
from config import clock

CLAIM_FIELDS = ["claimed_by", "claimed_at", "claim_expires_at", "updated_at"]


def action_claim(*, action_id: Any, by, takeover_reason: str = "", request_id: str = "") -> Action:
    """Claim an action that waits for a person, for `CLAIM_SECONDS`; claiming it again renews.

    Someone else's live claim is refused with who holds it and until when, unless a senior
    supervisor takes it over with a reason (audited, and the holder sees it live).
    """
    takeover_reason = takeover_reason.strip()
    with transaction.atomic(durable=True):
        action, person = lock_for(action_id, by)
        now = clock.now()
        facts = rulebook.facts_of(action, now=now)
        rulebook.enforce(rulebook.may_claim(person, facts))
        rulebook.enforce(rulebook.may_claim_held(person, facts, takeover_reason=takeover_reason))
        holder = facts.claim_holder_id
        data: dict[str, Any] = {}
        if holder is not None and holder != by.pk:
            verb = Verb.ACTION_CLAIM_TAKEN_OVER
            data = {"previous": action.claimed_by.get_username(), "reason": takeover_reason}
        else:
            verb = None if holder == by.pk else Verb.ACTION_CLAIMED
        if verb is not None:
            action.claimed_at = now
        action.claimed_by = by
        action.claim_expires_at = now + timedelta(seconds=settings.COUNTERSIGN["CLAIM_SECONDS"])
        action.save(update_fields=CLAIM_FIELDS)
        if verb is not None:  # a renewal is not news for the audit log
            audit_record(
                actor=Actor.user(by.pk),
                verb=verb,
                object_type="action",
                object_id=action.pk,
                data={"expires_at": action.claim_expires_at.isoformat(), **data},
                request_id=request_id,
            )
        push_on_commit(action)
    return action


def action_release(
    *, action_id: Any, by, if_expires_at: datetime | None = None, request_id: str = ""
) -> Action:
    """Give up one's own claim. Releasing an action nobody holds changes nothing; someone else's
    live claim is theirs to release (409 `claimed_by_other`).

    `if_expires_at` releases only a claim nobody renewed since it was read: a page that is left
    sends the expiry it knew, so when the same person opens the action again (a reload, or the
    edit form) the release that the old page sends on its way out keeps the new page's claim.
    """
    with transaction.atomic(durable=True):
        action, _ = lock_for(action_id, by)
        now = clock.now()
        facts = rulebook.facts_of(action, now=now)
        holder = facts.claim_holder_id
        if holder is None:
            return action
        if holder == by.pk and if_expires_at and action.claim_expires_at > if_expires_at:
            return action
        if holder != by.pk:
            raise rulebook.claim_refusal(facts)
        clear_claim(action)
        action.save(update_fields=CLAIM_FIELDS)
        audit_record(
            actor=Actor.user(by.pk),
            verb=Verb.ACTION_RELEASED,
            object_type="action",
            object_id=action.pk,
            request_id=request_id,
        )
        push_on_commit(action)
    return action
