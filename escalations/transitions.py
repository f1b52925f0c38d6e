"""The one table of case moves: from which statuses each move is allowed and where it leads."""

from enum import StrEnum

from config.errors import Code, Conflict
from escalations.models import CaseStatus

S = CaseStatus


class Move(StrEnum):
    ACKNOWLEDGE = "acknowledge"
    REASSIGN = "reassign"
    # The tier's acknowledge or resolve SLA passed: on to the next tier.
    NEXT_TIER = "next_tier"
    # The last tier's SLA passed: the case stays where it is, breached, and people are told.
    BREACH = "breach"
    RESOLVE = "resolve"


UNRESOLVED = frozenset({S.OPEN, S.ACKNOWLEDGED})
# move -> (the statuses it leaves from, the status it leads to; None: the status stays)
TABLE: dict[Move, tuple[frozenset[str], str | None]] = {
    Move.ACKNOWLEDGE: (frozenset({S.OPEN}), S.ACKNOWLEDGED),
    Move.REASSIGN: (UNRESOLVED, S.OPEN),
    Move.NEXT_TIER: (UNRESOLVED, S.OPEN),
    Move.BREACH: (UNRESOLVED, None),
    Move.RESOLVE: (UNRESOLVED, S.RESOLVED),
}


class IllegalCaseMove(Conflict):
    default_code = Code.ILLEGAL_CASE_MOVE


def target_of(move: Move, current: str) -> str:
    """Where `move` takes a case that is `current`; a refused move raises `IllegalCaseMove`."""
    sources, target = TABLE[move]
    if current not in sources:
        raise IllegalCaseMove(
            f"A case that is {current} cannot be {move.value}d."
            if move != Move.NEXT_TIER
            else f"A case that is {current} cannot move to the next tier.",
            details={"from": str(current), "move": move.value},
        )
    return target or current
