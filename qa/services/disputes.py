"""The person who decided a reviewed action disputes the review; another QA lead decides it."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from approvals import rulebook
from audit.events import Verb
from audit.services import Actor, audit_record
from config import clock
from config.errors import Code, Conflict, InvalidInput, NotFound
from qa import selectors
from qa.models import Dispute, Review

TEXT_LIMIT = 2000
OUTCOMES = (Dispute.State.UPHELD, Dispute.State.OVERTURNED)


def _text(value: Any, *, what: str, code: Code) -> str:
    text = value.strip() if isinstance(value, str) else ""
    if not text:
        raise InvalidInput(f"Say {what}.", code=code)
    if len(text) > TEXT_LIMIT:
        raise InvalidInput(f"Keep it under {TEXT_LIMIT} characters.", code=Code.INVALID_INPUT,
                           details={"limit": TEXT_LIMIT})  # fmt: skip
    return text


def dispute_raise(*, review_id: Any, by, reason: str, request_id: str = "") -> Dispute:
    """Dispute the current review of an action one decided, once, with a reason."""
    with transaction.atomic(durable=True):
        review = selectors.review_get(review_id=review_id)
        # The review row never changes; locking it serializes two disputes of it.
        Review.objects.select_for_update().filter(pk=review.pk).first()
        person = rulebook.person_of(by)
        facts = selectors.review_facts(review, person)
        # Who may dispute is answered before what they typed: a review one may not see stays
        # unknown (404), whatever the reason says.
        rulebook.enforce(rulebook.may_see_review(person, facts))
        rulebook.enforce(rulebook.may_dispute(person, facts))
        reason = _text(reason, what="why you dispute this review", code=Code.REASON_REQUIRED)
        dispute = Dispute.objects.create(
            review=review, raised_by=by, reason=reason, created_at=clock.now()
        )
        audit_record(
            actor=Actor.user(by.pk), verb=Verb.QA_DISPUTE_RAISED, object_type="qa_dispute",
            object_id=str(dispute.pk),
            data={"review_id": review.pk, "action_id": str(review.action_id),
                  "reviewer_id": review.reviewer_id, "reason": reason},
            request_id=request_id,
        )  # fmt: skip
    return dispute


def dispute_decide(
    *, dispute_id: Any, by, outcome: str, note: str, request_id: str = ""
) -> Dispute:
    """Uphold the review (it stands) or overturn it (the decision counts as right), with a note;
    by a QA lead who neither wrote the review nor raised the dispute."""
    person = rulebook.person_of(by)
    # Someone who may not decide disputes is told so, whatever they typed.
    rulebook.enforce(rulebook.may_lead_qa(person))
    if outcome not in OUTCOMES:
        raise InvalidInput("Decide a dispute as upheld or overturned.", code=Code.INVALID_INPUT,
                           details={"outcome": str(outcome)[:32]})  # fmt: skip
    note = _text(note, what="why, in a note", code=Code.NOTE_REQUIRED)
    with transaction.atomic(durable=True):
        dispute = (
            Dispute.objects.select_for_update(of=("self",))
            .select_related("review")
            .filter(pk=selectors.dispute_get(dispute_id=dispute_id).pk)
            .first()
        )
        if dispute is None:
            raise NotFound("No such dispute.", code=Code.DISPUTE_NOT_FOUND)
        rulebook.enforce(rulebook.may_decide_dispute(
            person, reviewer_id=dispute.review.reviewer_id, raised_by_id=dispute.raised_by_id
        ))  # fmt: skip
        if dispute.state != Dispute.State.OPEN:
            raise Conflict(f"This dispute was already {dispute.state}.",
                           code=Code.DISPUTE_DECIDED)  # fmt: skip
        dispute.state = outcome
        dispute.decided_by = by
        dispute.decision_note = note
        dispute.decided_at = clock.now()
        dispute.save(update_fields=["state", "decided_by", "decision_note", "decided_at"])
        audit_record(
            actor=Actor.user(by.pk), verb=Verb.QA_DISPUTE_DECIDED, object_type="qa_dispute",
            object_id=str(dispute.pk),
            data={"review_id": dispute.review_id, "action_id": str(dispute.review.action_id),
                  "outcome": str(outcome), "note": note},
            request_id=request_id,
        )  # fmt: skip
    return dispute
