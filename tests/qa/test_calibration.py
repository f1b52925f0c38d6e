"""Calibration: Cohen's kappa and category agreement, double-review agreement, and sessions that
reviewers score blind until a lead reveals them."""

from __future__ import annotations

from datetime import timedelta

import pytest

from approvals import rulebook
from approvals.models import DecisionKind
from audit.models import AuditEvent
from config import clock
from config.errors import Code, Conflict, Forbidden, InvalidInput
from qa.calibration import Rated, agreement_report, category_agreement, cohen_kappa
from qa.models import Assignment
from qa.selectors import calibration_board, double_review_agreement, reviews_of_action
from qa.services.calibration import calibration_open, calibration_reveal
from tests.clock import frozen
from tests.qa.reviewing import assign, submit

A = ["right"] * 6 + ["should_reject"] * 3 + ["should_edit"]
B = ["right"] * 5 + ["should_reject"] * 3 + ["right", "should_edit"]


def test_kappa_against_a_worked_example():
    """Ten verdicts by two reviewers, A and B:

        A: right x6, should_reject x3, should_edit x1
        B: right x5, should_reject x3, right, should_edit   (pairs 6 and 9 disagree)

    Observed agreement p_o = 8/10 = 0.80. Each says right 6 times, should_reject 3, should_edit 1,
    so chance agreement p_e = (6*6 + 3*3 + 1*1) / 10^2 = 0.46.
    kappa = (0.80 - 0.46) / (1 - 0.46) = 0.34 / 0.54 = 0.6296...
    """
    assert cohen_kappa(zip(A, B, strict=True)) == pytest.approx(0.34 / 0.54)
    assert round(cohen_kappa(zip(A, B, strict=True)), 4) == 0.6296


def test_kappa_is_one_when_every_pair_agrees_even_on_a_single_label():
    assert cohen_kappa([("right", "right")] * 4) == 1.0
    assert cohen_kappa([("right", "right"), ("should_edit", "should_edit")]) == 1.0


def test_kappa_is_minus_one_when_reviewers_always_swap_labels():
    assert cohen_kappa([("right", "should_reject"), ("should_reject", "right")]) == -1.0


def test_kappa_is_undefined_under_two_pairs():
    assert cohen_kappa([]) is None
    assert cohen_kappa([("right", "right")]) is None


def test_category_agreement_is_the_share_within_tolerance_skipping_na():
    # (4, 3) within 1, (2, 4) not, (None, 1) skipped, (0, 0) within, (3, 1) not: 2 of 4.
    pairs = [(4, 3), (2, 4), (None, 1), (0, 0), (3, 1)]

    assert category_agreement(pairs) == 0.5
    assert category_agreement(pairs, tolerance=2) == 1.0
    assert category_agreement([(None, 1)]) is None


def test_agreement_report_pairs_reviewers_per_item():
    rated = [
        Rated(1, "rita", "right", {"decision": 4}), Rated(1, "sam", "right", {"decision": 3}),
        Rated(2, "rita", "right", {"decision": 4}), Rated(2, "sam", "should_edit",
                                                          {"decision": 1}),
        Rated(2, "tom", "right", {"decision": 4}), Rated(3, "tom", "right", {"decision": 4}),
    ]  # fmt: skip

    overall, pairs = agreement_report(rated, ["decision"])

    assert [(p.pair, p.n) for p in pairs] == [
        (("rita", "sam"), 2), (("rita", "tom"), 1), (("sam", "tom"), 1),
    ]  # fmt: skip
    assert overall.n == 4
    assert pairs[0].categories == {"decision": 0.5}
    assert pairs[1].kappa is None  # one item is not enough


# ---------------------------------------------------------------------------------------------
# double reviews and sessions, on the database


@pytest.fixture
def crew(make_supervisor, make_qa_person):
    class Crew:
        alice = make_supervisor("alice")
        rita = make_qa_person("rita")
        sam = make_qa_person("sam")
        lea = make_qa_person("lea", "qa_lead")
        audrey = make_qa_person("audrey", "auditor")

    return Crew


def test_double_reviews_give_agreement_per_pair_and_overall(crew, resolution, scorecard):
    # Arrange: two actions reviewed twice (verdicts agree once), one reviewed once
    with frozen():
        first, second, single = (resolution() for _ in range(3))
        submit(assign(first, crew.rita, scorecard))
        submit(assign(first, crew.sam, scorecard, kind=Assignment.Kind.DOUBLE))
        submit(assign(second, crew.rita, scorecard), verdict="should_reject")
        submit(assign(second, crew.sam, scorecard, kind=Assignment.Kind.DOUBLE),
               scores={"decision": 1, "policy": 3, "reason": None, "amount": 4})  # fmt: skip
        submit(assign(single, crew.rita, scorecard))

        # Act
        overall, pairs, keys = double_review_agreement(since=clock.now() - timedelta(weeks=12))

    # Assert: rita said right, should_reject; sam right, right: p_o = 1/2, p_e = 1*2/2^2 = 1/2,
    # so kappa = 0
    assert [(p.pair, p.n) for p in pairs] == [(("rita", "sam"), 2)]
    assert overall.n == 2
    assert keys == ["decision", "policy", "reason", "amount"]
    assert overall.categories["decision"] == 0.5  # 4 vs 4 within, 4 vs 1 not
    assert overall.categories["reason"] is None  # N/A on both
    assert overall.kappa == pytest.approx(0.0)


