"""Who gets what, everywhere: every route of the URL configuration, asked by anonymous, each role
and an agent, answers the status this table expects.

The routes come from the URL configuration itself, so a new route without a row here fails the
test: decide who may use it, and write it down. Routes with ids are asked about one real object
each (an action in the Refunds queue, its escalation case, draft v2 and one of its rules, ...).
GET everywhere (reading must not change state); POST with a CSRF token on a representative set,
with bodies that the allowed callers get refused for their content (400/409/422), so nothing
changes between one caller and the next.

Columns: anonymous, supervisor, senior_supervisor, qa_reviewer, qa_lead, policy_admin, auditor,
agent (an API key; it has no session, so pages treat it as anonymous).
"""

from __future__ import annotations

import os
import re
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from config import clock

pytestmark = pytest.mark.django_db

PRINCIPALS = (
    "anonymous", "supervisor", "senior_supervisor", "qa_reviewer", "qa_lead", "policy_admin",
    "auditor", "agent",
)  # fmt: skip

# route -> {method: "anonymous supervisor senior_supervisor qa_reviewer qa_lead policy_admin
#                    auditor agent"}
EXPECTED: dict[str, dict[str, str]] = {
    "": {"GET": "302 200 200 302 302 403 302 302"},
    "queue/rows/": {"GET": "302 200 200 403 403 403 403 302"},
    "actions/batch/": {
        "GET": "405 405 405 405 405 405 405 405",
        "POST": "302 400 400 403 403 403 403 302",
    },
    "actions/<uuid:action_id>/row/": {"GET": "302 200 200 403 403 403 403 302"},
    "actions/<uuid:action_id>/claim/": {"GET": "405 405 405 405 405 405 405 405"},
    "actions/<uuid:action_id>/release/": {"GET": "405 405 405 405 405 405 405 405"},
    "actions/<uuid:action_id>/approve/": {"GET": "405 405 405 405 405 405 405 405"},
    "actions/<uuid:action_id>/reject/": {
        "GET": "405 405 405 405 405 405 405 405",
        "POST": "302 400 400 403 403 403 403 302",
    },
    "actions/<uuid:action_id>/adopt/": {"GET": "405 405 405 405 405 405 405 405"},
    "actions/<uuid:action_id>/dismiss/": {"GET": "405 405 405 405 405 405 405 405"},
    "actions/<uuid:action_id>/escalate/": {"GET": "405 405 405 405 405 405 405 405"},
    "actions/<uuid:action_id>/edit/": {"GET": "405 405 405 405 405 405 405 405"},
    "breakers/<int:breaker_id>/reset/": {
        "GET": "405 405 405 405 405 405 405 405",
        "POST": "302 400 400 403 403 403 403 302",
    },
    "actions/<uuid:action_id>/": {"GET": "302 200 200 403 403 403 403 302"},
    "actions/<uuid:action_id>/page/panel/": {"GET": "302 200 200 403 403 403 403 302"},
    "actions/<uuid:action_id>/page/claim/": {"GET": "405 405 405 405 405 405 405 405"},
    "actions/<uuid:action_id>/page/release/": {"GET": "405 405 405 405 405 405 405 405"},
    "actions/<uuid:action_id>/page/takeover/": {"GET": "405 405 405 405 405 405 405 405"},
    # Opening the editor does not claim the action (a GET changes nothing): both may open it.
    "actions/<uuid:action_id>/page/edit/": {"GET": "302 200 200 403 403 403 403 302"},
    "actions/<uuid:action_id>/page/decide/<str:kind>/": {"GET": "405 405 405 405 405 405 405 405"},
    "notifications/": {"GET": "302 200 200 200 200 200 200 302"},
    "notifications/save/": {"GET": "405 405 405 405 405 405 405 405"},
    "policies/": {"GET": "302 403 403 403 403 200 403 302"},
    "policies/drafts/": {"GET": "405 405 405 405 405 405 405 405"},
    "policies/check-condition/": {
        "GET": "405 405 405 405 405 405 405 405",
        "POST": "302 403 403 403 403 200 403 302",
    },
    "policies/tiers/": {"GET": "302 403 403 403 403 200 403 302"},
    "policies/tiers/save/": {"GET": "405 405 405 405 405 405 405 405"},
    "policies/tiers/<slug:key>/": {"GET": "302 403 403 403 403 200 403 302"},
    "policies/tiers/<slug:key>/delete/": {"GET": "405 405 405 405 405 405 405 405"},
    "policies/v<int:number>/": {"GET": "302 403 403 403 403 200 403 302"},
    "policies/v<int:number>/diff/": {"GET": "302 403 403 403 403 200 403 302"},
    # A simulation starts with a POST (it runs as a task); its progress is read by run id.
    "policies/v<int:number>/simulate/": {"GET": "405 405 405 405 405 405 405 405"},
    "policies/v<int:number>/simulations/<slug:run_id>/": {"GET": "302 403 403 403 403 404 403 302"},
    "policies/v<int:number>/export/": {"GET": "302 403 403 403 403 200 403 302"},
    # v2 already waits for a second admin: asking again is a conflict.
    "policies/v<int:number>/publish/": {
        "GET": "405 405 405 405 405 405 405 405",
        "POST": "302 403 403 403 403 409 403 302",
    },
    "policies/v<int:number>/activate/": {"GET": "405 405 405 405 405 405 405 405"},
    "policies/v<int:number>/discard/": {"GET": "405 405 405 405 405 405 405 405"},
    "policies/v<int:number>/publication/<int:publication_id>/confirm/": {
        "GET": "405 405 405 405 405 405 405 405",
    },
    "policies/v<int:number>/publication/<int:publication_id>/withdraw/": {
        "GET": "405 405 405 405 405 405 405 405",
    },
    "policies/v<int:number>/rules/new/": {"GET": "302 403 403 403 403 200 403 302"},
    "policies/v<int:number>/rules/add/": {
        "GET": "405 405 405 405 405 405 405 405",
        "POST": "302 403 403 403 403 422 403 302",
    },
    "policies/v<int:number>/rules/<int:rule_id>/": {"GET": "302 403 403 403 403 200 403 302"},
    "policies/v<int:number>/rules/<int:rule_id>/update/": {
        "GET": "405 405 405 405 405 405 405 405",
    },
    "policies/v<int:number>/rules/<int:rule_id>/delete/": {
        "GET": "405 405 405 405 405 405 405 405",
    },
    "policies/v<int:number>/rules/<int:rule_id>/move/": {"GET": "405 405 405 405 405 405 405 405"},
    "escalations/": {"GET": "302 403 200 403 403 403 200 302"},
    "escalations/rows/": {"GET": "302 403 200 403 403 403 200 302"},
    "escalations/<int:case_id>/": {"GET": "302 403 404 403 403 403 200 302"},
    "escalations/<int:case_id>/row/": {"GET": "302 403 404 403 403 403 200 302"},
    "escalations/<int:case_id>/row/acknowledge/": {"GET": "405 405 405 405 405 405 405 405"},
    "escalations/<int:case_id>/panel/": {"GET": "302 403 404 403 403 403 200 302"},
    "escalations/<int:case_id>/acknowledge/": {"GET": "405 405 405 405 405 405 405 405"},
    "escalations/<int:case_id>/reassign/": {
        "GET": "405 405 405 405 405 405 405 405",
        "POST": "302 403 404 403 403 403 400 302",
    },
    "escalations/<int:case_id>/resolve/<str:outcome>/": {"GET": "405 405 405 405 405 405 405 405"},
    "escalations/<int:case_id>/edit/": {"GET": "302 403 404 403 403 403 409 302"},
    "qa/": {"GET": "302 403 403 200 200 403 200 302"},
    "qa/reviews/<str:assignment_id>/": {"GET": "302 403 403 200 200 403 200 302"},
    # A fragment of the action page: empty for whoever may see no review (signed out included).
    "qa/actions/<uuid:action_id>/reviews/": {"GET": "200 200 200 200 200 200 200 200"},
    "qa/actions/<uuid:action_id>/reviews/<str:review_id>/dispute/": {
        "GET": "405 405 405 405 405 405 405 405",
    },
    "qa/disputes/": {"GET": "302 403 403 403 200 403 200 302"},
    "qa/disputes/<str:dispute_id>/decide/": {"GET": "405 405 405 405 405 405 405 405"},
    "qa/calibration/": {"GET": "302 403 403 200 200 403 200 302"},
    "qa/calibration/<str:session_id>/": {"GET": "302 403 403 404 200 403 200 302"},
    "qa/calibration/<str:session_id>/reveal/": {"GET": "405 405 405 405 405 405 405 405"},
    "qa/plans/": {"GET": "302 403 403 403 200 403 200 302"},
    "qa/plans/new/": {
        "GET": "302 403 403 403 200 403 403 302",
        "POST": "302 403 403 403 400 403 403 302",
    },
    "qa/plans/<slug:slug>/": {"GET": "302 403 403 403 200 403 200 302"},
    "qa/samples/<int:sample_id>/": {"GET": "302 403 403 403 200 403 200 302"},
    "qa/samples/<int:sample_id>/items/<int:item_id>/assign/": {
        "GET": "405 405 405 405 405 405 405 405"
    },
    "qa/samples/<int:sample_id>/assignments/<int:assignment_id>/reassign/": {
        "GET": "405 405 405 405 405 405 405 405",
    },
    "qa/samples/<int:sample_id>/assignments/<int:assignment_id>/remove/": {
        "GET": "405 405 405 405 405 405 405 405",
    },
    "qa/scorecards-setup/": {"GET": "302 403 403 403 200 403 200 302"},
    "qa/scorecards/": {"GET": "302 403 200 200 200 200 200 302"},
    "qa/scorecards/actions/": {"GET": "302 403 400 400 400 400 400 302"},
    "qa/suggestions/": {"GET": "302 403 200 200 200 200 200 302"},
    "qa/suggestions/draft/": {"GET": "405 405 405 405 405 405 405 405"},
    # Only orders that the caller's actions (agent) or queues (people) name; others read as 404.
    "api/v1/sandbox/orders/<str:order_id>/": {"GET": "401 200 200 404 404 200 404 403"},
    "api/v1/actions/": {
        "GET": "401 403 403 403 403 403 403 405",
        "POST": "401 403 403 403 403 403 403 400",
    },
    "api/v1/actions/<str:action_id>/": {"GET": "401 200 200 404 404 200 404 200"},
    # The evidence pack: people who see the action, and auditors; never an agent.
    "api/v1/actions/<str:action_id>/evidence/": {"GET": "401 200 200 404 404 200 200 403"},
    # The long-poll reads on its own connection pool, outside this test's transaction, so even
    # the agent's key is unknown here; tests/approvals/test_wait.py asks it on a real server.
    "api/v1/actions/<str:action_id>/wait/": {"GET": "401 401 401 401 401 401 401 401"},
    "api/v1/actions/<str:action_id>/cancel/": {"GET": "401 403 403 403 403 403 403 405"},
    "api/v1/actions/<str:action_id>/approve/": {
        "GET": "401 405 405 405 405 405 405 403",
        "POST": "401 409 409 404 404 409 404 403",
    },
    "api/v1/actions/<str:action_id>/reject/": {"GET": "401 405 405 405 405 405 405 403"},
    "api/v1/actions/<str:action_id>/adopt/": {"GET": "401 405 405 405 405 405 405 403"},
    "api/v1/actions/<str:action_id>/dismiss/": {"GET": "401 405 405 405 405 405 405 403"},
    "api/v1/actions/<str:action_id>/rollback/": {"GET": "401 405 405 405 405 405 405 403"},
    "api/v1/actions/<str:action_id>/reconcile/": {
        "GET": "401 405 405 405 405 405 405 403",
        "POST": "401 409 409 404 404 409 404 403",
    },
    "api/v1/actions/<str:action_id>/edit/": {"GET": "401 405 405 405 405 405 405 403"},
    "api/v1/actions/<str:action_id>/claim/": {"GET": "401 405 405 405 405 405 405 403"},
    "api/v1/actions/<str:action_id>/release/": {"GET": "401 405 405 405 405 405 405 403"},
    "api/v1/reason-codes/": {"GET": "401 200 200 200 200 200 200 200"},
    "api/v1/policy/check/": {
        "GET": "401 403 403 403 403 403 403 405",
        "POST": "401 403 403 403 403 403 403 400",
    },
    "api/v1/breakers/": {"GET": "401 200 200 200 200 200 200 403"},
    "api/v1/breakers/<int:breaker_id>/reset/": {
        "GET": "401 405 405 405 405 405 405 403",
        "POST": "401 409 409 403 403 403 403 403",
    },
    "api/v1/escalations/": {"GET": "401 200 200 200 200 200 200 404"},
    "api/v1/escalations/<str:case_id>/": {"GET": "401 404 404 404 404 404 200 200"},
    "api/v1/escalations/<str:case_id>/acknowledge/": {"GET": "401 405 405 405 405 405 405 403"},
    "api/v1/escalations/<str:case_id>/reassign/": {"GET": "401 405 405 405 405 405 405 403"},
    "api/v1/escalations/<str:case_id>/resolve/": {"GET": "401 405 405 405 405 405 405 403"},
    "api/v1/actions/<str:action_id>/outcome/": {"GET": "401 403 403 403 403 403 403 405"},
    "api/v1/qa/assignments/": {"GET": "401 403 403 200 200 403 200 403"},
    "api/v1/qa/reviews/": {
        "GET": "401 405 405 405 405 405 405 403",
        "POST": "401 404 404 404 404 404 404 403",
    },
    "api/v1/qa/reviews/<str:review_id>/": {"GET": "401 404 404 404 404 404 404 403"},
    "api/v1/qa/metrics/": {"GET": "401 403 200 200 200 200 200 403"},
    # Signed by Slack, not a session; without Slack configured it is not there.
    "integrations/slack/interactions/": {
        "GET": "405 405 405 405 405 405 405 405",
        "POST": "404 404 404 404 404 404 404 404",
    },
    "api/schema/": {"GET": "200 200 200 200 200 200 200 200"},
    "api/docs/": {"GET": "200 200 200 200 200 200 200 200"},
    "accounts/login/": {"GET": "200 200 200 200 200 200 200 200"},
    # Two-factor pages send anonymous callers to sign in, and people who need no second factor
    # (or already proved it, as these test sessions did) on to their pages.
    "accounts/two-factor/": {"GET": "302 302 302 302 302 302 302 302"},
    "accounts/two-factor/setup/": {"GET": "302 302 302 302 302 302 302 302"},
    "accounts/logout/": {"GET": "405 405 405 405 405 405 405 405"},
    # Superusers only (config.admin): everyone here is sent to the admin's login.
    "admin/": {"GET": "302 302 302 302 302 302 302 302"},
    # For operators and their probes: no sign-in. /metrics answers by token or network, not by
    # person (tests/test_metrics.py): locally, with neither set, loopback callers like these.
    "healthz": {"GET": "200 200 200 200 200 200 200 200"},
    "readyz": {"GET": "200 200 200 200 200 200 200 200"},
    "metrics": {"GET": "200 200 200 200 200 200 200 200"},
}


