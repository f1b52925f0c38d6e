"""The rulebook's answers, table by table: status, role, relation to the action, queue membership.

Every case builds a `Person` and `Facts` by hand (the rulebook is pure), asks one question and
compares the refusal's code with the table; `None` is allowed. The tables are written out, not
derived from the code they test, so a change of any rule fails a row here.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from approvals import rulebook
from approvals.models import Status
from approvals.rulebook import Facts, Person
from config.errors import Code
from people.roles import Role

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
ME, OTHER, AGENT = 7, 8, 42
S = Status
C = Code

ILLEGAL = C.ILLEGAL_TRANSITION


def person(*roles: str, superuser: bool = False, queues=frozenset({"General"}), operates=()):
    return Person(
        user_id=ME,
        is_superuser=superuser,
        roles=frozenset(roles),
        queues=queues,
        operated_agent_ids=frozenset(operates),
    )


def facts(status: str = S.PENDING, **changes) -> Facts:
    base = {
        "status": status,
        "approver_role": "supervisor",
        "queue": "",
        "agent_id": AGENT,
        "now": NOW,
        "approver_ids": frozenset(),
        "action_type": "refund.issue",
        "rollback_deadline": NOW + timedelta(hours=1),
        "rollback_window_seconds": 7200,
    }
    return Facts(**{**base, **changes})


def claimed_by(holder: int) -> dict:
    return {
        "claim_holder_id": holder,
        "claim_holder_name": "alice" if holder == ME else "bob",
        "claim_expires_at": NOW + timedelta(minutes=5),
    }


QUESTIONS = {
    "approve": lambda p, f: rulebook.may_approve(p, f),
    "reject": lambda p, f: rulebook.may_reject(p, f),
    "edit": lambda p, f: rulebook.may_edit(p, f),
    "adopt": lambda p, f: rulebook.may_adopt(p, f),
    "dismiss": lambda p, f: rulebook.may_dismiss(p, f),
    "claim": lambda p, f: rulebook.may_claim(p, f),
    "roll_back": lambda p, f: rulebook.may_roll_back(p, f),
    "reconcile": lambda p, f: rulebook.may_reconcile(p, f, target=S.SUCCEEDED),
}


def ask(question: str, p: Person, f: Facts) -> Code | None:
    return QUESTIONS[question](p, f).code


# ------------------------------------------------------------------------------- status table
# A supervisor of the action's queue, no relation to it, asked about each status.

NA, NP, NW = C.NOT_A_DRAFT, C.NOT_A_PROPOSAL, C.NOT_AWAITING
CONFLICT = C.CONFLICT  # "not awaiting approval": the move exists, but only from pending
MISSING = C.MISSING_ROLE
#                      approve   reject   edit  adopt dismiss claim roll_back reconcile
STATUS_TABLE = {
    S.SUBMITTED:       (CONFLICT, ILLEGAL, NA,   NP,   NP,     NW,   ILLEGAL,  ILLEGAL),
    S.BLOCKED:         (ILLEGAL,  ILLEGAL, NA,   NP,   NP,     NW,   ILLEGAL,  ILLEGAL),
    S.RECOMMENDED:     (CONFLICT, ILLEGAL, NA,   None, None,   None, ILLEGAL,  ILLEGAL),
    S.DRAFTED:         (CONFLICT, ILLEGAL, None, None, None,   None, ILLEGAL,  ILLEGAL),
    S.PENDING:         (None,     None,    None, NP,   NP,     None, ILLEGAL,  ILLEGAL),
    S.APPROVED:        (ILLEGAL,  ILLEGAL, NA,   NP,   NP,     NW,   ILLEGAL,  ILLEGAL),
    S.REJECTED:        (ILLEGAL,  ILLEGAL, NA,   NP,   NP,     NW,   ILLEGAL,  ILLEGAL),
    S.EXPIRED:         (ILLEGAL,  ILLEGAL, NA,   NP,   NP,     NW,   ILLEGAL,  ILLEGAL),
    S.CANCELLED:       (ILLEGAL,  ILLEGAL, NA,   NP,   NP,     NW,   ILLEGAL,  ILLEGAL),
    S.ESCALATED:       (CONFLICT, CONFLICT, NA,  NP,   NP,     NW,   ILLEGAL,  ILLEGAL),
    S.DISMISSED:       (ILLEGAL,  ILLEGAL, NA,   NP,   NP,     NW,   ILLEGAL,  ILLEGAL),
    S.EXECUTING:       (ILLEGAL,  ILLEGAL, NA,   NP,   NP,     NW,   ILLEGAL,  ILLEGAL),
    S.SUCCEEDED:       (ILLEGAL,  ILLEGAL, NA,   NP,   NP,     NW,   None,     ILLEGAL),
    S.FAILED:          (ILLEGAL,  ILLEGAL, NA,   NP,   NP,     NW,   ILLEGAL,  ILLEGAL),
    S.NEEDS_RECONCILIATION: (ILLEGAL, ILLEGAL, NA, NP, NP,     NW,   ILLEGAL,  MISSING),
    S.ROLLING_BACK:    (ILLEGAL,  ILLEGAL, NA,   NP,   NP,     NW,   ILLEGAL,  ILLEGAL),
    S.ROLLED_BACK:     (ILLEGAL,  ILLEGAL, NA,   NP,   NP,     NW,   ILLEGAL,  ILLEGAL),
    S.ROLLBACK_FAILED: (ILLEGAL,  ILLEGAL, NA,   NP,   NP,     NW,   ILLEGAL,  ILLEGAL),
}  # fmt: skip


def test_the_status_table_covers_every_status():
    assert set(STATUS_TABLE) == set(Status)


@pytest.mark.parametrize("status", list(STATUS_TABLE))
@pytest.mark.parametrize("question", list(QUESTIONS))
def test_a_supervisor_is_answered_by_the_status_table(status, question):
    expected = STATUS_TABLE[status][list(QUESTIONS).index(question)]

    assert ask(question, person("supervisor"), facts(status)) == expected


# -------------------------------------------------------------------------------- role table
# Each role asked about a pending action for supervisors (and the reconcile of an unknown outcome).

NO_TAKEOVER = C.TAKEOVER_NEEDS_SENIOR
#                               approve  claim    take_over    reconcile  reset_breaker  dashboard
ROLE_TABLE = {
    "nobody":                  (MISSING, MISSING, NO_TAKEOVER, MISSING,   MISSING,       False),
    "supervisor":              (None,    None,    NO_TAKEOVER, MISSING,   None,          True),
    "senior_supervisor":       (None,    None,    None,        None,      None,          True),
    "qa_reviewer":             (MISSING, MISSING, NO_TAKEOVER, MISSING,   MISSING,       False),
    "policy_admin":            (MISSING, MISSING, NO_TAKEOVER, MISSING,   MISSING,       False),
    "auditor":                 (MISSING, MISSING, NO_TAKEOVER, MISSING,   MISSING,       False),
    "superuser":               (None,    None,    None,        None,      None,          True),
}  # fmt: skip


def _of_role(role: str) -> Person:
    if role == "superuser":
        return person(superuser=True)
    if role == "nobody":
        return person()
    return person(*Role.held([role]))


@pytest.mark.parametrize("role", list(ROLE_TABLE))
def test_each_role_is_answered_by_the_role_table(role):
    p = _of_role(role)
    approve, claim, take_over, reconcile, reset, dashboard = ROLE_TABLE[role]

    assert ask("approve", p, facts()) == approve
    assert ask("claim", p, facts()) == claim
    assert rulebook.may_take_over(p).code == take_over
    assert ask("reconcile", p, facts(S.NEEDS_RECONCILIATION)) == reconcile
    assert rulebook.may_reset_breaker(p).code == reset
    assert rulebook.may_use_dashboard(p) is dashboard


@pytest.mark.parametrize(
    ("role", "expected"),
    [("supervisor", MISSING), ("senior_supervisor", None), ("superuser", None)],
)
def test_an_action_for_seniors_is_decided_by_seniors_and_claimed_by_them(role, expected):
    f = facts(approver_role="senior_supervisor")

    assert ask("approve", _of_role(role), f) == expected
    assert ask("claim", _of_role(role), f) == expected


def test_a_senior_may_claim_an_action_whose_role_they_lack_but_not_decide_it():
    senior = _of_role("senior_supervisor")
    f = facts(approver_role="finance_lead")

    assert ask("claim", senior, f) is None
    assert ask("approve", senior, f) == MISSING


# ---------------------------------------------------------------------------- relation table
# A supervisor's relation to a pending action: the answers it changes.

OWN, TWICE, HELD = C.OWN_REQUEST, C.ALREADY_APPROVED, C.CLAIMED_BY_OTHER
#                        approve  reject  claim  claim_held
RELATION_TABLE = {
    "none":             (None,    None,   None,  None),
    "operates_agent":   (OWN,     OWN,    OWN,   None),
    "approved_before":  (TWICE,   None,   None,  None),
    "edited_it":        (TWICE,   None,   None,  None),
    "holds_the_claim":  (None,    None,   None,  None),
    "other_holds_it":   (HELD,    HELD,   None,  HELD),
}  # fmt: skip


def _related(relation: str) -> tuple[Person, Facts]:
    p, f = person("supervisor"), facts()
    if relation == "operates_agent":
        p = person("supervisor", operates=[AGENT])
    elif relation == "approved_before":
        f = facts(approver_ids=frozenset({ME}))
    elif relation == "edited_it":
        # Editing a pending action records the editor's approval with the edit.
        f = facts(approver_ids=frozenset({ME}), editor_ids=frozenset({ME}))
    elif relation == "holds_the_claim":
        f = facts(**claimed_by(ME))
    elif relation == "other_holds_it":
        f = facts(**claimed_by(OTHER))
    return p, f


@pytest.mark.parametrize("relation", list(RELATION_TABLE))
def test_each_relation_is_answered_by_the_relation_table(relation):
    p, f = _related(relation)
    approve, reject, claim, claim_held = RELATION_TABLE[relation]

    assert ask("approve", p, f) == approve
    assert ask("reject", p, f) == reject
    assert ask("claim", p, f) == claim
    assert rulebook.may_claim_held(p, f, takeover_reason="").code == claim_held


@pytest.mark.parametrize(
    ("role", "reason", "expected"),
    [
        ("supervisor", "", C.CLAIMED_BY_OTHER),
        ("supervisor", "covering", NO_TAKEOVER),
        ("senior_supervisor", "", C.CLAIMED_BY_OTHER),
        ("senior_supervisor", "covering", None),
    ],
)
def test_only_a_senior_with_a_reason_takes_over_a_claim(role, reason, expected):
    f = facts(**claimed_by(OTHER))

    assert rulebook.may_claim_held(_of_role(role), f, takeover_reason=reason).code == expected


def test_someone_elses_claim_is_refused_with_who_holds_it_and_until_when():
    answer = rulebook.may_approve(person("supervisor"), facts(**claimed_by(OTHER)))

    assert answer.error.details == {
        "claimed_by": "bob",
        "claim_expires_at": (NOW + timedelta(minutes=5)).isoformat(),
    }


# ------------------------------------------------------------------------------- queue table


@pytest.mark.parametrize(
    ("queues", "action_queue", "expected"),
    [
        (frozenset({"General"}), "", None),  # "" is the default queue
        (frozenset({"General"}), "General", None),
        (frozenset({"General"}), "Billing", C.ACTION_NOT_FOUND),
        (frozenset(), "", C.ACTION_NOT_FOUND),
        (frozenset({"Billing"}), "Billing", None),
        (None, "Anything", None),  # superusers: every queue
    ],
)
def test_people_see_the_actions_of_their_queues_only(queues, action_queue, expected):
    p = person("supervisor", queues=queues)

    assert rulebook.may_see(p, facts(queue=action_queue)).code == expected


# ---------------------------------------------------------------------------- rollback table


@pytest.mark.parametrize(
    ("not_compensable", "deadline", "expected"),
    [
        ("", NOW + timedelta(seconds=1), None),
        ("", NOW - timedelta(seconds=1), C.ROLLBACK_WINDOW_CLOSED),
        ("", None, C.ROLLBACK_WINDOW_CLOSED),
        ("A credentials reset cannot be undone.", NOW + timedelta(hours=1), C.NOT_COMPENSABLE),
    ],
)
def test_a_rollback_needs_a_compensable_type_within_its_window(not_compensable, deadline, expected):
    f = facts(S.SUCCEEDED, not_compensable=not_compensable, rollback_deadline=deadline)

    assert ask("roll_back", person("supervisor"), f) == expected


def test_an_action_no_role_may_decide_is_left_to_superusers():
    f = facts(approver_role="")

    assert ask("approve", _of_role("senior_supervisor"), f) == MISSING
    assert ask("approve", _of_role("superuser"), f) is None


def test_an_agent_cancels_only_its_own_pending_action():
    assert rulebook.may_cancel(AGENT, facts()).code is None
    assert rulebook.may_cancel(AGENT + 1, facts()).code == C.ACTION_NOT_FOUND
    assert rulebook.may_cancel(AGENT, facts(S.APPROVED)).code == ILLEGAL


# ------------------------------------------------------------------- what the dashboard reads


def test_the_dashboard_grants_say_which_roles_the_viewer_decides_and_whose_requests_are_theirs():
    grants = rulebook.dashboard_grants(person("supervisor", operates=[AGENT]))

    assert grants == {
        "decides_any": False,
        "decides_for": ["supervisor"],
        "own_agents": [AGENT],
        "awaiting": ["drafted", "pending", "recommended"],
        "escalates": ["pending"],
    }


def test_a_senior_decides_for_supervisors_too_and_a_superuser_for_any_role():
    assert rulebook.dashboard_grants(_of_role("senior_supervisor"))["decides_for"] == [
        "senior_supervisor",
        "supervisor",
    ]
    assert rulebook.dashboard_grants(_of_role("superuser"))["decides_any"] is True


# ------------------------------------------------------------------ escalating and the workspace

L1 = rulebook.TierFacts(key="l1-lead", handler_group="l1-lead")
DESK = rulebook.TierFacts(key="desk", handler_queue="Escalations")


@pytest.mark.parametrize(
    ("who", "expected"),
    [
        (person("supervisor"), False),
        (person("supervisor", "l1-lead"), True),
        (person("supervisor", queues=frozenset({"Escalations"})), True),
        (person("auditor", queues=frozenset()), True),
        (person(superuser=True, queues=None), True),
        (Person(user_id=None), False),
    ],
    ids=["plain", "l1-handler", "queue-handler", "auditor", "superuser", "anonymous"],
)
def test_the_workspace_is_for_handlers_of_a_tier_auditors_and_superusers(who, expected):
    assert rulebook.may_use_escalations(who, [L1, DESK]) is expected


def test_only_superusers_and_auditors_read_every_tier():
    assert rulebook.may_see_every_case(person("auditor"))
    assert rulebook.may_see_every_case(person(superuser=True))
    assert not rulebook.may_see_every_case(person("supervisor", "l1-lead"))


@pytest.mark.parametrize(
    ("status", "expected"),
    [(S.PENDING, None), (S.DRAFTED, ILLEGAL), (S.ESCALATED, ILLEGAL), (S.APPROVED, ILLEGAL)],
)
def test_a_reviewer_escalates_only_a_pending_action(status, expected):
    assert rulebook.may_escalate(person("supervisor"), facts(status)).code == expected


def test_escalating_asks_what_deciding_asks():
    assert rulebook.may_escalate(person("qa_reviewer"), facts()).code == C.MISSING_ROLE
    own = person("supervisor", operates=[AGENT])
    assert rulebook.may_escalate(own, facts()).code == C.OWN_REQUEST
    assert rulebook.may_escalate(person("supervisor"), facts(**claimed_by(OTHER))).code == (
        C.CLAIMED_BY_OTHER
    )


def test_the_affordances_answer_escalating():
    may = rulebook.affordances(person("supervisor"), facts())

    assert may["escalate"] == {"allowed": True, "code": None}