def test_a_lead_opens_a_session_giving_every_reviewer_every_action(crew, resolution, scorecard):
    # Arrange
    actions = [resolution(), resolution()]

    # Act
    session = calibration_open(
        name="May calibration", scorecard_slug=scorecard.slug,
        action_ids=[str(a.pk) for a in actions], reviewer_usernames=["rita", "sam"], by=crew.lea,
    )  # fmt: skip

    # Assert
    given = Assignment.objects.filter(session=session).values_list("reviewer__username", "kind")
    assert sorted(given) == [("rita", "calibration")] * 2 + [("sam", "calibration")] * 2
    event = AuditEvent.objects.get(verb="qa.calibration_opened")
    assert event.data["reviewers"] == ["rita", "sam"]


def test_only_a_lead_opens_a_session(crew, resolution, scorecard):
    with pytest.raises(Forbidden) as refused:
        calibration_open(name="x", scorecard_slug=scorecard.slug,
                         action_ids=[str(resolution().pk)], reviewer_usernames=["rita", "sam"],
                         by=crew.rita)  # fmt: skip

    assert refused.value.code == Code.MISSING_ROLE


def test_a_reviewer_involved_in_an_action_is_refused_saying_why(
    crew, resolution, make_qa_person, scorecard
):
    dana = make_qa_person("dana")
    action = resolution(decisions=[(DecisionKind.APPROVE, dana, 30)])

    with pytest.raises(InvalidInput) as refused:
        calibration_open(name="x", scorecard_slug=scorecard.slug, action_ids=[str(action.pk)],
                         reviewer_usernames=["rita", "dana"], by=crew.lea)  # fmt: skip

    assert refused.value.code == Code.NO_ELIGIBLE_REVIEWER
    [why] = refused.value.details["refused"]
    assert (why["reviewer"], why["action_id"], why["code"]) == (
        "dana", str(action.pk), "own_resolution",
    )  # fmt: skip
    assert not Assignment.objects.exists()


@pytest.mark.parametrize("reviewers", [["rita"], ["rita", "nobody"]])
def test_a_session_needs_at_least_two_known_reviewers(crew, resolution, scorecard, reviewers):
    with pytest.raises(InvalidInput):
        calibration_open(name="x", scorecard_slug=scorecard.slug,
                         action_ids=[str(resolution().pk)], reviewer_usernames=reviewers,
                         by=crew.lea)  # fmt: skip


def test_scores_stay_blind_until_the_lead_reveals_them(crew, resolution, scorecard):
    # Arrange: rita and sam both scored the action
    action = resolution()
    session = calibration_open(name="x", scorecard_slug=scorecard.slug,
                               action_ids=[str(action.pk)], reviewer_usernames=["rita", "sam"],
                               by=crew.lea)  # fmt: skip
    for user in (crew.rita, crew.sam):
        submit(Assignment.objects.get(session=session, reviewer=user))

    def seen_by(user):
        return sorted(v.review.reviewer.username
                      for v in reviews_of_action(action.pk, rulebook.person_of(user)))  # fmt: skip

    # Assert: before the reveal, each reviewer sees their own; the lead every one
    assert seen_by(crew.rita) == ["rita"]
    assert seen_by(crew.lea) == ["rita", "sam"]
    assert seen_by(crew.audrey) == []
    board = calibration_board(session, rulebook.person_of(crew.rita))
    assert [c is not None for c in board.rows[0].cells] == [True, False]

    # Act
    calibration_reveal(session_id=session.pk, by=crew.lea)

    # Assert: everybody in the session (and auditors) now see every score
    assert seen_by(crew.rita) == seen_by(crew.sam) == seen_by(crew.audrey) == ["rita", "sam"]
    session.refresh_from_db()
    board = calibration_board(session, rulebook.person_of(crew.sam))
    assert [c is not None for c in board.rows[0].cells] == [True, True]
    assert board.overall.n == 1
    assert AuditEvent.objects.filter(verb="qa.calibration_revealed").count() == 1


def test_a_revealed_session_takes_no_more_scores_and_is_revealed_once(crew, resolution, scorecard):
    action = resolution()
    session = calibration_open(name="x", scorecard_slug=scorecard.slug,
                               action_ids=[str(action.pk)], reviewer_usernames=["rita", "sam"],
                               by=crew.lea)  # fmt: skip
    calibration_reveal(session_id=session.pk, by=crew.lea)

    with pytest.raises(Conflict) as late:
        submit(Assignment.objects.get(session=session, reviewer=crew.rita))
    with pytest.raises(Conflict) as again:
        calibration_reveal(session_id=session.pk, by=crew.lea)

    assert (late.value.code, again.value.code) == (
        Code.ASSIGNMENT_CLOSED, Code.CALIBRATION_REVEALED,
    )  # fmt: skip
