"""Giving sampled items to reviewers, and a lead's reassigning or removing of an assignment.

An item goes to one of its plan's reviewers whom the rulebook lets review it (never someone who
took part in the resolution, never an operator of its agent), the one with the fewest items of
the sample so far, ties broken by the seeded generator. A share of the items gets a second,
blind reviewer (`double`) for calibration. An item nobody may review stays unassigned and is
reported, never dropped.
"""

from __future__ import annotations

import hashlib
import math
import random
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction

from approvals import rulebook
from audit.events import Verb
from audit.services import Actor, audit_record
from config import clock
from config.errors import Code, Conflict, InvalidInput, NotFound
from qa.models import Assignment, Sample, SampleItem
from qa.resolutions import involved_user_ids

REASON_LIMIT = 300


@dataclass
class Assigned:
    """What assigning a sample did: assignments made, doubles, and items left without anyone."""

    assignments: list[Assignment] = field(default_factory=list)
    doubles: int = 0
    unassigned: list[dict[str, Any]] = field(default_factory=list)


def _facts(item: SampleItem, reviewer_id: int, involved: frozenset[int], kind: str):
    return rulebook.AssignmentFacts(
        reviewer_id=reviewer_id, state=Assignment.State.OPEN, kind=kind,
        agent_id=item.action.agent_id, involved_ids=involved,
    )  # fmt: skip


def _pick(rng: random.Random, eligible: list, load: dict[int, int]):
    """The eligible reviewer with the fewest items so far; a seeded choice among equals."""
    fewest = min(load[u.pk] for u in eligible)
    return rng.choice([u for u in eligible if load[u.pk] == fewest])


def _create(
    item: SampleItem, reviewer, kind: str, *, scorecard_id, actor: Actor, now, request_id=""
):
    assignment = Assignment.objects.create(
        action_id=item.action_id, reviewer=reviewer, item=item, scorecard_id=scorecard_id,
        kind=kind, assigned_at=now,
    )  # fmt: skip
    audit_record(
        actor=actor, verb=Verb.QA_ASSIGNMENT_CREATED, object_type="qa.assignment",
        object_id=assignment.pk,
        data={"action_id": item.action_id, "reviewer": reviewer.get_username(), "kind": kind,
              "sample_id": item.sample_id, "reason": item.reason},
        request_id=request_id,
    )  # fmt: skip
    return assignment


def sample_assign(*, sample: Sample, items: list[SampleItem], actor: Actor) -> Assigned:
    """Give each of `items` (the sample's, rank order) to a reviewer, a share to a second one.
    Runs inside the draw's transaction."""
    plan = sample.plan
    now = clock.now()
    reviewers = list(plan.reviewers.filter(is_active=True).order_by("id"))
    people = {u.pk: rulebook.person_of(u) for u in reviewers}
    seed = f"{sample.seed}:{sample.period_start.isoformat()}:assign"
    # Reproducible on purpose, not secret (see qa.sampling).
    rng = random.Random(int(hashlib.sha256(seed.encode()).hexdigest(), 16))  # noqa: S311
    load = {u.pk: 0 for u in reviewers}
    result = Assigned()
    eligible_of: dict[int, list] = {}
    first_of: dict[int, Any] = {}
    for item in items:
        involved = involved_user_ids(item.action_id)
        eligible = [
            u for u in reviewers
            if rulebook.may_be_assigned(people[u.pk], _facts(item, u.pk, involved, "sample"))
        ]  # fmt: skip
        if not eligible:
            result.unassigned.append(
                {"item_id": item.pk, "action_id": str(item.action_id), "reason": item.reason}
            )
            continue
        reviewer = _pick(rng, eligible, load)
        load[reviewer.pk] += 1
        eligible_of[item.pk], first_of[item.pk] = eligible, reviewer
        result.assignments.append(
            _create(item, reviewer, Assignment.Kind.SAMPLE, scorecard_id=plan.scorecard_id,
                    actor=actor, now=now)
        )  # fmt: skip
    doubleable = [item for item in items if len(eligible_of.get(item.pk, ())) >= 2]
    wanted = math.ceil(plan.double_review_percent * len(items) / 100)
    for item in rng.sample(doubleable, min(wanted, len(doubleable))):
        others = [u for u in eligible_of[item.pk] if u.pk != first_of[item.pk].pk]
        reviewer = _pick(rng, others, load)
        load[reviewer.pk] += 1
        result.doubles += 1
        result.assignments.append(
            _create(item, reviewer, Assignment.Kind.DOUBLE, scorecard_id=plan.scorecard_id,
                    actor=actor, now=now)
        )  # fmt: skip
    return result


# ---------------------------------------------------------------------------------------------
# a lead's changes


