"""Helpers for the review tests: assignments written with the ORM, as sampling would leave them,
and a review submitted through the service."""

from __future__ import annotations

from config import clock
from qa.models import Assignment, Review
from qa.services.reviews import review_submit

# Scores that fit the `scorecard` fixture: 40 + 22.5 + 20 of 90 (reason N/A) = 91.67.
GOOD = {"decision": 4, "policy": 3, "reason": None, "amount": 4}


def assign(action, reviewer, scorecard, *, kind=Assignment.Kind.SAMPLE, **fields) -> Assignment:
    return Assignment.objects.create(
        action=action, reviewer=reviewer, scorecard=scorecard, kind=kind,
        assigned_at=clock.now(), **fields,
    )  # fmt: skip


def submit(assignment, *, by=None, scores=None, verdict="right", **fields) -> Review:
    return review_submit(
        assignment_id=assignment.pk, by=by or assignment.reviewer, scores=scores or GOOD,
        verdict=verdict, **fields,
    )  # fmt: skip
