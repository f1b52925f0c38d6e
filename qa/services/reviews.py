"""A reviewer submits the review of an assignment, or amends it with a new version."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import transaction

from approvals import rulebook
from audit.events import Verb
from audit.services import Actor, audit_record
from config import clock
from config.errors import Code, InvalidInput, NotFound
from qa import selectors
from qa.models import Assignment, Review, RootCause, Verdict
from qa.scoring import score_review

NOTE_LIMIT = 4000
ROOT_CAUSE_LIMIT = 10
STRUCTURED = ("policy_followed", "reason_code_accurate", "amount_right", "problem_solved")


def _refuse(message: str, **details: Any) -> InvalidInput:
    return InvalidInput(message, code=Code.INVALID_REVIEW, details=details)


def _checked_input(
    *, verdict: Any, structured: dict[str, Any], root_causes: Any, note: Any
) -> tuple[str, list[str], str]:
    """(verdict, root causes, note) as a review stores them, or `InvalidInput` saying which."""
    if verdict not in Verdict.values:
        raise _refuse(f"The verdict must be one of: {', '.join(Verdict.values)}.",
                      field="verdict")  # fmt: skip
    for name, value in structured.items():
        if value is not None and not isinstance(value, bool):
            raise _refuse(f"{name} must be true, false or null (N/A).", field=name)
    if isinstance(root_causes, str) or not isinstance(root_causes, Iterable):
        raise _refuse("root_causes must be a list.", field="root_causes")
    causes = list(root_causes)
    if len(causes) > ROOT_CAUSE_LIMIT:
        raise _refuse(f"Name at most {ROOT_CAUSE_LIMIT} root causes.", field="root_causes")
    unknown = [str(c)[:64] for c in causes if c not in RootCause.values]
    if unknown:
        raise _refuse("Unknown root causes.", field="root_causes", unknown=unknown,
                      known=list(RootCause.values))  # fmt: skip
    if len(set(causes)) != len(causes):
        raise _refuse("Name each root cause once.", field="root_causes")
    if not isinstance(note, str):
        raise _refuse("The note must be text.", field="note")
    note = note.strip()
    if len(note) > NOTE_LIMIT:
        raise _refuse(f"The note is longer than {NOTE_LIMIT} characters.", field="note")
    return verdict, causes, note


def _lock_assignment(assignment_id: Any) -> Assignment:
    try:
        pk = int(str(assignment_id))
    except ValueError:
        pk = None
    assignment = (
        Assignment.objects.select_for_update(of=("self",))
        .select_related("action", "session", "scorecard", "review")
        .filter(pk=pk)
        .first()
        if pk is not None and 0 < pk < 2**63
        else None
    )
    if assignment is None:
        raise NotFound("No such assignment.", code=Code.ASSIGNMENT_NOT_FOUND)
    return assignment


def review_submit(
    *, assignment_id: Any, by, scores: Any, verdict: Any, policy_followed: Any = None,
    reason_code_accurate: Any = None, amount_right: Any = None, problem_solved: Any = None,
    root_causes: Any = (), note: Any = "", request_id: str = "",
) -> Review:  # fmt: skip
    """Review one's own assignment on its scorecard. The first review is version 1; once there
    is one, submitting again amends it: a new version that supersedes the last (reviews are never
    changed), and it needs a note saying why. Audited in the same transaction."""
    structured = {
        "policy_followed": policy_followed, "reason_code_accurate": reason_code_accurate,
        "amount_right": amount_right, "problem_solved": problem_solved,
    }  # fmt: skip
    with transaction.atomic(durable=True):
        assignment = _lock_assignment(assignment_id)
        person = rulebook.person_of(by)
        rulebook.enforce(rulebook.may_review(person, selectors.assignment_facts(assignment)))
        verdict, causes, note = _checked_input(
            verdict=verdict, structured=structured, root_causes=root_causes, note=note
        )
        scored = score_review(assignment.scorecard, scores)
        previous = assignment.review
        if previous is not None and not note:
            raise _refuse("Say in the note why you amend your review.", field="note")
        now = clock.now()
        review = Review.objects.create(
            assignment=assignment, action_id=assignment.action_id, reviewer=by,
            version=previous.version + 1 if previous else 1, supersedes=previous,
            scorecard=assignment.scorecard, scores=scored.scores, score=scored.score,
            critical_failed=scored.critical_failed, verdict=verdict, root_causes=causes,
            note=note, created_at=now, **structured,
        )  # fmt: skip
        assignment.review = review
        assignment.state = Assignment.State.SUBMITTED
        assignment.submitted_at = assignment.submitted_at or now
        assignment.version += 1
        assignment.save(update_fields=["review", "state", "submitted_at", "version"])
        audit_record(
            actor=Actor.user(by.pk),
            verb=Verb.QA_REVIEW_AMENDED if previous else Verb.QA_REVIEW_SUBMITTED,
            object_type="qa_review", object_id=str(review.pk),
            data={
                "assignment_id": assignment.pk, "action_id": str(assignment.action_id),
                "version": review.version, "supersedes": previous.pk if previous else None,
                "score": str(review.score), "critical_failed": review.critical_failed,
                "verdict": verdict, "scores": scored.scores, "root_causes": causes,
                **structured,
            },
            request_id=request_id,
        )  # fmt: skip
    return review
