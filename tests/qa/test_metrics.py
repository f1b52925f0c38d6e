"""The scorecards' figures against a hand-built week (see `scorecard_history`): every value with
its numerator and denominator, overall and per group, and the actions each figure counts."""

from __future__ import annotations

import pytest

from config.errors import Code, InvalidInput
from qa import metrics
from qa.metrics import Figure
from tests.clock import frozen
from tests.qa.scorecard_history import AT, PREVIOUS_WEEK, WEEK


def test_the_weeks_figures_overall(history):
    # Act
    figures = metrics.scorecards().figures(WEEK)

    # Assert
    assert figures["override_rate"] == Figure(1 / 4, 1, 4)
    # a1, a2 (overturned), a4 rita, a5, a6 (amended) right; a4 rob wrong; rob's calibration out.
    assert figures["action_accuracy"] == Figure(5 / 6, 5, 6)
    assert figures["rollback_rate"] == Figure(1 / 6, 1, 6)
    assert figures["escalation_rate"] == Figure(1 / 6, 1, 6)
    assert figures["escalation_quality"] == Figure(1.0, 1, 1)
    # Decisions took 60, 300, 300 and 600 seconds.
    assert figures["time_to_decision_p50"] == Figure(300.0, None, 4)
    assert figures["time_to_decision_p90"] == Figure(510.0, None, 4)
    assert figures["rubber_stamp_rate"] == Figure(1 / 4, 1, 4)
    assert figures["recontact_rate"] == Figure(1 / 4, 1, 4)
    assert figures["csat"] == Figure(10 / 3, 10, 3)


def test_money_leaks_per_currency_counting_each_refund_once(history):
    figures = metrics.scorecards().figures(WEEK)

    # a4 was judged wrong and charged back: its 20.00 counts once; a6 was charged back; a3 rolled
    # back; a2's wrong verdict was overturned.
    assert figures["money_leak"] == {
        "USD": Figure(2000 + 7000, 2, 4),
        "EUR": Figure(3000, 1, 1),
    }


def test_the_week_before_and_the_whole_window(history):
    cards = metrics.scorecards()

    before, window = cards.figures(PREVIOUS_WEEK), cards.figures(None)

    assert cards.window.weeks[-2:] == (PREVIOUS_WEEK, WEEK)
    assert len(cards.window.weeks) == metrics.WEEKS_DEFAULT
    assert before["override_rate"] == Figure(0.0, 0, 1)
    assert before["action_accuracy"] == Figure(None, 0, 0)
    assert before["money_leak"] == {"USD": Figure(0, 0, 1)}
    assert window["override_rate"] == Figure(1 / 5, 1, 5)
    assert window["money_leak"]["USD"] == Figure(9000, 2, 5)
    assert cards.series("override_rate")[-2:] == [Figure(0.0, 0, 1), Figure(1 / 4, 1, 4)]


def test_figures_per_agent(history):
    cards = metrics.scorecards(group_by="agent")

    support, billing = cards.figures(WEEK, "support-bot"), cards.figures(WEEK, "billing-bot")

    assert cards.groups == ["billing-bot", "support-bot"]
    assert support["override_rate"] == Figure(1 / 3, 1, 3)
    assert billing["override_rate"] == Figure(0.0, 0, 1)
    assert support["action_accuracy"] == Figure(3 / 4, 3, 4)
    assert billing["action_accuracy"] == Figure(1.0, 2, 2)
    assert billing["money_leak"] == {"USD": Figure(7000, 1, 1)}
    assert billing["csat"] == Figure(4.0, 4, 1)
    assert cards.figures(WEEK) == metrics.scorecards().figures(WEEK)


def test_figures_per_rule_and_action_type(history):
    by_rule = metrics.scorecards(group_by="rule")
    by_type = metrics.scorecards(group_by="action_type")

    assert by_rule.figures(WEEK, "small-refund-executes")["rollback_rate"] == Figure(1 / 2, 1, 2)
    assert by_type.figures(WEEK, "order.cancel")["escalation_rate"] == Figure(1.0, 1, 1)
    assert by_type.figures(WEEK, "refund.issue")["escalation_rate"] == Figure(0.0, 0, 5)


