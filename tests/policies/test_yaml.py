"""Policies as YAML: exports round-trip; a broken file is refused with everything wrong in it."""

from __future__ import annotations

import pytest
import yaml

from approvals.services import queues_ensure
from audit.models import AuditEvent
from audit.services import Actor
from config.errors import InvalidInput
from policies import services
from policies.models import TIER_SPEC_FIELDS, ActionType, PolicyVersion, Tier
from policies.tiers import tier_delete, tier_save
from policies.yaml_io import FORMAT, PolicyFileError, parse_policy, policy_to_yaml
from tests.conftest import tier_spec

pytestmark = pytest.mark.django_db

ACTOR = Actor.system("test")

RICH_RULES = [
    {
        "name": "vip-refunds-need-two",
        "action_type": "refund.*",
        "agents": ["support-bot", "billing-bot"],
        "condition": 'has(context.tier)\n  && context.tier == "vip"\n  && params.amount > 10000',
        "mode": "execute_gated",
        "approvals_required": 2,
        "approver_role": "senior_supervisor",
        "queue": "VIP",
        "sla_seconds": 3600,
        "on_timeout": "escalate",
        "escalation_tier": "l2-specialist",
        "explanation": "VIP refund {amount}: two people look — «four eyes»",
    },
    {"name": "the-rest", "action_type": "*", "condition": "true", "mode": "forbidden"},
]


def import_text(text: str, *, publish: bool = False) -> PolicyVersion:
    document = parse_policy(text)
    return services.policy_import(
        rules=document.rules,
        note=document.note,
        actor=ACTOR,
        publish=publish,
        default_modes=document.default_modes if publish else None,
        tiers=document.tiers,
    )


def test_export_import_export_gives_the_same_yaml_for_the_demo_policy(demo):
    active = PolicyVersion.objects.get(is_active=True)
    first = policy_to_yaml(active)

    imported = import_text(first)

    assert imported.number != active.number
    assert policy_to_yaml(imported) == first


def test_export_import_export_keeps_multiline_conditions_lists_and_unicode(demo):
    queues_ensure(names=["VIP"], actor=ACTOR)  # a rule names only a queue there is
    source = services.policy_publish(rules=RICH_RULES, note="rich: ü", actor=ACTOR)
    first = policy_to_yaml(source, with_defaults=True)

    imported = import_text(first, publish=True)

    assert policy_to_yaml(imported, with_defaults=True) == first
    assert imported.rules.get(position=1).condition == RICH_RULES[0]["condition"]


def test_the_export_has_every_field_of_every_rule_in_order(demo):
    document = yaml.safe_load(policy_to_yaml(PolicyVersion.objects.get(is_active=True)))

    assert document["format"] == FORMAT
    assert document["note"] == "demo policy"
    assert [r["name"] for r in document["rules"]][:2] == [
        "refund-over-500-escalates",
        "refund-over-50-needs-approval",
    ]
    assert list(document["rules"][1]) == [
        "name", "action_type", "agents", "condition", "mode", "approvals_required",
        "approver_role", "queue", "priority", "sla_seconds", "on_timeout", "escalation_tier",
        "explanation",
    ]  # fmt: skip
    assert document["rules"][1]["sla_seconds"] == 14400
    assert "action_types" not in document


def test_the_export_can_include_the_action_types_default_modes(demo):
    document = yaml.safe_load(
        policy_to_yaml(PolicyVersion.objects.get(is_active=True), with_defaults=True)
    )

    assert document["action_types"]["account.delete"] == {"default_mode": "forbidden"}
    assert list(document["action_types"]) == sorted(document["action_types"])


def test_importing_with_default_modes_and_publish_applies_and_audits_them(demo):
    text = policy_to_yaml(PolicyVersion.objects.get(is_active=True), with_defaults=True)
    text = text.replace(
        "order.cancel:\n    default_mode: execute_gated",
        "order.cancel:\n    default_mode: escalate",
    )

    import_text(text, publish=True)

    assert ActionType.objects.get(key="order.cancel").default_mode == "escalate"
    event = AuditEvent.objects.get(verb="action_type.default_mode_changed")
    assert (event.object_id, event.data) == (
        "order.cancel",
        {"from": "execute_gated", "to": "escalate"},
    )


