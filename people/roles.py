"""The roles people hold: each is a Django group of the same name, and some include others."""

from django.db import models


class Role(models.TextChoices):
    """What a person may do: each role is a Django group of the same name."""

    SUPERVISOR = "supervisor", "Supervisor"
    SENIOR_SUPERVISOR = "senior_supervisor", "Senior supervisor"
    QA_REVIEWER = "qa_reviewer", "QA reviewer"
    # Runs QA: sampling plans, assignments, disputes and calibration; reviews too.
    QA_LEAD = "qa_lead", "QA lead"
    POLICY_ADMIN = "policy_admin", "Policy admin"
    AUDITOR = "auditor", "Auditor"

    @classmethod
    def granting(cls, role: str) -> frozenset[str]:
        """The roles that may act where `role` is asked for: a senior supervisor may do whatever
        a supervisor may, and a QA lead whatever a QA reviewer may."""
        seniors = {
            cls.SUPERVISOR: {cls.SENIOR_SUPERVISOR},
            cls.QA_REVIEWER: {cls.QA_LEAD},
        }.get(role, set())
        return frozenset({role, *(str(r) for r in seniors)})

    @classmethod
    def held(cls, groups) -> frozenset[str]:
        """The roles someone holds given their groups, with the roles those include."""
        groups = frozenset(groups)
        return groups | frozenset(r.value for r in cls if groups & cls.granting(r.value))


# The roles that decide actions: the only ones a policy rule may name as its approver role.
DECIDING_ROLES = frozenset({Role.SUPERVISOR.value, Role.SENIOR_SUPERVISOR.value})
