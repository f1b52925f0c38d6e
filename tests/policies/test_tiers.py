"""Escalation tiers as data: saving and deleting them, the rules that name them, and their pages."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from approvals.handoff import Source
from audit.models import AuditEvent
from audit.services import Actor
from config.errors import Code, Conflict, InvalidInput
from escalations.services.opening import case_open
from policies import services
from policies.models import PolicyVersion, Rule, Tier
from policies.tiers import tier_delete, tier_save
from tests.conftest import tier_spec

pytestmark = pytest.mark.django_db

ACTOR = Actor.system("test")
HTMX = {"HTTP_HX_REQUEST": "true"}
LONDON_OFFICE = {day: [["09:00", "17:00"]] for day in ("mon", "tue", "wed", "thu", "fri")}


def save(key: str = "l9-test", **overrides):
    return tier_save(**tier_spec(key, **overrides), actor=ACTOR)


def tier_events(key: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(object_type="tier", object_id=key).order_by("id"))


def escalating_rule(name: str = "big-refunds-escalate", tier: str = "") -> dict:
    return {
        "name": name,
        "action_type": "refund.issue",
        "condition": "params.amount > 50000",
        "mode": "escalate",
        "escalation_tier": tier,
    }


# ------------------------------------------------------------------------------------- saving


def test_a_new_tier_is_saved_with_every_field_and_one_audit_event(make_tier):
    make_tier("finance")

    tier, changed = save(
        "l2-specialist", name="L2 specialists", handler_queue="Escalations",
        ack_sla_seconds=1800, resolve_sla_seconds=4 * 3600, next_tier="finance",
        renotify_seconds=600, time_zone="Europe/London", weekly_hours=LONDON_OFFICE,
        holidays=["2026-12-25"],
    )  # fmt: skip

    assert changed is True
    assert tier.spec() == tier_spec(
        "l2-specialist", name="L2 specialists", handler_queue="Escalations",
        ack_sla_seconds=1800, resolve_sla_seconds=4 * 3600, next_tier="finance",
        renotify_seconds=600, time_zone="Europe/London", weekly_hours=LONDON_OFFICE,
        holidays=["2026-12-25"],
    )  # fmt: skip
    [event] = tier_events("l2-specialist")
    assert (event.verb, event.data["created"], event.data["tier"]) == (
        "tier.saved",
        True,
        tier.spec(),
    )


def test_saving_a_tier_again_unchanged_writes_nothing(make_tier):
    make_tier("finance")

    _, changed = save("finance")

    assert changed is False
    assert len(tier_events("finance")) == 1


def test_changing_a_tier_records_what_changed(make_tier):
    make_tier("finance")

    save("finance", ack_sla_seconds=60, weekly_hours=LONDON_OFFICE)

    event = tier_events("finance")[-1]
    assert event.data["changes"] == {
        "ack_sla_seconds": [900, 60],
        "weekly_hours": [{}, LONDON_OFFICE],
    }
    assert Tier.objects.get(key="finance").ack_sla_seconds == 60


BAD_FIELDS = {
    "key-with-a-space": ({"key": "l1 lead"}, "key"),
    "key-too-long": ({"key": "k" * 33}, "key"),
    "no-name": ({"name": ""}, "name"),
    "blank-name": ({"name": "   "}, "name"),
    "no-handlers": ({"handler_group": "", "handler_queue": ""}, "handler_group"),
    "ack-sla-zero": ({"ack_sla_seconds": 0}, "ack_sla_seconds"),
    "resolve-sla-not-a-number": ({"resolve_sla_seconds": "1h"}, "resolve_sla_seconds"),
    "renotify-under-a-minute": ({"renotify_seconds": 59}, "renotify_seconds"),
    "unknown-time-zone": ({"time_zone": "Mars/Olympus_Mons"}, "time_zone"),
    "hours-on-no-day": ({"weekly_hours": {"monday": [["09:00", "17:00"]]}}, "weekly_hours"),
    "hours-ending-before-they-start": (
        {"weekly_hours": {"mon": [["17:00", "09:00"]]}},
        "weekly_hours",
    ),
    "hours-open-on-no-day": ({"weekly_hours": {"mon": [], "tue": []}}, "weekly_hours"),
    "holiday-not-a-date": ({"holidays": ["25/12/2026"]}, "holidays"),
    "unknown-next-tier": ({"next_tier": "nowhere"}, "next_tier"),
    "next-tier-is-itself": ({"next_tier": "l9-test"}, "next_tier"),
    "default-not-a-boolean": ({"is_default": "yes"}, "is_default"),
}


@pytest.mark.parametrize(("changes", "field"), BAD_FIELDS.values(), ids=BAD_FIELDS.keys())
def test_a_bad_field_is_refused_naming_the_field_and_nothing_is_written(db, changes, field):
    tiers, events = Tier.objects.count(), AuditEvent.objects.count()

    with pytest.raises(InvalidInput) as refused:
        save(**changes)

    assert refused.value.code == Code.INVALID_TIER
    assert refused.value.details["field"] == field
    assert (Tier.objects.count(), AuditEvent.objects.count()) == (tiers, events)


def test_every_bad_field_is_listed_not_only_the_first(db):
    with pytest.raises(InvalidInput) as refused:
        save(name="", ack_sla_seconds=0, renotify_seconds=1)

    problems = refused.value.details["problems"]
    assert [p["field"] for p in problems] == ["name", "ack_sla_seconds", "renotify_seconds"]


def test_a_next_tier_that_closes_a_loop_is_refused(make_tier):
    make_tier("finance")
    make_tier("l2-specialist", next_tier="finance")
    make_tier("l1-lead", next_tier="l2-specialist")

    with pytest.raises(InvalidInput) as refused:
        save("finance", next_tier="l1-lead")

    assert refused.value.details["field"] == "next_tier"
    assert "finance -> l1-lead -> l2-specialist -> finance" in refused.value.message
    assert Tier.objects.get(key="finance").next_tier is None


def test_making_a_tier_the_default_takes_the_flag_from_the_old_default(db):
    old = Tier.objects.get(is_default=True)  # the migration's tier

    tier, _ = save("l1-lead", is_default=True)

    assert list(Tier.objects.filter(is_default=True)) == [tier]
    old_event = tier_events(old.key)[-1]
    assert old_event.data["changes"] == {"is_default": [True, False]}
    assert old_event.data["default_now"] == "l1-lead"


def test_the_default_tier_stays_the_default_until_another_takes_it(make_tier):
    make_tier("l1-lead", is_default=True)

    with pytest.raises(InvalidInput) as refused:
        save("l1-lead", is_default=False)

    assert refused.value.details["field"] == "is_default"
    assert Tier.objects.get(is_default=True).key == "l1-lead"


# ------------------------------------------------------------------------------------- deleting


def test_a_tier_nothing_needs_is_deleted_with_an_audit_event(make_tier):
    spec = make_tier("finance").spec()

    tier_delete(key="finance", actor=ACTOR)

    assert not Tier.objects.filter(key="finance").exists()
    event = tier_events("finance")[-1]
    assert (event.verb, event.data) == ("tier.deleted", {"tier": spec})


def _case_in_it(key):
    case_open(source=Source.AGENT, reason="stuck", actor=ACTOR, tier=key)


def _tier_passing_cases_to_it(key):
    save("l0-intake", next_tier=key)


def _the_default(key):
    save(key, is_default=True)


def _a_rule_of_the_active_version(key):
    services.policy_publish(rules=[escalating_rule(tier=key)], actor=ACTOR)


def _a_rule_of_a_draft(key):
    draft = services.policy_draft_create(actor=ACTOR)
    services.policy_rule_add(number=draft.number, spec=escalating_rule(tier=key), actor=ACTOR)


IN_USE = {
    "a-case-is-in-it": (_case_in_it, "1 escalation case(s) are in it"),
    "another-tier-passes-cases-to-it": (_tier_passing_cases_to_it, "tier(s) l0-intake pass"),
    "it-is-the-default": (_the_default, "it is the default tier"),
    "a-rule-of-the-active-version-names-it": (_a_rule_of_the_active_version, "(active) names it"),
    "a-rule-of-a-draft-names-it": (_a_rule_of_a_draft, "(draft) names it"),
}


@pytest.mark.parametrize(("use", "reason"), IN_USE.values(), ids=IN_USE.keys())
def test_a_tier_in_use_is_not_deleted(make_tier, use, reason):
    make_tier("finance")
    use("finance")
    events = AuditEvent.objects.count()

    with pytest.raises(Conflict) as refused:
        tier_delete(key="finance", actor=ACTOR)

    assert refused.value.code == Code.TIER_IN_USE
    assert any(reason in r for r in refused.value.details["reasons"]), refused.value.details
    assert Tier.objects.filter(key="finance").exists()
    assert AuditEvent.objects.count() == events


def test_a_tier_named_only_by_an_older_published_version_may_be_deleted(make_tier):
    make_tier("finance")
    services.policy_publish(rules=[escalating_rule(tier="finance")], actor=ACTOR)
    services.policy_publish(rules=[escalating_rule()], actor=ACTOR)

    tier_delete(key="finance", actor=ACTOR)

    assert not Tier.objects.filter(key="finance").exists()


def test_deleting_an_unknown_tier_says_so(db):
    with pytest.raises(InvalidInput) as refused:
        tier_delete(key="nowhere", actor=ACTOR)

    assert refused.value.code == Code.UNKNOWN_TIER


# ------------------------------------------------------------------------------------- rules


def test_a_rule_naming_an_unknown_tier_is_refused_when_added(db):
    draft = services.policy_draft_create(actor=ACTOR)

    with pytest.raises(InvalidInput) as refused:
        services.policy_rule_add(
            number=draft.number, spec=escalating_rule(tier="nowhere"), actor=ACTOR
        )

    assert refused.value.code == Code.UNKNOWN_TIER
    [problem] = refused.value.details["problems"]
    assert problem["field"] == "escalation_tier"
    assert "'nowhere' is not an escalation tier" in problem["message"]
    assert draft.rules.count() == 0


def test_a_rule_naming_an_unknown_tier_is_refused_when_changed(make_tier):
    make_tier("finance")
    draft = services.policy_draft_create(actor=ACTOR)
    rule = services.policy_rule_add(
        number=draft.number, spec=escalating_rule(tier="finance"), actor=ACTOR
    )

    with pytest.raises(InvalidInput) as refused:
        services.policy_rule_update(
            number=draft.number, rule_id=rule.pk, spec=escalating_rule(tier="nowhere"),
            actor=ACTOR,
        )  # fmt: skip

    assert refused.value.code == Code.UNKNOWN_TIER
    assert Rule.objects.get(pk=rule.pk).escalation_tier == "finance"


def test_an_escalating_rule_may_leave_the_tier_empty_for_the_default(db):
    version = services.policy_publish(rules=[escalating_rule(tier="")], actor=ACTOR)

    assert version.rules.get().escalation_tier == ""


def test_publishing_rules_that_name_an_unknown_tier_is_refused(db):
    with pytest.raises(InvalidInput) as refused:
        services.policy_publish(rules=[escalating_rule(tier="nowhere")], actor=ACTOR)

    assert refused.value.code == Code.UNKNOWN_TIER
    assert not PolicyVersion.objects.exists()


def test_publishing_a_draft_whose_tier_is_gone_is_refused(make_tier):
    make_tier("finance")
    draft = services.policy_draft_create(actor=ACTOR)
    services.policy_rule_add(number=draft.number, spec=escalating_rule(tier="finance"), actor=ACTOR)
    # Written around the services (a shell): the check at publishing still catches it.
    Rule.objects.filter(policy_version=draft).update(escalation_tier="gone")

    with pytest.raises(InvalidInput) as refused:
        services.policy_version_publish(number=draft.number, actor=ACTOR)

    assert refused.value.code == Code.UNKNOWN_TIER
    assert "'gone' is not an escalation tier" in refused.value.message
    assert PolicyVersion.objects.get(pk=draft.pk).is_draft


# ------------------------------------------------------------------------------------- pages


def session(user) -> Client:
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    client.get("/accounts/login/")
    return client


def post(client: Client, url: str, data: dict, *, htmx: bool = True):
    headers = {"HTTP_X_CSRFTOKEN": client.cookies["csrftoken"].value}
    return client.post(url, data, **headers, **(HTMX if htmx else {}))


def form(key: str = "l2-specialist", **changes) -> dict:
    values = {
        "key": key, "name": "L2 specialists", "handler_group": "l2-specialist",
        "handler_queue": "", "ack_sla_seconds": "1800", "resolve_sla_seconds": "14400",
        "next_tier": "", "renotify_seconds": "3600", "time_zone": "Europe/London",
        "hours_mon": "09:00-17:00", "hours_tue": "09:00-12:00, 13:00-17:00", "holidays": "",
    }  # fmt: skip
    return {**values, **changes}


@pytest.fixture
def admin_browser(demo, make_supervisor) -> Client:
    return session(make_supervisor("pat", role="policy_admin"))


def test_the_tiers_page_lists_every_tier_with_handlers_slas_next_tier_and_hours(admin_browser):
    page = admin_browser.get("/policies/tiers/").content.decode()

    assert 'id="tier-l1-lead"' in page
    row = page[page.index('id="tier-finance"') :].split("</tr>")[0]
    assert "Finance (billing escalations)" in row
    assert "group <code>finance</code>" in row
    assert "1 h" in row and "8 h" in row
    assert "Mon\u2013Fri 09:00\u201317:00" in row and "Europe/London" in row
    l1 = page[page.index('id="tier-l1-lead"') :].split("</tr>")[0]
    assert "<code>l2-specialist</code>" in l1 and "default" in l1


def test_a_policy_admin_adds_a_tier_from_the_page(admin_browser):
    response = post(
        admin_browser, "/policies/tiers/save/", form(key="l3-legal", next_tier="finance")
    )

    assert response.status_code == 200
    assert response["HX-Retarget"] == "#tiers-workspace"
    assert 'id="tier-l3-legal"' in response.content.decode()
    tier = Tier.objects.get(key="l3-legal")
    assert (tier.next_tier.key, tier.time_zone) == ("finance", "Europe/London")
    assert tier.weekly_hours == {
        "mon": [["09:00", "17:00"]],
        "tue": [["09:00", "12:00"], ["13:00", "17:00"]],
    }
    assert tier_events("l3-legal")[-1].actor_kind == "user"


def test_a_policy_admin_edits_a_tier_from_its_form(admin_browser):
    edit = admin_browser.get("/policies/tiers/finance/", **HTMX).content.decode()
    assert 'name="key" value="finance"' in edit and "readonly" in edit

    response = post(
        admin_browser,
        "/policies/tiers/save/",
        form(
            key="finance",
            name="Finance",
            editing="finance",
            hours_tue="",
            resolve_sla_seconds="7200",
        ),
    )

    assert response.status_code == 200
    tier = Tier.objects.get(key="finance")
    assert (tier.name, tier.resolve_sla_seconds) == ("Finance", 7200)
    assert tier.weekly_hours == {"mon": [["09:00", "17:00"]]}


def test_the_edit_page_works_without_javascript(admin_browser):
    page = admin_browser.get("/policies/tiers/finance/").content.decode()

    assert 'id="tiers"' in page and "Edit tier <code>finance</code>" in page


def test_bad_fields_are_shown_next_to_each_field(admin_browser):
    response = post(
        admin_browser,
        "/policies/tiers/save/",
        form(key="l3-legal", renotify_seconds="5", hours_mon="9-5", time_zone="Nowhere/Town"),
    )

    assert response.status_code == 422
    html = response.content.decode()
    assert 'id="tier-form"' in html
    assert "renotify_seconds is a whole number of seconds, at least 60" in html
    assert "&#x27;9&#x27; is not a time of day (HH:MM)" in html
    assert "&#x27;Nowhere/Town&#x27; is not a time zone" in html
    assert not Tier.objects.filter(key="l3-legal").exists()


def test_the_new_tier_form_never_overwrites_an_existing_tier(admin_browser):
    response = post(admin_browser, "/policies/tiers/save/", form(key="finance", name="Oops"))

    assert response.status_code == 422
    assert "exists already; edit it instead" in response.content.decode()
    assert Tier.objects.get(key="finance").name == "Finance (billing escalations)"


def test_deleting_a_tier_in_use_is_refused_in_the_flash_area(admin_browser):
    response = post(admin_browser, "/policies/tiers/finance/delete/", {})

    assert response.status_code == 409
    assert response["HX-Retarget"] == "#flash"
    assert "cancel-after-failed-payment-escalates of v1 (active) names it" in (
        response.content.decode()
    )
    assert Tier.objects.filter(key="finance").exists()


def test_a_policy_admin_deletes_an_unused_tier(admin_browser, make_tier):
    make_tier("l3-legal")

    response = post(admin_browser, "/policies/tiers/l3-legal/delete/", {})

    assert response.status_code == 200
    assert not Tier.objects.filter(key="l3-legal").exists()


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("get", "/policies/tiers/"),
        ("get", "/policies/tiers/finance/"),
        ("post", "/policies/tiers/save/"),
        ("post", "/policies/tiers/l1-lead/delete/"),
    ],
)
def test_a_supervisor_is_refused_the_tier_pages_and_changes(demo, make_supervisor, method, url):
    client = session(make_supervisor("sue", role="supervisor"))
    tiers, events = list(Tier.objects.values_list("key", "name")), AuditEvent.objects.count()

    response = client.get(url) if method == "get" else post(client, url, form(key="l1-lead"))

    assert response.status_code == 403
    assert list(Tier.objects.values_list("key", "name")) == tiers
    assert AuditEvent.objects.count() == events


def test_anonymous_visitors_are_sent_to_the_login_page_from_the_tiers_page(client, demo):
    response = client.get("/policies/tiers/")

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=/policies/tiers/")


def test_the_rule_editor_offers_the_tiers_to_choose_from(admin_browser):
    draft = services.policy_draft_create(actor=ACTOR, based_on=1)

    page = admin_browser.get(f"/policies/v{draft.number}/").content.decode()

    editor = page[page.index('<select id="rule-tier"') :].split("</select>")[0]
    assert '<option value="">— the default tier (l1-lead) —</option>' in editor
    assert '<option value="finance">finance · Finance (billing escalations)</option>' in editor


def test_a_rule_naming_an_unknown_tier_is_shown_next_to_the_tier_field(admin_browser):
    draft = services.policy_draft_create(actor=ACTOR, based_on=1)
    rule = {**escalating_rule(tier="nowhere"), "approvals_required": "1", "on_timeout": "expire"}

    response = post(admin_browser, f"/policies/v{draft.number}/rules/add/", rule)

    assert response.status_code == 422
    html = response.content.decode()
    assert "&#x27;nowhere&#x27; is not an escalation tier" in html
    assert '<option value="nowhere" selected>nowhere (no such tier)</option>' in html


def test_the_django_admin_shows_tiers_to_read_but_not_to_change(db):
    root = get_user_model().objects.create_superuser("root", password="x-long-enough-pass")
    client = Client()
    client.force_login(root)
    tier = Tier.objects.get(key="default")

    assert client.get("/admin/policies/tier/").status_code == 200
    assert client.get(f"/admin/policies/tier/{tier.pk}/change/").status_code == 200
    assert client.get("/admin/policies/tier/add/").status_code == 403
    assert client.post(f"/admin/policies/tier/{tier.pk}/change/", {"name": "x"}).status_code == 403
