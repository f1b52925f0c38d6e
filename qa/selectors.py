"""What QA reads: a reviewer's inbox, an assignment with the action it reviews, the rulebook's facts
about assignments and reviews, the reviews of an action a viewer may see, disputes, calibration
sessions, and how much double reviewers agree."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import Case, F, IntegerField, Prefetch, QuerySet, Value, When
from django.db.models.functions import Coalesce

from approvals import rulebook
from approvals import selectors as action_selectors
from approvals.models import Action, Decision
from config.errors import Code, NotFound
from people.roles import Role
from policies.money import params_money_text
from qa.calibration import Agreement, Rated, agreement_report
from qa.models import Assignment, CalibrationSession, Dispute, OutcomeReport, Review
from qa.resolutions import PERSON_DECISIONS, involved_user_ids

LIST_LIMIT = 200
OPEN = Assignment.State.OPEN
SUBMITTED = Assignment.State.SUBMITTED
REMOVED = Assignment.State.REMOVED
REVEALED = CalibrationSession.State.REVEALED
# The assignments whose reviews measure reviewers' agreement outside calibration sessions.
DOUBLE_REVIEW_KINDS = (Assignment.Kind.SAMPLE, Assignment.Kind.DOUBLE)


def _id(raw: Any, code: Code, what: str) -> int:
    """A malformed id is as unknown as a missing one: a 404, never a 500."""
    text = str(raw)
    if not text.isdigit() or len(text) > 18:
        raise NotFound(f"No such {what}.", code=code)
    return int(text)


def amount_text(action: Action) -> str:
    """The amount as a reviewer reads it, from the validated params (edited ones if edited)."""
    return params_money_text(action.effective_params or {})


# ---------------------------------------------------------------------------------------------
# assignments


def _assignments() -> QuerySet:
    return Assignment.objects.select_related(
        "action__agent", "action__action_type", "item__sample", "session", "scorecard", "review",
        "reviewer",
    ).annotate(period_at=Coalesce("item__sample__period_start", "session__created_at",
                                  "assigned_at"))  # fmt: skip


def assignments_list(
    *, reviewer_id: int | None = None, state: str = "", limit: int = LIST_LIMIT
) -> list[Assignment]:
    """Assignments not removed (one reviewer's, or everybody's): open first, then submitted,
    newest period first; at most `limit`."""
    qs = _assignments().exclude(state=REMOVED)
    if reviewer_id is not None:
        qs = qs.filter(reviewer_id=reviewer_id)
    if state:
        qs = qs.filter(state=state)
    open_first = Case(When(state=OPEN, then=Value(0)), default=Value(1),
                      output_field=IntegerField())  # fmt: skip
    return list(qs.order_by(open_first, "-period_at", "-assigned_at", "-id")[:limit])


def assignment_get(*, assignment_id: Any) -> Assignment:
    try:
        return _assignments().get(pk=_id(assignment_id, Code.ASSIGNMENT_NOT_FOUND, "assignment"))
    except Assignment.DoesNotExist as exc:
        raise NotFound("No such assignment.", code=Code.ASSIGNMENT_NOT_FOUND) from exc


def why_sampled(assignment: Assignment) -> str:
    """Why the action is in the reviewer's inbox, in words."""
    if assignment.kind == Assignment.Kind.CALIBRATION:
        return f"calibration: {assignment.session.name}" if assignment.session else "calibration"
    reason = assignment.item.reason if assignment.item else ""
    words = {"random": "drawn at random"}.get(reason, reason.replace(":", ": ").replace("_", " "))
    if assignment.kind == Assignment.Kind.DOUBLE:
        return f"second review (blind){f', {words}' if words else ''}"
    return words or "assigned"


def assignment_facts(assignment: Assignment, viewer=None) -> rulebook.AssignmentFacts:
    """The rulebook's facts of `assignment` (one query: who took part in the resolution). They do
    not depend on `viewer`, who is accepted for symmetry with `review_facts`."""
    session = assignment.session if assignment.session_id else None
    return rulebook.AssignmentFacts(
        reviewer_id=assignment.reviewer_id,
        state=assignment.state,
        kind=assignment.kind,
        agent_id=assignment.action.agent_id,
        involved_ids=involved_user_ids(assignment.action_id),
        session_revealed=session is not None and session.state == REVEALED,
    )


