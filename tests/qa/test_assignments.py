"""Assigning sampled items: never to someone who took part, balanced, a share reviewed twice; a
lead reassigns or removes an assignment with a reason."""

from __future__ import annotations

from datetime import timedelta

import pytest

from approvals.models import DecisionKind
from audit.models import AuditEvent
from config.errors import Code, Conflict, Forbidden, InvalidInput
from escalations.models import CaseStatus, Escalation, Source
from policies.models import Tier
from qa.models import Assignment, Sample
from qa.services.assignments import assignment_reassign, assignment_remove
from qa.services.sampling import sample_draw
from tests.clock import frozen
from tests.qa.plan_factory import MONDAY, WEDNESDAY, save_plan

LAST_WEEK = MONDAY - timedelta(weeks=1)
IN_LAST_WEEK = MONDAY - timedelta(days=4)


def draw(plan) -> Sample:
    return sample_draw(plan_id=plan.pk, period_start=LAST_WEEK)


def open_assignments(sample: Sample, **filters):
    return Assignment.objects.filter(item__sample=sample, state="open", **filters)


@pytest.mark.parametrize(
    "kind", [DecisionKind.APPROVE, DecisionKind.EDIT, DecisionKind.ADOPT, DecisionKind.ESCALATE]
)
def test_a_reviewer_is_never_given_a_resolution_they_took_part_in(
    kind, scorecard, resolution, make_qa_person
):
    # Arrange: rita is the plan's only reviewer and took part in one of the two resolutions
    rita = make_qa_person("rita")
    with frozen(WEDNESDAY):
        theirs = resolution(at=IN_LAST_WEEK, decisions=[(kind, rita, 60)])
        other = resolution(at=IN_LAST_WEEK)
        plan = save_plan(size_count=10, reviewer_usernames=["rita"])

        # Act
        sample = draw(plan)

    # Assert: the other one is hers; hers stays unassigned and is reported
    assert list(open_assignments(sample).values_list("action_id", "reviewer")) == [
        (other.pk, rita.pk)
    ]
    assert sample.items.count() == 2
    assert [u["action_id"] for u in sample.explanation["unassigned"]] == [str(theirs.pk)]


def test_nor_a_case_they_handled_nor_an_action_of_an_agent_they_operate(
    scorecard, resolution, make_qa_person, make_agent
):
    rita = make_qa_person("rita")
    operated = make_agent("rita-bot")
    operated.agent.operators.add(rita)
    with frozen(WEDNESDAY):
        case_action = resolution(at=IN_LAST_WEEK)
        at = WEDNESDAY
        Escalation.objects.create(
            action=case_action, source=Source.POLICY, tier=Tier.objects.order_by("id").first(),
            reason="over 500", status=CaseStatus.RESOLVED, resolved_by=rita, resolved_at=at,
            tier_entered_at=at, ack_due_at=at, resolve_due_at=at, created_at=at, updated_at=at,
        )  # fmt: skip
        agents_action = resolution(at=IN_LAST_WEEK, by_agent=operated)
        plan = save_plan(size_count=10, reviewer_usernames=["rita"])

        sample = draw(plan)

    assert not open_assignments(sample).exists()
    unassigned = {u["action_id"] for u in sample.explanation["unassigned"]}
    assert unassigned == {str(case_action.pk), str(agents_action.pk)}


def test_items_are_spread_evenly_over_the_reviewers(scorecard, resolution, make_qa_person):
    for name in ("rita", "ravi", "rosa"):
        make_qa_person(name)
    with frozen(WEDNESDAY):
        for _ in range(9):
            resolution(at=IN_LAST_WEEK)
        plan = save_plan(size_count=9, reviewer_usernames=["rita", "ravi", "rosa"])

        sample = draw(plan)

    names = ("rita", "ravi", "rosa")
    per_reviewer = [open_assignments(sample, reviewer__username=n).count() for n in names]
    assert per_reviewer == [3, 3, 3]
    events = AuditEvent.objects.filter(verb="qa.assignment_created")
    assert events.count() == 9


def test_a_share_of_items_goes_to_a_second_reviewer_blind(scorecard, resolution, make_qa_person):
    for name in ("rita", "ravi", "rosa"):
        make_qa_person(name)
    with frozen(WEDNESDAY):
        for _ in range(20):
            resolution(at=IN_LAST_WEEK)
        plan = save_plan(
            size_count=20, reviewer_usernames=["rita", "ravi", "rosa"], double_review_percent=10
        )

        sample = draw(plan)

    doubles = list(open_assignments(sample, kind="double"))
    assert len(doubles) == 2
    for double in doubles:
        first = open_assignments(sample, item=double.item, kind="sample").get()
        assert first.reviewer_id != double.reviewer_id
    assert sample.explanation["double_reviewed"] == 2