def test_default_modes_are_refused_by_the_service_without_publishing(demo):
    with pytest.raises(InvalidInput) as refused:
        services.policy_import(
            rules=[], actor=ACTOR, default_modes={"order.cancel": "escalate"}, publish=False
        )

    assert refused.value.code == "default_modes_need_publish"
    assert ActionType.objects.get(key="order.cancel").default_mode == "execute_gated"


def test_condition_true_written_as_a_yaml_boolean_means_cel_true(demo):
    document = parse_policy(
        "rules:\n  - name: all\n    action_type: '*'\n    condition: true\n    mode: escalate\n"
    )

    assert document.rules[0]["condition"] == "true"


def test_a_rule_for_an_action_type_missing_from_the_catalog_is_a_warning(demo):
    document = parse_policy("rules:\n  - name: r\n    action_type: refnd.*\n    mode: escalate\n")

    assert document.warnings == [
        "rule 'r': action_type 'refnd.*' matches no action type in the catalog"
    ]


# ---------------------------------------------------------------------------------------------
# tiers travel with the rules

OFFICE = {day: [["09:00", "17:00"]] for day in ("mon", "tue", "wed", "thu", "fri")}
TIERS = [
    tier_spec("l1-lead", next_tier="l2-specialist", is_default=True),
    tier_spec("l2-specialist", next_tier="finance", handler_queue="Escalations"),
    tier_spec(
        "finance", time_zone="Europe/London", weekly_hours=OFFICE, holidays=["2026-12-25"],
        ack_sla_seconds=3600, resolve_sla_seconds=8 * 3600, renotify_seconds=600,
    ),
]  # fmt: skip
RULES_NAMING_TIERS = [
    {"name": "big-refunds", "action_type": "refund.issue", "condition": "params.amount > 50000",
     "mode": "escalate", "escalation_tier": "l1-lead"},
    {"name": "failed-payment-cancels", "action_type": "order.cancel", "mode": "escalate",
     "escalation_tier": "finance"},
    {"name": "the-rest", "action_type": "*", "mode": "escalate"},
]  # fmt: skip


def _draft_with_tiers() -> PolicyVersion:
    for spec in reversed(TIERS):
        tier_save(**spec, actor=ACTOR)
    draft = services.policy_draft_create(actor=ACTOR, note="tiered")
    for rule in RULES_NAMING_TIERS:
        services.policy_rule_add(number=draft.number, spec=rule, actor=ACTOR)
    return draft


def _back_to_a_fresh_database(draft: PolicyVersion) -> None:
    """Only the tier the migrations create, no policy: what a new deployment starts with."""
    services.policy_draft_discard(number=draft.number, actor=ACTOR)
    tier_save(**Tier.objects.get(key="default").spec() | {"is_default": True}, actor=ACTOR)
    for key in ("l1-lead", "l2-specialist", "finance"):
        tier_delete(key=key, actor=ACTOR)
    assert list(Tier.objects.values_list("key", flat=True)) == ["default"]
    assert not PolicyVersion.objects.exists()


def test_the_export_lists_every_tier_with_every_field_and_the_next_tier_by_key(demo):
    document = yaml.safe_load(policy_to_yaml(PolicyVersion.objects.get(is_active=True)))

    assert [t["key"] for t in document["tiers"]] == [
        "default",
        "finance",
        "l1-lead",
        "l2-specialist",
    ]
    assert all(list(t) == list(TIER_SPEC_FIELDS) for t in document["tiers"])
    l1 = document["tiers"][2]
    assert (l1["next_tier"], l1["is_default"], l1["ack_sla_seconds"]) == (
        "l2-specialist",
        True,
        900,
    )
    finance = document["tiers"][1]
    assert finance["weekly_hours"]["mon"] == [["09:00", "17:00"]]
    assert list(document)[:4] == ["format", "note", "tiers", "rules"]


def test_the_export_writes_times_of_day_quoted_on_one_line(db):
    tier_save(**tier_spec("finance", weekly_hours=OFFICE), actor=ACTOR)
    draft = services.policy_draft_create(actor=ACTOR)

    assert "      mon:\n        - ['09:00', '17:00']\n" in policy_to_yaml(draft)


def test_an_exported_file_imports_on_a_database_without_its_tiers(db):
    draft = _draft_with_tiers()
    text = policy_to_yaml(draft)
    _back_to_a_fresh_database(draft)

    imported = import_text(text, publish=True)

    assert policy_to_yaml(imported) == text
    assert Tier.objects.get(is_default=True).key == "l1-lead"
    assert [t.key for t in Tier.objects.get(key="l1-lead").chain()] == [
        "l1-lead", "l2-specialist", "finance",
    ]  # fmt: skip
    assert Tier.objects.get(key="finance").spec() == TIERS[2]


