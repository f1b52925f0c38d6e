"""Submitting and amending reviews: versions, immutability, who may review, blind doubles."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import DatabaseError, transaction

from approvals import rulebook
from approvals.models import DecisionKind
from audit.models import AuditEvent
from config.errors import Code, Conflict, Forbidden, InvalidInput, NotFound
from qa.models import Assignment, Review
from qa.selectors import reviews_of_action
from tests.clock import frozen
from tests.qa.reviewing import GOOD, assign, submit


@pytest.fixture
def rita(make_qa_person):
    return make_qa_person("rita")


@pytest.fixture
def sam(make_qa_person):
    return make_qa_person("sam")


@pytest.fixture
def decided(resolution, make_supervisor):
    """A refund alice approved after a minute's reading."""
    alice = make_supervisor("alice")
    return resolution(decisions=[(DecisionKind.APPROVE, alice, 60)])


def test_a_first_review_is_version_one_scored_and_audited(decided, rita, scorecard):
    # Arrange
    assignment = assign(decided, rita, scorecard)

    # Act
    with frozen():
        review = submit(assignment, policy_followed=True, amount_right=None,
                        root_causes=["policy_gap"], note="Fine.")  # fmt: skip

    # Assert
    assignment.refresh_from_db()
    assert (review.version, review.supersedes_id, review.score) == (1, None, Decimal("91.67"))
    assert (review.policy_followed, review.amount_right, review.root_causes) == (
        True, None, ["policy_gap"],
    )  # fmt: skip
    assert (assignment.state, assignment.review_id) == ("submitted", review.pk)
    assert assignment.submitted_at is not None
    event = AuditEvent.objects.get(verb="qa.review_submitted")
    assert (event.object_id, event.data["version"], event.data["score"]) == (
        str(review.pk), 1, "91.67",
    )  # fmt: skip


def test_an_amendment_is_a_new_version_superseding_the_last(decided, rita, scorecard):
    assignment = assign(decided, rita, scorecard)
    first = submit(assignment)

    second = submit(assignment, verdict="should_reject", note="Missed the open chargeback.")

    assignment.refresh_from_db()
    assert (second.version, second.supersedes_id) == (2, first.pk)
    assert assignment.review_id == second.pk
    assert Review.objects.filter(assignment=assignment).count() == 2
    assert Review.objects.get(pk=first.pk).verdict == "right"  # the first stays as it was
    assert AuditEvent.objects.filter(verb="qa.review_amended", object_id=str(second.pk)).exists()


def test_an_amendment_needs_a_note_saying_why(decided, rita, scorecard):
    assignment = assign(decided, rita, scorecard)
    submit(assignment)

    with pytest.raises(InvalidInput) as refused:
        submit(assignment, verdict="should_reject")

    assert (refused.value.code, refused.value.details["field"]) == (Code.INVALID_REVIEW, "note")


def test_the_database_refuses_to_update_or_delete_a_review(decided, rita, scorecard):
    review = submit(assign(decided, rita, scorecard))

    with pytest.raises(DatabaseError), transaction.atomic():
        Review.objects.filter(pk=review.pk).update(verdict="should_reject")
    with pytest.raises(DatabaseError), transaction.atomic():
        Review.objects.filter(pk=review.pk).delete()

    assert Review.objects.get(pk=review.pk).verdict == "right"


def test_a_reviewer_cannot_review_someone_elses_assignment(decided, rita, sam, scorecard):
    assignment = assign(decided, rita, scorecard)

    with pytest.raises((Forbidden, NotFound)) as refused:
        submit(assignment, by=sam)

    assert refused.value.code == Code.ASSIGNMENT_NOT_FOUND
    assert not Review.objects.exists()


def test_a_lead_reads_an_assignment_but_cannot_review_it_for_its_reviewer(
    decided, rita, make_qa_person, scorecard
):
    lead = make_qa_person("lea", "qa_lead")
    assignment = assign(decided, rita, scorecard)

    with pytest.raises(Forbidden) as refused:
        submit(assignment, by=lead)

    assert refused.value.code == Code.FORBIDDEN


def test_nobody_reviews_a_resolution_they_took_part_in(resolution, make_qa_person, scorecard):
    # Arrange: a QA reviewer who also supervises edited the refund
    both = make_qa_person("dana")
    action = resolution(decisions=[(DecisionKind.EDIT, both, None)])
    assignment = assign(action, both, scorecard)

    # Act
    with pytest.raises(Forbidden) as refused:
        submit(assignment)

    # Assert
    assert refused.value.code == Code.OWN_RESOLUTION
    assert not Review.objects.exists()


def test_a_removed_assignment_takes_no_review(decided, rita, scorecard):
    assignment = assign(decided, rita, scorecard, state=Assignment.State.REMOVED)

    with pytest.raises(Conflict) as refused:
        submit(assignment)

    assert refused.value.code == Code.ASSIGNMENT_CLOSED


@pytest.mark.parametrize(
    "fields, field",
    [
        ({"verdict": "maybe"}, "verdict"),
        ({"root_causes": ["bad_luck"]}, "root_causes"),
        ({"root_causes": ["other", "other"]}, "root_causes"),
        ({"root_causes": ["other"] * 11}, "root_causes"),
        ({"note": "x" * 4001}, "note"),
        ({"policy_followed": "yes"}, "policy_followed"),
    ],
)
def test_bad_input_is_refused_saying_which_field(decided, rita, scorecard, fields, field):
    assignment = assign(decided, rita, scorecard)

    with pytest.raises(InvalidInput) as refused:
        submit(assignment, **fields)

    assert (refused.value.code, refused.value.details["field"]) == (Code.INVALID_REVIEW, field)
    assert not Review.objects.exists()


def test_an_unknown_assignment_is_not_found(rita, scorecard):
    with pytest.raises(NotFound) as refused:
        from qa.services.reviews import review_submit

        review_submit(assignment_id="nope", by=rita, scores=GOOD, verdict="right")

    assert refused.value.code == Code.ASSIGNMENT_NOT_FOUND


def test_a_second_reviewer_does_not_see_the_first_review_until_they_submit(
    decided, rita, sam, scorecard
):
    # Arrange: rita reviewed the sample; sam has the blind second review
    submit(assign(decided, rita, scorecard))
    second = assign(decided, sam, scorecard, kind=Assignment.Kind.DOUBLE)
    sam_sees = lambda: [v.review.reviewer.username for v in reviews_of_action(  # noqa: E731
        decided.pk, rulebook.person_of(sam))]  # fmt: skip

    # Act / Assert: blind while reviewing
    assert sam_sees() == []

    submit(second, verdict="should_edit")

    assert sam_sees() == ["rita", "sam"]


def test_the_first_reviewer_does_not_see_the_open_second_review(decided, rita, sam, scorecard):
    submit(assign(decided, rita, scorecard))
    assign(decided, sam, scorecard, kind=Assignment.Kind.DOUBLE)

    seen = reviews_of_action(decided.pk, rulebook.person_of(rita))

    assert [v.review.reviewer_id for v in seen] == [rita.pk]


def test_an_action_shows_current_reviews_with_their_history(decided, rita, scorecard):
    assignment = assign(decided, rita, scorecard)
    first = submit(assignment)
    second = submit(assignment, verdict="should_escalate", note="Angry customer.")
    alice = rulebook.person_of(decided.decisions.get().by)

    [view] = reviews_of_action(decided.pk, alice)

    assert view.review.pk == second.pk
    assert [r.pk for r in view.history] == [first.pk]
    assert view.may_dispute is True