@dataclass(frozen=True)
class DecisionRow:
    kind: str
    by: str
    reason_code: str
    reason_label: str
    note: str
    at: datetime


@dataclass(frozen=True)
class ActionRecord:
    """The action as it stood when resolved: its figures, who decided what and why, and what its
    agent or systems reported afterwards."""

    action: Action
    amount: str
    decisions: Sequence[DecisionRow]
    outcomes: Sequence[OutcomeReport]


def action_record(*, action_id: Any) -> ActionRecord:
    action = action_selectors.action_get_for_page(action_id=action_id)
    decisions = [
        DecisionRow(
            kind=d.get_kind_display(),
            by=d.by.get_username() if d.by else "the system",
            reason_code=d.reason_code.code if d.reason_code else "",
            reason_label=d.reason_code.label if d.reason_code else "",
            note=d.note,
            at=d.created_at,
        )
        for d in action_selectors.action_decisions(action=action)
    ]
    outcomes = list(OutcomeReport.objects.filter(action=action).order_by("created_at", "id"))
    return ActionRecord(action, amount_text(action), decisions, outcomes)


def review_versions(*, assignment: Assignment) -> list[Review]:
    """Every version of the assignment's review, newest first."""
    return list(
        Review.objects.filter(assignment=assignment)
        .select_related("reviewer")
        .order_by("-version", "-id")
    )


# ---------------------------------------------------------------------------------------------
# reviews


@dataclass(frozen=True)
class _ActionPeople:
    involved: frozenset[int]
    deciders: frozenset[int]


def _action_people(action_id: Any) -> _ActionPeople:
    deciders = Decision.objects.filter(
        action_id=action_id, by__isnull=False, kind__in=PERSON_DECISIONS
    ).values_list("by_id", flat=True)
    return _ActionPeople(involved_user_ids(action_id), frozenset(deciders))


@dataclass(frozen=True)
class _ViewerOnAction:
    reviewing: bool = False  # an open assignment (one of a revealed calibration is over)
    reviewed: bool = False  # a submitted one


def _viewer_on_action(action_id: Any, viewer: rulebook.Person) -> _ViewerOnAction:
    if viewer.user_id is None:
        return _ViewerOnAction()
    rows = list(
        Assignment.objects.filter(action_id=action_id, reviewer_id=viewer.user_id)
        .exclude(state=REMOVED)
        .values_list("state", "session__state")
    )
    return _ViewerOnAction(
        reviewing=any(state == OPEN and session != REVEALED for state, session in rows),
        reviewed=any(state == SUBMITTED for state, _ in rows),
    )


def _viewer_sessions(viewer: rulebook.Person) -> frozenset[int]:
    if viewer.user_id is None:
        return frozenset()
    rows = (
        Assignment.objects.filter(reviewer_id=viewer.user_id, session__isnull=False)
        .exclude(state=REMOVED)
        .values_list("session_id", flat=True)
    )
    return frozenset(rows)


def _review_facts(
    review: Review, action: Action, people: _ActionPeople, *, viewer: _ViewerOnAction,
    sessions: frozenset[int], is_current: bool, disputes: Sequence[Dispute],
) -> rulebook.ReviewFacts:  # fmt: skip
    assignment = review.assignment
    session = assignment.session if assignment.session_id else None
    return rulebook.ReviewFacts(
        reviewer_id=review.reviewer_id,
        kind=assignment.kind,
        is_current=is_current,
        involved_ids=people.involved,
        decider_ids=people.deciders,
        queue=action.queue,
        session_revealed=session is not None and session.state == REVEALED,
        viewer_reviewing=viewer.reviewing,
        viewer_reviewed=viewer.reviewed,
        has_open_dispute=any(d.state == Dispute.State.OPEN for d in disputes),
        has_decided_dispute=any(d.state != Dispute.State.OPEN for d in disputes),
        viewer_in_session=session is not None and session.pk in sessions,
    )


def review_facts(review: Review, viewer: rulebook.Person) -> rulebook.ReviewFacts:
    """The rulebook's facts of `review` as `viewer` asks about it (a few queries)."""
    return _review_facts(
        review, review.action, _action_people(review.action_id),
        viewer=_viewer_on_action(review.action_id, viewer),
        sessions=_viewer_sessions(viewer),
        is_current=review.assignment.review_id == review.pk,
        disputes=list(review.disputes.order_by("created_at", "id")),
    )  # fmt: skip


