"""The rulebook's case questions as literal tables: who (relation to the case) x what (question)."""

from __future__ import annotations

import pytest

from approvals import rulebook
from approvals.rulebook import CaseFacts, Person, TierFacts
from config.errors import Code

L1 = TierFacts(key="l1-lead", handler_group="l1-lead")
BY_QUEUE = TierFacts(key="billing", handler_queue="Billing")
ME, OTHER, AGENT = 7, 8, 99

PEOPLE = {
    "handler": Person(user_id=ME, roles=frozenset({"l1-lead", "supervisor"})),
    "queue member": Person(user_id=ME, queues=frozenset({"Billing"})),
    "other tier": Person(user_id=ME, roles=frozenset({"l2-specialist"})),
    "auditor": Person(user_id=ME, roles=frozenset({"auditor"})),
    "superuser": Person(user_id=ME, is_superuser=True),
    "operator": Person(
        user_id=ME, roles=frozenset({"l1-lead"}), operated_agent_ids=frozenset({AGENT})
    ),
    "anonymous": Person(user_id=None),
}


def case(status="open", tier=L1, **kw) -> CaseFacts:
    return CaseFacts(status=status, tier=tier, agent_id=AGENT, **kw)


QUESTIONS = {
    "see": rulebook.may_see_case,
    "acknowledge": rulebook.may_acknowledge_case,
    "reassign": rulebook.may_reassign_case,
    "resolve": rulebook.may_resolve_case,
}
OK = None
# who -> (see, acknowledge, reassign, resolve) about an open L1 case
BY_WHO = {
    "handler": (OK, OK, OK, OK),
    "other tier": (Code.CASE_NOT_FOUND,) * 4,
    "auditor": (OK, Code.MISSING_ROLE, Code.MISSING_ROLE, Code.MISSING_ROLE),
    "superuser": (OK, OK, OK, OK),
    "operator": (OK, Code.OWN_REQUEST, Code.OWN_REQUEST, Code.OWN_REQUEST),
    "anonymous": (Code.CASE_NOT_FOUND,) * 4,
}
# the handler, about an L1 case in each state -> (see, acknowledge, reassign, resolve)
BY_STATE = {
    "open": (case(), (OK, OK, OK, OK)),
    "acknowledged by me": (
        case("acknowledged", acknowledged_by_id=ME),
        (OK, Code.ILLEGAL_CASE_MOVE, OK, OK),
    ),
    "acknowledged by another": (
        case("acknowledged", acknowledged_by_id=OTHER, acknowledged_by_name="bob"),
        (OK, Code.ILLEGAL_CASE_MOVE, OK, Code.CASE_ACKNOWLEDGED_BY_OTHER),
    ),
    "given to another": (
        case(assignee_id=OTHER),
        (OK, Code.CASE_ACKNOWLEDGED_BY_OTHER, OK, Code.CASE_ACKNOWLEDGED_BY_OTHER),
    ),
    "resolved": (
        case("resolved"),
        (OK, Code.ILLEGAL_CASE_MOVE, Code.ILLEGAL_CASE_MOVE, Code.ILLEGAL_CASE_MOVE),
    ),
}


def codes(person, facts) -> tuple:
    return tuple(QUESTIONS[q](person, facts).code for q in QUESTIONS)


@pytest.mark.parametrize("who", list(BY_WHO))
def test_who_may_do_what_to_an_open_case(who):
    assert codes(PEOPLE[who], case()) == BY_WHO[who]


@pytest.mark.parametrize("state", list(BY_STATE))
def test_what_a_handler_may_do_in_each_state(state):
    facts, expected = BY_STATE[state]
    assert codes(PEOPLE["handler"], facts) == expected


def test_a_tier_handled_by_a_queue_is_worked_by_that_queues_members():
    assert codes(PEOPLE["queue member"], case(tier=BY_QUEUE)) == (OK, OK, OK, OK)
    assert codes(PEOPLE["handler"], case(tier=BY_QUEUE))[0] == Code.CASE_NOT_FOUND


def test_the_person_a_case_was_given_to_works_it_without_handling_the_tier():
    given = Person(user_id=ME, roles=frozenset({"l2-specialist"}))
    assert codes(given, case(assignee_id=ME)) == (OK, OK, OK, OK)
