"""Outcome feedback as the service takes it: one report per action and agent, replays and
conflicts, strict bodies, and the audit trail."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from approvals.models import Status
from audit.events import Verb
from audit.models import AuditEvent
from config.errors import Code, Conflict, InvalidInput, NotFound
from qa.models import OutcomeReport
from qa.services.outcomes import body_hash_of, feedback_normalised, outcome_report
from tests.clock import frozen


def reported_events():
    return AuditEvent.objects.filter(verb=Verb.ACTION_OUTCOME_REPORTED)


def test_a_first_report_is_written_with_its_hash_and_audited(resolution, agent):
    # Arrange
    action = resolution()
    body = {"resolved": True, "csat": 5, "note": "Customer thanked us"}

    # Act
    with frozen():
        report, created = outcome_report(action_id=action.pk, agent=agent.agent, body=body)

    # Assert
    assert created is True
    assert (report.source, report.resolved, report.csat, report.negative) == (
        "agent:support-bot", True, 5, False,
    )  # fmt: skip
    assert report.body_hash == body_hash_of(feedback_normalised(body))
    event = reported_events().get()
    assert (event.object_type, event.object_id) == ("action", str(action.pk))
    assert event.data["report_id"] == report.pk and event.data["negative"] is False


def test_the_same_body_again_is_a_replay_that_writes_nothing(resolution, agent):
    action = resolution()
    first, _ = outcome_report(action_id=action.pk, agent=agent.agent, body={"resolved": True})

    # Absent fields and explicit nulls are the same body.
    again, created = outcome_report(
        action_id=str(action.pk), agent=agent.agent, body={"resolved": True, "csat": None}
    )

    assert (again.pk, created) == (first.pk, False)
    assert OutcomeReport.objects.count() == 1
    assert reported_events().count() == 1


def test_another_body_is_a_conflict_carrying_the_existing_report(resolution, agent):
    action = resolution()
    first, _ = outcome_report(action_id=action.pk, agent=agent.agent, body={"resolved": True})

    with pytest.raises(Conflict) as refused:
        outcome_report(action_id=action.pk, agent=agent.agent, body={"resolved": False})

    assert refused.value.code == Code.OUTCOME_ALREADY_REPORTED
    assert refused.value.details["existing"]["id"] == first.pk
    assert reported_events().count() == 1


@pytest.mark.parametrize(
    "body, negative",
    [
        ({"resolved": True, "csat": 3, "chargeback": False}, False),
        ({"resolved": False}, True),
        ({"resolved": True, "recontact_within_days": 0}, True),
        ({"resolved": True, "csat": 2}, True),
        ({"resolved": True, "chargeback": True}, True),
    ],
)
def test_a_report_is_negative_when_the_problem_came_back(resolution, agent, body, negative):
    action = resolution()

    report, _ = outcome_report(action_id=action.pk, agent=agent.agent, body=body)

    assert report.negative is negative


def test_another_agents_action_reads_as_unknown(resolution, agent, make_agent):
    action = resolution()
    other = make_agent("other-bot")

    with pytest.raises(NotFound) as refused:
        outcome_report(action_id=action.pk, agent=other.agent, body={"resolved": True})

    assert refused.value.code == Code.ACTION_NOT_FOUND
    assert not OutcomeReport.objects.exists()


def test_an_action_without_an_outcome_yet_is_refused(resolution, agent):
    action = resolution(status=Status.PENDING)

    with pytest.raises(Conflict) as refused:
        outcome_report(action_id=action.pk, agent=agent.agent, body={"resolved": True})

    assert refused.value.code == Code.NOT_RESOLVED
    assert not reported_events().exists()


def test_an_execution_of_unknown_outcome_may_be_reported(resolution, agent):
    action = resolution(status=Status.NEEDS_RECONCILIATION)

    _, created = outcome_report(action_id=action.pk, agent=agent.agent, body={"resolved": True})

    assert created is True


@pytest.mark.parametrize(
    "body, wrong",
    [
        ({}, {"resolved"}),
        ({"resolved": "yes"}, {"resolved"}),
        ({"resolved": True, "recontact_within_days": 366}, {"recontact_within_days"}),
        ({"resolved": True, "recontact_within_days": True}, {"recontact_within_days"}),
        ({"resolved": True, "csat": 0}, {"csat"}),
        ({"resolved": True, "csat": 4.5}, {"csat"}),
        ({"resolved": True, "chargeback": "no"}, {"chargeback"}),
        ({"resolved": True, "note": "x" * 2001}, {"note"}),
        ({"resolved": 1, "csat": "5"}, {"resolved", "csat"}),
    ],
)
def test_wrong_types_and_ranges_are_refused_field_by_field(resolution, agent, body, wrong):
    action = resolution()

    with pytest.raises(InvalidInput) as refused:
        outcome_report(action_id=action.pk, agent=agent.agent, body=body)

    assert refused.value.code == Code.INVALID_FEEDBACK
    assert set(refused.value.details["fields"]) == wrong


def test_unknown_keys_and_non_objects_are_refused(resolution, agent):
    action = resolution()

    with pytest.raises(InvalidInput) as unknown:
        outcome_report(action_id=action.pk, agent=agent.agent,
                       body={"resolved": True, "nps": 9})  # fmt: skip
    with pytest.raises(InvalidInput) as listed:
        outcome_report(action_id=action.pk, agent=agent.agent, body=[{"resolved": True}])

    assert unknown.value.details["unknown"] == ["nps"]
    assert listed.value.code == Code.INVALID_FEEDBACK
    assert not OutcomeReport.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_two_first_reports_at_once_write_one_report(resolution, agent):
    # Arrange
    action = resolution()
    start = threading.Barrier(2)
    results: list = []

    def report(body):
        try:
            start.wait(timeout=10)
            results.append(outcome_report(action_id=action.pk, agent=agent.agent, body=body))
        except Conflict as exc:
            results.append(exc.code)
        finally:
            connection.close()

    # Act
    threads = [threading.Thread(target=report, args=({"resolved": ok},)) for ok in (True, False)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)

    # Assert: one wrote, the other found it and was refused (its body differs).
    assert sorted(map(type, results), key=str) == sorted([tuple, Code], key=str)
    assert Code.OUTCOME_ALREADY_REPORTED in results
    assert OutcomeReport.objects.count() == 1
    assert reported_events().count() == 1