def review_get(*, review_id: Any) -> Review:
    try:
        return Review.objects.select_related(
            "assignment__session", "action", "reviewer", "scorecard"
        ).get(pk=_id(review_id, Code.REVIEW_NOT_FOUND, "review"))
    except Review.DoesNotExist as exc:
        raise NotFound("No such review.", code=Code.REVIEW_NOT_FOUND) from exc


@dataclass(frozen=True)
class ReviewView:
    """A current review as one viewer may read it, with its earlier versions and disputes."""

    review: Review
    history: Sequence[Review]
    disputes: Sequence[Dispute]
    facts: rulebook.ReviewFacts
    may_dispute: bool

    @property
    def dispute(self) -> Dispute | None:
        return self.disputes[-1] if self.disputes else None


def reviews_of_action(action_id: Any, viewer: rulebook.Person) -> list[ReviewView]:
    """The current reviews of the action that the rulebook lets `viewer` see, oldest first, each
    with its earlier versions (newest first) and disputes: a fixed number of queries."""
    action = Action.objects.filter(pk=action_selectors.parse_action_id(action_id)).first()
    if action is None:
        return []
    current = list(
        Review.objects.filter(action=action, assignment__review_id=F("id"))
        .exclude(assignment__state=REMOVED)
        .select_related("assignment__session", "reviewer", "scorecard")
        .prefetch_related(Prefetch("disputes", Dispute.objects.select_related(
            "raised_by", "decided_by").order_by("created_at", "id")))
        .order_by("created_at", "id")
    )  # fmt: skip
    if not current:
        return []
    people = _action_people(action.pk)
    on_action = _viewer_on_action(action.pk, viewer)
    sessions = _viewer_sessions(viewer)
    older: dict[int, list[Review]] = {}
    for old in (
        Review.objects.filter(assignment__in=[r.assignment_id for r in current])
        .exclude(pk__in=[r.pk for r in current])
        .order_by("-version", "-id")
    ):
        older.setdefault(old.assignment_id, []).append(old)
    views = []
    for review in current:
        disputes = list(review.disputes.all())
        facts = _review_facts(review, action, people, viewer=on_action,
                              sessions=sessions, is_current=True, disputes=disputes)  # fmt: skip
        if rulebook.may_see_review(viewer, facts):
            views.append(ReviewView(review, older.get(review.assignment_id, []), disputes,
                                    facts, bool(rulebook.may_dispute(viewer, facts))))  # fmt: skip
    return views


# ---------------------------------------------------------------------------------------------
# disputes


def disputes_list(*, limit: int = LIST_LIMIT) -> list[Dispute]:
    """Open disputes first (oldest first: they wait), then decided ones, newest first."""
    open_first = Case(When(state=Dispute.State.OPEN, then=Value(0)), default=Value(1),
                      output_field=IntegerField())  # fmt: skip
    return list(
        Dispute.objects.select_related(
            "review__action__action_type", "review__reviewer", "raised_by", "decided_by"
        ).order_by(open_first, Case(When(state=Dispute.State.OPEN, then=F("created_at"))),
                   "-created_at", "-id")[:limit]
    )  # fmt: skip


def dispute_get(*, dispute_id: Any) -> Dispute:
    try:
        return Dispute.objects.select_related("review").get(
            pk=_id(dispute_id, Code.DISPUTE_NOT_FOUND, "dispute")
        )
    except Dispute.DoesNotExist as exc:
        raise NotFound("No such dispute.", code=Code.DISPUTE_NOT_FOUND) from exc


# ---------------------------------------------------------------------------------------------
# calibration


def qa_reviewers() -> list[Any]:
    """The people who may be given reviews (QA reviewers and leads), by username."""
    return list(
        get_user_model()
        .objects.filter(is_active=True, groups__name__in=Role.granting(Role.QA_REVIEWER))
        .distinct()
        .order_by("username")
    )


def calibration_sessions(viewer: rulebook.Person, *, limit: int = LIST_LIMIT) -> list[Any]:
    """The sessions the viewer reads: every one for leads and auditors, else those they are in."""
    qs = CalibrationSession.objects.select_related("scorecard", "created_by")
    if not rulebook.may_read_all_qa(viewer):
        qs = qs.filter(pk__in=_viewer_sessions(viewer))
    return list(qs.order_by("-created_at", "-id")[:limit])


