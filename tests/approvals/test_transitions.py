"""The transition table: what it allows passes, and every other pair of statuses is refused."""

import itertools

import pytest

from approvals.models import Status
from approvals.transitions import ALLOWED, TERMINAL, IllegalTransition, check_transition

ALLOWED_PAIRS = sorted((str(a), str(b)) for a, targets in ALLOWED.items() for b in targets)
ILLEGAL_PAIRS = sorted(
    (str(a), str(b))
    for a, b in itertools.product(Status.values, Status.values)
    if (a, b) not in set(ALLOWED_PAIRS)
)


@pytest.mark.parametrize(("current", "target"), ALLOWED_PAIRS)
def test_a_change_in_the_table_is_allowed(current, target):
    check_transition(current, target)  # Act / Assert: does not raise


@pytest.mark.parametrize(("current", "target"), ILLEGAL_PAIRS)
def test_a_change_outside_the_table_is_refused_with_illegal_transition(current, target):
    with pytest.raises(IllegalTransition) as refused:
        check_transition(current, target)

    assert refused.value.code == "illegal_transition"
    assert refused.value.status_code == 409
    assert refused.value.details == {"from": current, "to": target}


def test_the_illegal_pairs_cover_every_status_pair_outside_the_table():
    assert len(ALLOWED_PAIRS) + len(ILLEGAL_PAIRS) == len(Status.values) ** 2
    # A change to the table is a deliberate act; 24 since adopting may leave a proposal pending,
    # 27 since an execution of unknown outcome waits for a person to reconcile it.
    assert len(ALLOWED_PAIRS) == 27


def test_a_terminal_status_leads_nowhere():
    for status in TERMINAL:
        assert not ALLOWED.get(status), status


def test_the_design_lifecycle_is_in_the_table():
    lifecycle = [
        (Status.SUBMITTED, Status.PENDING),
        (Status.PENDING, Status.APPROVED),
        (Status.APPROVED, Status.EXECUTING),
        (Status.EXECUTING, Status.SUCCEEDED),
        (Status.SUCCEEDED, Status.ROLLING_BACK),
        (Status.ROLLING_BACK, Status.ROLLED_BACK),
        (Status.EXECUTING, Status.NEEDS_RECONCILIATION),
        (Status.NEEDS_RECONCILIATION, Status.SUCCEEDED),
        (Status.NEEDS_RECONCILIATION, Status.FAILED),
    ]
    for current, target in lifecycle:
        check_transition(current, target)