def _walk(patterns, prefix: str = ""):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _walk(pattern.url_patterns, prefix + str(pattern.pattern))
        elif isinstance(pattern, URLPattern):
            yield prefix + str(pattern.pattern)


def routes() -> list[str]:
    """Every route, with Django's admin as one row: it is one site, with one permission check."""
    found = dict.fromkeys(
        "admin/" if route.startswith("admin/") else route
        for route in _walk(get_resolver().url_patterns)
    )
    return list(found)


# ---------------------------------------------------------------------------------------------
# the world the table is asked about


@pytest.fixture
def world(demo, agent, make_supervisor, django_user_model):
    from agents.models import CircuitBreaker
    from approvals.services import action_submit
    from audit.services import Actor
    from escalations.models import Escalation
    from policies import publication, services
    from qa.models import Assignment, CalibrationSession, Sample, SampleItem, Scorecard
    from qa.services.plans import plan_save
    from tests.approvals.conftest import refund_params

    # Supervisors and policy admins work every demo queue; QA people and auditors none.
    people = {
        role: make_supervisor(role, role=role)
        if role in ("supervisor", "senior_supervisor", "policy_admin")
        else make_supervisor(role, role=role, queues=())
        for role in PRINCIPALS[1:-1]
    }
    other_admin = make_supervisor("other_admin", role="policy_admin", queues=())
    pending = action_submit(
        agent=agent.agent, action_type="refund.issue", params=refund_params(6000)
    ).action
    escalated = action_submit(
        agent=agent.agent, action_type="refund.issue", params=refund_params(60000)
    ).action
    case = Escalation.objects.get(action=escalated)
    draft = services.policy_draft_create(actor=Actor.user(other_admin.pk), based_on=1)
    rule = draft.rules.order_by("position").first()
    waiting = publication.policy_publication_request(
        number=draft.number, kind="publish", by=other_admin
    )
    scorecard = Scorecard.objects.create(
        slug="quality", name="Quality", scale=4,
        categories=[{"key": "decision", "label": "Right decision", "weight": 100}],
    )  # fmt: skip
    plan = plan_save(
        slug="weekly", name="Weekly", description="", period="weekly", size_count=5,
        size_percent=None, scope={}, strata=[], inclusions={}, scorecard_slug="quality",
        reviewer_usernames=[], double_review_percent=0, starts_at=clock.now(),
        actor=Actor.system("test"),
    )  # fmt: skip
    now = clock.now()
    sample = Sample.objects.create(
        plan=plan, period_start=now - timedelta(days=7), period_end=now, seed="s", drawn_at=now
    )
    item = SampleItem.objects.create(sample=sample, action=pending, reason="random", rank=1)
    assignment = Assignment.objects.create(
        action=pending, reviewer=people["qa_reviewer"], scorecard=scorecard,
        kind=Assignment.Kind.SAMPLE, assigned_at=now, item=item,
    )  # fmt: skip
    session = CalibrationSession.objects.create(
        name="Calibrate", scorecard=scorecard, created_by=people["qa_lead"]
    )
    ids = {
        "action_id": str(pending.pk),
        "number": str(draft.number),
        "rule_id": str(rule.pk),
        "publication_id": str(waiting.pk),
        "key": "l1-lead",
        "case_id": str(case.pk),
        "outcome": "resolved",
        "kind": "approve",
        "breaker_id": str(CircuitBreaker.objects.get(name="refund-burst").pk),
        "assignment_id": str(assignment.pk),
        "review_id": "999999",  # no review exists: reviews need a resolved action
        "dispute_id": "999999",  # no dispute exists: disputes need a review
        "session_id": str(session.pk),
        "slug": plan.slug,
        "sample_id": str(sample.pk),
        "item_id": str(item.pk),
        "run_id": "no-such-run",
        "order_id": "ORD-1001",
    }
    return {"people": people, "agent": agent, "ids": ids}


