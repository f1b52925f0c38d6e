"""The permission map: the demo rules decide as the design says; bad conditions fail safe."""

from __future__ import annotations

import pytest

from audit.services import Actor
from config.errors import InvalidInput
from policies.models import Mode, PolicyVersion
from policies.selectors import decision_for
from policies.services import policy_publish
from sandbox.selectors import derived_values

pytestmark = pytest.mark.django_db


def decide(action_type="refund.issue", *, params=None, context=None, agent="support-bot", **kw):
    _, decision = decision_for(
        agent_name=agent, action_type=action_type, params=params or {}, context=context or {}, **kw
    )
    return decision


def refund(amount: int) -> dict:
    return {"order_id": "ORD-1001", "amount": amount, "currency": "USD", "reason": "damaged"}


def publish(*rules: dict) -> PolicyVersion:
    return policy_publish(rules=list(rules), actor=Actor.system("test"))


class TestDemoRules:
    @pytest.mark.parametrize(
        ("amount", "mode", "rule"),
        [
            (1, Mode.EXECUTE_LIMITED, "small-refund-executes"),
            (5000, Mode.EXECUTE_LIMITED, "small-refund-executes"),
            (5001, Mode.EXECUTE_GATED, "refund-over-50-needs-approval"),
            (50000, Mode.EXECUTE_GATED, "refund-over-50-needs-approval"),
            (50001, Mode.ESCALATE, "refund-over-500-escalates"),
        ],
        ids=["0.01", "50.00", "50.01", "500.00", "500.01"],
    )
    def test_refunds_are_decided_by_amount(self, demo, amount, mode, rule):
        decision = decide(params=refund(amount))

        assert (decision.mode, decision.rule_name) == (mode, rule)

    def test_a_gated_refund_explains_itself_in_plain_words(self, demo):
        decision = decide(params=refund(12000))

        assert decision.explanation == (
            "refund 120.00 USD > 50.00 limit for agent `support-bot`: needs 1 approval"
        )
        assert (decision.approvals_required, decision.approver_role, decision.queue) == (
            1,
            "supervisor",
            "Refunds",
        )
        active = PolicyVersion.objects.get(is_active=True)
        assert (decision.policy_version, decision.policy_version_id) == (active.number, active.pk)

    def test_an_escalated_refund_names_its_tier(self, demo):
        decision = decide(params=refund(60000))

        assert decision.escalation_tier == "l1-lead"
        assert decision.approvals_required == 0
        assert decision.explanation == (
            "refund 600.00 USD > 500.00 limit for agent `support-bot`: "
            "escalated to the support leads"
        )

    def test_a_cancellation_after_a_failed_payment_escalates(self, demo):
        params = {"order_id": "ORD-1016", "reason": "asked"}

        decision = decide("order.cancel", params=params, derived=derived_values(params=params))

        assert (decision.mode, decision.escalation_tier) == (Mode.ESCALATE, "finance")
        assert decision.explanation == (
            "cancelling ORD-1016 after a failed payment: escalated to finance"
        )

    @pytest.mark.parametrize("context", [{}, {"payment_failed": False}, {"payment_failed": True}])
    def test_a_cancellation_without_a_failed_payment_gets_the_default(self, demo, context):
        # What the agent says about the payment does not matter: the system of record decides.
        params = {"order_id": "ORD-1003", "reason": "asked"}
        derived = derived_values(params=params)

        decision = decide("order.cancel", params=params, context=context, derived=derived)

        assert (decision.mode, decision.rule_name, decision.rule_id) == (
            Mode.EXECUTE_GATED,
            "",
            None,
        )
        assert decision.approvals_required == 1
        assert decision.explanation.endswith("(no rule matched; default for order.cancel)")

    def test_a_credentials_reset_always_needs_two_people(self, demo):
        decision = decide("credentials.reset", params={"customer_id": "CUS-001"})

        assert (decision.mode, decision.approvals_required) == (Mode.EXECUTE_GATED, 2)
        assert decision.queue == "Account security"

    def test_deleting_an_account_is_forbidden(self, demo):
        decision = decide("account.delete", params={"customer_id": "CUS-001"})

        assert decision.mode == Mode.FORBIDDEN
        assert decision.explanation == "agents may never delete accounts"

    @pytest.mark.parametrize(
        ("intent", "mode"),
        [("recommend", Mode.RECOMMEND_ONLY), ("draft", Mode.DRAFT_ONLY)],
    )
    def test_an_agent_that_only_recommends_never_executes(self, demo, intent, mode):
        decision = decide(params=refund(1000), intent=intent)

        assert decision.mode == mode

    def test_an_intent_never_loosens_a_stricter_rule(self, demo):
        decision = decide("account.delete", params={"customer_id": "CUS-001"}, intent="draft")

        assert decision.mode == Mode.FORBIDDEN


