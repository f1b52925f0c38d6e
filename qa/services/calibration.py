"""A QA lead opens a calibration session (several reviewers score the same actions, blind) and
reveals it (then everybody in it sees every score)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction

from approvals import rulebook
from approvals.models import Action
from approvals.selectors import parse_action_id
from audit.events import Verb
from audit.services import Actor, audit_record
from config import clock
from config.errors import ApplicationError, Code, Conflict, InvalidInput, NotFound
from qa import selectors
from qa.models import Assignment, CalibrationSession, Scorecard
from qa.resolutions import involved_user_ids

ACTIONS = (1, 50)
REVIEWERS = (2, 20)
NAME_LIMIT = 100


def _unique(values: Sequence[Any], *, what: str, bounds: tuple[int, int]) -> list[str]:
    if isinstance(values, str):
        values = values.split()
    cleaned = list(dict.fromkeys(str(v).strip() for v in values if str(v).strip()))
    low, high = bounds
    if not low <= len(cleaned) <= high:
        raise InvalidInput(f"A calibration session needs {low} to {high} {what}.",
                           code=Code.INVALID_INPUT, details={what: len(cleaned)})  # fmt: skip
    return cleaned


def _actions(ids: list[str]) -> list[Action]:
    try:
        parsed = [parse_action_id(i) for i in ids]
    except NotFound as exc:
        raise InvalidInput("Some action ids are not ids.", code=Code.INVALID_INPUT) from exc
    found = {a.pk: a for a in Action.objects.filter(pk__in=parsed).order_by("created_at", "id")}
    missing = [str(pk) for pk in parsed if pk not in found]
    if missing:
        raise InvalidInput("No such actions.", code=Code.INVALID_INPUT,
                           details={"missing": missing})  # fmt: skip
    return [found[pk] for pk in parsed]


def _reviewers(usernames: list[str]) -> list[Any]:
    users = get_user_model().objects.filter(username__in=usernames, is_active=True)
    found = {u.get_username(): u for u in users}
    missing = [name for name in usernames if name not in found]
    if missing:
        raise InvalidInput("No such people.", code=Code.INVALID_INPUT,
                           details={"missing": missing})  # fmt: skip
    return [found[name] for name in usernames]


def calibration_open(
    *, name: str, scorecard_slug: str, action_ids: Sequence[Any],
    reviewer_usernames: Sequence[str], by, request_id: str = "",
) -> CalibrationSession:  # fmt: skip
    """Give every reviewer every action to score on `scorecard_slug`, blind to each other. A
    reviewer who took part in one of the actions (or operates its agent) cannot calibrate on it:
    the session is refused, saying who and why."""
    lead = rulebook.person_of(by)
    rulebook.enforce(rulebook.may_lead_qa(lead))
    name = (name or "").strip()
    if not name or len(name) > NAME_LIMIT:
        raise InvalidInput(f"Name the session (1 to {NAME_LIMIT} characters).",
                           code=Code.INVALID_INPUT)  # fmt: skip
    scorecard = Scorecard.objects.filter(slug=str(scorecard_slug)[:64], is_active=True).first()
    if scorecard is None:
        raise InvalidInput("No such active scorecard.", code=Code.INVALID_SCORECARD,
                           details={"scorecard": str(scorecard_slug)[:64]})  # fmt: skip
    actions = _actions(_unique(action_ids, what="actions", bounds=ACTIONS))
    reviewers = _reviewers(_unique(reviewer_usernames, what="reviewers", bounds=REVIEWERS))
    refused = []
    for user in reviewers:
        person = rulebook.person_of(user)
        for action in actions:
            facts = rulebook.AssignmentFacts(
                reviewer_id=user.pk, state=Assignment.State.OPEN,
                kind=Assignment.Kind.CALIBRATION, agent_id=action.agent_id,
                involved_ids=involved_user_ids(action.pk),
            )  # fmt: skip
            answer = rulebook.may_be_assigned(person, facts)
            if not answer:
                refused.append(_refusal(user, action, answer.error))
    if refused:
        raise InvalidInput(
            "Some reviewers cannot calibrate on these actions.",
            code=Code.NO_ELIGIBLE_REVIEWER, details={"refused": refused},
        )  # fmt: skip
    with transaction.atomic(durable=True):
        now = clock.now()
        session = CalibrationSession.objects.create(name=name, scorecard=scorecard, created_by=by)
        Assignment.objects.bulk_create(
            Assignment(action=action, reviewer=user, session=session, scorecard=scorecard,
                       kind=Assignment.Kind.CALIBRATION, assigned_at=now)
            for action in actions for user in reviewers
        )  # fmt: skip
        audit_record(
            actor=Actor.user(by.pk), verb=Verb.QA_CALIBRATION_OPENED,
            object_type="qa_calibration", object_id=str(session.pk),
            data={"name": name, "scorecard": scorecard.slug,
                  "actions": [str(a.pk) for a in actions],
                  "reviewers": [u.get_username() for u in reviewers]},
            request_id=request_id,
        )  # fmt: skip
    return session


def _refusal(user, action: Action, error: ApplicationError | None) -> dict[str, str]:
    return {
        "reviewer": user.get_username(), "action_id": str(action.pk),
        "code": str(error.code) if error else "", "reason": error.message if error else "",
    }  # fmt: skip


def calibration_reveal(*, session_id: Any, by, request_id: str = "") -> CalibrationSession:
    """Show everybody in the session every score; reviews not yet submitted stay unsubmitted."""
    rulebook.enforce(rulebook.may_lead_qa(rulebook.person_of(by)))
    with transaction.atomic(durable=True):
        pk = selectors.calibration_get(session_id=session_id).pk
        session = CalibrationSession.objects.select_for_update().get(pk=pk)
        if session.state == CalibrationSession.State.REVEALED:
            raise Conflict("This session was already revealed.", code=Code.CALIBRATION_REVEALED)
        session.state = CalibrationSession.State.REVEALED
        session.revealed_at = clock.now()
        session.save(update_fields=["state", "revealed_at"])
        unsubmitted = session.assignments.filter(state=Assignment.State.OPEN).count()
        audit_record(
            actor=Actor.user(by.pk), verb=Verb.QA_CALIBRATION_REVEALED,
            object_type="qa_calibration", object_id=str(session.pk),
            data={"name": session.name, "unsubmitted": unsubmitted}, request_id=request_id,
        )  # fmt: skip
    return session
