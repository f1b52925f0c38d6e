"""Simulating a version against recent actions: exact counts and money per mode, rule and shift."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from approvals import selectors
from approvals.models import Action
from approvals.services import action_submit
from audit.services import Actor
from config.errors import InvalidInput
from policies import services, simulation
from policies.models import PolicyVersion
from policies.simulation import simulate

pytestmark = pytest.mark.django_db

ACTOR = Actor.system("test")
NOW = timezone.now().replace(microsecond=0)


@pytest.fixture
def submit(demo, agent):
    """submit(action_type, params, hours_ago=H): decided by the demo policy, H hours ago."""

    def make(action_type: str, params: dict, *, hours_ago: float, context=None) -> Action:
        action = action_submit(
            agent=agent.agent, action_type=action_type, params=params, context=context or {}
        ).action
        Action.objects.filter(pk=action.pk).update(created_at=NOW - timedelta(hours=hours_ago))
        return action

    return make


def refund(amount: int, currency: str = "USD") -> dict:
    return {"order_id": "ORD-1001", "amount": amount, "currency": currency, "reason": "damaged"}


@pytest.fixture
def history(submit) -> dict[str, Action]:
    """A week of actions decided by the demo policy (v1), and one from before the week."""
    return {
        "limited-usd": submit("refund.issue", refund(3000), hours_ago=2),
        "limited-eur": submit("refund.issue", refund(4500, "EUR"), hours_ago=30),
        "gated": submit("refund.issue", refund(6000), hours_ago=50),
        "escalated": submit("refund.issue", refund(70000), hours_ago=100),
        "credentials": submit("credentials.reset", {"customer_id": "CUS-1001"}, hours_ago=120),
        "cancel": submit(
            "order.cancel",
            {"order_id": "ORD-1016", "reason": "r"},
            hours_ago=160,
        ),
        "too-old": submit("refund.issue", refund(2000), hours_ago=7 * 24 + 1),
    }


@pytest.fixture
def stricter_draft(history) -> PolicyVersion:
    """v2: refunds over 25.00 need approval (were 50.00); credential resets need one person (the
    demo policy asks two)."""
    active = PolicyVersion.objects.get(is_active=True)
    draft = services.policy_draft_create(actor=ACTOR, based_on=active.number)
    rules = {r.name: r for r in draft.rules.all()}
    gate = rules["refund-over-50-needs-approval"]
    creds = rules["credentials-reset-needs-a-human"]
    services.policy_rule_update(
        number=draft.number, rule_id=gate.pk,
        spec={**gate.spec(), "condition": "params.amount > 2500"}, actor=ACTOR,
    )  # fmt: skip
    services.policy_rule_update(
        number=draft.number, rule_id=creds.pk,
        spec={**creds.spec(), "approvals_required": 1}, actor=ACTOR,
    )  # fmt: skip
    return draft


def test_the_history_was_decided_as_the_demo_policy_says(history):
    modes = {name: action.mode for name, action in history.items()}

    assert modes == {
        "limited-usd": "execute_limited",
        "limited-eur": "execute_limited",
        "gated": "execute_gated",
        "escalated": "escalate",
        "credentials": "execute_gated",
        "cancel": "escalate",
        "too-old": "execute_limited",
    }


def test_a_stricter_draft_reports_the_actions_and_money_that_would_change(stricter_draft):
    report = simulate(version=stricter_draft, days=7, now=NOW)

    assert report.replayed == 6
    assert (report.changed.actions, dict(report.changed.money)) == (3, {"USD": 3000, "EUR": 4500})
    # The cancellation: the demo's failed-payment rule reads derived.*, which actions do not keep.
    assert report.uncertain.actions == 1


def test_the_figures_per_mode_count_actions_gained_and_lost_with_their_money(stricter_draft):
    report = simulate(version=stricter_draft, days=7, now=NOW)

    modes = {
        m.mode: (
            m.before.actions, m.after.actions,
            m.gained.actions, dict(m.gained.money), m.lost.actions, dict(m.lost.money),
        )
        for m in report.modes
    }  # fmt: skip
    assert modes == {
        "execute_limited": (2, 0, 0, {}, 2, {"USD": 3000, "EUR": 4500}),
        "execute_gated": (2, 4, 2, {"USD": 3000, "EUR": 4500}, 0, {}),
        "escalate": (2, 2, 0, {}, 0, {}),
    }


def test_the_figures_per_rule_count_what_each_rule_decides_and_changes(stricter_draft):
    report = simulate(version=stricter_draft, days=7, now=NOW)

    rules = {r.name: (r.position, r.decided.actions, r.changed.actions) for r in report.rules}
    assert rules == {
        "refund-over-500-escalates": (1, 1, 0),
        "refund-over-50-needs-approval": (2, 3, 2),
        "small-refund-executes": (3, 0, 0),
        "cancel-after-failed-payment-escalates": (4, 1, 0),
        "credentials-reset-needs-a-human": (5, 1, 1),
        "account-delete-forbidden": (6, 0, 0),
    }
    gate = next(r for r in report.rules if r.name == "refund-over-50-needs-approval")
    assert dict(gate.changed.money) == {"USD": 3000, "EUR": 4500}


def test_the_shifts_and_headlines_say_what_changes_in_plain_words(stricter_draft):
    report = simulate(version=stricter_draft, days=7, now=NOW)

    assert [s.sentence for s in report.shifts] == [
        "2 refund.issue: execute_limited -> execute_gated (1 approval) (45.00 EUR, 30.00 USD)",
        "1 credentials.reset: execute_gated (2 approvals) -> execute_gated (1 approval) (no money)",
    ]
    assert report.headlines() == [
        f"v{stricter_draft.number} would have gated 2 more refund.issue in the last 7 day(s), "
        "45.00 EUR, 30.00 USD at stake"
    ]
    assert [(e.action_type, e.before, e.after) for e in report.examples] == [
        ("credentials.reset", "execute_gated (2 approvals)", "execute_gated (1 approval)"),
        ("refund.issue", "execute_limited", "execute_gated (1 approval)"),
        ("refund.issue", "execute_limited", "execute_gated (1 approval)"),
    ]


def test_actions_older_than_the_window_are_left_out_and_the_window_edge_is_included(
    stricter_draft, history
):
    Action.objects.filter(pk=history["too-old"].pk).update(created_at=NOW - timedelta(days=7))

    report = simulate(version=stricter_draft, days=7, now=NOW)
    shorter = simulate(version=stricter_draft, days=1, now=NOW)

    assert report.replayed == 7
    assert shorter.replayed == 1  # only the refund of 30.00 USD, two hours ago
    assert dict(shorter.changed.money) == {"USD": 3000}


def test_the_version_that_decided_the_history_changes_nothing(history):
    active = PolicyVersion.objects.get(is_active=True)

    report = simulate(version=active, days=7, now=NOW)

    assert (report.replayed, report.changed.actions, report.shifts) == (6, 0, [])


def test_a_draft_edited_between_two_simulations_is_simulated_as_it_is_now(stricter_draft):
    first = simulate(version=stricter_draft, days=7, now=NOW)
    gate = stricter_draft.rules.get(name="refund-over-50-needs-approval")
    services.policy_rule_update(
        number=stricter_draft.number, rule_id=gate.pk,
        spec={**gate.spec(), "condition": "params.amount > 5000"}, actor=ACTOR,
    )  # fmt: skip

    second = simulate(version=stricter_draft, days=7, now=NOW)

    assert (first.changed.actions, second.changed.actions) == (3, 1)


def test_conditions_on_derived_values_are_counted_as_uncertain(history):
    draft = services.policy_draft_create(actor=ACTOR)
    services.policy_rule_add(
        number=draft.number,
        spec={
            "name": "watch-refunded-orders", "action_type": "refund.issue",
            "condition": "derived.order_refunded > 0", "mode": "escalate",
        },
        actor=ACTOR,
    )  # fmt: skip

    report = simulate(version=draft, days=7, now=NOW)

    assert report.uncertain.actions == 4
    assert dict(report.uncertain.money) == {"USD": 79000, "EUR": 4500}


def test_the_number_of_queries_does_not_grow_with_the_number_of_actions(stricter_draft, submit):
    def count() -> int:
        with CaptureQueriesContext(connection) as captured:
            simulate(version=stricter_draft, days=7, now=NOW)
        return len(captured)

    few = count()
    for i in range(30):
        submit("refund.issue", refund(1000 + i), hours_ago=i + 1)
    many = count()

    assert many == few


@pytest.mark.parametrize("days", [0, -1, 367, True])
def test_a_window_outside_one_day_to_a_year_is_refused(stricter_draft, days):
    with pytest.raises(InvalidInput) as refused:
        simulate(version=stricter_draft, days=days, now=NOW)

    assert refused.value.code == "invalid_days"


def test_the_approvals_app_lends_its_reader_of_past_actions_as_the_history_source():
    assert simulation._history_source is selectors.actions_for_replay


def test_the_simulation_replays_whatever_the_history_source_yields_for_the_window(
    stricter_draft, history, monkeypatch
):
    # Arrange: a source that yields only the refund of 30.00 (gated by the draft, not by v1), and
    # remembers the window it was asked for
    asked = []
    refund_30 = next(
        past
        for past in selectors.actions_for_replay(since=NOW - timedelta(days=7), until=NOW)
        if past.id == history["limited-usd"].pk
    )

    def source(*, since, until):
        asked.append((since, until))
        return iter([refund_30])

    monkeypatch.setattr(simulation, "_history_source", source)

    # Act
    report = simulate(version=stricter_draft, days=7, now=NOW)

    # Assert
    assert asked == [(NOW - timedelta(days=7), NOW)]
    assert (report.replayed, report.changed.actions) == (1, 1)
    assert [e.action_id for e in report.examples] == [str(history["limited-usd"].pk)]
