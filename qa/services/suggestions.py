"""Opening one of QA's suggestions (`qa.suggestions`) as a policy draft, ready to simulate."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction

from approvals import rulebook
from audit.events import Verb
from audit.services import Actor, audit_record
from config.errors import ApplicationError, Code, NotFound
from policies.models import PolicyVersion
from policies.services import (
    policy_draft_create,
    policy_draft_discard,
    policy_rule_add,
    policy_rule_update,
)
from qa.suggestions import RuleChange, suggestion_get

KEY_LIMIT = 200
NOTE_LIMIT = 200


def suggestion_draft(
    *, key: str, by, since: datetime, until: datetime, request_id: str = ""
) -> PolicyVersion:
    """A new draft of the policy version the suggestion `key` changes, with that change made.

    The evidence is read again: a suggestion that no longer holds is not found. The policy
    services each own a durable transaction, so this runs them one after the other; when one of
    them refuses, the half-made draft is discarded (both audited) and the refusal goes on.
    """
    rulebook.enforce(rulebook.may_edit_policy(rulebook.person_of(by)))
    key = str(key or "")[:KEY_LIMIT]
    suggestion = suggestion_get(key=key, since=since, until=until)
    if suggestion is None:
        raise NotFound(
            "This suggestion no longer holds: the evidence or the active policy changed.",
            code=Code.SUGGESTION_NOT_FOUND,
            details={"key": key},
        )
    actor = Actor.user(by.pk)
    note = f"From QA: {suggestion.text}"
    if len(note) > NOTE_LIMIT:
        note = note[: NOTE_LIMIT - 1] + "\u2026"
    draft = policy_draft_create(actor=actor, based_on=suggestion.version, note=note)
    try:
        for change in suggestion.changes:
            _apply(draft, change, actor)
    except ApplicationError:
        policy_draft_discard(number=draft.number, actor=actor)
        raise
    with transaction.atomic(durable=True):
        audit_record(
            actor=actor,
            verb=Verb.QA_SUGGESTION_DRAFTED,
            object_type="policy_version",
            object_id=draft.number,
            data={
                "key": suggestion.key,
                "draft": draft.number,
                "based_on": suggestion.version,
                "text": suggestion.text,
                "evidence": suggestion.evidence.counts,
                "money": suggestion.evidence.money,
                "since": since.isoformat(),
                "until": until.isoformat(),
            },
            request_id=request_id,
        )
    return draft


def _apply(draft: PolicyVersion, change: RuleChange, actor: Actor) -> None:
    if change.op == "update":
        rule_id = draft.rules.filter(name=change.rule).values_list("pk", flat=True).get()
        policy_rule_update(number=draft.number, rule_id=rule_id, spec=change.spec, actor=actor)
        return
    before = (
        draft.rules.filter(name=change.before).values_list("position", flat=True).first()
        if change.before
        else None
    )
    policy_rule_add(number=draft.number, spec=change.spec, actor=actor, position=before)
