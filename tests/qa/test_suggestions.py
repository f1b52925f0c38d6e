"""QA's suggestions: raise a threshold people always approve, gate what leaks unattended, and open
one as a policy draft."""

from __future__ import annotations

from datetime import timedelta

import pytest

from audit.models import AuditEvent
from audit.services import Actor
from config import clock
from config.errors import Code, Forbidden, NotFound
from policies import services as policies
from policies.models import PolicyVersion
from qa.models import Verdict
from qa.services.suggestions import suggestion_draft
from qa.suggestions import suggestions
from tests.qa.evidence import (
    GATE,
    SMALL,
    chargeback,
    gated_refunds,
    overturn,
    rejected_refund,
    review,
    unattended_refunds,
)

RAISE_KEY = f"raise:{GATE}:8000"
DAY = timedelta(days=1)
LEAK_KEY = "gate:support-bot:refund.issue"

pytestmark = pytest.mark.usefixtures("frozen_clock")


@pytest.fixture
def approved_gate(resolution, people, scorecard):
    """20 refunds the gate held in the last 30 days: 19 approved (60.00 to 80.00 USD), one of
    90.00 USD rejected; QA reviewed 3 approved ones and judged them right."""
    at = clock.now() - timedelta(days=2)
    amounts = [6000] * 16 + [7000, 7500, 8000]
    approved = gated_refunds(resolution, people["alice"], amounts, at=at)
    rejected_refund(resolution, people["alice"], 9000, at=at)
    reviews = [review(action, people["qa"], scorecard) for action in approved[-3:]]
    return approved, reviews


def by_key(found):
    return {s.key: s for s in found}


# ---------------------------------------------------------------------------------------------
# raise a threshold


def test_a_gate_people_always_approve_and_qa_judged_right_suggests_raising_its_threshold(
    approved_gate,
):
    # Arrange
    approved, _ = approved_gate

    # Act
    found = by_key(suggestions())

    # Assert
    suggestion = found[RAISE_KEY]
    assert suggestion.text == (
        f"rule {GATE} gated 20 refunds up to 90.00 USD in the last 30 days; 95 % were approved "
        "and QA judged all 3 reviewed right: raise the threshold to 80.00 USD?"
    )
    assert suggestion.evidence.counts == {
        "actions": 20, "approved": 19, "reviewed": 3, "judged_right": 3,
    }  # fmt: skip
    assert suggestion.evidence.money == {"USD": 16 * 6000 + 7000 + 7500 + 8000 + 9000}
    assert suggestion.evidence.example_ids[0] == str(approved[-1].pk)  # the largest first
    gate, small = suggestion.changes
    assert (gate.op, gate.rule, gate.spec["condition"]) == ("update", GATE, "params.amount > 8000")
    assert gate.spec["explanation"] == (
        "refund {amount} > 80.00 limit for agent `{agent}`: needs 1 approval"
    )
    assert (small.rule, small.spec["condition"]) == (SMALL, "params.amount <= 8000")
    assert (
        small.spec["explanation"] == "refund {amount} is within the 80.00 limit for agent `{agent}`"
    )


def test_no_raise_is_suggested_when_qa_judged_one_reviewed_action_wrong(
    approved_gate, people, scorecard
):
    # Arrange
    approved, _ = approved_gate
    review(approved[0], people["qa"], scorecard, Verdict.SHOULD_REJECT)

    # Act
    found = by_key(suggestions())

    # Assert
    assert not [key for key in found if key.startswith("raise:")]


def test_a_wrong_verdict_overturned_on_dispute_counts_as_right(approved_gate, people, scorecard):
    # Arrange
    approved, _ = approved_gate
    wrong = review(approved[0], people["qa"], scorecard, Verdict.SHOULD_REJECT)
    overturn(wrong, raised_by=people["alice"], decided_by=people["lead"])

    # Act
    found = by_key(suggestions())

    # Assert
    assert found[RAISE_KEY].evidence.counts["reviewed"] == 4


def test_no_raise_is_suggested_from_fewer_than_twenty_actions(resolution, people, scorecard):
    # Arrange: 19 approved, each reviewed right
    approved = gated_refunds(resolution, people["alice"], [8000] * 19, at=clock.now() - DAY)
    for action in approved:
        review(action, people["qa"], scorecard)

    # Act
    found = suggestions()

    # Assert
    assert found == []


def test_no_raise_is_suggested_from_fewer_than_three_counted_reviews(resolution, people, scorecard):
    # Arrange: 20 approved; two reviewed, and a calibration review that does not count
    approved = gated_refunds(resolution, people["alice"], [8000] * 20, at=clock.now() - DAY)
    review(approved[0], people["qa"], scorecard)
    review(approved[1], people["qa"], scorecard)
    review(approved[2], people["qa"], scorecard, kind="calibration")

    # Act
    found = suggestions()

    # Assert
    assert found == []


def test_no_raise_is_suggested_for_a_rule_whose_condition_is_not_a_bare_amount(
    approved_gate, people
):
    # Arrange: the active policy's gate also asks for something else
    actor = Actor.user(people["admin"].pk)
    draft = policies.policy_draft_create(actor=actor, based_on=1)
    gate = draft.rules.get(name=GATE)
    spec = {**gate.spec(), "condition": "params.amount > 5000 || context.vip == true"}
    policies.policy_rule_update(number=draft.number, rule_id=gate.pk, spec=spec, actor=actor)
    # Published as the system: publishing as a person needs a second policy admin.
    policies.policy_version_publish(number=draft.number, actor=Actor.system("test"))

    # Act
    found = suggestions()

    # Assert
    assert found == []