class TestRules:
    def test_a_rule_for_other_agents_does_not_apply(self, demo):
        publish(
            {
                "name": "billing-only",
                "action_type": "refund.*",
                "agents": ["billing-bot"],
                "mode": "forbidden",
            }
        )

        assert decide(params=refund(100), agent="support-bot").mode == Mode.EXECUTE_GATED
        assert decide(params=refund(100), agent="billing-bot").mode == Mode.FORBIDDEN

    def test_a_glob_matches_action_types(self, demo):
        publish({"name": "all-orders", "action_type": "order.*", "mode": "escalate"})

        assert decide("order.cancel", params={"order_id": "ORD-1", "reason": "r"}).mode == (
            Mode.ESCALATE
        )
        assert decide(params=refund(100)).mode == Mode.EXECUTE_GATED  # the type's default

    def test_the_first_matching_rule_wins(self, demo):
        publish(
            {"name": "first", "action_type": "refund.issue", "mode": "execute_limited"},
            {"name": "second", "action_type": "refund.issue", "mode": "forbidden"},
        )

        assert decide(params=refund(100)).rule_name == "first"


class TestConditions:
    def test_a_condition_that_does_not_compile_is_refused_at_publish_with_its_position(self, demo):
        active_before = PolicyVersion.objects.get(is_active=True)

        with pytest.raises(InvalidInput) as refused:
            publish(
                {
                    "name": "broken",
                    "action_type": "refund.issue",
                    "condition": "params.amount >",
                    "mode": "forbidden",
                }
            )

        assert refused.value.code == "invalid_condition"
        assert refused.value.details["rule"] == "broken"
        assert refused.value.details["position"] == "1:16"
        assert PolicyVersion.objects.get(is_active=True) == active_before

    def test_a_condition_that_errors_when_evaluated_fails_closed_to_gated(self, demo):
        publish(
            {
                "name": "typo",
                "action_type": "refund.issue",
                "condition": "params.amout > 5000",
                "mode": "execute_limited",
            },
        )

        decision = decide(params=refund(100))

        assert decision.mode == Mode.EXECUTE_GATED
        assert decision.rule_name == "typo"
        assert decision.approvals_required == 1
        assert decision.explanation.startswith("rule `typo` could not be evaluated")

    def test_a_type_error_in_a_condition_fails_closed_too(self, demo):
        publish(
            {
                "name": "compares-string",
                "action_type": "refund.issue",
                "condition": "params.reason > 5",
                "mode": "execute_limited",
            },
        )

        assert decide(params=refund(100)).mode == Mode.EXECUTE_GATED

    def test_an_erroring_rule_that_forbids_stays_forbidden(self, demo):
        publish(
            {
                "name": "forbid-on-missing",
                "action_type": "refund.issue",
                "condition": "context.fraud_score > 80",
                "mode": "forbidden",
            },
            {"name": "otherwise-execute", "action_type": "refund.issue", "mode": "execute_limited"},
        )

        decision = decide(params=refund(100))

        assert decision.mode == Mode.FORBIDDEN
        assert decision.rule_name == "forbid-on-missing"
        assert decision.explanation == (
            "rule `forbid-on-missing` could not be evaluated (KeyError: 'fraud_score'): "
            "treated as matching, forbidden"
        )

    def test_a_condition_that_is_not_a_boolean_does_not_match(self, demo):
        publish(
            {
                "name": "returns-int",
                "action_type": "refund.issue",
                "condition": "1",
                "mode": "forbidden",
            }
        )

        assert decide(params=refund(100)).mode == Mode.EXECUTE_GATED

    def test_conditions_see_params_context_and_agent(self, demo):
        publish(
            {
                "name": "angry-vip",
                "action_type": "refund.issue",
                "mode": "escalate",
                "condition": "context.sentiment == 'angry' && agent.name == 'support-bot'",
            }
        )

        assert decide(params=refund(100), context={"sentiment": "angry"}).mode == Mode.ESCALATE
        assert decide(params=refund(100), context={"sentiment": "calm"}).mode == (
            Mode.EXECUTE_GATED
        )


# ---------------------------------------------------------------------------------------------
# globs, agent lists and the per-(type, agent) index of rules


def add_type(key: str) -> None:
    from policies.services import action_type_upsert

    action_type_upsert(
        key=key, name=key, params_schema={"type": "object"}, default_mode=Mode.EXECUTE_GATED
    )


