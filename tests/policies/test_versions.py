"""Policy versions: drafts are edited, published versions never change, exactly one is active."""

from __future__ import annotations

import pytest
from django.db import DatabaseError, IntegrityError, transaction

from audit.models import AuditEvent
from audit.services import Actor
from config.errors import Conflict, InvalidInput, NotFound
from policies import engine, selectors, services
from policies.models import PolicyVersion, Rule
from policies.selectors import policy_compile, policy_diff

pytestmark = pytest.mark.django_db

ACTOR = Actor.user(42)
# Publishing and activating at once is the system's (a person asks a second admin: see
# test_publication.py).
SYSTEM = Actor.system("test")


def rule(name: str, **overrides) -> dict:
    return {"name": name, "action_type": "refund.issue", "mode": "execute_gated", **overrides}


def publish(*rules: dict, note: str = "") -> PolicyVersion:
    return services.policy_publish(rules=list(rules), note=note, actor=SYSTEM)


def names(version: PolicyVersion) -> list[tuple[int, str]]:
    return list(version.rules.order_by("position").values_list("position", "name"))


def verbs() -> list[str]:
    return list(AuditEvent.objects.order_by("id").values_list("verb", flat=True))


@pytest.fixture
def published() -> PolicyVersion:
    return publish(rule("a"), rule("b"), rule("c"), note="first")


@pytest.fixture
def draft(published) -> PolicyVersion:
    return services.policy_draft_create(actor=ACTOR, based_on=published.number, note="next")


# ---------------------------------------------------------------------------------------------
# drafts


