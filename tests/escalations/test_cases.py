"""Escalation cases: opened with a hand-off summary, worked by their tier, resolved with an outcome
that settles the escalated action in the same transaction."""

from __future__ import annotations

from datetime import timedelta

import pytest

from approvals.handoff import Source
from approvals.models import Action, Decision, Status
from audit.models import AuditEvent
from audit.services import Actor
from config.errors import ApplicationError, Code
from escalations import services
from escalations.models import CaseStatus, Escalation, Outcome
from escalations.transitions import TABLE, IllegalCaseMove, Move, target_of
from tests.approvals.conftest import refund_params

pytestmark = pytest.mark.django_db

STATUSES = [CaseStatus.OPEN, CaseStatus.ACKNOWLEDGED, CaseStatus.RESOLVED]
# move -> what each status becomes ("refused" when the table refuses it)
EXPECTED = {
    Move.ACKNOWLEDGE: {"open": "acknowledged", "acknowledged": "refused", "resolved": "refused"},
    Move.REASSIGN: {"open": "open", "acknowledged": "open", "resolved": "refused"},
    Move.NEXT_TIER: {"open": "open", "acknowledged": "open", "resolved": "refused"},
    Move.BREACH: {"open": "open", "acknowledged": "acknowledged", "resolved": "refused"},
    Move.RESOLVE: {"open": "resolved", "acknowledged": "resolved", "resolved": "refused"},
}


def code_of(fn) -> Code:
    with pytest.raises(ApplicationError) as caught:
        fn()
    return caught.value.code


class TestTheCaseTable:
    @pytest.mark.parametrize("move", list(Move))
    @pytest.mark.parametrize("status", STATUSES)
    def test_every_move_from_every_status_is_allowed_or_refused_as_the_table_says(
        self, move, status
    ):
        expected = EXPECTED[move][status]
        if expected == "refused":
            with pytest.raises(IllegalCaseMove):
                target_of(move, status)
        else:
            assert target_of(move, status) == expected

    def test_the_table_covers_every_move(self):
        assert set(TABLE) == set(Move) == set(EXPECTED)


class TestOpening:
    def test_a_policy_escalation_opens_a_case_in_the_rules_tier_with_a_hand_off_summary(
        self, escalate, frozen_clock
    ):
        action = escalate(60000)

        case = Escalation.objects.get(action=action)
        assert (case.source, case.tier.key, case.status) == (Source.POLICY, "l1-lead", "open")
        assert case.ack_due_at == case.created_at + timedelta(minutes=15)
        assert case.resolve_due_at == case.created_at + timedelta(hours=1)
        summary = case.summary
        assert summary["order_id"] == "ORD-1001"
        assert summary["customer_words"] == "I want my money back now!"
        assert summary["sentiment"] == "angry"
        assert summary["amount"] == "600.00 USD"
        assert summary["rule"] == "refund-over-500-escalates"
        assert "escalated to L1 leads" in summary["explanation"]
        assert AuditEvent.objects.filter(verb="escalation.opened", object_id=str(case.pk)).exists()

    def test_a_case_naming_a_tier_that_no_longer_exists_still_reaches_the_default_tier(
        self, policy, agent
    ):
        case = services.case_open(
            source=Source.AGENT, reason="stuck", actor=Actor.agent(agent.agent.pk),
            agent_id=agent.agent.pk, tier="gone-tier",
        )  # fmt: skip

        assert case.tier.key == "l1-lead"

    def test_a_second_cause_for_an_action_with_an_open_case_opens_no_second_case(
        self, escalate, agent
    ):
        action = escalate(60000)
        again = services.case_open(
            source=Source.FAILURE, reason="again", actor=Actor.system("test"), action=action
        )
        assert Escalation.objects.filter(action=action).count() == 1
        assert again.pk == Escalation.objects.get(action=action).pk