_PARAM = re.compile(r"<(?:\w+:)?(\w+)>")


def url_of(route: str, ids: dict[str, str]) -> str:
    return "/" + _PARAM.sub(lambda m: ids[m[1]], route)


def client_of(principal: str, world) -> Client:
    if principal == "agent":
        return Client(HTTP_AUTHORIZATION=f"Api-Key {world['agent'].key}")
    client = Client(enforce_csrf_checks=True)
    if principal != "anonymous":
        client.force_login(world["people"][principal])
    client.get("/accounts/login/")  # hands out the CSRF cookie, as a page would
    return client


def ask(client: Client, method: str, url: str, body: dict) -> int:
    if method == "GET":
        return client.get(url).status_code
    token = client.cookies["csrftoken"].value if "csrftoken" in client.cookies else ""
    return client.post(
        url, body, content_type="application/json", HTTP_X_CSRFTOKEN=token
    ).status_code


# The representative POSTs (with a CSRF token), each with a body the callers allowed to make it
# get refused for (so the world stays the same for the next caller); other routes: GET only.
POSTS: dict[str, dict] = {
    "api/v1/actions/": {},
    # A stale version: nothing is approved. The outcome of a pending action is not unknown.
    "api/v1/actions/<str:action_id>/approve/": {"expected_version": 999},
    "api/v1/actions/<str:action_id>/reconcile/": {"outcome": "succeeded", "reason_code": "x"},
    "api/v1/policy/check/": {},
    "api/v1/breakers/<int:breaker_id>/reset/": {"reason": "checked"},  # not tripped
    "api/v1/qa/reviews/": {"assignment_id": 999999, "scores": {}, "verdict": "right"},
    "actions/<uuid:action_id>/reject/": {},
    "actions/batch/": {},
    "breakers/<int:breaker_id>/reset/": {},
    "policies/check-condition/": {},
    # Draft v2 waits for a second admin, so its rules cannot change and it cannot be asked again.
    "policies/v<int:number>/rules/add/": {},
    "policies/v<int:number>/publish/": {},
    "escalations/<int:case_id>/reassign/": {},
    "qa/plans/new/": {},
    "integrations/slack/interactions/": {},
}


