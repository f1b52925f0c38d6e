"""A lead gives a sampled item nobody has to a reviewer the rulebook lets review it, from the
service and from the sample page."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client

from approvals.models import DecisionKind
from audit.models import AuditEvent
from config.errors import Code, Conflict, Forbidden, InvalidInput, NotFound
from qa.models import Assignment
from qa.services.assignments import assignment_remove, item_assign
from qa.services.sampling import sample_draw
from tests.clock import frozen
from tests.qa.plan_factory import MONDAY, WEDNESDAY, save_plan

LAST_WEEK = MONDAY - timedelta(weeks=1)


@pytest.fixture
def people(make_qa_person):
    return {
        "rita": make_qa_person("rita"),
        "sam": make_qa_person("sam"),
        "lena": make_qa_person("lena", "qa_lead"),
        "audrey": make_qa_person("audrey", "auditor"),
    }


@pytest.fixture
def stranded(demo, scorecard, resolution, people):
    """A sample whose only item rita decided: she is the plan's only reviewer, so nobody has it."""
    with frozen(WEDNESDAY):
        resolution(at=MONDAY - timedelta(days=2),
                   decisions=[(DecisionKind.APPROVE, people["rita"], 60)])  # fmt: skip
        plan = save_plan(starts_at=LAST_WEEK, reviewer_usernames=["rita"])
        sample = sample_draw(plan_id=plan.pk, period_start=LAST_WEEK)
    item = sample.items.get()
    assert not item.assignments.exists()
    return item


def test_a_lead_assigns_an_unassigned_item_to_an_eligible_reviewer_and_it_is_audited(
    stranded, people
):
    # Act
    with frozen(WEDNESDAY):
        assignment = item_assign(item_id=stranded.pk, to_username="sam", by=people["lena"],
                                 request_id="req-1")  # fmt: skip

    # Assert
    assert (assignment.reviewer, assignment.item, assignment.kind, assignment.state) == (
        people["sam"], stranded, "sample", "open",
    )  # fmt: skip
    assert assignment.scorecard.slug == "resolution-quality"
    assert assignment.assigned_at == WEDNESDAY
    event = AuditEvent.objects.get(verb="qa.assignment_created", object_id=str(assignment.pk))
    assert (event.actor_id, event.request_id) == (str(people["lena"].pk), "req-1")
    assert event.data["reviewer"] == "sam"


@pytest.mark.parametrize(
    ("by", "to", "error", "code"),
    [
        ("audrey", "sam", Forbidden, Code.MISSING_ROLE),
        ("rita", "sam", Forbidden, Code.MISSING_ROLE),
        ("lena", "rita", Forbidden, Code.OWN_RESOLUTION),  # she decided it
        ("lena", "audrey", Forbidden, Code.MISSING_ROLE),  # auditors do not review
        ("lena", "nobody", InvalidInput, Code.INVALID_INPUT),
    ],
)
def test_assigning_an_item_is_for_leads_and_to_people_who_may_review_it(
    stranded, people, by, to, error, code
):
    with pytest.raises(error) as refused:
        item_assign(item_id=stranded.pk, to_username=to, by=people[by])

    assert refused.value.code == code
    assert not Assignment.objects.exists()
    assert not AuditEvent.objects.filter(verb="qa.assignment_created").exists()


def test_an_item_someone_has_is_refused_until_their_assignment_is_removed(stranded, people):
    # Arrange
    first = item_assign(item_id=stranded.pk, to_username="sam", by=people["lena"])
    make = people["lena"]

    # Act
    with pytest.raises(Conflict) as taken:
        item_assign(item_id=stranded.pk, to_username="sam", by=make)
    assignment_remove(assignment_id=first.pk, reason="sam is away", by=make)
    again = item_assign(item_id=stranded.pk, to_username="sam", by=make)

    # Assert
    assert taken.value.details["assignment_id"] == first.pk
    assert again.state == "open" and again.pk != first.pk


def test_an_unknown_item_is_not_found(people, db):
    with pytest.raises(NotFound) as missing:
        item_assign(item_id="abc", to_username="sam", by=people["lena"])

    assert missing.value.code == Code.NOT_FOUND


def test_the_sample_page_offers_leads_the_assign_form_and_keeps_a_refused_name(stranded, people):
    client = Client()
    client.force_login(people["lena"])
    page = f"/qa/samples/{stranded.sample_id}/"
    url = f"/qa/samples/{stranded.sample_id}/items/{stranded.pk}/assign/"

    form = client.get(page).content.decode()
    refused = client.post(url, {"to_username": "rita", "form": "assign",
                                "target": str(stranded.pk)})  # fmt: skip
    assigned = client.post(url, {"to_username": "sam"})

    assert f'id="assign-{stranded.pk}"' in form
    assert refused.status_code == 403
    assert "You took part in this resolution" in refused.content.decode()
    assert 'value="rita"' in refused.content.decode()
    assert (assigned.status_code, assigned["Location"]) == (302, page)
    assert Assignment.objects.get().reviewer == people["sam"]
    after = client.get(page).content.decode()
    assert f'id="assign-{stranded.pk}"' not in after
    assert 'id="unassigned-count">0' in after