class TestWorkingACase:
    def test_a_handler_acknowledges_and_another_handler_cannot_resolve_it(
        self, escalate, make_handler
    ):
        case = Escalation.objects.get(action=escalate())
        ann, bob = make_handler("ann"), make_handler("bob")

        services.case_acknowledge(case_id=case.pk, by=ann)

        case.refresh_from_db()
        assert (case.status, case.acknowledged_by_id) == ("acknowledged", ann.pk)
        assert code_of(
            lambda: services.case_resolve(case_id=case.pk, by=bob, outcome="rejected",
                                          reason_code="outside-policy")
        ) == Code.CASE_ACKNOWLEDGED_BY_OTHER  # fmt: skip

    def test_someone_outside_the_tier_reads_the_case_as_unknown(self, escalate, make_handler):
        case = Escalation.objects.get(action=escalate())
        l2 = make_handler("lena", "l2-specialist")

        assert code_of(lambda: services.case_acknowledge(case_id=case.pk, by=l2)) == (
            Code.CASE_NOT_FOUND
        )

    def test_an_auditor_sees_a_case_but_cannot_work_it(self, escalate, make_supervisor):
        case = Escalation.objects.get(action=escalate())
        auditor = make_supervisor("audrey", role="auditor", queues=[])

        assert code_of(lambda: services.case_acknowledge(case_id=case.pk, by=auditor)) == (
            Code.MISSING_ROLE
        )

    def test_reassigning_to_the_next_tier_restarts_its_clocks_and_opens_it_again(
        self, escalate, make_handler, frozen_clock
    ):
        case = Escalation.objects.get(action=escalate())
        ann = make_handler("ann")
        services.case_acknowledge(case_id=case.pk, by=ann)
        frozen_clock.shift(timedelta(minutes=5))

        services.case_reassign(case_id=case.pk, by=ann, tier="l2-specialist",
                               reason="needs a specialist")  # fmt: skip

        case.refresh_from_db()
        assert (case.tier.key, case.status, case.acknowledged_by_id) == (
            "l2-specialist", "open", None,
        )  # fmt: skip
        assert case.ack_due_at == case.tier_entered_at + timedelta(minutes=30)

    def test_reassigning_to_someone_who_does_not_handle_the_tier_is_refused(
        self, escalate, make_handler
    ):
        case = Escalation.objects.get(action=escalate())
        ann, _ = make_handler("ann"), make_handler("lena", "l2-specialist")

        assert (
            code_of(
                lambda: services.case_reassign(case_id=case.pk, by=ann, to_user="lena", reason="x")
            )
            == Code.NOT_A_HANDLER
        )

    def test_reassigning_needs_a_reason(self, escalate, make_handler):
        case = Escalation.objects.get(action=escalate())
        ann = make_handler("ann")

        assert code_of(
            lambda: services.case_reassign(case_id=case.pk, by=ann, tier="l2-specialist",
                                           reason=" ")
        ) == Code.REASON_REQUIRED  # fmt: skip


class TestResolving:
    def test_approving_with_an_edit_executes_the_edited_params_and_keeps_the_agents(
        self, escalate, make_handler, django_capture_on_commit_callbacks, enqueued
    ):
        action = escalate(60000)
        case = Escalation.objects.get(action=action)
        ann = make_handler("ann")

        with django_capture_on_commit_callbacks(execute=True):
            services.case_resolve(
                case_id=case.pk, by=ann, outcome="approved", reason_code="amount-corrected",
                params=refund_params(55000),
            )  # fmt: skip

        action.refresh_from_db()
        case.refresh_from_db()
        assert (case.status, case.outcome, case.resolved_by_id) == ("resolved", "approved", ann.pk)
        assert action.status == Status.APPROVED
        assert (action.params["amount"], action.final_params["amount"]) == (60000, 55000)
        assert enqueued == [str(action.pk)]
        kinds = list(Decision.objects.filter(action=action).values_list("kind", flat=True))
        assert kinds == ["edit", "approve"]

    def test_an_edit_the_policy_wants_two_approvals_for_waits_for_a_second_person(
        self, escalate, make_handler, enqueued
    ):
        action = escalate(60000)
        case = Escalation.objects.get(action=action)

        services.case_resolve(
            case_id=case.pk, by=make_handler("ann"), outcome="approved",
            reason_code="amount-corrected", params=refund_params(45000),
        )  # fmt: skip

        action.refresh_from_db()
        assert (action.status, action.approvals_required, action.queue) == (
            Status.PENDING, 2, "Refunds",
        )  # fmt: skip
        assert action.sla_due_at is not None
        assert enqueued == []

    def test_rejecting_needs_a_reject_reason_code(self, escalate, make_handler):
        case = Escalation.objects.get(action=escalate())

        assert code_of(
            lambda: services.case_resolve(case_id=case.pk, by=make_handler("ann"),
                                          outcome="rejected")
        ) == Code.REASON_CODE_REQUIRED  # fmt: skip

    def test_returning_to_the_agent_rejects_the_action_with_the_guidance(
        self, escalate, make_handler
    ):
        action = escalate()
        case = Escalation.objects.get(action=action)

        services.case_resolve(case_id=case.pk, by=make_handler("ann"), outcome="returned",
                              note="Offer store credit instead.")  # fmt: skip

        action.refresh_from_db()
        decision = Decision.objects.get(action=action)
        assert action.status == Status.REJECTED
        assert (decision.reason_code.code, decision.note) == (
            "returned-to-agent", "Offer store credit instead.",
        )  # fmt: skip

    def test_resolving_outside_cancels_the_action_and_needs_a_note(self, escalate, make_handler):
        action = escalate()
        case = Escalation.objects.get(action=action)
        ann = make_handler("ann")

        assert (
            code_of(
                lambda: services.case_resolve(case_id=case.pk, by=ann, outcome="resolved_outside")
            )
            == Code.NOTE_REQUIRED
        )
        services.case_resolve(case_id=case.pk, by=ann, outcome="resolved_outside",
                              note="Refunded by phone, ticket 42")  # fmt: skip

        action.refresh_from_db()
        assert action.status == Status.CANCELLED
        assert Escalation.objects.get(pk=case.pk).outcome == Outcome.RESOLVED_OUTSIDE

    def test_a_resolved_case_cannot_be_resolved_again(self, escalate, make_handler):
        case = Escalation.objects.get(action=escalate())
        ann = make_handler("ann")
        services.case_resolve(case_id=case.pk, by=ann, outcome="returned", note="no")

        assert (
            code_of(
                lambda: services.case_resolve(
                    case_id=case.pk, by=ann, outcome="returned", note="no"
                )
            )
            == Code.ILLEGAL_CASE_MOVE
        )

    def test_an_unknown_outcome_is_refused(self, escalate, make_handler):
        case = Escalation.objects.get(action=escalate())

        assert (
            code_of(
                lambda: services.case_resolve(case_id=case.pk, by=make_handler("ann"), outcome="ok")
            )
            == Code.INVALID_OUTCOME
        )

    def test_a_handler_operating_the_agent_may_not_resolve_its_case(
        self, escalate, make_handler, agent
    ):
        case = Escalation.objects.get(action=escalate())
        ann = make_handler("ann")
        agent.agent.operators.add(ann)

        assert (
            code_of(
                lambda: services.case_resolve(case_id=case.pk, by=ann, outcome="returned", note="x")
            )
            == Code.OWN_REQUEST
        )