def observed(world) -> dict[str, dict[str, str]]:
    table: dict[str, dict[str, str]] = {}
    clients = {p: client_of(p, world) for p in PRINCIPALS}
    for route in routes():
        url = url_of(route, world["ids"])
        table[route] = {}
        for method in ("GET", "POST") if route in POSTS else ("GET",):
            codes = [str(ask(clients[p], method, url, POSTS.get(route, {}))) for p in PRINCIPALS]
            table[route][method] = " ".join(codes)
    return table


def test_every_route_has_a_row(db):
    missing = [route for route in routes() if route not in EXPECTED]
    stale = [route for route in EXPECTED if route not in routes()]

    assert (missing, stale) == ([], []), "add or remove the routes' rows in EXPECTED"


def test_every_route_answers_each_caller_as_the_table_says(world):
    table = observed(world)
    if os.environ.get("AUTHZ_MATRIX_PRINT"):
        for route, methods in table.items():
            for method, codes in methods.items():
                print(f'    {route!r}: {{{method!r}: "{codes}"}},')

    wrong = {
        (route, method): {"expected": EXPECTED.get(route, {}).get(method), "got": codes}
        for route, methods in table.items()
        for method, codes in methods.items()
        if EXPECTED.get(route, {}).get(method) != codes
    }

    assert wrong == {}