def test_importing_tiers_changes_the_tiers_already_there(demo):
    text = policy_to_yaml(PolicyVersion.objects.get(is_active=True))
    text = text.replace("name: L2 specialists\n", "name: Second line\n")

    import_text(text)

    assert Tier.objects.get(key="l2-specialist").name == "Second line"
    event = AuditEvent.objects.filter(verb="tier.saved", object_id="l2-specialist").last()
    assert event.data["changes"] == {"name": ["L2 specialists", "Second line"]}


def test_a_file_written_before_tiers_travelled_still_imports(demo):
    text = (
        "format: countersign-policy/1\nnote: old\nrules:\n"
        "  - {name: big-refunds, action_type: refund.issue, mode: escalate,"
        " escalation_tier: l2-specialist}\n"
        "  - {name: the-rest, action_type: '*', mode: escalate, escalation_tier: ''}\n"
    )
    tiers = list(Tier.objects.values_list("key", "name"))

    version = import_text(text, publish=True)

    assert [r.escalation_tier for r in version.rules.all()] == ["l2-specialist", ""]
    assert list(Tier.objects.values_list("key", "name")) == tiers


def test_the_tiers_and_the_rules_of_a_file_are_imported_all_or_nothing(db):
    tiers = [tier_spec("l3-legal")]
    rules = [{"name": "r", "action_type": "refund.issue", "mode": "escalate",
              "escalation_tier": "nowhere"}]  # fmt: skip

    with pytest.raises(InvalidInput) as refused:
        services.policy_import(rules=rules, tiers=tiers, actor=ACTOR)

    assert refused.value.code == "unknown_tier"
    assert not Tier.objects.filter(key="l3-legal").exists()
    assert not PolicyVersion.objects.exists()


def test_a_hand_written_unquoted_holiday_is_read_as_its_date(db):
    document = parse_policy(
        "tiers:\n  - {key: t, name: T, handler_group: g, handler_queue: '', ack_sla_seconds: 60,"
        " resolve_sla_seconds: 60, next_tier: '', renotify_seconds: 60, time_zone: UTC,"
        " weekly_hours: {}, holidays: [2026-12-25], is_default: false}\nrules: []\n"
    )

    assert document.tiers[0]["holidays"] == ["2026-12-25"]


def _tier_line(**changes) -> str:
    spec = {**tier_spec("t"), **changes}
    return "  - " + yaml.safe_dump(spec, default_flow_style=True, width=1000).strip() + "\n"