class TestMatching:
    @pytest.mark.parametrize(
        ("pattern", "key", "matches"),
        [
            ("refund.issue", "refund.issue", True),
            ("refund.issue", "refund.issue.partial", False),
            ("refund.*", "refund.issue", True),
            ("refund.*", "refund.issue.partial", True),
            ("refund.*", "refunds.issue", False),
            ("refund.*", "refund", False),
            ("*", "order.cancel", True),
            ("*.cancel", "order.cancel", True),
            ("order.?ancel", "order.cancel", True),
            ("[ro]*.cancel", "order.cancel", True),
            ("[!o]*.cancel", "order.cancel", False),
            ("Refund.*", "refund.issue", False),  # case matters: keys are lower-case data
        ],
    )
    def test_a_rule_matches_action_types_by_exact_key_or_glob(self, demo, pattern, key, matches):
        for extra in ("refund.issue.partial", "refunds.issue", "refund"):
            add_type(extra)
        publish({"name": "the-rule", "action_type": pattern, "mode": "forbidden"})

        params = {"refund.issue": refund(100), "order.cancel": {"order_id": "ORD-1", "reason": "r"}}

        decision = decide(key, params=params.get(key, {"x": 1}))

        assert (decision.rule_name == "the-rule") is matches

    def test_an_agent_list_limits_a_rule_to_the_agents_it_names(self, demo):
        publish(
            {
                "name": "bots-a-and-b",
                "action_type": "refund.*",
                "agents": ["bot-a", "bot-b"],
                "mode": "forbidden",
            },
            {"name": "everyone", "action_type": "refund.*", "mode": "escalate"},
        )

        modes = {a: decide(params=refund(100), agent=a).mode for a in ("bot-a", "bot-b", "bot-c")}

        assert modes == {"bot-a": Mode.FORBIDDEN, "bot-b": Mode.FORBIDDEN, "bot-c": Mode.ESCALATE}

    def test_the_rules_remembered_for_one_agent_are_not_used_for_another(self, demo):
        publish(
            {
                "name": "only-a",
                "action_type": "refund.issue",
                "agents": ["bot-a"],
                "mode": "forbidden",
            }
        )

        first_a = decide(params=refund(100), agent="bot-a").mode
        then_b = decide(params=refund(100), agent="bot-b").mode
        again_a = decide(params=refund(100), agent="bot-a").mode

        assert (first_a, then_b, again_a) == (Mode.FORBIDDEN, Mode.EXECUTE_GATED, Mode.FORBIDDEN)

    def test_order_decides_between_a_glob_and_an_exact_rule(self, demo):
        publish(
            {"name": "glob-first", "action_type": "refund.*", "mode": "escalate"},
            {"name": "exact-second", "action_type": "refund.issue", "mode": "forbidden"},
        )

        assert decide(params=refund(100)).rule_name == "glob-first"

    def test_a_version_compiles_each_condition_once_and_indexes_rules_per_type_and_agent(
        self, demo
    ):
        from policies.selectors import active_policy

        publish(
            {"name": "refunds", "action_type": "refund.*", "mode": "escalate",
             "condition": "params.amount > 100"},
            {"name": "orders", "action_type": "order.*", "mode": "forbidden"},
            {"name": "bot-b-only", "action_type": "*", "agents": ["bot-b"], "mode": "forbidden"},
        )  # fmt: skip
        policy = active_policy()

        refund_rules = [c.rule.name for c in policy.candidates("refund.issue", "bot-a")]
        order_rules = [c.rule.name for c in policy.candidates("order.cancel", "bot-b")]

        assert refund_rules == ["refunds"]
        assert order_rules == ["orders", "bot-b-only"]
        assert policy.candidates("refund.issue", "bot-a") is policy.candidates(
            "refund.issue", "bot-a"
        )
        assert [c.variables for c in policy.rules] == [("params",), (), ()]


class TestIntentAndRuleDetails:
    @pytest.mark.parametrize("intent", ["recommend", "draft"])
    def test_a_looser_rule_under_a_stricter_intent_explains_the_intent(self, demo, intent):
        decision = decide(params=refund(1000), intent=intent)  # small refunds execute by rule

        assert decision.rule_name == "small-refund-executes"
        kept = (
            "a recommendation for a human"
            if intent == "recommend"
            else "a draft for a human to finish"
        )
        assert decision.explanation == f"refund.issue by agent `support-bot` is kept as {kept}"

    @pytest.mark.parametrize(
        ("intent", "mode"), [("recommend", Mode.RECOMMEND_ONLY), ("draft", Mode.DRAFT_ONLY)]
    )
    def test_recommendations_and_drafts_name_who_may_adopt_them(self, demo, intent, mode):
        publish(
            {
                "name": "seniors-adopt",
                "action_type": "refund.issue",
                "mode": "execute_gated",
                "approver_role": "senior_supervisor",
                "approvals_required": 2,
            }
        )

        decision = decide(params=refund(1000), intent=intent)

        assert (decision.mode, decision.approver_role, decision.approvals_required) == (
            mode,
            "senior_supervisor",
            0,
        )

    def test_an_escalation_names_no_approver(self, demo):
        assert decide(params=refund(60000)).approver_role == ""
