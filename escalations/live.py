"""Pushing case changes to the escalation workspaces, on commit (best effort: pages resync)."""

from __future__ import annotations

import logging

from django.db import transaction

from approvals.realtime import publish

logger = logging.getLogger(__name__)

CASE_CHANGED = "case.changed"
# Superusers (and auditors) watch every tier.
ALL_TIERS_GROUP = "tiers.all"


def tier_group(key: str) -> str:
    return f"tier.{key}"


def _publish(payload: dict, groups: list[str]) -> None:
    for group in groups:
        try:
            publish.group_send(group, payload)
        except Exception:
            logger.exception("could not publish a case change to %s", group)


def push_case_on_commit(case, *, previous_tier: str | None = None) -> None:
    tier = case.tier.key
    payload = {
        "type": CASE_CHANGED,
        "case_id": case.pk,
        "status": case.status,
        "tier": tier,
        "previous_tier": previous_tier or tier,
        "version": case.version,
    }
    groups = list(dict.fromkeys([tier_group(tier), tier_group(previous_tier or tier)]))
    transaction.on_commit(lambda: _publish(payload, [*groups, ALL_TIERS_GROUP]))
