"""The escalation use cases: open, acknowledge, reassign, resolve, and the SLA sweep."""

from escalations.services.opening import case_open, tier_for

__all__ = ["case_open", "tier_for"]