def test_only_the_window_counts(approved_gate):
    # Act: a window that ends before the evidence
    found = suggestions(until=clock.now() - timedelta(days=3))

    # Assert
    assert found == []


# ---------------------------------------------------------------------------------------------
# gate a leak


def test_unattended_refunds_that_leak_five_percent_or_more_suggest_a_gate(
    resolution, people, scorecard
):
    # Arrange: 20 refunds executed without a person; QA judged one wrong, one was charged back
    refunds = unattended_refunds(resolution, 20, at=clock.now() - DAY)
    review(refunds[0], people["qa"], scorecard, Verdict.SHOULD_REJECT)
    review(refunds[1], people["qa"], scorecard)
    chargeback(refunds[2])

    # Act
    found = by_key(suggestions())

    # Assert
    suggestion = found[LEAK_KEY]
    assert suggestion.text == (
        "refunds executed without a person for agent support-bot leaked 10 % "
        "(2 of 20; 240.00 USD): gate them"
    )
    assert suggestion.evidence.counts["leaked"] == 2
    assert suggestion.evidence.money == {"USD": 24000}
    assert set(suggestion.evidence.example_ids) == {str(refunds[0].pk), str(refunds[2].pk)}
    (change,) = suggestion.changes
    assert (change.op, change.before) == ("add", SMALL)
    assert change.spec | {"explanation": ""} == {
        "name": "gate-support-bot-refund-issue",
        "action_type": "refund.issue",
        "agents": ["support-bot"],
        "condition": "true",
        "mode": "execute_gated",
        "approvals_required": 1,
        "approver_role": "supervisor",
        "queue": "Refunds",
        "sla_seconds": 4 * 3600,
        "on_timeout": "expire",
        "explanation": "",
    }


def test_a_rollback_at_exactly_five_percent_suggests_a_gate_and_below_it_does_not(resolution):
    # Arrange
    at = clock.now() - DAY
    refunds = unattended_refunds(resolution, 20, at=at)
    type(refunds[0]).objects.filter(pk=refunds[0].pk).update(status="rolled_back")

    # Act / Assert: 1 of 20
    assert LEAK_KEY in by_key(suggestions())

    # Act / Assert: 1 of 21
    unattended_refunds(resolution, 1, at=at)
    assert LEAK_KEY not in by_key(suggestions())


# ---------------------------------------------------------------------------------------------
# opening a suggestion as a draft


def window():
    until = clock.now()
    return {"since": until - timedelta(days=30), "until": until}


def test_a_policy_admin_opens_a_raise_as_a_draft_that_carries_exactly_the_change(
    approved_gate, people
):
    # Arrange
    active = PolicyVersion.objects.get(is_active=True)
    before = {rule.name: rule.spec() for rule in active.rules.all()}

    # Act
    draft = suggestion_draft(key=RAISE_KEY, by=people["admin"], **window())

    # Assert
    assert draft.is_draft and draft.based_on_id == active.pk
    after = {rule.name: rule.spec() for rule in draft.rules.all()}
    changed = {name for name in after if after[name] != before[name]}
    assert changed == {GATE, SMALL}
    assert after[GATE]["condition"] == "params.amount > 8000"
    assert after[SMALL]["condition"] == "params.amount <= 8000"
    assert [r.name for r in draft.rules.order_by("position")] == list(before)
    event = AuditEvent.objects.get(verb="qa.suggestion_drafted")
    assert event.object_id == str(draft.number)
    assert event.actor_id == str(people["admin"].pk)
    assert event.data["key"] == RAISE_KEY
    assert event.data["draft"] == draft.number
    assert event.data["evidence"]["actions"] == 20


def test_a_gate_is_added_just_before_the_rule_that_let_the_refunds_through(resolution, people):
    # Arrange
    refunds = unattended_refunds(resolution, 20, at=clock.now() - DAY)
    chargeback(refunds[0])

    # Act
    draft = suggestion_draft(key=LEAK_KEY, by=people["admin"], **window())

    # Assert
    names = list(draft.rules.order_by("position").values_list("name", flat=True))
    assert names[names.index(SMALL) - 1] == "gate-support-bot-refund-issue"
    assert len(names) == PolicyVersion.objects.get(is_active=True).rules.count() + 1


def test_only_policy_admins_may_open_a_suggestion_as_a_draft(approved_gate, people):
    # Act
    with pytest.raises(Forbidden) as refused:
        suggestion_draft(key=RAISE_KEY, by=people["lead"], **window())

    # Assert
    assert refused.value.code == Code.MISSING_ROLE
    assert not PolicyVersion.objects.filter(status="draft").exists()
    assert not AuditEvent.objects.filter(verb="qa.suggestion_drafted").exists()


def test_a_suggestion_that_no_longer_holds_is_not_found(approved_gate, people):
    # Act
    with pytest.raises(NotFound) as missing:
        suggestion_draft(key=f"raise:{GATE}:9999", by=people["admin"], **window())

    # Assert
    assert missing.value.code == Code.SUGGESTION_NOT_FOUND
    assert not PolicyVersion.objects.filter(status="draft").exists()