BROKEN = {
    "bad-yaml": ("rules: [\n  - a: 1\n", "not valid YAML: line 2, column 3"),
    "empty": ("", "the file is empty"),
    "not-a-mapping": ("- 1\n- 2\n", "must be a mapping"),
    "no-rules": ("note: hi\n", "no `rules` list"),
    "rules-not-a-list": ("rules: {a: 1}\n", "rules is a list of rules"),
    "unknown-top-level-field": (
        "rulez: []\nrules: []\n",
        "unknown top-level field(s) ['rulez']",
    ),
    "wrong-format": ("format: something/2\nrules: []\n", "format is 'something/2'"),
    "unknown-rule-field": (
        "rules:\n  - name: r\n    action_type: refund.issue\n    mode: escalate\n    colour: red\n",
        "rules[0] (line 2): has unknown fields: ['colour']",
    ),
    "bad-mode": (
        "rules:\n  - name: r\n    action_type: refund.issue\n    mode: sometimes\n",
        "rules[0] (line 2): has mode 'sometimes'",
    ),
    "bad-cel": (
        "rules:\n  - name: r\n    action_type: refund.issue\n    mode: escalate\n"
        "    condition: params.amount >\n",
        "rules[0] (line 2): condition does not compile at line 1, column 16",
    ),
    "duplicate-rule-name": (
        "rules:\n  - {name: r, action_type: a.b, mode: escalate}\n"
        "  - {name: r, action_type: a.c, mode: escalate}\n",
        "rules[1] (line 3): repeats the name 'r' of rules[0]",
    ),
    "duplicate-key": (
        "rules:\n  - name: r\n    name: s\n    action_type: refund.issue\n    mode: escalate\n",
        "line 3: 'name' appears twice",
    ),
    "note-too-long": (f"note: {'x' * 201}\nrules: []\n", "note is text of at most 200"),
    "unknown-action-type-default": (
        "rules: []\naction_types:\n  refund.teleport: {default_mode: escalate}\n",
        "'refund.teleport' is not an action type in the catalog",
    ),
    "bad-default-mode": (
        "rules: []\naction_types:\n  refund.issue: {default_mode: maybe}\n",
        "'refund.issue' has default_mode 'maybe'",
    ),
    "rule-naming-an-unknown-tier": (
        "rules:\n  - {name: r, action_type: a.b, mode: escalate, escalation_tier: nowhere}\n",
        "rules[0] (line 2): escalation_tier 'nowhere' is not an escalation tier",
    ),
    "tiers-not-a-list": ("tiers: {a: 1}\nrules: []\n", "tiers is a list of tiers"),
    "tier-with-a-bad-field": (
        "tiers:\n" + _tier_line(renotify_seconds=5) + "rules: []\n",
        "tiers[0] (line 2): renotify_seconds is a whole number of seconds, at least 60",
    ),
    "tier-with-an-unknown-field": (
        "tiers:\n" + _tier_line(colour="red") + "rules: []\n",
        "tiers[0] (line 2): has unknown fields: ['colour']",
    ),
    "unquoted-time-of-day": (
        "tiers:\n" + _tier_line(weekly_hours={"mon": [["09:00", 1020]]}) + "rules: []\n",
        "write times of day in quotes ('17:00')",
    ),
    "tier-key-repeated": (
        "tiers:\n" + _tier_line() + _tier_line() + "rules: []\n",
        "tiers[1] (line 3): repeats the key 't' of tiers[0]",
    ),
    "next-tier-nowhere": (
        "tiers:\n" + _tier_line(next_tier="nowhere") + "rules: []\n",
        "tiers: t: next_tier 'nowhere' is not a tier",
    ),
    "tiers-in-a-loop": (
        "tiers:\n" + _tier_line(next_tier="u") + _tier_line(key="u", next_tier="t") + "rules: []\n",
        "tiers: t: next_tier makes a loop: t -> u -> t",
    ),
    "two-defaults": (
        "tiers:\n"
        + _tier_line(is_default=True)
        + _tier_line(key="u", is_default=True)
        + "rules: []\n",
        "tiers: only one tier is the default, not t, u",
    ),
    "the-default-unmarked-with-no-other": (
        "tiers:\n" + _tier_line(key="l1-lead", is_default=False) + "rules: []\n",
        "tiers: l1-lead is the default tier; mark another tier as the default",
    ),
}


@pytest.mark.parametrize(("text", "fragment"), BROKEN.values(), ids=BROKEN.keys())
def test_a_broken_file_is_refused_with_a_message_that_says_what_is_wrong(demo, text, fragment):
    with pytest.raises(PolicyFileError) as refused:
        parse_policy(text)

    assert any(fragment in problem for problem in refused.value.problems), refused.value.problems


def test_every_problem_in_a_file_is_listed_not_only_the_first(demo):
    text = (
        "colour: red\n"
        "rules:\n"
        "  - name: a\n    action_type: refund.issue\n    mode: sometimes\n"
        "    condition: params.amount >\n"
        "  - name: b\n    action_type: refund.issue\n    mode: escalate\n"
        "    approvals_required: 3\n"
    )

    with pytest.raises(PolicyFileError) as refused:
        parse_policy(text)

    problems = refused.value.problems
    assert problems[0].startswith("unknown top-level field(s) ['colour']")
    assert [p for p in problems if p.startswith("rules[")] == [
        "rules[0] (line 3): has mode 'sometimes'; expected one of "
        "['forbidden', 'read_only', 'recommend_only', 'draft_only', 'execute_limited', "
        "'execute_gated', 'escalate']",
        "rules[0] (line 3): condition does not compile at line 1, column 16: Syntax error: "
        "mismatched input '<EOF>' expecting {'[', '{', '(', '.', '-', '!', 'true', 'false', "
        "'null', NUM_FLOAT, NUM_INT, NUM_UINT, STRING, BYTES, IDENTIFIER}",
        "rules[1] (line 7): approvals_required is 1 or 2",
    ]
    # The compiler's picture of where it stopped follows the condition's line.
    assert "    | params.amount >" in problems
