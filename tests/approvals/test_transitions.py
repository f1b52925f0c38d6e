"""The transition table: it allows exactly the moves written out here, and refuses every other."""

import itertools

import pytest

from approvals.models import Status
from approvals.transitions import ALLOWED, TERMINAL, IllegalTransition, check_transition

# The table written out by hand, so a change to `ALLOWED` is a deliberate act that fails here
# until this list is changed with it.
ALLOWED_MOVES = [
    ("submitted", "approved"),
    ("submitted", "blocked"),
    ("submitted", "drafted"),
    ("submitted", "escalated"),
    ("submitted", "pending"),
    ("submitted", "recommended"),
    ("pending", "approved"),
    ("pending", "cancelled"),
    ("pending", "escalated"),
    ("pending", "expired"),
    ("pending", "rejected"),
    # adopting a proposal may leave it pending when the policy wants a second person
    ("recommended", "approved"),
    ("recommended", "dismissed"),
    ("recommended", "pending"),
    ("drafted", "approved"),
    ("drafted", "dismissed"),
    ("drafted", "pending"),
    ("approved", "executing"),
    ("approved", "failed"),  # refused before it starts: its params are not the ones approved
    ("executing", "failed"),
    ("executing", "needs_reconciliation"),
    ("executing", "succeeded"),
    # an execution of unknown outcome waits for a person to reconcile it
    ("needs_reconciliation", "failed"),
    ("needs_reconciliation", "succeeded"),
    ("failed", "escalated"),
    # its case is resolved: approved (executes, or waits for a second approval), rejected or
    # returned, handled elsewhere
    ("escalated", "approved"),
    ("escalated", "cancelled"),
    ("escalated", "pending"),
    ("escalated", "rejected"),
    ("succeeded", "rolling_back"),
    ("rolling_back", "rollback_failed"),
    ("rolling_back", "rolled_back"),
]
REFUSED_MOVES = [
    pair
    for pair in itertools.product(Status.values, Status.values)
    if pair not in set(ALLOWED_MOVES)
]


def test_the_table_allows_exactly_the_moves_written_out_here():
    in_the_table = sorted((str(a), str(b)) for a, targets in ALLOWED.items() for b in targets)

    assert in_the_table == sorted(ALLOWED_MOVES)


@pytest.mark.parametrize(("current", "target"), ALLOWED_MOVES)
def test_an_allowed_move_passes(current, target):
    check_transition(current, target)  # Act / Assert: does not raise


@pytest.mark.parametrize(("current", "target"), REFUSED_MOVES)
def test_every_other_move_is_refused_with_illegal_transition(current, target):
    with pytest.raises(IllegalTransition) as refused:
        check_transition(current, target)

    assert refused.value.code == "illegal_transition"
    assert refused.value.status_code == 409
    assert refused.value.details == {"from": current, "to": target}


def test_the_moves_cover_every_pair_of_statuses():
    assert len(ALLOWED_MOVES) == len(set(ALLOWED_MOVES)) == 32
    assert len(ALLOWED_MOVES) + len(REFUSED_MOVES) == len(Status.values) ** 2


def test_a_terminal_status_leads_nowhere():
    for status in TERMINAL:
        assert not ALLOWED.get(status), status
