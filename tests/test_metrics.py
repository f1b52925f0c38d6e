"""/metrics: refused without the token or an allowed address, and serving the request latency
histogram and the business figures, counted by hand here for a small world."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.cache import cache
from django.test import Client
from prometheus_client.parser import text_string_to_metric_families

from tests.clock import frozen

LOOPBACK = ["127.0.0.1/32", "::1/128"]


@pytest.fixture
def open_locally(settings):
    settings.METRICS_TOKEN = ""
    settings.METRICS_ALLOWED_NETWORKS = LOOPBACK


def samples(response) -> dict[tuple[str, tuple], float]:
    """Every sample: (name, sorted labels) -> value."""
    assert response.status_code == 200, response.content
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.content.decode())
        for sample in family.samples
    }


def scrape() -> dict[tuple[str, tuple], float]:
    return samples(Client().get("/metrics"))


def figure(figures: dict, name: str, **labels: str) -> float:
    return figures[(name, tuple(sorted(labels.items())))]


# ---------------------------------------------------------------------------------------------
# who may read them


@pytest.mark.django_db
class TestAccess:
    def test_with_neither_token_nor_network_there_are_no_metrics(self, settings):
        settings.METRICS_TOKEN, settings.METRICS_ALLOWED_NETWORKS = "", []

        assert Client().get("/metrics").status_code == 404

    def test_in_production_neither_is_set_by_default_so_there_are_no_metrics(self):
        from tests.test_security import PRODUCTION_ENV, manage

        asked = manage(
            "shell", "-c",
            "from django.test import Client; "
            "print(Client().get('/metrics', secure=True).status_code)",
            **PRODUCTION_ENV,
        )  # fmt: skip

        assert asked.stdout.strip().splitlines()[-1] == "404", asked.stderr

    def test_the_local_default_serves_loopback_and_refuses_others(self, open_locally):
        assert Client().get("/metrics").status_code == 200
        assert Client(REMOTE_ADDR="192.0.2.10").get("/metrics").status_code == 403

    def test_a_token_is_required_when_set(self, settings):
        settings.METRICS_TOKEN, settings.METRICS_ALLOWED_NETWORKS = "scrape-me", []
        client = Client(REMOTE_ADDR="192.0.2.10")

        missing = client.get("/metrics")
        wrong = client.get("/metrics", HTTP_AUTHORIZATION="Bearer scrape-you")
        right = client.get("/metrics", HTTP_AUTHORIZATION="Bearer scrape-me")

        assert (missing.status_code, wrong.status_code, right.status_code) == (403, 403, 200)
        assert missing.headers["WWW-Authenticate"] == 'Bearer realm="metrics"'
        assert b"scrape-me" not in missing.content

    def test_an_allowed_network_is_judged_by_the_address_the_trusted_proxy_saw(self, settings):
        settings.METRICS_TOKEN, settings.METRICS_ALLOWED_NETWORKS = "", ["10.1.0.0/16"]
        settings.TRUSTED_PROXY_COUNT = 1
        proxy = Client(REMOTE_ADDR="172.18.0.2")

        inside = proxy.get("/metrics", HTTP_X_FORWARDED_FOR="10.1.2.3")
        # A client outside writing an inside address to the left of what our proxy appended.
        spoofed = proxy.get("/metrics", HTTP_X_FORWARDED_FOR="10.1.2.3, 198.51.100.4")

        assert (inside.status_code, spoofed.status_code) == (200, 403)

    def test_the_token_also_opens_them_from_outside_the_allowed_networks(self, settings):
        settings.METRICS_TOKEN, settings.METRICS_ALLOWED_NETWORKS = "scrape-me", LOOPBACK
        client = Client(REMOTE_ADDR="192.0.2.10")

        assert client.get("/metrics").status_code == 403
        assert client.get("/metrics", HTTP_AUTHORIZATION="bearer scrape-me").status_code == 200


# ---------------------------------------------------------------------------------------------
# what they say


@pytest.mark.django_db
def test_the_latency_histogram_counts_requests_by_route_method_and_status_class(open_locally):
    route = ("route", "accounts/login/")
    key = ("countersign_http_request_duration_seconds_count",
           (("method", "GET"), route, ("status", "2xx")))  # fmt: skip
    not_found = ("countersign_http_request_duration_seconds_count",
                 (("method", "GET"), ("route", "<unresolved>"), ("status", "4xx")))  # fmt: skip
    static = ("countersign_http_request_duration_seconds_count",
              (("method", "GET"), ("route", "<static>"), ("status", "2xx")))  # fmt: skip
    before = scrape()
    client = Client()

    for _ in range(3):
        client.get("/accounts/login/")
    client.get("/no/such/page/")
    client.get("/static/countersign/app.css")
    after = scrape()

    assert after[key] - before.get(key, 0) == 3
    assert after[not_found] - before.get(not_found, 0) == 1
    assert after[static] - before.get(static, 0) == 1
    # Probes and scrapes are not requests of the product: no entries of their own.
    assert not [k for k in after if ("route", "metrics") in k[1] or ("route", "healthz") in k[1]]


@pytest.mark.django_db
def test_the_business_figures_count_the_world_as_it_is(open_locally, demo, agent):
    from approvals.services import action_submit
    from approvals.services.execution import action_execute
    from approvals.services.sweeps import actions_enforce_sla
    from audit.chain import audit_seal
    from audit.models import AuditEvent
    from escalations.models import Escalation
    from escalations.services.sweeps import cases_enforce_sla
    from tests.approvals.conftest import refund_params

    def submit(amount):
        return action_submit(
            agent=agent.agent, action_type="refund.issue", params=refund_params(amount)
        ).action

    cache.clear()
    with frozen() as clock:
        submit(6000)  # over 50.00: waits for a supervisor in Refunds
        clock.shift(timedelta(seconds=90))
        submit(7000)
        escalated = submit(60000)  # over 500.00: an escalation case
        small = submit(2000)  # within the limit: executes without a person
        action_execute(action_id=small.pk)
        clock.shift(timedelta(seconds=30))
        audit_seal()  # the counters read the sealed chain (beat seals every second)

        now = scrape()

        tier = Escalation.objects.get(action=escalated).tier.key
        assert figure(now, "countersign_actions_waiting", queue="Refunds", status="pending") == 2
        assert figure(now, "countersign_actions_waiting", queue="General", status="pending") == 0
        assert figure(now, "countersign_actions_oldest_waiting_age_seconds", queue="Refunds") == 120
        assert figure(now, "countersign_actions_oldest_waiting_age_seconds", queue="General") == 0
        assert figure(now, "countersign_actions_sla_overdue", queue="Refunds") == 0
        cases = "countersign_escalations_unresolved"
        assert figure(now, cases, tier=tier, status="open", breached="false") == 1
        assert figure(now, "countersign_executions_total", outcome="succeeded") == 1
        assert figure(now, "countersign_executions_total", outcome="failed") == 0
        assert figure(now, "countersign_audit_appends_total") == AuditEvent.objects.count()
        assert figure(now, "countersign_business_metrics_up") == 1

        # Past the refunds' SLA (4 hours), before the sweep: overdue; after it: breaches.
        clock.shift(timedelta(hours=5))
        overdue = scrape()
        moved = actions_enforce_sla()
        case_moves = cases_enforce_sla()
        audit_seal()
        swept = scrape()

    assert figure(overdue, "countersign_actions_sla_overdue", queue="Refunds") == 2
    breaches = {k[1]: v for k, v in swept.items() if k[0] == "countersign_sla_breaches_total"}
    expected = {(("object", "action"), ("outcome", o)): moved[o]
                for o in ("expired", "rejected", "escalated")}  # fmt: skip
    expected[(("object", "case"), ("outcome", "next_tier"))] = case_moves["tier_moves"]
    expected[(("object", "case"), ("outcome", "breached"))] = case_moves["breached"]
    assert breaches == expected
    assert sum(moved[o] for o in ("expired", "rejected", "escalated")) == 2
    assert figure(swept, "countersign_actions_waiting", queue="Refunds", status="pending") == 0
    # The counters went on from the cached totals; counted afresh, they are the same.
    cache.clear()
    assert business(scrape()) == business(swept)


def business(figures: dict) -> dict:
    return {k: v for k, v in figures.items() if not k[0].startswith("countersign_http_")}


# A process that answers some submissions, then (when asked) serves a scrape.
OBSERVE_THEN_SCRAPE = """
import django, sys
django.setup()
from prometheus_client import generate_latest
from config.metrics import request_observe, scrape_registry
for _ in range(int(sys.argv[1])):
    request_observe(route="api/v1/actions/", method="POST", status=201, seconds=0.02)
