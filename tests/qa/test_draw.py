"""Drawing what is due: the beat's catch-up after downtime, the task in a real worker, and
`manage.py qa_draw`."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from audit.models import AuditEvent
from config import clock as cs_clock
from qa import sampling
from qa.models import Sample
from qa.services.sampling import samples_draw_due
from tests.clock import frozen, wait_for
from tests.qa.plan_factory import MONDAY, WEDNESDAY, save_plan


def test_after_downtime_the_beat_draws_every_missed_week_once(scorecard, resolution):
    # Arrange: a plan that started three weeks ago, a resolution in each week, nobody drew
    with frozen(WEDNESDAY):
        weeks = [MONDAY - timedelta(weeks=n) for n in (3, 2, 1)]
        for week in weeks:
            resolution(at=week + timedelta(days=2))
        plan = save_plan(starts_at=weeks[0])

        # Act: the worker is back
        first = samples_draw_due(now=cs_clock.now())
        second = samples_draw_due(now=cs_clock.now())

    # Assert: the three ended weeks, oldest first, each once; the week in progress waits
    assert [d.period_start for d in first.drawn] == weeks
    assert [(d.population, d.items) for d in first.drawn] == [(1, 1)] * 3
    assert second.drawn == []
    assert list(plan.samples.order_by("period_start").values_list("period_start", flat=True)) == (
        weeks
    )
    assert AuditEvent.objects.filter(verb="qa.sample_drawn").count() == 3


def test_the_next_week_is_drawn_once_it_ends(scorecard, resolution):
    with frozen(WEDNESDAY) as clock:
        save_plan(starts_at=MONDAY - timedelta(weeks=1))
        samples_draw_due(now=cs_clock.now())
        clock.move_to(MONDAY + timedelta(weeks=1, minutes=1))

        run = samples_draw_due(now=cs_clock.now())

    assert [d.period_start for d in run.drawn] == [MONDAY]


def test_inactive_plans_are_not_drawn(scorecard):
    with frozen(WEDNESDAY):
        save_plan(starts_at=MONDAY - timedelta(weeks=2), is_active=False)

        run = samples_draw_due(now=cs_clock.now())

    assert run.drawn == []


def test_a_catch_up_longer_than_the_cap_reports_what_it_left_for_the_next_run(
    scorecard, monkeypatch
):
    monkeypatch.setattr(sampling, "MAX_CATCH_UP", 2)
    with frozen(WEDNESDAY):
        save_plan(starts_at=MONDAY - timedelta(weeks=5))

        run = samples_draw_due(now=cs_clock.now())
        rest = samples_draw_due(now=cs_clock.now())
        last = samples_draw_due(now=cs_clock.now())

    assert (len(run.drawn), run.deferred) == (2, {"weekly-refunds": 3})
    assert (len(rest.drawn), rest.deferred) == (2, {"weekly-refunds": 1})
    assert (len(last.drawn), last.deferred) == (1, {})
    assert Sample.objects.count() == 5


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_the_beat_task_draws_in_a_real_worker(scorecard, resolution, celery_worker_process):
    # Arrange: a plan that started two weeks before the week in progress (real time: the
    # worker's clock is not frozen), with one resolution in each ended week
    from qa.tasks import draw_samples

    this_week, _ = sampling.period_bounds("weekly", cs_clock.now())
    weeks = [this_week - timedelta(weeks=2), this_week - timedelta(weeks=1)]
    for week in weeks:
        resolution(at=week + timedelta(days=1))
    plan = save_plan(starts_at=weeks[0])

    # Act
    draw_samples.delay()

    # Assert
    wait_for(lambda: plan.samples.count() == 2, what="the worker drew the two ended weeks")
    assert sorted(plan.samples.values_list("period_start", flat=True)) == weeks
    assert sorted(plan.samples.values_list("population", flat=True)) == [1, 1]


def test_qa_draw_draws_the_named_plan_only(scorecard, resolution):
    with frozen(WEDNESDAY):
        resolution(at=MONDAY - timedelta(days=3))
        save_plan(slug="refunds", starts_at=MONDAY - timedelta(weeks=1))
        save_plan(slug="others", starts_at=MONDAY - timedelta(weeks=1))
        out = StringIO()

        call_command("qa_draw", "--plan", "refunds", stdout=out)

    assert list(Sample.objects.values_list("plan__slug", flat=True)) == ["refunds"]
    assert "refunds: 2025-03-03 00:00..2025-03-10 00:00: population 1, 1 items" in out.getvalue()
    assert "1 unassigned" in out.getvalue()  # the plan has no reviewers


def test_qa_draw_now_draws_the_week_in_progress_early_and_the_beat_leaves_it(scorecard, resolution):
    # Arrange: the plan starts this week; one resolution so far
    with frozen(WEDNESDAY) as clock:
        resolution(at=WEDNESDAY - timedelta(hours=1))
        save_plan(starts_at=MONDAY)
        out = StringIO()

        # Act
        call_command("qa_draw", "--plan", "weekly-refunds", "--now", stdout=out)
        resolution(at=WEDNESDAY + timedelta(days=1))  # later in the week: not in the sample
        clock.move_to(MONDAY + timedelta(weeks=1, hours=1))
        beat = samples_draw_due(now=cs_clock.now())

    # Assert
    sample = Sample.objects.get()
    assert (sample.period_start, sample.period_end) == (MONDAY, WEDNESDAY)
    assert sample.explanation["drawn_early"] is True
    assert (sample.population, sample.items.count()) == (1, 1)
    assert "(drawn early)" in out.getvalue()
    assert beat.drawn == []


def test_qa_draw_names_an_unknown_plan(db):
    with pytest.raises(CommandError, match="No sampling plan 'nope'"):
        call_command("qa_draw", "--plan", "nope", stdout=StringIO())