def test_a_small_share_still_doubles_one_item(scorecard, resolution, make_qa_person):
    make_qa_person("rita")
    make_qa_person("ravi")
    with frozen(WEDNESDAY):
        for _ in range(3):
            resolution(at=IN_LAST_WEEK)
        plan = save_plan(size_count=3, reviewer_usernames=["rita", "ravi"], double_review_percent=5)

        sample = draw(plan)

    assert open_assignments(sample, kind="double").count() == 1


def test_with_one_eligible_reviewer_nothing_is_doubled(scorecard, resolution, make_qa_person):
    make_qa_person("rita")
    with frozen(WEDNESDAY):
        resolution(at=IN_LAST_WEEK)
        plan = save_plan(size_count=3, reviewer_usernames=["rita"], double_review_percent=50)

        sample = draw(plan)

    assert open_assignments(sample, kind="double").count() == 0
    assert open_assignments(sample).count() == 1


# ---------------------------------------------------------------------------------------------
# a lead's changes


@pytest.fixture
def assigned(scorecard, resolution, make_qa_person):
    """An open assignment of one item to rita, with ravi eligible too, and lena the lead."""
    rita, ravi = make_qa_person("rita"), make_qa_person("ravi")
    lena = make_qa_person("lena", role="qa_lead")
    with frozen(WEDNESDAY):
        resolution(at=IN_LAST_WEEK)
        plan = save_plan(size_count=1, reviewer_usernames=["rita"])
        sample = draw(plan)
    assignment = open_assignments(sample).get()
    return assignment, rita, ravi, lena


def test_a_lead_reassigns_with_a_reason_and_the_old_row_points_the_way(assigned):
    assignment, _rita, ravi, lena = assigned

    new = assignment_reassign(
        assignment_id=assignment.pk, to_username="ravi", reason="rita is on leave", by=lena
    )

    assignment.refresh_from_db()
    assert (assignment.state, assignment.removed_reason) == ("removed", "rita is on leave")
    assert (new.state, new.reviewer_id, new.reassigned_from_id) == ("open", ravi.pk, assignment.pk)
    assert (new.item_id, new.kind) == (assignment.item_id, assignment.kind)
    event = AuditEvent.objects.get(verb="qa.assignment_reassigned")
    assert event.actor_id == str(lena.pk)
    assert event.data["reason"] == "rita is on leave"
    assert (event.data["from"], event.data["to"]) == ("rita", "ravi")


def test_reassigning_needs_a_lead_and_a_reason(assigned):
    assignment, rita, _ravi, lena = assigned

    with pytest.raises(Forbidden) as not_a_lead:
        assignment_reassign(assignment_id=assignment.pk, to_username="ravi", reason="x", by=rita)
    with pytest.raises(InvalidInput) as no_reason:
        assignment_reassign(assignment_id=assignment.pk, to_username="ravi", reason=" ", by=lena)

    assert not_a_lead.value.code == Code.MISSING_ROLE
    assert no_reason.value.code == Code.REASON_REQUIRED
    assert Assignment.objects.get(pk=assignment.pk).state == "open"
    assert not AuditEvent.objects.filter(verb="qa.assignment_reassigned").exists()


def test_reassigning_to_someone_who_took_part_is_refused(assigned, make_qa_person):
    assignment, _rita, ravi, lena = assigned
    from approvals.models import Decision

    Decision.objects.create(
        action_id=assignment.action_id, kind=DecisionKind.APPROVE, by=ravi, action_version=1
    )

    with pytest.raises(Forbidden) as refused:
        assignment_reassign(assignment_id=assignment.pk, to_username="ravi", reason="x", by=lena)

    assert refused.value.code == Code.OWN_RESOLUTION


def test_a_submitted_assignment_cannot_be_reassigned_nor_removed(assigned):
    assignment, _rita, _ravi, lena = assigned
    Assignment.objects.filter(pk=assignment.pk).update(state="submitted")

    with pytest.raises(Conflict) as reassigning:
        assignment_reassign(assignment_id=assignment.pk, to_username="ravi", reason="x", by=lena)
    with pytest.raises(Conflict) as removing:
        assignment_remove(assignment_id=assignment.pk, reason="x", by=lena)

    assert reassigning.value.code == removing.value.code == Code.ASSIGNMENT_CLOSED
    assert reassigning.value.status_code == 409


def test_a_lead_removes_with_a_reason_and_it_is_audited(assigned):
    assignment, rita, _ravi, lena = assigned

    with pytest.raises(Forbidden):
        assignment_remove(assignment_id=assignment.pk, reason="duplicate", by=rita)
    with pytest.raises(InvalidInput):
        assignment_remove(assignment_id=assignment.pk, reason="", by=lena)
    assignment_remove(assignment_id=assignment.pk, reason="duplicate", by=lena)

    assignment.refresh_from_db()
    assert (assignment.state, assignment.removed_reason) == ("removed", "duplicate")
    event = AuditEvent.objects.get(verb="qa.assignment_removed")
    assert (event.actor_id, event.data["reason"]) == (str(lena.pk), "duplicate")
