"""Sampling: periods, what is due, and the seeded draw (pure, then through the service)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

from approvals.models import DecisionKind, Status
from audit.models import AuditEvent
from policies.models import Mode
from qa import sampling
from qa.models import Sample
from qa.sampling import Candidate
from qa.services.sampling import sample_draw
from tests.clock import frozen
from tests.qa.plan_factory import MONDAY, WEDNESDAY, save_plan


def plan_like(**fields):
    base = {"seed": "0123456789abcdef", "size_count": 10, "size_percent": None, "strata": [],
            "inclusions": {}, "period": "weekly", "starts_at": MONDAY}  # fmt: skip
    return SimpleNamespace(**{**base, **fields})


def candidates(n: int, **flags) -> list[Candidate]:
    return [
        Candidate(id=i, action_type="refund.issue", mode=Mode.EXECUTE_GATED, agent="bot",
                  rule="r", by_person=True, **flags)
        for i in range(1, n + 1)
    ]  # fmt: skip


# ---------------------------------------------------------------------------------------------
# periods


def test_weeks_start_on_monday_and_days_at_midnight_in_utc():
    assert sampling.period_bounds("weekly", WEDNESDAY) == (MONDAY, MONDAY + timedelta(weeks=1))
    day = datetime(2025, 3, 12, tzinfo=UTC)
    assert sampling.period_bounds("daily", WEDNESDAY) == (day, day + timedelta(days=1))


def test_due_periods_are_every_ended_period_since_the_start_oldest_first():
    plan = plan_like(starts_at=MONDAY - timedelta(weeks=3) + timedelta(hours=1))
    now = WEDNESDAY

    due = sampling.due_periods(plan, now)

    # The week holding starts_at is not drawn (it started before), nor the week in progress.
    assert [start for start, _ in due.periods] == [
        MONDAY - timedelta(weeks=2),
        MONDAY - timedelta(weeks=1),
    ]
    assert due.deferred == 0


def test_due_periods_start_after_the_last_sample_drawn():
    plan = plan_like(starts_at=MONDAY - timedelta(weeks=3))

    due = sampling.due_periods(plan, WEDNESDAY, drawn_until=MONDAY - timedelta(weeks=1))

    assert [start for start, _ in due.periods] == [MONDAY - timedelta(weeks=1)]


def test_a_long_catch_up_draws_the_oldest_first_and_reports_the_rest():
    plan = plan_like(period="daily", starts_at=MONDAY - timedelta(days=100))

    due = sampling.due_periods(plan, MONDAY, limit=60)

    assert len(due.periods) == 60
    assert due.periods[0][0] == MONDAY - timedelta(days=100)
    assert due.deferred == 40
    assert due.deferred_from == MONDAY - timedelta(days=40)


# ---------------------------------------------------------------------------------------------
# the draw


def test_the_same_plan_and_period_draw_the_same_sample_and_another_seed_another():
    rows = candidates(200)

    first = sampling.draw(plan_like(), rows, period_start=MONDAY)
    again = sampling.draw(plan_like(), list(reversed(rows)), period_start=MONDAY)
    other_seed = sampling.draw(plan_like(seed="fedcba9876543210"), rows, period_start=MONDAY)
    other_week = sampling.draw(plan_like(), rows, period_start=MONDAY + timedelta(weeks=1))

    assert first.items == again.items
    assert first.explanation == again.explanation
    assert len(first.items) == 10
    assert {i.candidate_id for i in first.items} != {i.candidate_id for i in other_seed.items}
    assert {i.candidate_id for i in first.items} != {i.candidate_id for i in other_week.items}
    assert first.explanation["seed"] == "0123456789abcdef"


def test_size_is_a_count_or_a_share_of_the_population():
    rows = candidates(45)

    by_count = sampling.draw(plan_like(size_count=7), rows, period_start=MONDAY)
    by_share = sampling.draw(plan_like(size_count=None, size_percent=10), rows, period_start=MONDAY)
    more_than_there_is = sampling.draw(plan_like(size_count=80), rows, period_start=MONDAY)

    assert len(by_count.items) == 7
    # 10 % of 45 is 4.5: rounded up.
    assert len(by_share.items) == 5
    assert by_share.explanation["size_asked"] == 5
    assert (len(more_than_there_is.items), more_than_there_is.explanation["size_given"]) == (45, 45)
    assert {i.reason for i in by_count.items} == {"random"}


def test_each_stratum_gets_at_least_its_share():
    people = candidates(90)
    unattended = [
        Candidate(id=1000 + i, action_type="refund.issue", mode=Mode.EXECUTE_LIMITED, agent="bot",
                  rule="small", unattended=True)
        for i in range(10)
    ]  # fmt: skip
    plan = plan_like(
        size_count=10,
        strata=[{"name": "unattended", "where": {"decided_by": "none"}, "min_percent": 50}],
    )

    drawn = sampling.draw(plan, people + unattended, period_start=MONDAY)

    stratum = [i for i in drawn.items if i.reason == "stratum:unattended"]
    assert len(stratum) == 5
    assert all(i.candidate_id >= 1000 for i in stratum)
    assert len(drawn.items) == 10
    assert drawn.explanation["strata"] == [
        {"name": "unattended", "asked": 5, "given": 5, "available": 10}
    ]


def test_a_stratum_with_fewer_rows_than_its_share_gets_them_all():
    cancel = Candidate(id=500, action_type="order.cancel", mode=Mode.EXECUTE_GATED, agent="bot",
                       rule="r", by_person=True)  # fmt: skip
    rows = [*candidates(30), cancel]
    plan = plan_like(
        strata=[{"name": "cancels", "where": {"action_types": ["order.cancel"]}, "min_percent": 40}]
    )

    drawn = sampling.draw(plan, rows, period_start=MONDAY)

    assert [i.candidate_id for i in drawn.items if i.reason == "stratum:cancels"] == [500]
    assert len(drawn.items) == 10  # the rest filled at random


def test_every_kind_of_inclusion_is_in_on_top_of_the_size():
    def one(id_, **flags):
        fields = {"action_type": "refund.issue", "mode": Mode.EXECUTE_GATED, "agent": "bot",
                  "rule": "r", "amount": 1000, "currency": "USD", **flags}  # fmt: skip
        return Candidate(id=id_, **fields)

    rows = [
        *candidates(50),
        one(101, rolled_back=True),
        one(102, unattended=True, amount=60000, currency="USD"),
        one(103, unattended=True, amount=10000, currency="USD"),  # under the amount: not included
        one(104, unattended=True, amount=90000, currency="EUR"),  # another currency
        one(105, by_person=True, overridden=True),
        one(106, by_person=True, rubber_stamped=True),
        one(107, by_person=True, negative_outcome=True),
    ]
    inclusions = {"rollbacks": True, "unattended_above": {"amount": 50000, "currency": "USD"},
                  "overridden": True, "rubber_stamps": True, "negative_outcomes": True}  # fmt: skip

    drawn = sampling.draw(plan_like(size_count=5, inclusions=inclusions), rows, period_start=MONDAY)

    reasons = {i.candidate_id: i.reason for i in drawn.items}
    assert {k: v for k, v in reasons.items() if v.startswith("included:")} == {
        101: "included:rolled_back",
        102: "included:unattended",
        105: "included:overridden",
        106: "included:rubber_stamped",
        107: "included:negative_outcome",
    }
    assert sum(1 for v in reasons.values() if v == "random") == 5
    assert drawn.explanation["included"] == {
        "rolled_back": 1, "unattended": 1, "overridden": 1, "rubber_stamped": 1,
        "negative_outcome": 1,
    }  # fmt: skip


def test_inclusions_not_asked_for_are_left_to_chance():
    rows = candidates(50)
    rows.append(Candidate(id=99, action_type="refund.issue", mode="x", agent="bot", rule="r",
                          rolled_back=True))  # fmt: skip

    drawn = sampling.draw(plan_like(size_count=3), rows, period_start=MONDAY)

    assert not any(i.reason.startswith("included:") for i in drawn.items)


# ---------------------------------------------------------------------------------------------
# through the service


def test_drawing_a_period_again_returns_the_same_sample(scorecard, resolution):
    # Arrange: 20 resolutions last week
    with frozen(WEDNESDAY):
        for hours in range(20):
            resolution(at=MONDAY - timedelta(days=6, hours=-hours))
        plan = save_plan(size_count=6)
        week = MONDAY - timedelta(weeks=1)

        # Act
        first = sample_draw(plan_id=plan.pk, period_start=week)
        items = list(first.items.values_list("action_id", "reason", "rank"))
        again = sample_draw(plan_id=plan.pk, period_start=week)

    # Assert
    assert again.pk == first.pk
    assert list(again.items.values_list("action_id", "reason", "rank")) == items
    assert (first.population, len(items)) == (20, 6)
    assert Sample.objects.count() == 1
    assert AuditEvent.objects.filter(verb="qa.sample_drawn").count() == 1


def test_the_same_period_redrawn_from_scratch_gives_the_same_items_another_seed_others(
    scorecard, resolution
):
    with frozen(WEDNESDAY):
        for hours in range(30):
            resolution(at=MONDAY - timedelta(days=5, hours=-hours))
        week = MONDAY - timedelta(weeks=1)
        plan = save_plan(size_count=5)
        first = sample_draw(plan_id=plan.pk, period_start=week)
        drawn = sorted(first.items.values_list("action_id", flat=True))
        # The sample deleted, the plan draws it again: the same items.
        first.items.all().delete()
        first.delete()
        redrawn = sample_draw(plan_id=plan.pk, period_start=week)
        other = save_plan(slug="other-seed", size_count=5)
        other.seed = "ffffffffffffffff"
        other.save(update_fields=["seed"])
        other_sample = sample_draw(plan_id=other.pk, period_start=week)

    assert sorted(redrawn.items.values_list("action_id", flat=True)) == drawn
    assert sorted(other_sample.items.values_list("action_id", flat=True)) != drawn


def test_the_scope_narrows_the_population(scorecard, resolution, make_supervisor):
    alice = make_supervisor("alice")
    with frozen(WEDNESDAY):
        at = MONDAY - timedelta(days=3)
        gated = [resolution(at=at, decisions=[(DecisionKind.APPROVE, alice, 60)]) for _ in range(3)]
        resolution(at=at, mode=Mode.EXECUTE_LIMITED, rule_name="small-refund-executes")
        resolution(at=at, action_type="order.cancel", decisions=[(DecisionKind.APPROVE, alice, 60)])
        resolution(at=at, status=Status.PENDING)
        plan = save_plan(
            size_count=10,
            scope={"action_types": ["refund.issue"], "decided_by": "person"},
        )

        sample = sample_draw(plan_id=plan.pk, period_start=MONDAY - timedelta(weeks=1))

    assert sample.population == 3
    assert sorted(sample.items.values_list("action_id", flat=True)) == sorted(a.pk for a in gated)
    assert sample.explanation["population"] == 3
