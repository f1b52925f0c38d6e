"""Scoring a review on a scorecard: check the scores it was given, then weigh them. Pure.

A scorecard has categories `{"key", "label", "weight", "critical", "allow_na"}` and a `scale`;
each category is scored 0..scale, or None (N/A) where it allows it. The score is the weighted
share of the scale over the categories that were scored, as a percentage with two decimals; a
critical category scored 0 zeroes it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from config.errors import Code, InvalidInput

_CENTS = Decimal("0.01")
ZERO = Decimal("0.00")


@dataclass(frozen=True)
class Scored:
    scores: dict[str, int | None]
    score: Decimal
    critical_failed: bool


def _refuse(message: str, problems: Mapping[str, str]) -> InvalidInput:
    return InvalidInput(message, code=Code.INVALID_REVIEW, details={"scores": dict(problems)})


def check_scores(
    categories: Sequence[Mapping[str, Any]], scale: int, scores: Any
) -> dict[str, int | None]:
    """`scores` as the scorecard takes them, or `InvalidInput` (invalid_review) whose details say,
    per category key, what is wrong: missing, unknown, out of 0..scale, or N/A where not allowed."""
    if not isinstance(scores, Mapping):
        raise _refuse("The scores must map each category to a score.", {})
    known = {str(c["key"]): c for c in categories}
    problems: dict[str, str] = {}
    for key in scores:
        if str(key) not in known:
            problems[str(key)[:64]] = "Not a category of this scorecard."
    checked: dict[str, int | None] = {}
    for key, category in known.items():
        if key not in scores:
            problems[key] = "Missing: score it, or mark it N/A where allowed."
            continue
        value = scores[key]
        if value is None:
            if not category.get("allow_na", False):
                problems[key] = "This category cannot be N/A."
            checked[key] = None
        elif isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= scale:
            problems[key] = f"Score it with a whole number from 0 to {scale}."
        else:
            checked[key] = value
    if problems:
        raise _refuse("Some scores do not fit the scorecard.", problems)
    if all(value is None for value in checked.values()):
        raise _refuse("Score at least one category: every one is N/A.", {})
    return checked


def weigh(
    categories: Sequence[Mapping[str, Any]], scale: int, scores: Mapping[str, int | None]
) -> tuple[Decimal, bool]:
    """(score 0.00-100.00, critical_failed) of scores already checked."""
    critical_failed = any(
        c.get("critical", False) and scores.get(str(c["key"])) == 0 for c in categories
    )
    weighed = [
        (Decimal(str(c["weight"])), scores[str(c["key"])])
        for c in categories
        if scores.get(str(c["key"])) is not None
    ]
    total = sum((weight for weight, _ in weighed), Decimal(0))
    if total <= 0:
        raise _refuse("The categories scored weigh nothing: score a weighted one.", {})
    if critical_failed:
        return ZERO, True
    earned = sum((weight * value / scale for weight, value in weighed), Decimal(0))
    return (earned / total * 100).quantize(_CENTS, rounding=ROUND_HALF_UP), False


def score_review(scorecard, scores: Any) -> Scored:
    """Check `scores` against `scorecard` (anything with `categories` and `scale`) and weigh
    them."""
    checked = check_scores(scorecard.categories, scorecard.scale, scores)
    score, critical_failed = weigh(scorecard.categories, scorecard.scale, checked)
    return Scored(scores=checked, score=score, critical_failed=critical_failed)
