"""Sampling plans for the tests, saved through the service as the system."""

from __future__ import annotations

from datetime import UTC, datetime

from audit.services import Actor

# A Wednesday: its week started on Monday 2025-03-10.
WEDNESDAY = datetime(2025, 3, 12, 10, 0, tzinfo=UTC)
MONDAY = datetime(2025, 3, 10, tzinfo=UTC)


def plan_spec(**overrides) -> dict:
    spec = {
        "slug": "weekly-refunds", "name": "Weekly refunds", "description": "", "period": "weekly",
        "size_count": 5, "size_percent": None, "scope": {}, "strata": [], "inclusions": {},
        "scorecard_slug": "resolution-quality", "reviewer_usernames": [],
        "double_review_percent": 0, "starts_at": MONDAY,
    }  # fmt: skip
    return {**spec, **overrides}


def save_plan(**overrides):
    from qa.services.plans import plan_save

    return plan_save(**plan_spec(**overrides), actor=Actor.system("test"))
