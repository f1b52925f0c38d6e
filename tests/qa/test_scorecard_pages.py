"""/qa/scorecards/ and its drill-down: who reads them, what they show, their CSV exports, and
bad filters answered with a 400 page."""

from __future__ import annotations

import csv
import io
import re

import pytest
from django.test import Client

from qa import metrics
from tests.qa.scorecard_history import WEEK

PAGE = "/qa/scorecards/"
DRILL = "/qa/scorecards/actions/"


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def reader(history):
    return signed_in(history.people["rita"])


def csv_of(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(response.content.decode())))


@pytest.mark.parametrize("role", ["qa_reviewer", "auditor", "policy_admin", "qa_lead"])
def test_the_page_is_for_qa_auditors_and_policy_admins(history, make_qa_person, role):
    client = signed_in(make_qa_person(f"reader-{role}", role=role))

    response = client.get(PAGE)

    assert response.status_code == 200
    assert "Override rate" in response.content.decode()


def test_a_plain_supervisor_gets_the_403_page_and_a_stranger_the_login_page(history):
    supervisor = signed_in(history.people["alice"])

    refused = supervisor.get(PAGE)
    anonymous = Client().get(PAGE)
    drill = Client().get(f"{DRILL}?metric=csat")

    assert refused.status_code == 403
    assert "Not for this account" in refused.content.decode()
    assert anonymous.status_code == 302 and anonymous["Location"].startswith("/accounts/login/")
    assert drill.status_code == 302


def test_the_page_charts_every_figure_and_links_every_figure_to_its_actions(reader):
    response = reader.get(PAGE, {"group_by": "agent"})

    html = response.content.decode()
    assert html.count("<svg") == len(metrics.METRICS) - 1 + 2  # money: one chart per currency
    assert 'id="qa-suggestions" hx-get="/qa/suggestions/?weeks=12" hx-trigger="load"' in html
    latest = html[html.index('id="scorecard-latest"') : html.index('id="scorecard-window"')]
    links = re.findall(r'href="(/qa/scorecards/actions/\?[^"]+)"', latest)
    # overall, billing-bot, support-bot rows; a column per figure, money in USD and EUR
    assert len(links) == 3 * (len(metrics.METRICS) + 1)
    assert (
        "/qa/scorecards/actions/?metric=override_rate&amp;week=2025-03-10&amp;group_by=agent"
        "&amp;group=support-bot"
    ) in latest
    assert "33.3 % (1 / 3)" in latest  # support-bot's override rate, with what it counts


def test_per_reviewer_the_figures_not_from_reviews_are_not_links(reader):
    html = reader.get(PAGE, {"group_by": "reviewer"}).content.decode()

    assert "not per reviewer" in html
    assert "group_by=reviewer&amp;group=rob" in html
    assert "metric=override_rate&amp;week=2025-03-10&amp;group_by=reviewer" not in html


@pytest.mark.parametrize(
    "params",
    [
        {"weeks": "abc"},
        {"weeks": "53"},
        {"group_by": "customer"},
        {"format": "pdf"},
        {"format": "csv", "table": "secret"},
    ],
)
def test_bad_filters_answer_400_with_a_message(reader, params):
    response = reader.get(PAGE, params)

    assert response.status_code == 400
    assert 'id="scorecard-error"' in response.content.decode()


def test_a_table_exports_to_csv_with_each_figures_counts(reader):
    response = reader.get(PAGE, {"group_by": "agent", "format": "csv", "table": "latest"})

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"] == (
        'attachment; filename="countersign-scorecards-latest-agent-12w-2025-03-10.csv"'
    )
    header, *rows = csv_of(response)
    assert header[:4] == ["Agent", "override_rate", "override_rate_numerator",
                          "override_rate_denominator"]  # fmt: skip
    assert [row[0] for row in rows] == ["Overall", "billing-bot", "support-bot"]
    support = dict(zip(header, rows[2], strict=True))
    assert (support["override_rate_numerator"], support["override_rate_denominator"]) == ("1", "3")
    assert support["money_leak_USD"] == "2000"


def test_csv_cells_that_look_like_formulas_are_quoted(reader, resolution):
    resolution(rule_name='=HYPERLINK("http://evil")')
    resolution(rule_name="@SUM(1)")

    response = reader.get(PAGE, {"group_by": "rule", "format": "csv", "table": "window"})

    labels = [row[0] for row in csv_of(response)[1:]]
    assert '\'=HYPERLINK("http://evil")' in labels and "'@SUM(1)" in labels
    assert not any(label.startswith(("=", "@", "+", "-")) for label in labels)


def test_the_drill_down_lists_the_counted_actions_with_the_numerator_marked(reader, history):
    a = history.actions

    response = reader.get(DRILL, {"metric": "money_leak", "week": WEEK.isoformat()})

    html = response.content.decode()
    assert response.status_code == 200
    listed = re.findall(r'<tr id="action-([0-9a-f-]+)"( class="in-numerator")?', html)
    assert {pk for pk, _ in listed} == {str(a[n].pk) for n in ("a1", "a2", "a3", "a4", "a6")}
    assert {pk for pk, marked in listed if marked} == {str(a[n].pk) for n in ("a3", "a4", "a6")}
    # A QA reviewer may not open the queue's action page: the id is shown, not linked there.
    assert f'href="/actions/{a["a3"].pk}/"' not in html
    assert f"<code>{str(a['a3'].pk)[:8]}</code>" in html
    assert re.search(r'id="drill-numerator">3<.*id="drill-total">5<', html)


def test_the_drill_down_links_actions_to_their_page_for_people_who_work_the_queue(
    history, make_supervisor
):
    senior = signed_in(make_supervisor("sena", role="senior_supervisor"))

    html = senior.get(DRILL, {"metric": "money_leak", "week": WEEK.isoformat()}).content.decode()

    assert f'href="/actions/{history.actions["a3"].pk}/"' in html


def test_the_drill_down_exports_to_csv(reader, history):
    params = {"metric": "override_rate", "week": WEEK.isoformat(), "group_by": "agent",
              "group": "support-bot", "format": "csv"}  # fmt: skip

    response = reader.get(DRILL, params)

    assert response["Content-Disposition"] == (
        'attachment; filename="countersign-override_rate-2025-03-10-agent.csv"'
    )
    header, *rows = csv_of(response)
    marked = {row[0]: row[header.index("in_numerator")] for row in rows}
    a = history.actions
    assert marked == {str(a["a1"].pk): "False", str(a["a2"].pk): "True", str(a["a4"].pk): "False"}


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"metric": "deflection"},
        {"metric": "csat", "week": "yesterday"},
        {"metric": "override_rate", "group_by": "reviewer", "group": "rob"},
    ],
)
def test_bad_drill_downs_answer_400_with_a_message(reader, params):
    response = reader.get(DRILL, params)

    assert response.status_code == 400
    assert 'id="scorecard-error"' in response.content.decode()
