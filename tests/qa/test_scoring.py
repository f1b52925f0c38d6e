"""Scoring a review on a scorecard: weights, N/A, critical categories, and what is refused."""

from __future__ import annotations

from decimal import Decimal
from types import SimpleNamespace

import pytest

from config.errors import Code, InvalidInput
from qa.scoring import score_review
from tests.qa.conftest import CATEGORIES

CARD = SimpleNamespace(scale=4, categories=CATEGORIES)


def test_the_score_weighs_each_category_by_its_share_of_the_scale():
    # decision 40 x 4/4 + policy 30 x 3/4 + reason 10 x 0/4 + amount 20 x 2/4 = 72.5 of 100
    scored = score_review(CARD, {"decision": 4, "policy": 3, "reason": 0, "amount": 2})

    assert (scored.score, scored.critical_failed) == (Decimal("72.50"), False)


def test_an_na_category_leaves_the_weights_it_shares_with_the_others():
    # (40 + 22.5 + 10) over the 90 weight left without "reason" = 80.555... -> 80.56
    scored = score_review(CARD, {"decision": 4, "policy": 3, "reason": None, "amount": 2})

    assert scored.score == Decimal("80.56")
    assert scored.scores["reason"] is None


def test_full_marks_are_one_hundred():
    scored = score_review(CARD, {"decision": 4, "policy": 4, "reason": 4, "amount": 4})

    assert scored.score == Decimal("100.00")


@pytest.mark.parametrize("critical", ["decision", "amount"])
def test_a_critical_category_scored_zero_zeroes_the_score(critical):
    scores = {"decision": 4, "policy": 4, "reason": 4, "amount": 4} | {critical: 0}

    scored = score_review(CARD, scores)

    assert (scored.score, scored.critical_failed) == (Decimal("0.00"), True)


@pytest.mark.parametrize(
    "scores, key",
    [
        ({"policy": 4, "reason": 4, "amount": 4}, "decision"),  # missing
        ({"decision": 4, "policy": 4, "reason": 4, "amount": 4, "tone": 2}, "tone"),  # unknown
        ({"decision": 5, "policy": 4, "reason": 4, "amount": 4}, "decision"),  # above the scale
        ({"decision": -1, "policy": 4, "reason": 4, "amount": 4}, "decision"),  # below
        ({"decision": True, "policy": 4, "reason": 4, "amount": 4}, "decision"),  # a boolean
        ({"decision": "3", "policy": 4, "reason": 4, "amount": 4}, "decision"),  # text
        ({"decision": 2.5, "policy": 4, "reason": 4, "amount": 4}, "decision"),  # a fraction
        ({"decision": 4, "policy": None, "reason": 4, "amount": 4}, "policy"),  # N/A not allowed
    ],
)
def test_scores_that_do_not_fit_the_scorecard_are_refused_naming_the_category(scores, key):
    with pytest.raises(InvalidInput) as refused:
        score_review(CARD, scores)

    assert refused.value.code == Code.INVALID_REVIEW
    assert key in refused.value.details["scores"]


def test_scores_must_be_a_mapping():
    with pytest.raises(InvalidInput) as refused:
        score_review(CARD, [4, 4, 4, 4])

    assert refused.value.code == Code.INVALID_REVIEW


def test_every_category_na_is_refused():
    card = SimpleNamespace(
        scale=4,
        categories=[
            {"key": "a", "label": "A", "weight": 1, "allow_na": True},
            {"key": "b", "label": "B", "weight": 1, "allow_na": True},
        ],
    )

    with pytest.raises(InvalidInput) as refused:
        score_review(card, {"a": None, "b": None})

    assert refused.value.code == Code.INVALID_REVIEW
