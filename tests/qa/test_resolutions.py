"""Resolutions as QA reads them: the flags sampling and scorecards share."""

from __future__ import annotations

from datetime import timedelta

from approvals.models import DecisionKind, Status
from policies.models import Mode
from qa.resolutions import involved_user_ids, resolutions
from tests.clock import frozen


def test_flags_tell_people_overrides_rubber_stamps_and_unattended(resolution, make_supervisor):
    # Arrange
    alice = make_supervisor("alice")
    with frozen():
        careful = resolution(decisions=[(DecisionKind.APPROVE, alice, 60)])
        stamped = resolution(decisions=[(DecisionKind.APPROVE, alice, 2)])
        edited = resolution(decisions=[(DecisionKind.EDIT, alice, None)])
        unattended = resolution(mode=Mode.EXECUTE_LIMITED, rule_name="small-refund-executes")
        rolled = resolution(status=Status.ROLLED_BACK, decisions=[(DecisionKind.APPROVE, alice, 9)])
        resolution(status=Status.PENDING)  # not resolved: not counted

        # Act
        rows = {a.pk: a for a in resolutions()}

    # Assert
    assert set(rows) == {careful.pk, stamped.pk, edited.pk, unattended.pk, rolled.pk}
    assert [rows[a.pk].by_person for a in (careful, unattended)] == [True, False]
    assert [rows[a.pk].rubber_stamped for a in (careful, stamped)] == [False, True]
    assert [rows[a.pk].overridden for a in (careful, edited)] == [False, True]
    assert [rows[a.pk].unattended for a in (careful, unattended)] == [False, True]
    assert [rows[a.pk].rolled_back for a in (careful, rolled)] == [False, True]


def test_resolutions_are_windowed_by_when_they_were_resolved(resolution):
    with frozen() as clock:
        old = resolution()
        clock.shift(timedelta(days=8))
        new = resolution()
        since = new.finished_at - timedelta(days=1)

        assert [a.pk for a in resolutions(since=since)] == [new.pk]
        assert [a.pk for a in resolutions(until=since)] == [old.pk]


def test_everyone_who_decided_is_involved(resolution, make_supervisor):
    alice, bob = make_supervisor("alice"), make_supervisor("bob")
    action = resolution(
        decisions=[(DecisionKind.EDIT, alice, None), (DecisionKind.APPROVE, bob, 30)]
    )

    assert involved_user_ids(action.pk) == {alice.pk, bob.pk}