class TestHandOff:
    SUMMARY = {"what_agent_did": "Looked up the order", "what_agent_proposes": "A refund",
               "customer_words": "help", "sentiment": "negative"}  # fmt: skip

    def test_an_agent_hands_over_its_pending_action_at_its_policys_tier(self, policy, agent):
        action = Action.objects.get(pk=_pending(agent).pk)

        case = services.escalation_handoff(
            agent=agent.agent, action_id=action.pk, reason="customer angry", summary=self.SUMMARY
        )

        action.refresh_from_db()
        assert action.status == Status.ESCALATED
        assert (case.tier.key, case.source) == ("l2-specialist", Source.AGENT)
        assert case.summary["what_agent_did"] == "Looked up the order"

    def test_an_agent_may_name_a_higher_tier_but_never_a_lower_one(self, policy, agent):
        action = _pending(agent)

        assert code_of(
            lambda: services.escalation_handoff(agent=agent.agent, action_id=action.pk,
                                                reason="x", summary=self.SUMMARY, tier="l1-lead")
        ) == Code.TIER_TOO_LOW  # fmt: skip
        case = services.escalation_handoff(agent=agent.agent, action_id=action.pk, reason="x",
                                           summary=self.SUMMARY, tier="finance")  # fmt: skip
        assert case.tier.key == "finance"

    def test_another_agents_action_reads_as_unknown(self, policy, agent, make_agent):
        action = _pending(agent)
        other = make_agent("other-bot")

        assert code_of(
            lambda: services.escalation_handoff(agent=other.agent, action_id=action.pk,
                                                reason="x", summary=self.SUMMARY)
        ) == Code.ACTION_NOT_FOUND  # fmt: skip

    @pytest.mark.parametrize(
        "summary",
        [None, {}, {"what_agent_did": "x"}, {"what_agent_did": "x", "what_agent_proposes": 3},
         {"what_agent_did": "x", "what_agent_proposes": "y", "mood": "z"},
         {"what_agent_did": "x" * 1001, "what_agent_proposes": "y"}],
    )  # fmt: skip
    def test_a_summary_missing_what_the_agent_did_or_proposes_is_refused(
        self, policy, agent, summary
    ):
        assert (
            code_of(
                lambda: services.escalation_handoff(agent=agent.agent, reason="x", summary=summary)
            )
            == Code.INVALID_SUMMARY
        )


def _pending(agent):
    from approvals import services as approvals

    return approvals.action_submit(
        agent=agent.agent, action_type="refund.issue", params=refund_params(12000),
        context={"timeout": "escalate"},
    ).action  # fmt: skip