def _reason(reason: str, doing: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput(f"{doing} an assignment needs a reason.", code=Code.REASON_REQUIRED)
    if len(reason) > REASON_LIMIT:
        raise InvalidInput(
            f"The reason is at most {REASON_LIMIT} characters.",
            code=Code.INVALID_INPUT,
            details={"field": "reason"},
        )
    return reason


def _lock_open(assignment_id: Any, by) -> Assignment:
    """The assignment, locked, once the rulebook lets `by` lead QA and it is still open."""
    rulebook.enforce(rulebook.may_lead_qa(rulebook.person_of(by)))
    try:
        assignment = (
            Assignment.objects.select_for_update(of=("self",))
            .select_related("action", "reviewer")
            .get(pk=int(assignment_id))
        )
    except (Assignment.DoesNotExist, TypeError, ValueError):
        raise NotFound("No such assignment.", code=Code.ASSIGNMENT_NOT_FOUND) from None
    if assignment.state != Assignment.State.OPEN:
        raise Conflict(
            f"This assignment is {assignment.state}: only an open one can change hands or be "
            "removed.",
            code=Code.ASSIGNMENT_CLOSED,
            details={"state": assignment.state},
        )
    return assignment


def _close(assignment: Assignment, reason: str) -> None:
    assignment.state = Assignment.State.REMOVED
    assignment.removed_reason = reason
    assignment.save(update_fields=["state", "removed_reason"])


def _target(to_username: Any):
    username = str(to_username or "").strip()[:150]
    target = get_user_model().objects.filter(username=username, is_active=True).first()
    if target is None:
        raise InvalidInput(
            f"No active account {username!r}.", code=Code.INVALID_INPUT,
            details={"field": "to_username"},
        )  # fmt: skip
    return target


def assignment_reassign(
    *, assignment_id: Any, to_username: str, reason: str, by, request_id: str = ""
) -> Assignment:
    """A lead gives an open assignment to another reviewer the rulebook lets review it: the old
    row is removed with the reason, a new open one points back to it. Returns the new one."""
    reason = _reason(reason, "Reassigning")
    with transaction.atomic(durable=True):
        old = _lock_open(assignment_id, by)
        target = _target(to_username)
        if target.pk == old.reviewer_id:
            raise InvalidInput(
                f"{target.get_username()} has this assignment already.",
                code=Code.INVALID_INPUT, details={"field": "to_username"},
            )  # fmt: skip
        facts = rulebook.AssignmentFacts(
            reviewer_id=target.pk, state=Assignment.State.OPEN, kind=old.kind,
            agent_id=old.action.agent_id, involved_ids=involved_user_ids(old.action_id),
        )  # fmt: skip
        rulebook.enforce(rulebook.may_be_assigned(rulebook.person_of(target), facts))
        if old.item_id is not None and (
            Assignment.objects.filter(item_id=old.item_id, reviewer=target)
            .exclude(state=Assignment.State.REMOVED)
            .exists()
        ):
            raise Conflict(
                f"{target.get_username()} reviews this item already (the reviews are blind "
                "to each other): pick someone else.",
                code=Code.CONFLICT,
                details={"field": "to_username"},
            )
        _close(old, reason)
        new = Assignment.objects.create(
            action_id=old.action_id, reviewer=target, item_id=old.item_id,
            session_id=old.session_id, scorecard_id=old.scorecard_id, kind=old.kind,
            reassigned_from=old, assigned_at=clock.now(),
        )  # fmt: skip
        audit_record(
            actor=Actor.user(by.pk), verb=Verb.QA_ASSIGNMENT_REASSIGNED,
            object_type="qa.assignment", object_id=old.pk, request_id=request_id,
            data={"action_id": old.action_id, "from": old.reviewer.get_username(),
                  "to": target.get_username(), "reason": reason, "new_assignment_id": new.pk},
        )  # fmt: skip
    return new


def assignment_remove(*, assignment_id: Any, reason: str, by, request_id: str = "") -> Assignment:
    """A lead takes an open assignment back, with a reason; the item stays in its sample."""
    reason = _reason(reason, "Removing")
    with transaction.atomic(durable=True):
        assignment = _lock_open(assignment_id, by)
        _close(assignment, reason)
        audit_record(
            actor=Actor.user(by.pk), verb=Verb.QA_ASSIGNMENT_REMOVED,
            object_type="qa.assignment", object_id=assignment.pk, request_id=request_id,
            data={"action_id": assignment.action_id,
                  "reviewer": assignment.reviewer.get_username(), "reason": reason},
        )  # fmt: skip
    return assignment


def item_assign(*, item_id: Any, to_username: str, by, request_id: str = "") -> Assignment:
    """A lead gives a sampled item nobody has (no eligible reviewer when it was drawn, or its
    assignment was removed) to a reviewer the rulebook lets review it."""
    with transaction.atomic(durable=True):
        rulebook.enforce(rulebook.may_lead_qa(rulebook.person_of(by)))
        try:
            item = (
                SampleItem.objects.select_for_update(of=("self",))
                .select_related("action", "sample__plan")
                .get(pk=int(item_id))
            )
        except (SampleItem.DoesNotExist, TypeError, ValueError, OverflowError):
            raise NotFound("No such sample item.", code=Code.NOT_FOUND) from None
        taken = (
            item.assignments.filter(kind=Assignment.Kind.SAMPLE)
            .exclude(state=Assignment.State.REMOVED)
            .select_related("reviewer")
            .order_by("id")
            .first()
        )
        if taken is not None:
            raise Conflict(
                f"{taken.reviewer.get_username()} has this item already ({taken.state}): "
                "reassign that assignment instead.",
                code=Code.CONFLICT, details={"assignment_id": taken.pk, "state": taken.state},
            )  # fmt: skip
        target = _target(to_username)
        facts = _facts(item, target.pk, involved_user_ids(item.action_id), Assignment.Kind.SAMPLE)
        rulebook.enforce(rulebook.may_be_assigned(rulebook.person_of(target), facts))
        has_it = item.assignments.filter(reviewer=target).exclude(state=Assignment.State.REMOVED)
        if has_it.exists():
            raise Conflict(
                f"{target.get_username()} reviews this item already, as its second reviewer: "
                "pick someone else.",
                code=Code.CONFLICT, details={"field": "to_username"},
            )  # fmt: skip
        # The scorecard the item was drawn with, even if the plan has moved on since.
        earlier = item.assignments.order_by("id").values_list("scorecard_id", flat=True).first()
        return _create(
            item, target, Assignment.Kind.SAMPLE,
            scorecard_id=earlier or item.sample.plan.scorecard_id,
            actor=Actor.user(by.pk), now=clock.now(), request_id=request_id,
        )  # fmt: skip
