"""The escalation use cases: open, acknowledge, reassign, resolve, hand off, and the SLA sweep."""

from escalations.services.handoffs import escalation_handoff
from escalations.services.opening import case_open, tier_for
from escalations.services.resolving import OutcomeNotForCase, case_resolve
from escalations.services.sweeps import cases_enforce_sla, slas_sweep
from escalations.services.working import StaleCase, case_acknowledge, case_reassign

__all__ = [
    "OutcomeNotForCase",
    "StaleCase",
    "case_acknowledge",
    "case_open",
    "case_reassign",
    "case_resolve",
    "cases_enforce_sla",
    "escalation_handoff",
    "slas_sweep",
    "tier_for",
]