if sys.argv[2] == "scrape":
    print(generate_latest(scrape_registry()).decode())
"""


@pytest.mark.django_db
def test_in_multiprocess_mode_a_scrape_sums_what_every_process_recorded(tmp_path):
    """As under gunicorn's workers: each process writes its figures to PROMETHEUS_MULTIPROC_DIR,
    a scrape in any process reads them all."""
    import subprocess
    import sys

    from django.db import connection

    from tests.conftest import ROOT, _process_env

    env = _process_env(connection.settings_dict["NAME"])
    env.update(PROMETHEUS_MULTIPROC_DIR=str(tmp_path), DJANGO_SETTINGS_MODULE="config.settings")
    subprocess.run(
        [sys.executable, "-c", OBSERVE_THEN_SCRAPE, "3", "-"], env=env, cwd=ROOT, check=True
    )

    out = subprocess.run(
        [sys.executable, "-c", OBSERVE_THEN_SCRAPE, "4", "scrape"], env=env, cwd=ROOT,
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip

    figures = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(out)
        for s in family.samples
    }
    labels = (("method", "POST"), ("route", "api/v1/actions/"), ("status", "2xx"))
    assert figures[("countersign_http_request_duration_seconds_count", labels)] == 7
    assert figures[("countersign_business_metrics_up", ())] == 1
