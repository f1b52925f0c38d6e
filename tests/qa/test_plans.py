"""Scorecards and sampling plans as data: checked field by field, saved by leads, audited."""

from __future__ import annotations

import pytest

from audit.models import AuditEvent
from audit.services import Actor
from config.errors import Code, Conflict, Forbidden, InvalidInput
from qa.models import Assignment, Review, SamplingPlan, Scorecard
from qa.services.plans import plan_save, scorecard_save
from tests.qa.plan_factory import MONDAY, plan_spec, save_plan

SYSTEM = Actor.system("test")


def card_spec(**overrides) -> dict:
    categories = [
        {"key": "handoff", "label": "Hand-off was right", "weight": 60, "critical": True},
        {"key": "summary", "label": "Summary was clear", "weight": 40},
    ]
    spec = {"slug": "escalations", "name": "Escalation quality", "scale": 4,
            "categories": categories}  # fmt: skip
    return {**spec, **overrides}


def refusal(call, **spec) -> InvalidInput:
    with pytest.raises(InvalidInput) as refused:
        call(**spec)
    return refused.value


# ---------------------------------------------------------------------------------------------
# scorecards


def test_a_scorecard_is_saved_with_its_defaults_spelled_out_and_audited(db, make_qa_person):
    lena = make_qa_person("lena", role="qa_lead")

    card = scorecard_save(**card_spec(), by=lena)

    assert card.categories[1] == {
        "key": "summary", "label": "Summary was clear", "weight": 40, "critical": False,
        "allow_na": False,
    }  # fmt: skip
    event = AuditEvent.objects.get(verb="qa.scorecard_saved")
    assert (event.actor_id, event.data["slug"], event.data["created"]) == (
        str(lena.pk),
        "escalations",
        True,
    )


@pytest.mark.parametrize(
    ("categories", "field"),
    [
        ([], "categories"),
        ([{"key": "a", "label": "A", "weight": 1}] * 31, "categories"),
        ([{"key": "a", "label": "A", "weight": 1}, {"key": "a", "label": "B", "weight": 1}],
         "categories[1].key"),
        ([{"key": "a", "label": "x" * 81, "weight": 1}], "categories[0].label"),
        ([{"key": "a", "label": "A", "weight": 0}], "categories[0].weight"),
        ([{"key": "a", "label": "A", "weight": 101}], "categories[0].weight"),
        ([{"key": "a", "label": "A", "weight": 2.5}], "categories[0].weight"),
        ([{"key": "a", "label": "A", "weight": 5, "critical": "yes"}], "categories[0].critical"),
        ([{"key": "a", "label": "A", "weight": 5, "colour": "red"}], "categories[0]"),
    ],
)  # fmt: skip
def test_bad_categories_are_refused_naming_the_field(db, categories, field):
    refused = refusal(scorecard_save, **card_spec(categories=categories), actor=SYSTEM)

    assert refused.code == Code.INVALID_SCORECARD
    assert refused.details["field"] == field
    assert not Scorecard.objects.exists()


def test_a_scorecard_used_by_a_review_keeps_its_categories(scorecard, resolution, make_qa_person):
    rita = make_qa_person("rita")
    action = resolution()
    from config import clock

    assignment = Assignment.objects.create(
        action=action, reviewer=rita, scorecard=scorecard, assigned_at=clock.now()
    )
    Review.objects.create(
        assignment=assignment, action=action, reviewer=rita, scorecard=scorecard, scores={},
        score=100, verdict="right", created_at=clock.now(),
    )  # fmt: skip
    spec = {"slug": scorecard.slug, "name": "Renamed", "scale": 4,
            "categories": scorecard.categories}  # fmt: skip

    renamed = scorecard_save(**spec, actor=SYSTEM)
    with pytest.raises(Conflict) as changed:
        scorecard_save(**{**spec, "scale": 5}, actor=SYSTEM)

    assert renamed.name == "Renamed"
    assert changed.value.status_code == 409
    assert "make a new scorecard" in changed.value.message
    assert Scorecard.objects.get(pk=scorecard.pk).scale == 4


def test_only_a_qa_lead_saves_a_scorecard(db, make_qa_person):
    rita = make_qa_person("rita")

    with pytest.raises(Forbidden):
        scorecard_save(**card_spec(), by=rita)

    assert not Scorecard.objects.exists()


# ---------------------------------------------------------------------------------------------
# plans


