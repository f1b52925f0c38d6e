"""How much reviewers agree: Cohen's kappa on verdicts, and per-category agreement within a
tolerance, per pair of reviewers and overall. Pure: the selectors read the pairs.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import combinations

DEFAULT_TOLERANCE = 1


def cohen_kappa(pairs: Iterable[tuple[Hashable, Hashable]]) -> float | None:
    """Cohen's kappa of two raters' labels, (p_o - p_e) / (1 - p_e), where p_o is the share of
    pairs that agree and p_e the agreement chance alone would give from each rater's own label
    frequencies. 1.0 when every pair agrees (even on a single label, where the formula has no
    value); None with fewer than two pairs."""
    pairs = list(pairs)
    n = len(pairs)
    if n < 2:
        return None
    observed = sum(1 for a, b in pairs if a == b) / n
    if observed == 1:
        return 1.0
    first, second = Counter(a for a, _ in pairs), Counter(b for _, b in pairs)
    expected = sum(first[label] * second[label] for label in first) / (n * n)
    return (observed - expected) / (1 - expected)


def category_agreement(
    pairs: Iterable[tuple[int | None, int | None]], tolerance: int = DEFAULT_TOLERANCE
) -> float | None:
    """The share of score pairs at most `tolerance` apart; pairs where either said N/A are left
    out. None when no pair is left."""
    scored = [(a, b) for a, b in pairs if a is not None and b is not None]
    if not scored:
        return None
    return sum(1 for a, b in scored if abs(a - b) <= tolerance) / len(scored)


@dataclass(frozen=True)
class Rated:
    """One reviewer's review of one item, as agreement needs it."""

    item: Hashable
    reviewer: str
    verdict: str
    scores: Mapping[str, int | None]


@dataclass(frozen=True)
class Agreement:
    """How two reviewers (or everybody, `pair` empty) agreed over `n` items reviewed by both."""

    pair: tuple[str, ...]
    n: int
    kappa: float | None
    categories: dict[str, float | None] = field(default_factory=dict)


def _agreement(
    pair: tuple[str, ...], matched: Sequence[tuple[Rated, Rated]], keys: Sequence[str],
    tolerance: int,
) -> Agreement:  # fmt: skip
    return Agreement(
        pair=pair,
        n=len(matched),
        kappa=cohen_kappa((a.verdict, b.verdict) for a, b in matched),
        categories={
            key: category_agreement(
                ((a.scores.get(key), b.scores.get(key)) for a, b in matched), tolerance
            )
            for key in keys
        },
    )


def agreement_report(
    rated: Iterable[Rated], keys: Sequence[str], tolerance: int = DEFAULT_TOLERANCE
) -> tuple[Agreement, list[Agreement]]:
    """(overall, per pair of reviewers sorted by name) over the items at least two reviewers
    rated; an item three reviewers rated counts once for each of its three pairs."""
    by_item: dict[Hashable, list[Rated]] = {}
    for one in rated:
        by_item.setdefault(one.item, []).append(one)
    per_pair: dict[tuple[str, ...], list[tuple[Rated, Rated]]] = {}
    for reviews in by_item.values():
        ordered = sorted(reviews, key=lambda r: r.reviewer)
        for a, b in combinations(ordered, 2):
            if a.reviewer != b.reviewer:
                per_pair.setdefault((a.reviewer, b.reviewer), []).append((a, b))
    everything = [match for matches in per_pair.values() for match in matches]
    overall = _agreement((), everything, keys, tolerance)
    pairs = [_agreement(pair, per_pair[pair], keys, tolerance) for pair in sorted(per_pair)]
    return overall, pairs