class TestDrafts:
    def test_a_draft_copied_from_a_published_version_has_its_rules_and_is_not_active(
        self, published
    ):
        draft = services.policy_draft_create(actor=ACTOR, based_on=published.number)

        assert (draft.number, draft.status, draft.is_active) == (2, "draft", False)
        assert draft.based_on == published
        assert names(draft) == [(1, "a"), (2, "b"), (3, "c")]
        assert selectors.active_version() == published

    def test_a_draft_from_scratch_has_no_rules(self, published):
        draft = services.policy_draft_create(actor=ACTOR)

        assert draft.rules.count() == 0
        assert draft.based_on is None

    def test_a_draft_cannot_be_copied_from_another_draft(self, draft):
        with pytest.raises(Conflict) as refused:
            services.policy_draft_create(actor=ACTOR, based_on=draft.number)

        assert refused.value.code == "policy_version_draft"
        assert PolicyVersion.objects.count() == 2

    def test_adding_a_rule_at_a_position_moves_the_rules_below_it_down(self, draft):
        services.policy_rule_add(number=draft.number, spec=rule("new"), actor=ACTOR, position=2)

        assert names(draft) == [(1, "a"), (2, "new"), (3, "b"), (4, "c")]

    def test_a_rule_added_without_a_position_goes_last(self, draft):
        added = services.policy_rule_add(number=draft.number, spec=rule("z"), actor=ACTOR)

        assert added.position == 4
        assert names(draft)[-1] == (4, "z")

    def test_moving_a_rule_up_keeps_the_others_in_their_order(self, draft):
        c = draft.rules.get(name="c")

        services.policy_rule_move(number=draft.number, rule_id=c.pk, to_position=1, actor=ACTOR)

        assert names(draft) == [(1, "c"), (2, "a"), (3, "b")]

    def test_moving_a_rule_past_the_end_puts_it_last(self, draft):
        a = draft.rules.get(name="a")

        services.policy_rule_move(number=draft.number, rule_id=a.pk, to_position=99, actor=ACTOR)

        assert names(draft) == [(1, "b"), (2, "c"), (3, "a")]

    def test_deleting_a_rule_closes_the_gap(self, draft):
        b = draft.rules.get(name="b")

        services.policy_rule_delete(number=draft.number, rule_id=b.pk, actor=ACTOR)

        assert names(draft) == [(1, "a"), (2, "c")]

    def test_updating_a_rule_changes_it_and_audits_only_the_changed_fields(self, draft):
        b = draft.rules.get(name="b")

        services.policy_rule_update(
            number=draft.number,
            rule_id=b.pk,
            spec=rule("b", condition="params.amount > 100", approvals_required=2),
            actor=ACTOR,
        )

        b.refresh_from_db()
        assert (b.condition, b.approvals_required, b.position) == ("params.amount > 100", 2, 2)
        event = AuditEvent.objects.filter(verb="policy.rule_changed").get()
        assert event.data == {
            "rule": "b",
            "changes": {
                "condition": ["true", "params.amount > 100"],
                "approvals_required": [1, 2],
            },
        }

    def test_a_second_rule_with_a_name_already_in_the_draft_is_refused(self, draft):
        with pytest.raises(InvalidInput) as refused:
            services.policy_rule_add(number=draft.number, spec=rule("a"), actor=ACTOR)

        assert refused.value.details["problems"][0]["field"] == "name"
        assert draft.rules.count() == 3

    def test_a_condition_that_does_not_compile_is_refused_with_the_cel_error_and_its_position(
        self, draft
    ):
        with pytest.raises(InvalidInput) as refused:
            services.policy_rule_add(
                number=draft.number,
                spec=rule("broken", condition="params.amount >"),
                actor=ACTOR,
            )

        assert refused.value.code == "invalid_condition"
        (problem,) = refused.value.details["problems"]
        assert problem["field"] == "condition"
        assert problem["position"] == "1:16"
        assert "at line 1, column 16" in problem["message"]
        assert "Syntax error" in problem["detail"]
        assert draft.rules.count() == 3

    def test_every_problem_of_a_rule_is_listed_once_per_field(self, draft):
        with pytest.raises(InvalidInput) as refused:
            services.policy_rule_add(
                number=draft.number,
                spec={"name": "x y", "action_type": "", "mode": "often", "sla_seconds": -5},
                actor=ACTOR,
            )

        fields = [p["field"] for p in refused.value.details["problems"]]
        assert fields == ["name", "action_type", "mode", "sla_seconds"]

    def test_a_rule_of_another_version_is_not_found_in_this_draft(self, draft, published):
        other = published.rules.get(name="a")

        with pytest.raises(NotFound):
            services.policy_rule_delete(number=draft.number, rule_id=other.pk, actor=ACTOR)

    def test_discarding_a_draft_deletes_it_and_its_rules_and_is_audited(self, draft):
        services.policy_draft_discard(number=draft.number, actor=ACTOR)

        assert not PolicyVersion.objects.filter(number=draft.number).exists()
        assert Rule.objects.filter(policy_version_id=draft.pk).count() == 0
        assert verbs()[-1] == "policy.draft_discarded"

    def test_edits_to_a_draft_are_decided_at_once_never_from_a_stale_compiled_copy(
        self, draft, demo_refund_type
    ):
        a = draft.rules.get(name="a")
        before = engine.decide(
            policy=policy_compile(version=draft), action_type=demo_refund_type,
            agent_name="bot", params={"amount": 100}, context={},
        )  # fmt: skip

        services.policy_rule_update(
            number=draft.number, rule_id=a.pk, spec=rule("a", mode="forbidden"), actor=ACTOR
        )
        after = engine.decide(
            policy=policy_compile(version=draft), action_type=demo_refund_type,
            agent_name="bot", params={"amount": 100}, context={},
        )  # fmt: skip

        assert (before.mode, after.mode) == ("execute_gated", "forbidden")
        assert draft.pk not in engine._cache


@pytest.fixture
def demo_refund_type():
    return services.action_type_upsert(
        key="refund.issue", name="Refund", params_schema={"type": "object"},
        default_mode="execute_gated",
    )  # fmt: skip


# ---------------------------------------------------------------------------------------------
# published versions never change


