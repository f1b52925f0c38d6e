"""Derived values in conditions: figures read from the system of record, only when a rule asks."""

from __future__ import annotations

import uuid
from datetime import timedelta
from unittest import mock

import pytest
from django.utils import timezone

from approvals import services
from approvals.models import Status
from audit.services import Actor
from policies.engine import decide
from policies.models import ActionType, Mode
from policies.selectors import active_policy
from policies.services import policy_publish
from sandbox.models import Customer, Order, Payment, Refund
from sandbox.selectors import derived_values
from tests.approvals.conftest import refund_params

pytestmark = pytest.mark.django_db


def publish(*rules: dict) -> None:
    policy_publish(rules=list(rules), actor=Actor.system("test"))


def ledger_refund(order_id: str, amount: int, *, hours_ago: float = 0) -> Refund:
    refund = Refund.objects.create(
        order=Order.objects.get(order_id=order_id),
        action_id=uuid.uuid4(),
        amount=amount,
        currency="USD",
    )
    if hours_ago:
        Refund.objects.filter(pk=refund.pk).update(
            created_at=timezone.now() - timedelta(hours=hours_ago)
        )
    return refund


# ---------------------------------------------------------------------------------------------
# the provider


class TestDerivedValues:
    def test_an_orders_figures_and_its_customers_come_from_one_query(
        self, demo, django_assert_num_queries
    ):
        # ORD-1001 (CUS-001) paid 250.00; a second order of the same customer, another customer's
        Customer.objects.filter(external_id="CUS-001").update(tier="vip")
        other = Order.objects.create(
            order_id="ORD-2001", customer=Customer.objects.get(external_id="CUS-001"),
            currency="USD", total_amount=9000,
        )  # fmt: skip
        Payment.objects.create(order=other, amount=9000, currency="USD")
        Payment.objects.create(
            order=Order.objects.get(order_id="ORD-1001"), amount=500, currency="USD",
            status=Payment.Status.FAILED,
        )  # fmt: skip
        ledger_refund("ORD-1001", 1000)
        ledger_refund("ORD-1001", 700, hours_ago=2)
        ledger_refund("ORD-2001", 300, hours_ago=23)
        ledger_refund("ORD-1001", 400, hours_ago=25)  # older than a day: refunded, not recent
        ledger_refund("ORD-1002", 900)  # CUS-002's

        with django_assert_num_queries(1):
            values = derived_values(params=refund_params(order_id="ORD-1001"))

        assert values == {
            "order_paid": 25000,  # the failed payment does not count
            "order_refunded": 2100,
            "order_status": "paid",
            "order_payment_failed": False,
            "customer_tier": "vip",
            "customer_refunds_24h": 3,
        }

    def test_an_order_with_nothing_refunded_reads_zero_not_null(self, demo):
        values = derived_values(params={"order_id": "ORD-1005"})

        assert (values["order_refunded"], values["customer_refunds_24h"]) == (0, 0)

    def test_a_customer_target_gives_the_customer_figures(self, demo, django_assert_num_queries):
        ledger_refund("ORD-1003", 100)

        with django_assert_num_queries(1):
            values = derived_values(params={"customer_id": "CUS-003"})

        assert values == {"customer_tier": "standard", "customer_refunds_24h": 1}

    @pytest.mark.parametrize(
        "params", [{"order_id": "ORD-9999"}, {"customer_id": "CUS-999"}], ids=["order", "customer"]
    )
    def test_an_unknown_target_leaves_the_names_out(self, demo, params):
        assert derived_values(params=params) == {}

    def test_params_without_a_target_read_nothing(self, demo, django_assert_num_queries):
        with django_assert_num_queries(0):
            assert derived_values(params={"amount": 5}) == {}


# ---------------------------------------------------------------------------------------------
# laziness: derived values cost nothing unless a condition that applies reads them


class TestLaziness:
    def decide_with(self, provider, *, action_type="refund.issue", agent="support-bot"):
        return decide(
            policy=active_policy(),
            action_type=ActionType.objects.get(key=action_type),
            agent_name=agent,
            params=refund_params(3000),
            context={},
            derived=provider,
        )

    def test_no_rule_reads_derived_values_so_none_are_computed(self, demo):
        provider = mock.Mock(return_value={"customer_refunds_24h": 9})

        self.decide_with(provider)  # the demo policy reads params only

        provider.assert_not_called()

    def test_two_rules_reading_derived_values_compute_them_once(self, demo):
        publish(
            {"name": "a", "action_type": "refund.issue", "mode": "forbidden",
             "condition": "derived.customer_refunds_24h > 10"},
            {"name": "b", "action_type": "refund.issue", "mode": "escalate",
             "condition": "derived.customer_refunds_24h > 5"},
        )  # fmt: skip
        provider = mock.Mock(return_value={"customer_refunds_24h": 9})

        decision = self.decide_with(provider)

        assert decision.rule_name == "b"
        provider.assert_called_once_with()

    def test_a_rule_for_another_action_type_or_agent_never_computes_them(self, demo):
        publish(
            {"name": "cancels", "action_type": "order.*", "mode": "forbidden",
             "condition": "derived.order_paid > 0"},
            {"name": "other-bot", "action_type": "refund.issue", "agents": ["other-bot"],
             "mode": "forbidden", "condition": "derived.order_paid > 0"},
        )  # fmt: skip
        provider = mock.Mock(return_value={"order_paid": 1})

        self.decide_with(provider)

        provider.assert_not_called()

    def test_a_provider_that_fails_fails_closed(self, demo):
        publish(
            {"name": "reads-derived", "action_type": "refund.issue", "mode": "execute_limited",
             "condition": "derived.order_paid > 0"},
        )  # fmt: skip

        decision = self.decide_with(mock.Mock(side_effect=RuntimeError("backend down")))

        assert (decision.mode, decision.rule_name) == (Mode.EXECUTE_GATED, "reads-derived")
        assert "backend down" in decision.explanation

    def test_submitting_reads_the_sandbox_only_for_policies_that_use_derived_values(
        self, demo, agent
    ):
        with mock.patch("approvals.deciding.derived_values", return_value={}) as provider:
            services.action_submit(
                agent=agent.agent, action_type="refund.issue", params=refund_params(3000)
            )
            assert provider.call_count == 0
            publish(
                {"name": "reads-derived", "action_type": "refund.issue", "mode": "forbidden",
                 "condition": "has(derived.order_paid)"},
            )  # fmt: skip
            services.action_submit(
                agent=agent.agent, action_type="refund.issue", params=refund_params(3000)
            )

        provider.assert_called_once_with(params=refund_params(3000))


