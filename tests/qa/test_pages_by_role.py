"""Every QA page and API path as each role meets it: the right answer (never a 500), the same
links between the QA pages, refusals that say which role is missing, forms that keep what was
typed, and no form that changes anything for an auditor."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.test import Client

from approvals.models import DecisionKind
from qa.models import Assignment, Dispute, SamplingPlan
from qa.services.calibration import calibration_open
from qa.services.sampling import sample_draw
from tests.clock import frozen
from tests.qa.plan_factory import MONDAY, WEDNESDAY, save_plan
from tests.qa.reviewing import submit

# The roles the pages were walked as, plus the signed-out visitor.
ROLES = ("qa_reviewer", "qa_lead", "auditor", "supervisor", "policy_admin", "senior_supervisor")


def signed_in(user) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


@pytest.fixture
def world(demo, scorecard, resolution, make_supervisor, make_qa_person, agent):
    """A sampled week with one item nobody may review, a submitted review, its open dispute and a
    calibration session; one person per role."""
    people = {
        "supervisor": make_supervisor("alice"),
        "qa_reviewer": make_qa_person("rita"),
        "qa_lead": make_qa_person("lena", "qa_lead"),
        "auditor": make_qa_person("audrey", "auditor"),
        "policy_admin": make_supervisor("pat", role="policy_admin", queues=()),
        "senior_supervisor": make_supervisor("sen", role="senior_supervisor"),
    }
    make_qa_person("sam")
    with frozen(WEDNESDAY):
        at = MONDAY - timedelta(days=2)
        decided = resolution(at=at, decisions=[(DecisionKind.APPROVE, people["supervisor"], 60)])
        ritas = resolution(at=at, decisions=[(DecisionKind.APPROVE, people["qa_reviewer"], 60)])
        plan = save_plan(starts_at=MONDAY - timedelta(weeks=1), reviewer_usernames=["rita"])
        sample = sample_draw(plan_id=plan.pk, period_start=MONDAY - timedelta(weeks=1))
    assignment = Assignment.objects.get(action=decided)
    review = submit(assignment, verdict="should_reject")
    dispute = Dispute.objects.create(review=review, raised_by=people["supervisor"], reason="No.",
                                     created_at=review.created_at)  # fmt: skip
    session = calibration_open(name="June", scorecard_slug="resolution-quality",
                               action_ids=[str(decided.pk)], reviewer_usernames=["rita", "sam"],
                               by=people["qa_lead"])  # fmt: skip
    return {
        "people": people, "sample": sample, "assignment": assignment, "review": review,
        "dispute": dispute, "session": session, "agent": agent,
        "unassigned": sample.items.get(action=ritas),
    }  # fmt: skip


def pages(w) -> dict[str, str]:
    return {
        "home": "/qa/",
        "review": f"/qa/reviews/{w['assignment'].pk}/",
        "disputes": "/qa/disputes/",
        "calibrations": "/qa/calibration/",
        "calibration": f"/qa/calibration/{w['session'].pk}/",
        "plans": "/qa/plans/",
        "plan-new": "/qa/plans/new/",
        "plan": "/qa/plans/weekly-refunds/",
        "sample": f"/qa/samples/{w['sample'].pk}/",
        "scorecard-setup": "/qa/scorecards-setup/",
        "scorecards": "/qa/scorecards/",
        "scorecard-actions": "/qa/scorecards/actions/?metric=override_rate",
        "suggestions": "/qa/suggestions/",
        "no-review": "/qa/reviews/999999/",
        "no-sample": "/qa/samples/999999/",
        "no-plan": "/qa/plans/nope/",
        "no-session": "/qa/calibration/abc/",
    }


# What each role gets (404 for what they may not see, 403 for a missing role). The review and
# the session are rita's; the policy admin and senior supervisor read scorecards only.
OK, NO, GONE = 200, 403, 404
EXPECTED = {
    "qa_reviewer": {"disputes": NO, "plans": NO, "plan-new": NO, "plan": NO, "sample": NO,
                    "scorecard-setup": NO, "no-review": GONE, "no-sample": NO, "no-plan": NO,
                    "no-session": GONE},
    "qa_lead": {"no-review": GONE, "no-sample": GONE, "no-plan": GONE, "no-session": GONE},
    "auditor": {"plan-new": NO, "no-review": GONE, "no-sample": GONE, "no-plan": GONE,
                "no-session": GONE},
    "supervisor": {},
    "policy_admin": {"scorecards": OK, "scorecard-actions": OK, "suggestions": OK},
    "senior_supervisor": {"scorecards": OK, "scorecard-actions": OK, "suggestions": OK},
}  # fmt: skip
DEFAULT = {"qa_reviewer": OK, "qa_lead": OK, "auditor": OK, "supervisor": NO,
           "policy_admin": NO, "senior_supervisor": NO}  # fmt: skip


def test_every_qa_page_answers_each_role_as_the_rulebook_says(world):
    found, wanted = {}, {}
    for role in ROLES:
        client = signed_in(world["people"][role])
        for name, url in pages(world).items():
            found[role, name] = client.get(url).status_code
            wanted[role, name] = EXPECTED[role].get(name, DEFAULT[role])

    assert found == wanted


def test_signed_out_visitors_are_sent_to_sign_in_from_every_qa_page(world):
    client = signed_in(None)

    for url in pages(world).values():
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith("/accounts/login/?next=/qa/"), url


def test_the_qa_api_refuses_agents_and_signed_out_callers_in_the_error_shape(world):
    urls = ["/api/v1/qa/assignments/", f"/api/v1/qa/reviews/{world['review'].pk}/",
            "/api/v1/qa/metrics/"]  # fmt: skip

    for url in urls:
        as_agent = world["agent"].client().get(url)
        signed_out = signed_in(None).get(url)
        assert (as_agent.status_code, as_agent.json()["error"]["code"]) == (403, "forbidden")
        assert (signed_out.status_code, signed_out.json()["error"]["code"]) == (
            401, "unauthenticated",
        )  # fmt: skip
    refused = signed_in(world["people"]["supervisor"]).get("/api/v1/qa/metrics/").json()
    assert refused["error"]["code"] == "missing_role"
    assert "qa_lead" in refused["error"]["details"]["roles"]


def qa_links(html: str) -> list[tuple[str, bool]]:
    nav = re.search(r'<nav class="qa-links".*?</nav>', html, re.S)
    if nav is None:
        return []
    found = re.findall(r'id="link-([a-z]+)"[^>]*?( aria-current="page")?>', nav.group(0))
    return [(key, bool(current)) for key, current in found]


@pytest.mark.parametrize(
    ("role", "links"),
    [
        ("qa_reviewer", ["assignments", "calibration", "scorecards", "suggestions"]),
        ("qa_lead", ["assignments", "plans", "disputes", "calibration", "scorecards",
                     "suggestions"]),
        ("auditor", ["assignments", "plans", "disputes", "calibration", "scorecards",
                     "suggestions"]),
    ],
)  # fmt: skip
def test_every_qa_page_links_the_same_qa_pages_and_marks_the_current_one(world, role, links):
    client = signed_in(world["people"][role])
    current_of = {"home": "assignments", "review": "assignments", "calibrations": "calibration",
                  "calibration": "calibration", "plans": "plans", "plan": "plans",
                  "sample": "plans", "scorecard-setup": "plans", "plan-new": "plans",
                  "disputes": "disputes",
                  "scorecards": "scorecards", "scorecard-actions": "scorecards",
                  "suggestions": "suggestions"}  # fmt: skip

    for name, url in pages(world).items():
        response = client.get(url)
        if response.status_code != 200:
            continue
        found = qa_links(response.content.decode())
        assert [key for key, _ in found] == links, (name, found)
        assert [key for key, current in found if current] == [current_of[name]], name


def test_people_who_only_read_scorecards_get_links_to_the_scorecards_and_suggestions(world):
    html = signed_in(world["people"]["policy_admin"]).get("/qa/scorecards/").content.decode()

    assert qa_links(html) == [("scorecards", True), ("suggestions", False)]
    assert 'id="nav-qa" href="/qa/scorecards/"' in html


def changing_forms(html: str) -> list[str]:
    """The page's POST forms, but for the top bar's log out."""
    forms = re.findall(r'<form[^>]*method="post"[^>]*>', html)
    return [form for form in forms if 'action="/accounts/logout/"' not in form]


def test_an_auditor_sees_no_form_that_changes_anything(world):
    client = signed_in(world["people"]["auditor"])

    for name, url in pages(world).items():
        response = client.get(url)
        if response.status_code == 200:
            assert changing_forms(response.content.decode()) == [], name
    assert changing_forms(client.get("/qa/plans/weekly-refunds/").content.decode()) == []
    lead_sample = signed_in(world["people"]["qa_lead"]).get(pages(world)["sample"])
    assert changing_forms(lead_sample.content.decode())  # the lead has them


def test_an_auditor_posting_a_lead_form_is_refused_whatever_they_typed(world):
    client = signed_in(world["people"]["auditor"])
    sample, dispute = world["sample"], world["dispute"]

    responses = {
        "plan": client.post("/qa/plans/new/", {"slug": "x", "size_value": "abc"}),
        "scorecard": client.post("/qa/scorecards-setup/", {"slug": "x", "categories": "[{"}),
        "dispute": client.post(f"/qa/disputes/{dispute.pk}/decide/", {"outcome": "bogus"}),
        "assign": client.post(
            f"/qa/samples/{sample.pk}/items/{world['unassigned'].pk}/assign/",
            {"to_username": "sam"},
        ),
    }

    assert {name: r.status_code for name, r in responses.items()} == dict.fromkeys(responses, 403)
    assert "qa_lead" in responses["scorecard"].content.decode()
    assert not SamplingPlan.objects.filter(slug="x").exists()
    assert Dispute.objects.get().state == "open"


def test_only_the_decider_may_dispute_and_others_are_refused_before_their_reason_is_read(world):
    url = f"/qa/actions/{world['assignment'].action_id}/reviews/{world['review'].pk}/dispute/"

    senior = signed_in(world["people"]["senior_supervisor"]).post(url, {"reason": ""})
    admin = signed_in(world["people"]["policy_admin"]).post(url, {"reason": ""})
    signed_out = signed_in(None).post(url, {"reason": "x"})

    assert senior.status_code == 403  # sees the review (their queue) but did not decide it
    assert admin.status_code == 404  # may not see it
    assert signed_out.status_code == 302
    assert signed_out["Location"].startswith("/accounts/login/?next=/actions/")


def test_a_refused_dispute_decision_keeps_the_note_typed(world):
    dispute = world["dispute"]

    response = signed_in(world["people"]["qa_lead"]).post(
        f"/qa/disputes/{dispute.pk}/decide/", {"outcome": "bogus", "note": "Rule 4 allows it"}
    )

    assert response.status_code == 400
    assert 'value="Rule 4 allows it"' in response.content.decode()


def test_a_refused_reassignment_keeps_what_was_typed_in_its_own_form(world, resolution):
    lena, rita = world["people"]["qa_lead"], world["people"]["qa_reviewer"]
    open_one = Assignment.objects.create(
        action=resolution(), reviewer=rita, scorecard=world["assignment"].scorecard,
        item=world["sample"].items.create(action=resolution(), reason="random", rank=9),
        assigned_at=world["assignment"].assigned_at,
    )  # fmt: skip
    url = f"/qa/samples/{world['sample'].pk}/assignments/{open_one.pk}/reassign/"

    typed = {"to_username": "nobody", "reason": "rita is away"}
    hidden = {"form": "reassign", "target": str(open_one.pk)}
    response = signed_in(lena).post(url, {**typed, **hidden})

    html = response.content.decode()
    assert response.status_code == 400
    assert "No active account &#x27;nobody&#x27;" in html
    form = re.search(rf'<form[^>]*id="reassign-{open_one.pk}".*?</form>', html, re.S).group(0)
    assert 'value="nobody"' in form and 'value="rita is away"' in form
    assert html.count('value="rita is away"') == 1


# ---------------------------------------------------------------------------------------------
# the 403 page names the role the refusal names


@pytest.mark.parametrize(
    ("role", "url", "hint"),
    [
        ("qa_reviewer", "/qa/plans/", "<code>qa_lead</code> or <code>auditor</code> groups"),
        ("supervisor", "/qa/", "<code>qa_reviewer</code>, <code>qa_lead</code> or "
                               "<code>auditor</code> groups"),
        ("qa_reviewer", "/policies/", "the <code>policy_admin</code> group"),
        ("policy_admin", "/", "<code>senior_supervisor</code> or <code>supervisor</code> groups"),
    ],
)  # fmt: skip
def test_the_refusal_page_names_the_roles_that_would_open_the_page(world, role, url, hint):
    response = signed_in(world["people"][role]).get(url)

    html = response.content.decode()
    assert response.status_code == 403
    hint_text = re.search(r'id="refusal-hint">(.*?)</p>', html, re.S).group(1)
    assert hint in hint_text
    assert "the <code>supervisor</code> group" not in hint_text


def test_a_refusal_naming_no_role_gets_a_neutral_hint(rf):
    from django.core.exceptions import PermissionDenied

    from config.views import permission_denied

    request = rf.get("/somewhere/")
    request.user = type("Anon", (), {"is_authenticated": False})()

    html = permission_denied(request, PermissionDenied("Not yours.")).content.decode()

    assert "Not yours." in html
    assert "ask an administrator for access" in html
    assert "<code>" not in re.search(r'id="refusal-hint">(.*?)</p>', html, re.S).group(1)


@pytest.mark.parametrize("role", ["qa_reviewer", "qa_lead", "auditor", "policy_admin"])
def test_every_link_on_the_qa_pages_a_role_reaches_opens_for_that_role(world, role):
    client = signed_in(world["people"][role])
    links: set[str] = set()
    for url in pages(world).values():
        response = client.get(url)
        if response.status_code == 200:
            html = response.content.decode()
            links |= {href.replace("&amp;", "&") for href in re.findall(r'href="(/[^"]*)"', html)}
    # The brand's "/" is the queue's (it sends QA people on to /qa/), not a QA page.
    links -= {link for link in links if link == "/" or link.startswith(("/static/", "/api/"))}

    broken = {link: client.get(link, follow=True).status_code for link in sorted(links)}

    assert {link: status for link, status in broken.items() if status != 200} == {}