class TestPublishedVersionsAreImmutable:
    @pytest.mark.parametrize(
        "change",
        [
            lambda v, r: services.policy_rule_add(number=v.number, spec=rule("x"), actor=ACTOR),
            lambda v, r: services.policy_rule_update(
                number=v.number, rule_id=r.pk, spec=rule("a", mode="forbidden"), actor=ACTOR
            ),
            lambda v, r: services.policy_rule_delete(number=v.number, rule_id=r.pk, actor=ACTOR),
            lambda v, r: services.policy_rule_move(
                number=v.number, rule_id=r.pk, to_position=3, actor=ACTOR
            ),
            lambda v, r: services.policy_version_publish(number=v.number, actor=SYSTEM),
            lambda v, r: services.policy_draft_discard(number=v.number, actor=ACTOR),
        ],
        ids=["add", "update", "delete", "move", "publish-again", "discard"],
    )
    def test_the_services_refuse_to_change_a_published_version(self, published, change):
        before = [r.spec() for r in published.rules.order_by("position")]
        events = AuditEvent.objects.count()

        with pytest.raises(Conflict) as refused:
            change(published, published.rules.get(name="a"))

        assert refused.value.code == "policy_version_published"
        assert [r.spec() for r in published.rules.order_by("position")] == before
        assert AuditEvent.objects.count() == events

    @pytest.mark.parametrize(
        "write",
        [
            lambda v: Rule.objects.filter(policy_version=v).update(condition="false"),
            lambda v: Rule.objects.filter(policy_version=v, name="c").delete(),
            lambda v: Rule.objects.create(
                policy_version=v, position=9, name="sneaky", action_type="*", mode="forbidden"
            ),
            lambda v: PolicyVersion.objects.filter(pk=v.pk).update(note="rewritten"),
            lambda v: PolicyVersion.objects.filter(pk=v.pk).update(status="draft"),
            lambda v: PolicyVersion.objects.filter(pk=v.pk).delete(),
        ],
        ids=["update-rule", "delete-rule", "insert-rule", "note", "unpublish", "delete-version"],
    )
    def test_the_database_refuses_writes_around_the_services(self, published, write):
        with pytest.raises(DatabaseError, match="is published"), transaction.atomic():
            write(published)

        assert published.rules.filter(condition="true").count() == 3
        assert PolicyVersion.objects.get(pk=published.pk).note == "first"

    def test_the_database_still_lets_the_active_flag_of_a_published_version_change(self, published):
        PolicyVersion.objects.filter(pk=published.pk).update(is_active=False)

        assert PolicyVersion.objects.filter(is_active=True).count() == 0

    def test_the_database_lets_drafts_change(self, draft):
        Rule.objects.filter(policy_version=draft, name="a").update(condition="false")

        assert draft.rules.get(name="a").condition == "false"


# ---------------------------------------------------------------------------------------------
# publishing, the active version, rollback


class TestPublishingAndRollback:
    def test_publishing_a_draft_freezes_it_and_makes_it_the_only_active_version(
        self, published, draft
    ):
        services.policy_version_publish(number=draft.number, actor=SYSTEM, note="tighter")

        draft.refresh_from_db()
        assert (draft.status, draft.is_active, draft.note) == ("published", True, "tighter")
        assert draft.published_at is not None
        assert list(PolicyVersion.objects.filter(is_active=True)) == [draft]
        event = AuditEvent.objects.filter(verb="policy.published").last()
        assert (event.actor_kind, event.actor_id, event.object_id) == ("system", "test", "2")
        assert event.data["previous_active"] == 1
        assert [r["name"] for r in event.data["rules"]] == ["a", "b", "c"]

    def test_rolling_back_makes_an_earlier_version_active_again_and_is_audited(
        self, published, draft
    ):
        services.policy_version_publish(number=draft.number, actor=SYSTEM)

        services.policy_version_activate(number=published.number, actor=SYSTEM, reason="too strict")

        assert selectors.active_version() == published
        assert PolicyVersion.objects.filter(is_active=True).count() == 1
        event = AuditEvent.objects.order_by("id").last()
        assert event.verb == "policy.activated"
        assert event.object_id == "1"
        assert event.data == {"previous_active": 2, "reason": "too strict"}

    def test_the_active_policy_decides_with_the_rolled_back_version_at_once(
        self, published, draft, demo_refund_type
    ):
        a = draft.rules.get(name="a")
        services.policy_rule_update(
            number=draft.number, rule_id=a.pk, spec=rule("a", mode="forbidden"), actor=ACTOR
        )
        services.policy_version_publish(number=draft.number, actor=SYSTEM)
        assert _decide_active(demo_refund_type).mode == "forbidden"

        services.policy_version_activate(number=published.number, actor=SYSTEM)

        decision = _decide_active(demo_refund_type)
        assert (decision.mode, decision.policy_version) == ("execute_gated", 1)
        assert decision.rule_id == published.rules.get(name="a").pk

    def test_a_draft_cannot_be_made_active_without_publishing_it(self, draft):
        with pytest.raises(Conflict) as refused:
            services.policy_version_activate(number=draft.number, actor=SYSTEM)

        assert refused.value.code == "policy_version_draft"

    def test_making_the_active_version_active_again_is_refused(self, published):
        with pytest.raises(Conflict) as refused:
            services.policy_version_activate(number=published.number, actor=SYSTEM)

        assert refused.value.code == "policy_version_already_active"

    def test_an_unknown_version_is_not_found(self, published):
        with pytest.raises(NotFound):
            services.policy_version_activate(number=99, actor=SYSTEM)

    def test_the_database_holds_exactly_one_active_version(self, published, draft):
        services.policy_version_publish(number=draft.number, actor=SYSTEM)

        with pytest.raises(IntegrityError), transaction.atomic():
            PolicyVersion.objects.filter(pk=published.pk).update(is_active=True)

        assert PolicyVersion.objects.filter(is_active=True).count() == 1

    def test_the_database_refuses_an_active_draft(self, draft):
        with pytest.raises(IntegrityError), transaction.atomic():
            PolicyVersion.objects.filter(pk=draft.pk).update(is_active=True)

    def test_each_change_to_a_draft_writes_one_audit_event(self, draft):
        start = AuditEvent.objects.count()
        added = services.policy_rule_add(number=draft.number, spec=rule("d"), actor=ACTOR)
        services.policy_rule_move(number=draft.number, rule_id=added.pk, to_position=1, actor=ACTOR)
        services.policy_rule_update(
            number=draft.number, rule_id=added.pk, spec=rule("d", mode="escalate"), actor=ACTOR
        )
        services.policy_rule_delete(number=draft.number, rule_id=added.pk, actor=ACTOR)
        services.policy_version_publish(number=draft.number, actor=SYSTEM)

        assert verbs()[start:] == [
            "policy.rule_added",
            "policy.rule_moved",
            "policy.rule_changed",
            "policy.rule_removed",
            "policy.published",
        ]


