"""GET /api/v1/qa/metrics/: the scorecards' figures as JSON, for the people who read them."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from qa import metrics
from tests.qa.scorecard_history import WEEK

API = "/api/v1/qa/metrics/"


def signed_in(user) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


@pytest.fixture
def auditor(history, make_qa_person):
    return signed_in(make_qa_person("audrey", role="auditor"))


def test_the_api_answers_the_same_figures_as_the_selector(auditor):
    # Arrange
    cards = metrics.scorecards(weeks=4, group_by="agent")

    # Act
    response = auditor.get(API, {"period": "week", "group_by": "agent", "weeks": 4})

    # Assert
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["period"], body["group_by"]) == ("week", "agent")
    assert body["weeks"] == [week.isoformat() for week in cards.window.weeks]
    assert body["groups"] == ["billing-bot", "support-bot"]
    assert body["overall"]["window"] == metrics.figures_as_dict(cards.figures(None))
    for series in body["by_group"]:
        for cell in series["weeks"]:
            week = cell["week"]
            expected = metrics.figures_as_dict(cards.figures(
                next(w for w in cards.window.weeks if w.isoformat() == week), series["group"]
            ))  # fmt: skip
            assert cell["figures"] == expected


def test_figures_carry_their_counts_and_money_its_minor_units(auditor):
    body = auditor.get(API).json()

    latest = body["overall"]["weeks"][-1]
    assert latest["week"] == WEEK.isoformat()
    figures = latest["figures"]
    assert figures["override_rate"] == {"value": 0.25, "numerator": 1, "denominator": 4}
    assert figures["money_leak"] == {
        "EUR": {"value": 3000, "numerator": 1, "denominator": 1},
        "USD": {"value": 9000, "numerator": 2, "denominator": 4},
    }
    assert figures["time_to_decision_p90"] == {"value": 510.0, "numerator": None, "denominator": 4}
    assert body["by_group"] == []


def test_per_reviewer_only_the_figures_from_reviews_are_given(auditor):
    body = auditor.get(API, {"group_by": "reviewer"}).json()

    rob = next(s for s in body["by_group"] if s["group"] == "rob")["weeks"][-1]["figures"]
    assert rob["action_accuracy"] == {"value": 0.0, "numerator": 0, "denominator": 1}
    assert rob["override_rate"] is None and rob["money_leak"] is None


@pytest.mark.parametrize(
    "params, code",
    [
        ({"period": "month"}, "invalid_period"),
        ({"group_by": "customer"}, "invalid_group_by"),
        ({"weeks": "60"}, "invalid_input"),
    ],
)
def test_bad_parameters_answer_400_in_the_error_shape(auditor, params, code):
    response = auditor.get(API, params)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == code


def test_supervisors_agents_and_strangers_are_refused(history, agent):
    supervisor = signed_in(history.people["alice"]).get(API)
    by_agent = agent.client().get(API)
    anonymous = APIClient().get(API)

    assert (supervisor.status_code, supervisor.json()["error"]["code"]) == (403, "missing_role")
    assert "auditor" in supervisor.json()["error"]["details"]["roles"]
    assert by_agent.status_code == 403
    assert anonymous.status_code == 401
