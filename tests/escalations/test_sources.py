"""Every source opens a case: a breaker's trip (one case per trip, linking the held actions) and a
reviewer escalating a pending action. (Policy, hand-off and SLA sources: test_cases, test_sla;
execution failures: tests/approvals/test_execution.py and test_rollback.py.)"""

from __future__ import annotations

import pytest

from approvals import services as approvals
from approvals.handoff import Source
from approvals.models import Decision, Status
from approvals.services.escalated import action_escalate
from config.errors import ApplicationError, Code
from escalations.models import Escalation
from tests.approvals.conftest import refund_params

pytestmark = pytest.mark.django_db


def refund(agent, amount: int, **context):
    return approvals.action_submit(
        agent=agent.agent, action_type="refund.issue", params=refund_params(amount),
        context=context,
    ).action  # fmt: skip


class TestABreakerTrip:
    def test_a_trip_opens_one_case_that_links_every_action_it_holds(self, policy, agent):
        # The demo breaker holds an agent's refunds above 1,000.00 within ten minutes.
        executed = [refund(agent, 40000), refund(agent, 40000)]
        held = [refund(agent, 40000), refund(agent, 40000)]

        cases = list(Escalation.objects.filter(source=Source.BREAKER))

        assert [a.status for a in executed] == [Status.APPROVED, Status.APPROVED]
        assert [a.status for a in held] == [Status.PENDING, Status.PENDING]
        assert len(cases) == 1
        assert {a.pk for a in cases[0].linked_actions.all()} == {a.pk for a in held}
        assert cases[0].action_id is None
        assert "tripped" in cases[0].reason

    def test_a_trip_case_cannot_approve_anything_only_be_resolved_outside(
        self, policy, agent, make_handler
    ):
        for _ in range(3):
            refund(agent, 40000)
        case = Escalation.objects.get(source=Source.BREAKER)
        ann = make_handler("ann")

        from escalations.services import case_resolve

        with pytest.raises(ApplicationError) as refused:
            case_resolve(case_id=case.pk, by=ann, outcome="approved")
        case_resolve(case_id=case.pk, by=ann, outcome="resolved_outside",
                     note="Burst was a migration; breaker reset")  # fmt: skip

        assert refused.value.code == Code.OUTCOME_NOT_FOR_CASE
        assert Escalation.objects.get(pk=case.pk).status == "resolved"


class TestAReviewerEscalates:
    def test_a_reviewer_escalates_a_pending_action_with_a_reason_code(
        self, policy, agent, make_supervisor
    ):
        from approvals.services import reason_code_save
        from audit.services import Actor

        reason_code_save(code="needs-specialist", label="Needs a specialist",
                         kinds=["escalate"], actor=Actor.system("test"))  # fmt: skip
        action = refund(agent, 12000, timeout="expire")
        alice = make_supervisor("alice")

        action_escalate(action_id=action.pk, by=alice, reason_code="needs-specialist",
                        note="customer is a lawyer", tier="l2-specialist")  # fmt: skip

        action.refresh_from_db()
        case = Escalation.objects.get(action=action)
        assert action.status == Status.ESCALATED
        assert (case.source, case.tier.key) == (Source.PERSON, "l2-specialist")
        assert Decision.objects.get(action=action).kind == "escalate"

    def test_escalating_needs_an_escalate_reason_code(self, policy, agent, make_supervisor):
        action = refund(agent, 12000, timeout="expire")

        with pytest.raises(ApplicationError) as refused:
            action_escalate(action_id=action.pk, by=make_supervisor("alice"),
                            reason_code="outside-policy")  # fmt: skip

        assert refused.value.code == Code.UNKNOWN_REASON_CODE
        assert not Escalation.objects.filter(action=action).exists()

    def test_someone_outside_the_actions_queue_cannot_escalate_it(
        self, policy, agent, make_supervisor
    ):
        action = refund(agent, 12000, timeout="expire")
        outsider = make_supervisor("olga", queues=[])

        with pytest.raises(ApplicationError) as refused:
            action_escalate(action_id=action.pk, by=outsider, reason_code="x")

        assert refused.value.code == Code.ACTION_NOT_FOUND
