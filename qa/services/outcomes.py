"""Outcome feedback: an agent tells what happened after one of its resolved actions.

One report per action and source (`agent:<name>`). The same body again is a replay that writes
nothing; another body is a conflict, so a report, once made, never changes under the figures that
counted it.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from django.db import IntegrityError, transaction

from approvals.models import Status
from approvals.selectors import parse_action_id
from approvals.services.kernel import lock as action_lock
from audit.events import Verb
from audit.services import Actor, audit_record
from config import clock
from config.errors import Code, Conflict, InvalidInput, NotFound
from qa.models import OutcomeReport
from qa.resolutions import RESOLVED_STATUSES

NOTE_LIMIT = 2000
RECONTACT_DAYS_LIMIT = 365
# An outcome can follow any action that reached one, including an execution of unknown outcome.
REPORTABLE_STATUSES = frozenset({*RESOLVED_STATUSES, Status.NEEDS_RECONCILIATION})
FIELDS = ("resolved", "recontact_within_days", "csat", "chargeback", "note")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _field_errors(body: dict) -> dict[str, str]:
    errors = {}
    if not isinstance(body.get("resolved"), bool):
        errors["resolved"] = "Required: true or false."
    recontact = body.get("recontact_within_days")
    if recontact is not None and not (
        _is_int(recontact) and 0 <= recontact <= RECONTACT_DAYS_LIMIT
    ):
        errors["recontact_within_days"] = (
            f"A whole number of days from 0 to {RECONTACT_DAYS_LIMIT}, or null."
        )
    csat = body.get("csat")
    if csat is not None and not (_is_int(csat) and 1 <= csat <= 5):
        errors["csat"] = "A whole number from 1 to 5, or null."
    chargeback = body.get("chargeback")
    if chargeback is not None and not isinstance(chargeback, bool):
        errors["chargeback"] = "true, false or null."
    note = body.get("note")
    if note is not None and not (isinstance(note, str) and len(note) <= NOTE_LIMIT):
        errors["note"] = f"Text of at most {NOTE_LIMIT} characters."
    return errors


def feedback_normalised(body: Any) -> dict[str, Any]:
    """The body with every field present (absent ones as null, the note as text), or 400
    `invalid_feedback` naming every field that is wrong."""
    if not isinstance(body, dict):
        raise InvalidInput("The outcome must be a JSON object.", code=Code.INVALID_FEEDBACK)
    unknown = sorted(str(key) for key in body if key not in FIELDS)[:20]
    errors = _field_errors(body)
    if unknown or errors:
        raise InvalidInput(
            "The outcome is not valid: see details.",
            code=Code.INVALID_FEEDBACK,
            details={"fields": errors, "unknown": unknown},
        )
    clean = {field: body.get(field) for field in FIELDS}
    clean["note"] = clean["note"] or ""
    return clean


def body_hash_of(clean: dict[str, Any]) -> str:
    canonical = json.dumps(clean, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def is_negative(clean: dict[str, Any]) -> bool:
    csat = clean["csat"]
    return (
        not clean["resolved"]
        or clean["recontact_within_days"] is not None
        or (csat is not None and csat <= 2)
        or clean["chargeback"] is True
    )


def report_data(report: OutcomeReport) -> dict[str, Any]:
    """A report as the API shows it (and as a conflict's details carry it)."""
    return {
        "id": report.pk,
        "action_id": str(report.action_id),
        "source": report.source,
        "resolved": report.resolved,
        "recontact_within_days": report.recontact_within_days,
        "csat": report.csat,
        "chargeback": report.chargeback,
        "note": report.note,
        "negative": report.negative,
        "created_at": report.created_at.isoformat(),
    }


def _replayed(existing: OutcomeReport, body_hash: str) -> OutcomeReport:
    if existing.body_hash != body_hash:
        raise Conflict(
            "This action's outcome was already reported with another body; a report never changes.",
            code=Code.OUTCOME_ALREADY_REPORTED,
            details={"existing": report_data(existing)},
        )
    return existing


def outcome_report(
    *, action_id: Any, agent, body: Any, request_id: str = ""
) -> tuple[OutcomeReport, bool]:
    """Record what happened after `agent`'s own action: `(report, created)`. An action of another
    agent, or none, is 404 `action_not_found`; one without an outcome yet is 409 `not_resolved`;
    the same body again answers the first report (created False), another body is 409
    `outcome_already_reported`."""
    clean = feedback_normalised(body)
    body_hash = body_hash_of(clean)
    source = f"agent:{agent.name}"
    try:
        with transaction.atomic(durable=True):
            # The lock serialises two first reports of one action: the second finds the first.
            action = action_lock(action_id)
            if action.agent_id != agent.pk:
                raise NotFound("No such action.", code=Code.ACTION_NOT_FOUND)
            existing = OutcomeReport.objects.filter(action=action, source=source).first()
            if existing is not None:
                return _replayed(existing, body_hash), False
            if action.status not in REPORTABLE_STATUSES:
                raise Conflict(
                    f"This action has no outcome yet (it is {action.status}): report it once it "
                    "is resolved.",
                    code=Code.NOT_RESOLVED,
                    details={"status": action.status},
                )
            negative = is_negative(clean)
            report = OutcomeReport.objects.create(
                action=action, source=source, agent=agent, body_hash=body_hash,
                negative=negative, created_at=clock.now(), **clean,
            )  # fmt: skip
            audit_record(
                actor=Actor.agent(agent.pk),
                verb=Verb.ACTION_OUTCOME_REPORTED,
                object_type="action",
                object_id=action.pk,
                data={
                    "report_id": report.pk, "source": source, "negative": negative,
                    "body_hash": body_hash,
                    **{field: clean[field] for field in FIELDS if field != "note"},
                },
                request_id=request_id,
            )  # fmt: skip
            return report, True
    except IntegrityError:
        # A report written by a path that did not take the lock: answer as a late duplicate.
        existing = OutcomeReport.objects.filter(
            action_id=parse_action_id(action_id), source=source
        ).first()
        if existing is None:
            raise
        return _replayed(existing, body_hash), False