# ---------------------------------------------------------------------------------------------
# derived values deciding real submissions


@pytest.fixture
def refund_limits(demo, make_tier):
    make_tier("fraud")
    publish(
        {
            "name": "frequent-refunder-escalates",
            "action_type": "refund.issue",
            "condition": "derived.customer_refunds_24h >= 3",
            "mode": "escalate",
            "escalation_tier": "fraud",
            "explanation": "customer of {params.order_id} had 3 refunds today: escalated",
        },
        {
            "name": "more-than-refundable-is-forbidden",
            "action_type": "refund.issue",
            "condition": "params.amount > derived.order_paid - derived.order_refunded",
            "mode": "forbidden",
        },
        {
            "name": "vip-needs-a-person",
            "action_type": "refund.issue",
            "condition": "derived.customer_tier == 'vip'",
            "mode": "execute_gated",
        },
        {"name": "small-refunds-execute", "action_type": "refund.issue", "mode": "execute_limited"},
    )


class TestDecidingWithDerivedValues:
    def refund(self, agent, amount=1000, order_id="ORD-1001"):
        result = services.action_submit(
            agent=agent.agent, action_type="refund.issue",
            params=refund_params(amount, order_id=order_id),
        )  # fmt: skip
        if result.action.status == Status.APPROVED:
            services.action_execute(action_id=result.action.pk)
        return result.action

    def test_the_fourth_refund_of_a_customer_in_a_day_escalates(self, refund_limits, agent):
        first_three = [self.refund(agent) for _ in range(3)]

        fourth = self.refund(agent)

        assert [a.status for a in first_three] == [Status.APPROVED] * 3
        assert Refund.objects.filter(order__order_id="ORD-1001").count() == 3
        assert (fourth.status, fourth.rule_name) == (
            Status.ESCALATED,
            "frequent-refunder-escalates",
        )
        assert fourth.explanation == "customer of ORD-1001 had 3 refunds today: escalated"
        assert fourth.escalations.get().tier.key == "fraud"

    def test_another_customers_refunds_do_not_count(self, refund_limits, agent):
        for _ in range(3):
            self.refund(agent, order_id="ORD-1002")

        assert self.refund(agent, order_id="ORD-1001").status == Status.APPROVED

    def test_refunds_older_than_a_day_do_not_count(self, refund_limits, agent):
        for _ in range(3):
            ledger_refund("ORD-1001", 100, hours_ago=30)

        assert self.refund(agent).status == Status.APPROVED

    def test_a_refund_above_what_is_left_to_refund_is_blocked(self, refund_limits, agent):
        ledger_refund("ORD-1001", 20000, hours_ago=48)  # 250.00 paid, 200.00 refunded

        over = self.refund(agent, amount=5001)
        within = self.refund(agent, amount=5000)

        assert (over.status, over.rule_name) == (
            Status.BLOCKED,
            "more-than-refundable-is-forbidden",
        )
        assert within.status == Status.APPROVED

    def test_the_customers_tier_is_read_from_the_backend(self, refund_limits, agent):
        Customer.objects.filter(external_id="CUS-001").update(tier="vip")

        assert self.refund(agent).status == Status.PENDING

    def test_a_condition_on_an_unknown_orders_figures_fails_closed(self, refund_limits, agent):
        action = self.refund(agent, order_id="ORD-9999")

        # Failing closed keeps at least the rule's own mode: here that is to escalate.
        assert (action.status, action.rule_name) == (
            Status.ESCALATED,
            "frequent-refunder-escalates",
        )
        assert action.explanation.startswith("rule `frequent-refunder-escalates` could not be")

    def test_a_policy_dry_run_reads_derived_values_too(self, refund_limits, agent):
        for _ in range(3):
            self.refund(agent)

        response = agent.client().post(
            "/api/v1/policy/check/",
            {"action_type": "refund.issue", "params": refund_params(1000)},
            format="json",
        )

        assert response.json()["mode"] == "escalate"