def _decide_active(action_type):
    return engine.decide(
        policy=selectors.active_policy(), action_type=action_type, agent_name="bot",
        params={"amount": 100}, context={},
    )  # fmt: skip


# ---------------------------------------------------------------------------------------------
# diff


class TestDiff:
    def test_the_diff_lists_added_removed_changed_and_moved_rules(self):
        old = publish(rule("a"), rule("b"), rule("c"), rule("d", mode="escalate"))
        new = publish(
            rule("d", mode="escalate"),
            rule("a"),
            rule("c", condition="params.amount > 5000", approvals_required=2),
            rule("e", mode="forbidden"),
        )

        diff = policy_diff(old=old.number, new=new.number).rules

        assert [(r.position, r.name) for r in diff.added] == [(4, "e")]
        assert [(r.position, r.name) for r in diff.removed] == [(2, "b")]
        assert [(c.name, c.old_position, c.new_position) for c in diff.changed] == [("c", 3, 3)]
        assert [(f.field, f.old, f.new) for f in diff.changed[0].changes] == [
            ("condition", "true", "params.amount > 5000"),
            ("approvals_required", 1, 2),
        ]
        assert [(m.name, m.old_position, m.new_position) for m in diff.moved] == [("d", 4, 1)]
        assert diff.lines() == [
            "+ #4 e (refund.issue -> forbidden)",
            "- #2 b (refund.issue -> execute_gated)",
            "~ #3 c",
            "    condition: 'true' -> 'params.amount > 5000'",
            "    approvals_required: 1 -> 2",
            "> d moved from #4 to #1",
        ]

    def test_rules_shifted_by_an_insertion_above_them_do_not_count_as_moved(self):
        old = publish(rule("a"), rule("b"))
        new = publish(rule("first"), rule("a"), rule("b"))

        diff = policy_diff(old=old.number, new=new.number).rules

        assert [r.name for r in diff.added] == ["first"]
        assert diff.moved == ()
        assert diff.changed == ()

    def test_a_rule_dragged_to_the_top_is_the_one_that_moved_not_those_it_jumped_over(self):
        old = publish(rule("a"), rule("b"), rule("c"), rule("d"))
        new = publish(rule("c"), rule("a"), rule("d"))

        diff = policy_diff(old=old.number, new=new.number).rules

        assert [(m.name, m.old_position, m.new_position) for m in diff.moved] == [("c", 3, 1)]
        assert [r.name for r in diff.removed] == ["b"]

    def test_a_version_has_no_differences_with_itself(self, published):
        diff = policy_diff(old=published.number, new=published.number).rules

        assert diff.is_empty
        assert diff.lines() == ["no differences"]