def test_a_lead_saves_a_plan_with_every_field_and_it_is_audited(
    demo, scorecard, agent, make_qa_person
):
    lena = make_qa_person("lena", role="qa_lead")
    make_qa_person("rita")
    spec = plan_spec(
        scope={"action_types": ["refund.issue"], "modes": ["execute_gated", "execute_limited"],
               "agents": ["support-bot"], "rules": ["small-refund-executes"], "decided_by": "any"},
        strata=[{"name": "unattended", "where": {"decided_by": "none"}, "min_percent": 50}],
        inclusions={"rollbacks": True, "unattended_above": {"amount": 50000, "currency": "USD"}},
        reviewer_usernames=["rita", "lena"], double_review_percent=10,
    )  # fmt: skip

    plan = plan_save(**spec, by=lena)

    assert plan.inclusions == {
        "rollbacks": True, "unattended_above": {"amount": 50000, "currency": "USD"},
        "overridden": False, "rubber_stamps": False, "negative_outcomes": False,
    }  # fmt: skip
    assert sorted(plan.reviewers.values_list("username", flat=True)) == ["lena", "rita"]
    assert plan.starts_at == MONDAY
    assert plan.strata[0]["where"]["decided_by"] == "none"
    event = AuditEvent.objects.get(verb="qa.plan_saved")
    assert (event.actor_id, event.data["slug"], event.data["reviewers"]) == (
        str(lena.pk),
        "weekly-refunds",
        ["lena", "rita"],
    )


def test_saving_again_changes_the_plan_and_keeps_its_seed(scorecard):
    plan = save_plan(size_count=5)

    changed = save_plan(size_count=None, size_percent=10, name="Ten percent")

    assert (changed.pk, changed.seed) == (plan.pk, plan.seed)
    assert (changed.size_count, changed.size_percent, changed.name) == (None, 10, "Ten percent")


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"slug": "no spaces"}, "slug"),
        ({"period": "monthly"}, "period"),
        ({"size_count": None, "size_percent": None}, "size_count"),
        ({"size_count": 5, "size_percent": 5}, "size_count"),
        ({"size_count": 0}, "size_count"),
        ({"size_count": None, "size_percent": 101}, "size_percent"),
        ({"scope": {"colour": "red"}}, "scope"),
        ({"scope": {"action_types": ["refund.nope"]}}, "scope.action_types"),
        ({"scope": {"modes": ["sometimes"]}}, "scope.modes"),
        ({"scope": {"agents": ["nobody-bot"]}}, "scope.agents"),
        ({"scope": {"rules": ["no-such-rule"]}}, "scope.rules"),
        ({"scope": {"decided_by": "robot"}}, "scope.decided_by"),
        ({"strata": [{"name": "a", "where": {}, "min_percent": 0}]}, "strata[0].min_percent"),
        ({"strata": [{"name": "a", "where": {}, "min_percent": 60},
                     {"name": "a", "where": {}, "min_percent": 10}]}, "strata[1].name"),
        ({"strata": [{"name": "a", "where": {}, "min_percent": 60},
                     {"name": "b", "where": {}, "min_percent": 50}]}, "strata"),
        ({"strata": [{"name": "a", "where": {"modes": ["x"]}, "min_percent": 5}]},
         "strata[0].where.modes"),
        ({"inclusions": {"everything": True}}, "inclusions"),
        ({"inclusions": {"rollbacks": "yes"}}, "inclusions.rollbacks"),
        ({"inclusions": {"unattended_above": {"amount": -1, "currency": "USD"}}},
         "inclusions.unattended_above"),
        ({"inclusions": {"unattended_above": {"amount": 100, "currency": "dollars"}}},
         "inclusions.unattended_above"),
        ({"scorecard_slug": "nope"}, "scorecard"),
        ({"reviewer_usernames": ["ghost"]}, "reviewers"),
        ({"reviewer_usernames": ["sam"]}, "reviewers"),
        ({"double_review_percent": 101}, "double_review_percent"),
    ],
)  # fmt: skip
def test_plan_validation_names_the_field(demo, scorecard, agent, make_supervisor, overrides, field):
    make_supervisor("sam")  # a supervisor, not a QA reviewer

    refused = refusal(plan_save, **plan_spec(**overrides), actor=SYSTEM)

    assert refused.code == Code.INVALID_PLAN
    assert refused.status_code == 400
    assert refused.details["field"] == field
    assert not SamplingPlan.objects.exists()


def test_only_a_qa_lead_saves_a_plan(scorecard, make_qa_person):
    rita = make_qa_person("rita")
    auditor = make_qa_person("audrey", role="auditor")

    for person in (rita, auditor):
        with pytest.raises(Forbidden):
            plan_save(**plan_spec(), by=person)

    assert not SamplingPlan.objects.exists()
    assert not AuditEvent.objects.filter(verb="qa.plan_saved").exists()
