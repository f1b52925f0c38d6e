"""Proposals and edits: a person adopts, edits or dismisses what an agent proposed.

Edits of pending actions ("approve with changes") live here too: they share the draft's edit, and
both ask the policy again about the params that would execute.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction

from approvals import rulebook
from approvals.models import Action, DecisionKind, Status
from approvals.selectors import policy_decision
from approvals.services.kernel import (
    approval_count,
    check_expected_version,
    check_irreversible_confirmed,
    clear_claim,
    close_by_person,
    enforce,
    execute_on_commit,
    lock_for,
    lock_to_decide,
    move,
    on_record,
    params_on_record,
    push_on_commit,
    reason_code_for,
    record_decision,
    set_listing_fields,
)
from audit.events import Verb
from audit.services import Actor, audit_record
from config import clock
from config.errors import Code, Forbidden
from policies.engine import Decision as PolicyDecision
from policies.models import UNOVERRIDABLE_MODES, Mode
from policies.validation import validate_params


def _authority_to_execute(action: Action, params: dict[str, Any]) -> PolicyDecision:
    """The active policy asked again about `params`, as if the agent wanted them executed (an
    edit or a newer policy may have raised the stakes); what it forbids, keeps read-only or
    escalates cannot be executed on a person's authority (403 `policy_refuses`)."""
    _, authority = policy_decision(
        agent_name=action.agent.name,
        action_type=action.action_type.key,
        params=params,
        context=action.context,
    )
    if authority.mode in UNOVERRIDABLE_MODES:
        raise Forbidden(
            f"The policy does not let these params execute: {authority.explanation}",
            code=Code.POLICY_REFUSES,
            details={"mode": authority.mode, "rule": authority.rule_name},
        )
    return authority


def action_edit(
    *,
    action_id: Any,
    by,
    params: dict[str, Any],
    reason_code: str | None,
    note: str = "",
    expected_version: int | None = None,
    request_id: str = "",
) -> Action:
    """A person changes the params of a draft (before adopting it) or of a pending action
    ("approve with changes"). The agent's `params` stay as they were; `final_params` holds the
    edit, validated against the action type's schema; a reason code of kind `edit` is required.

    A pending action's edit is also asked of the policy again, and is its editor's approval: see
    `_edit_pending`.
    """
    with transaction.atomic(durable=True):
        action, person = lock_to_decide(
            action_id, by=by, expected_version=expected_version, question=rulebook.may_edit
        )
        reason = reason_code_for(reason_code, kind=DecisionKind.EDIT, required=True)
        validate_params(
            action_type_key=action.action_type.key,
            schema=action.action_type.params_schema,
            params=params,
        )
        before = action.effective_params
        previous_queue = action.queue
        data: dict[str, Any] = {
            "before": params_on_record(action, before), "after": params_on_record(action, params),
            "reason_code": reason_code, "note": note,
        }  # fmt: skip
        if action.status == Status.PENDING:
            data["authority"] = _edit_pending(action, person=person, params=params)
        # Before the decisions: they are bound to the params that would now execute.
        action.final_params = params
        set_listing_fields(action, params)
        record_decision(action, by=by, kind=DecisionKind.EDIT, reason=reason, note=note)
        if action.status == Status.PENDING:
            if not action.decisions.filter(kind__in=rulebook.APPROVAL_KINDS, by=by).exists():
                record_decision(action, by=by, kind=DecisionKind.APPROVE)
            data["approvals"], _ = approval_count(action)
            data["required"] = action.approvals_required
        data["params_hash"] = action.effective_params_hash
        action.version += 1
        action.save()
        audit_record(
            actor=Actor.user(by.pk),
            verb=Verb.ACTION_EDITED,
            object_type="action",
            object_id=action.pk,
            data=on_record(action, data, before),
            request_id=request_id,
        )
        push_on_commit(action, previous_queue=previous_queue)
    return action


