"""Batches: a reviewer approves or rejects many low-risk actions at once.

Each is its own decision, made by the per-action service in its own durable transaction (audit
and push included), so one refusal stops nothing else and every action's history reads as if it
had been decided alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from approvals import rulebook
from approvals.models import Action, DecisionKind
from approvals.selectors import (
    action_is_batchable,
    parse_action_id,
)
from approvals.services.decisions import action_approve, action_reject
from approvals.services.kernel import reason_code_for
from config.errors import ApplicationError, Code, InvalidInput, NotFound


@dataclass(frozen=True)
class BatchOutcome:
    action_id: str
    ok: bool
    code: str = ""  # the refusal's code when not ok, e.g. not_batchable, claimed_by_other
    message: str = ""


_BATCH_KINDS = (DecisionKind.APPROVE, DecisionKind.REJECT)
_NOT_BATCHABLE = "Decide this one on its own: batches take pending, unedited, small actions."


def actions_decide_batch(
    *,
    action_ids: Sequence[Any],
    by,
    kind: str,
    reason_code: str | None,
    note: str = "",
    request_id: str = "",
) -> list[BatchOutcome]:
    """Approve or reject each of `action_ids` with one reason code; one outcome per distinct id,
    in the order given. Only batchable actions (see `action_is_batchable`) are decided; each on
    the version read here, so one that changed meanwhile is refused as `stale_version`.
    """
    if kind not in _BATCH_KINDS:
        raise InvalidInput("A batch approves or rejects.", code=Code.INVALID_BATCH_KIND)
    ids = list(dict.fromkeys(str(i) for i in action_ids))
    if not ids:
        raise InvalidInput("Select at least one action for the batch.", code=Code.EMPTY_BATCH)
    most = settings.COUNTERSIGN.get("BATCH_MAX_SIZE", 100)
    if len(ids) > most:
        raise InvalidInput(
            f"A batch holds at most {most} actions; {len(ids)} were selected.",
            code=Code.BATCH_TOO_LARGE,
            details={"max": most, "selected": len(ids)},
        )
    # One code for the whole batch: a bad one is refused once, not once per action.
    reason_code_for(reason_code, kind=DecisionKind(kind), required=kind == DecisionKind.REJECT)
    valid = {}
    for raw in ids:
        try:
            valid[raw] = parse_action_id(raw)
        except NotFound:
            continue
    read = Action.objects.filter(pk__in=list(valid.values())).order_by("id")
    snapshot = {a.pk: a for a in read}
    person = rulebook.person_of(by)
    decide = action_approve if kind == DecisionKind.APPROVE else action_reject
    outcomes = []
    for raw in ids:
        action = snapshot.get(valid.get(raw))
        if action is None or not rulebook.may_see_queue(person, action.queue):
            outcomes.append(BatchOutcome(raw, False, Code.ACTION_NOT_FOUND, "No such action."))
            continue
        if not action_is_batchable(action):
            outcomes.append(BatchOutcome(raw, False, Code.NOT_BATCHABLE, _NOT_BATCHABLE))
            continue
        try:
            decide(
                action_id=action.pk,
                by=by,
                reason_code=reason_code,
                note=note,
                expected_version=action.version,
                request_id=request_id,
            )
        except ApplicationError as exc:
            outcomes.append(BatchOutcome(raw, False, exc.code, exc.message))
        else:
            outcomes.append(BatchOutcome(raw, True))
    return outcomes
