"""Pushing case changes to the escalation workspaces, on commit (best effort: pages resync).

A change goes to the groups of the case's tier (and of the tier it left) and to the all-tiers
group, each copy numbered with its group's sequence number (`publish.publish_numbered`, as action
changes are), so a workspace that sees a number jump knows it missed one and resyncs. The
process that made the change renders the row once (`presenters.pushed_case`) with the facts each
socket needs to choose what its person gets, and the unresolved counts of the tiers touched.
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction

from approvals.realtime import publish

logger = logging.getLogger(__name__)

CASE_CHANGED = "case.changed"
# Superusers (and auditors) watch every tier.
ALL_TIERS_GROUP = "tiers.all"


def tier_group(key: str) -> str:
    return f"tier.{key}"


def case_groups(tier: str, previous_tier: str | None = None) -> list[str]:
    """The groups a change of a case in `tier` (coming from `previous_tier`) is published to."""
    tiers = dict.fromkeys([tier, previous_tier or tier])
    return [*(tier_group(key) for key in tiers), ALL_TIERS_GROUP]


def publish_case_changed(payload: dict[str, Any]) -> None:
    """Render, number and publish one case change (after commit). If the render fails the event
    goes without it, and each page asks for the row itself."""
    from escalations import presenters, selectors

    event = {"type": CASE_CHANGED, **payload}
    try:
        event.update(presenters.pushed_case(case_id=payload["case_id"]))
        tiers = list(dict.fromkeys([payload["tier"], payload["previous_tier"]]))
        event["counts"] = selectors.unresolved_counts(tier_keys=tiers)
    except Exception:
        logger.exception("could not render a pushed case row; pages will read it themselves")
    publish.publish_numbered(case_groups(payload["tier"], payload["previous_tier"]), event)


def push_case_on_commit(case, *, previous_tier: str | None = None) -> None:
    tier = case.tier.key
    payload = {
        "case_id": case.pk,
        "status": case.status,
        "tier": tier,
        "previous_tier": previous_tier or tier,
        "version": case.version,
    }
    transaction.on_commit(lambda: _publish(payload))


def _publish(payload: dict[str, Any]) -> None:
    try:
        publish_case_changed(payload)
    except Exception:  # never let a push break the request that committed the change
        logger.exception("could not publish a change of case %s", payload.get("case_id"))