def test_reviewers_get_the_figures_of_their_reviews_only(history):
    cards = metrics.scorecards(group_by="reviewer")

    rita, rob = cards.figures(WEEK, "rita"), cards.figures(WEEK, "rob")

    assert cards.groups == ["rita", "rob"]
    # rita's a2 was overturned (right), her a6 v1 is superseded; rob's calibration is not counted.
    assert rita["action_accuracy"] == Figure(1.0, 5, 5)
    assert rob["action_accuracy"] == Figure(0.0, 0, 1)
    assert rita["escalation_quality"] == Figure(1.0, 1, 1)
    assert rob["escalation_quality"] == Figure(None, 0, 0)
    assert rita["override_rate"] is None and rob["money_leak"] is None
    assert cards.figures(WEEK)["override_rate"] == Figure(1 / 4, 1, 4)


def test_an_empty_window_has_figures_of_nothing(db):
    with frozen(AT):
        figures = metrics.scorecards(weeks=1).figures(None)

    assert figures["override_rate"] == Figure(None, 0, 0)
    assert figures["time_to_decision_p50"] == Figure(None, None, 0)
    assert figures["money_leak"] == {}


@pytest.mark.parametrize(
    "check, raw, code",
    [
        (metrics.checked_weeks, "0", Code.INVALID_INPUT),
        (metrics.checked_weeks, "53", Code.INVALID_INPUT),
        (metrics.checked_weeks, "1e3", Code.INVALID_INPUT),
        (metrics.checked_group_by, "customer", Code.INVALID_GROUP_BY),
        (metrics.checked_week, "2025-03-11", Code.INVALID_INPUT),  # a Tuesday
        (metrics.checked_week, "2025-3-10", Code.INVALID_INPUT),
        (metrics.checked_week, "2999-01-07", Code.INVALID_INPUT),  # the future
    ],
)
def test_bad_filters_are_refused(db, check, raw, code):
    with frozen(AT), pytest.raises(InvalidInput) as refused:
        check(raw)

    assert refused.value.code == code


def drilled(history, **params) -> dict[str, bool | None]:
    """The counted actions by their name in the history, each with whether its numerator counts
    it."""
    from qa.metrics_drill import counted_actions, drill_query

    names = {action.pk: name for name, action in history.actions.items()}
    rows = counted_actions(drill_query(params))
    return {names[row.pk]: row.in_numerator for row in rows}


def test_the_drill_down_lists_exactly_the_actions_a_figure_counts(history):
    week = WEEK.isoformat()

    assert drilled(history, metric="override_rate", week=week) == {
        "a1": False, "a2": True, "a4": False, "a5": False,
    }  # fmt: skip
    assert drilled(history, metric="money_leak", week=week) == {
        "a1": False, "a2": False, "a3": True, "a4": True, "a6": True,
    }  # fmt: skip
    assert drilled(history, metric="rollback_rate", week=week, group_by="rule",
                   group="small-refund-executes") == {"a3": True, "a6": False}  # fmt: skip
    assert drilled(history, metric="csat", week=week, group_by="agent",
                   group="billing-bot") == {"a5": None}  # fmt: skip


def test_the_drill_down_of_a_reviewers_figure_counts_their_reviews_only(history):
    week = WEEK.isoformat()

    rob = drilled(history, metric="action_accuracy", week=week, group_by="reviewer", group="rob")
    rita = drilled(history, metric="action_accuracy", week=week, group_by="reviewer", group="rita")

    assert rob == {"a4": False}  # his calibration review of a5 does not count
    assert rita == {"a1": True, "a2": True, "a4": True, "a5": True, "a6": True}


def test_the_drill_down_of_the_window_counts_every_week(history):
    assert drilled(history, metric="override_rate") == {
        "a8": False, "a1": False, "a2": True, "a4": False, "a5": False,
    }  # fmt: skip


@pytest.mark.parametrize(
    "params, code",
    [
        ({"metric": "deflection"}, Code.INVALID_INPUT),
        ({"metric": "override_rate", "week": "2025-03-12"}, Code.INVALID_INPUT),
        ({"metric": "override_rate", "group_by": "reviewer", "group": "rob"},
         Code.INVALID_GROUP_BY),
        ({"metric": "override_rate", "group_by": "agent", "group": "x" * 151}, Code.INVALID_INPUT),
    ],
)  # fmt: skip
def test_bad_drill_downs_are_refused(db, params, code):
    from qa.metrics_drill import drill_query

    with frozen(AT), pytest.raises(InvalidInput) as refused:
        drill_query(params)

    assert refused.value.code == code