def _edit_pending(
    action: Action, *, person: rulebook.Person, params: dict[str, Any]
) -> dict[str, Any]:
    """Give a pending action the authority its edited params need; that authority, for the audit.

    The policy is asked about the new params as if the agent had sent them. What it forbids, keeps
    read-only or escalates cannot be approved with changes (403 `policy_refuses`, nothing changes).
    Otherwise the action keeps waiting under the stricter of its authority and the new one:
    - approvals: the larger of the current number and the new rule's, at least 1;
    - role and queue: the new rule's when it gates the action: the params now fall under that
      rule, so its role approves them (the editor must hold it too, as an adopter must) and its
      queue holds them (routing follows the params). A rule that would not wait for a person names
      no reviewers, so the action keeps its role and queue;
    - rule, explanation and policy version: the new decision's, so reviewers see what now gates it.
    The edit releases the editor's claim: the next approver is someone else. The caller records
    the edit as its editor's approval too (unless they already approved); `_approval_count` holds
    the four eyes.
    """
    authority = _authority_to_execute(action, params)
    gates = authority.mode == Mode.EXECUTE_GATED
    role = (authority.approver_role if gates else "") or action.approver_role
    if role != action.approver_role:
        enforce(person, action, rulebook.may_decide, role=role)
    required = max(action.approvals_required, authority.approvals_required, 1)
    explanation = authority.explanation
    if not gates or authority.approvals_required < required:
        explanation = f"{explanation}; edited while pending: needs {required} approval(s)"
    action.approvals_required = required
    action.approver_role = role
    if gates:
        action.queue = authority.queue
    action.rule_id = authority.rule_id
    action.rule_name = authority.rule_name
    action.explanation = explanation[:500]
    action.policy_version_id = authority.policy_version_id
    clear_claim(action)
    return {
        "mode": authority.mode,
        "rule": authority.rule_name,
        "policy_version": authority.policy_version,
        "approvals_required": required,
        "approver_role": role,
        "queue": action.queue,
    }


def action_adopt(
    *,
    action_id: Any,
    by,
    reason_code: str | None = None,
    note: str = "",
    expected_version: int | None = None,
    confirm_irreversible: bool = False,
    request_id: str = "",
) -> Action:
    """A person takes a recommendation or a draft on as their own: it executes on their authority.

    The active policy is asked again about the params that would execute, as if the agent wanted
    them executed, because an edit or a newer policy may have raised the stakes: what it forbids or
    escalates cannot be adopted, the adopter needs the role it names, and when it wants two
    approvals the adoption is the first and the action waits (`pending`) for another person.
    """
    with transaction.atomic(durable=True):
        action, person = lock_for(action_id, by)
        check_expected_version(action, expected_version)
        rulebook.enforce(rulebook.proposal(rulebook.facts_of(action)))
        check_irreversible_confirmed(action, confirm_irreversible)
        authority = _authority_to_execute(action, action.effective_params)
        role = authority.approver_role or action.approver_role
        enforce(person, action, rulebook.may_adopt, role=role)
        reason = reason_code_for(reason_code, kind=DecisionKind.ADOPT, required=False)
        record_decision(action, by=by, kind=DecisionKind.ADOPT, reason=reason, note=note)
        data = {
            "reason_code": reason_code,
            "note": note,
            "params": params_on_record(action, action.effective_params),
            "params_hash": action.effective_params_hash,
            "authority": {
                "mode": authority.mode,
                "rule": authority.rule_name,
                "policy_version": authority.policy_version,
                "approver_role": role,
                "approvals_required": authority.approvals_required,
            },
        }
        actor = Actor.user(by.pk)
        if authority.mode == Mode.EXECUTE_GATED and authority.approvals_required > 1:
            action.approvals_required = authority.approvals_required
            action.approver_role = role
            clear_claim(action)  # the second approver is someone else: the adopter's claim goes
            data.update(approvals=1, required=authority.approvals_required)
            move(action, Status.PENDING, actor=actor, verb=Verb.ACTION_ADOPTED, data=data,
                  request_id=request_id)  # fmt: skip
        else:
            action.decided_at = clock.now()
            move(action, Status.APPROVED, actor=actor, verb=Verb.ACTION_ADOPTED, data=data,
                  request_id=request_id)  # fmt: skip
            execute_on_commit(action)
    return action


def action_dismiss(
    *,
    action_id: Any,
    by,
    reason_code: str | None,
    note: str = "",
    expected_version: int | None = None,
    request_id: str = "",
) -> Action:
    """A person drops a recommendation or a draft, with a reason code; nothing executes."""
    with transaction.atomic(durable=True):
        action, _ = lock_to_decide(
            action_id, by=by, expected_version=expected_version, question=rulebook.may_dismiss
        )
        close_by_person(
            action, by=by, kind=DecisionKind.DISMISS, status=Status.DISMISSED,
            verb=Verb.ACTION_DISMISSED, reason_code=reason_code, note=note, request_id=request_id,
        )  # fmt: skip
    return action