def calibration_get(*, session_id: Any) -> CalibrationSession:
    try:
        return CalibrationSession.objects.select_related("scorecard", "created_by").get(
            pk=_id(session_id, Code.CALIBRATION_NOT_FOUND, "calibration session")
        )
    except CalibrationSession.DoesNotExist as exc:
        raise NotFound("No such calibration session.", code=Code.CALIBRATION_NOT_FOUND) from exc


@dataclass(frozen=True)
class BoardRow:
    action: Action
    amount: str
    # One per reviewer of `CalibrationBoard.reviewers`: the review the viewer may see, or None.
    cells: Sequence[Review | None]
    submitted: Sequence[bool]


@dataclass(frozen=True)
class CalibrationBoard:
    session: CalibrationSession
    reviewers: Sequence[Any]
    rows: Sequence[BoardRow]
    keys: Sequence[str]
    overall: Agreement
    pairs: Sequence[Agreement] = field(default_factory=list)
    is_member: bool = False


def _rated(review: Review) -> Rated:
    return Rated(review.action_id, review.reviewer.get_username(), review.verdict, review.scores)


def calibration_board(session: CalibrationSession, viewer: rulebook.Person) -> CalibrationBoard:
    """The session's scores side by side (the ones the rulebook lets `viewer` see: before the
    reveal, a reviewer sees only their own) and the agreement over them."""
    assignments = list(
        session.assignments.exclude(state=REMOVED)
        .select_related("action__action_type", "action__agent", "reviewer", "review__reviewer")
        .order_by("action__created_at", "action_id", "reviewer__username")
    )
    reviewers = sorted({a.reviewer for a in assignments}, key=lambda u: u.get_username())
    column = {user.pk: i for i, user in enumerate(reviewers)}
    revealed = session.state == REVEALED
    member = viewer.user_id in column
    rows: dict[Any, tuple[Action, list, list]] = {}
    for a in assignments:
        _, cells, submitted = rows.setdefault(
            a.action_id, (a.action, [None] * len(reviewers), [False] * len(reviewers))
        )
        submitted[column[a.reviewer_id]] = a.review_id is not None
        if a.review is None:
            continue
        facts = rulebook.ReviewFacts(
            reviewer_id=a.reviewer_id, kind=a.kind, is_current=True, queue=a.action.queue,
            session_revealed=revealed, viewer_in_session=member,
        )  # fmt: skip
        if rulebook.may_see_review(viewer, facts):
            cells[column[a.reviewer_id]] = a.review
    keys = [str(c["key"]) for c in session.scorecard.categories]
    seen = [cell for _, cells, _ in rows.values() for cell in cells if cell is not None]
    overall, pairs = agreement_report([_rated(r) for r in seen], keys)
    return CalibrationBoard(
        session=session, reviewers=reviewers,
        rows=[BoardRow(action, amount_text(action), cells, submitted)
              for action, cells, submitted in rows.values()],
        keys=keys, overall=overall, pairs=pairs, is_member=member,
    )  # fmt: skip


def double_review_agreement(
    *, since: datetime, until: datetime | None = None
) -> tuple[Agreement, list[Agreement], list[str]]:
    """Agreement over the actions two reviewers reviewed from samples (a sample review and its
    blind second review), by current reviews submitted in [since, until): overall, per pair, and
    the category keys compared (those of the scorecards used, in their order)."""
    qs = Review.objects.filter(
        assignment__review_id=F("id"), assignment__state=SUBMITTED,
        assignment__kind__in=DOUBLE_REVIEW_KINDS, created_at__gte=since,
    ).select_related("reviewer", "scorecard")  # fmt: skip
    if until is not None:
        qs = qs.filter(created_at__lt=until)
    reviews = list(qs.order_by("action_id", "created_at", "id"))
    per_action: dict[Any, int] = {}
    for review in reviews:
        per_action[review.action_id] = per_action.get(review.action_id, 0) + 1
    doubled = [r for r in reviews if per_action[r.action_id] > 1]
    keys: list[str] = []
    for review in doubled:
        for category in review.scorecard.categories:
            if str(category["key"]) not in keys:
                keys.append(str(category["key"]))
    overall, pairs = agreement_report([_rated(r) for r in doubled], keys)
    return overall, pairs, keys
