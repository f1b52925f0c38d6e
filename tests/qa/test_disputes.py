"""Disputes: the person who decided disputes a review once; another QA lead decides it."""

from __future__ import annotations

import pytest

from approvals.models import DecisionKind
from audit.models import AuditEvent
from config.errors import Code, Conflict, Forbidden, InvalidInput
from qa.models import Dispute
from qa.services.disputes import dispute_decide, dispute_raise
from tests.clock import frozen
from tests.qa.reviewing import assign, submit


@pytest.fixture
def people(make_supervisor, make_qa_person):
    class People:
        alice = make_supervisor("alice")  # decided the refund
        bob = make_supervisor("bob")  # works the same queue, decided nothing
        rita = make_qa_person("rita", "qa_lead")  # reviewed it
        lea = make_qa_person("lea", "qa_lead")  # decides disputes

    return People


@pytest.fixture
def review(people, resolution, scorecard):
    action = resolution(decisions=[(DecisionKind.APPROVE, people.alice, 60)])
    return submit(assign(action, people.rita, scorecard), verdict="should_reject")


def test_the_decider_disputes_the_review_and_it_is_audited(people, review):
    with frozen():
        dispute = dispute_raise(review_id=review.pk, by=people.alice, reason="Policy allows it.")

    assert (dispute.state, dispute.raised_by_id, dispute.review_id) == (
        "open", people.alice.pk, review.pk,
    )  # fmt: skip
    event = AuditEvent.objects.get(verb="qa.dispute_raised")
    assert (event.object_id, event.data["review_id"]) == (str(dispute.pk), review.pk)


def test_someone_who_did_not_decide_cannot_dispute(people, review):
    with pytest.raises(Forbidden) as refused:
        dispute_raise(review_id=review.pk, by=people.bob, reason="I disagree.")

    assert refused.value.code == Code.FORBIDDEN
    assert not Dispute.objects.exists()


def test_a_dispute_needs_a_reason(people, review):
    with pytest.raises(InvalidInput) as refused:
        dispute_raise(review_id=review.pk, by=people.alice, reason="  ")

    assert refused.value.code == Code.REASON_REQUIRED


def test_a_review_is_disputed_once(people, review):
    dispute = dispute_raise(review_id=review.pk, by=people.alice, reason="Policy allows it.")

    with pytest.raises(Conflict) as again:
        dispute_raise(review_id=review.pk, by=people.alice, reason="Really.")
    dispute_decide(dispute_id=dispute.pk, by=people.lea, outcome="upheld", note="It stands.")
    with pytest.raises(Conflict) as after:
        dispute_raise(review_id=review.pk, by=people.alice, reason="Still.")

    assert (again.value.code, after.value.code) == (
        Code.DISPUTE_ALREADY_OPEN, Code.DISPUTE_DECIDED,
    )  # fmt: skip
    assert Dispute.objects.count() == 1


def test_another_lead_overturns_the_review_and_it_is_recorded(people, review):
    # Arrange
    dispute = dispute_raise(review_id=review.pk, by=people.alice, reason="Policy allows it.")

    # Act
    with frozen():
        decided = dispute_decide(
            dispute_id=dispute.pk, by=people.lea, outcome="overturned", note="Rule 4 allows it."
        )

    # Assert
    fresh = Dispute.objects.get(pk=dispute.pk)
    assert (fresh.state, fresh.decided_by_id, fresh.decision_note) == (
        "overturned", people.lea.pk, "Rule 4 allows it.",
    )  # fmt: skip
    assert fresh.decided_at == decided.decided_at is not None
    event = AuditEvent.objects.get(verb="qa.dispute_decided")
    assert (event.object_id, event.data["outcome"]) == (str(dispute.pk), "overturned")


def test_the_lead_who_wrote_the_review_does_not_decide_its_dispute(people, review):
    dispute = dispute_raise(review_id=review.pk, by=people.alice, reason="Policy allows it.")

    with pytest.raises(Forbidden) as refused:
        dispute_decide(dispute_id=dispute.pk, by=people.rita, outcome="upheld", note="Mine.")

    assert refused.value.code == Code.OWN_RESOLUTION


def test_a_supervisor_cannot_decide_a_dispute(people, review):
    dispute = dispute_raise(review_id=review.pk, by=people.alice, reason="Policy allows it.")

    with pytest.raises(Forbidden) as refused:
        dispute_decide(dispute_id=dispute.pk, by=people.bob, outcome="upheld", note="Sure.")

    assert refused.value.code == Code.MISSING_ROLE


def test_a_decided_dispute_is_not_decided_again(people, review):
    dispute = dispute_raise(review_id=review.pk, by=people.alice, reason="Policy allows it.")
    dispute_decide(dispute_id=dispute.pk, by=people.lea, outcome="upheld", note="It stands.")

    with pytest.raises(Conflict) as refused:
        dispute_decide(dispute_id=dispute.pk, by=people.lea, outcome="overturned", note="Hm.")

    assert refused.value.code == Code.DISPUTE_DECIDED


@pytest.mark.parametrize(
    "outcome, note, code",
    [("maybe", "x", Code.INVALID_INPUT), ("upheld", "", Code.NOTE_REQUIRED)],
)
def test_a_decision_needs_an_outcome_and_a_note(people, review, outcome, note, code):
    dispute = dispute_raise(review_id=review.pk, by=people.alice, reason="Policy allows it.")

    with pytest.raises(InvalidInput) as refused:
        dispute_decide(dispute_id=dispute.pk, by=people.lea, outcome=outcome, note=note)

    assert refused.value.code == code


def test_a_superseded_review_is_not_disputed(people, review):
    submit(review.assignment, verdict="right", note="Second look: fine.")

    with pytest.raises(Conflict) as refused:
        dispute_raise(review_id=review.pk, by=people.alice, reason="Old one.")

    assert refused.value.code == Code.ASSIGNMENT_CLOSED
