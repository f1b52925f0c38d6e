"""Changing the action type catalog and the permission map: drafts, rules, publishing, rollback.

A policy admin edits a draft version; publishing freezes it and makes it the active one; any
published version can be made active again (a rollback). Each use case runs in one durable
transaction that writes its audit event, and all of them take one advisory lock, so version
numbers and the active flag never race. The database refuses changes to published versions too
(migration 0003), so these checks are not the only guard.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import F, Max

from audit.events import Verb
from audit.models import ActorKind
from audit.services import Actor, audit_record
from config import clock
from config.errors import Code, Conflict, Forbidden, InvalidInput, NotFound
from policies.action_types import (  # noqa: F401 (action_type_upsert: re-exported)
    action_type_upsert,
    apply_default_modes,
)
from policies.locks import lock_policies
from policies.models import RULE_SPEC_FIELDS, PolicyVersion, PublicationRequest, Rule
from policies.rule_checks import (  # noqa: F401 (re-exported: pages and YAML ask them here)
    RULE_DEFAULTS,
    RULE_FIELDS,
    RuleProblem,
    _complete,
    _rule_error,
    _validate_rule,
    _validate_rules,
    condition_problem,
    default_mode_problems,
    queue_names,
    rule_problems,
)
from policies.tiers import tier_keys, tiers_import

# Positions are unique per version, so renumbering moves rules out of the way first.
_RENUMBER_OFFSET = 1_000_000


class PolicyVersionPublished(Conflict):
    default_code = Code.POLICY_VERSION_PUBLISHED


# ---------------------------------------------------------------------------------------------
# helpers that run inside a service's transaction


def _version(number: Any) -> PolicyVersion:
    version = PolicyVersion.objects.select_for_update().filter(number=number).first()
    if version is None:
        raise NotFound(f"No policy version {number}.", code=Code.POLICY_VERSION_NOT_FOUND)
    return version


def _draft(number: Any) -> PolicyVersion:
    version = _version(number)
    if not version.is_draft:
        raise PolicyVersionPublished(
            f"Policy version {version.number} is published and can no longer change; "
            "create a draft from it instead.",
            details={"version": version.number},
        )
    return version


def _editable_draft(number: Any) -> PolicyVersion:
    """A draft whose rules may change: not while a second admin is asked to publish it, so they
    confirm exactly the rules they read (withdraw the request to edit again)."""
    version = _draft(number)
    waiting = version.publication_requests.filter(state=PublicationRequest.State.PENDING)
    if waiting.exists():
        raise Conflict(
            f"Draft {version.number} is waiting for a second admin to publish it; withdraw the "
            "request to change it.",
            code=Code.PUBLICATION_ALREADY_REQUESTED,
            details={"version": version.number},
        )
    return version


def _system_only(actor: Actor, doing: str) -> None:
    """Publishing or activating at once is for the system alone: a person asks a second policy
    admin (policies.publication). The system here is the demo loader and `manage.py policy import
    --publish`, run by whoever operates the deployment: they hold its database credentials and
    could write any version anyway, so a second admin would guard nothing; their events are
    recorded as the system's in the audit chain."""
    if actor.kind != ActorKind.SYSTEM:
        raise Forbidden(
            f"{doing} needs a second policy admin: request it, and another admin confirms.",
            code=Code.SECOND_ADMIN_REQUIRED,
        )


def _draft_rule(version: PolicyVersion, rule_id: Any) -> Rule:
    rule = version.rules.filter(pk=rule_id).first() if str(rule_id).isdigit() else None
    if rule is None:
        raise NotFound(
            f"Policy version {version.number} has no rule {rule_id}.", code=Code.RULE_NOT_FOUND
        )
    return rule


def _check_name_free(version: PolicyVersion, name: str, *, except_id: int | None = None) -> None:
    clash = version.rules.filter(name=name).exclude(pk=except_id).exists()
    if clash:
        problem = RuleProblem("name", f"a rule named {name!r} is already in this draft")
        raise InvalidInput(
            problem.message,
            code=Code.INVALID_RULE,
            details={"where": "rule", "problems": [problem.as_dict()]},
        )


def _ordered_ids(version: PolicyVersion) -> list[int]:
    return list(version.rules.order_by("position", "id").values_list("id", flat=True))


def _renumber(version: PolicyVersion, ordered_ids: list[int]) -> None:
    """Give the draft's rules positions 1..n in this order.

    PostgreSQL checks a unique constraint row by row, so shifting positions in place can collide
    half-way; moving every rule out of the way first leaves no collision at either step.
    """
    version.rules.update(position=F("position") + _RENUMBER_OFFSET)
    rules = [Rule(pk=rule_id, position=i + 1) for i, rule_id in enumerate(ordered_ids)]
    Rule.objects.bulk_update(rules, ["position"])


def _next_number() -> int:
    return (PolicyVersion.objects.aggregate(n=Max("number"))["n"] or 0) + 1


def _create_draft(
    *, note: str, specs: list[dict[str, Any]], based_on: PolicyVersion | None, actor: Actor,
    source: str,
) -> PolicyVersion:  # fmt: skip
    version = PolicyVersion.objects.create(
        number=_next_number(), status=PolicyVersion.Status.DRAFT, note=note, based_on=based_on
    )
    complete = [_complete(spec) for spec in specs]
    Rule.objects.bulk_create(
        Rule(policy_version=version, position=i + 1, **spec) for i, spec in enumerate(complete)
    )
    audit_record(
        actor=actor,
        verb=Verb.POLICY_DRAFT_CREATED,
        object_type="policy_version",
        object_id=version.number,
        data={
            "note": note,
            "source": source,
            "based_on": based_on.number if based_on else None,
            "rules": complete,
        },
    )
    return version


def _activate(version: PolicyVersion) -> PolicyVersion | None:
    """Make `version` the one active version; returns the version it replaces."""
    previous = PolicyVersion.objects.filter(is_active=True).first()
    PolicyVersion.objects.filter(is_active=True).update(is_active=False)
    PolicyVersion.objects.filter(pk=version.pk).update(is_active=True)
    version.is_active = True
    return previous


def _publish(version: PolicyVersion, *, actor: Actor, note: str | None = None) -> PolicyVersion:
    rules = [rule.spec() for rule in version.rules.order_by("position", "id")]
    # Rules are validated when saved; validate again so nothing written around the services
    # (the admin, a shell) is ever published unchecked, nor with a rule naming a tier that is gone.
    _validate_rules(rules, tiers=tier_keys(), queues=queue_names())
    if note is not None:
        version.note = note
    version.status = PolicyVersion.Status.PUBLISHED
    version.published_at = clock.now()
    version.save(update_fields=["note", "status", "published_at"])
    previous = _activate(version)
    audit_record(
        actor=actor,
        verb=Verb.POLICY_PUBLISHED,
        object_type="policy_version",
        object_id=version.number,
        data={
            "note": version.note,
            "rules": rules,
            "previous_active": previous.number if previous else None,
        },
    )
    return version


# ---------------------------------------------------------------------------------------------
# use cases


def policy_publish(*, rules: list[dict[str, Any]], note: str = "", actor: Actor) -> PolicyVersion:
    """Create a version from rule specs, publish it and make it the active one, all at once (the
    system only: see `_system_only`)."""
    _system_only(actor, "Publishing a policy")
    specs = _validate_rules(rules)
    with transaction.atomic(durable=True):
        lock_policies()
        version = _create_draft(note=note, specs=specs, based_on=None, actor=actor, source="specs")
        _publish(version, actor=actor)
    return version


def policy_draft_create(
    *, actor: Actor, based_on: int | None = None, note: str = ""
) -> PolicyVersion:
    """A new draft: a copy of published version `based_on`'s rules, or empty without one."""
    with transaction.atomic(durable=True):
        lock_policies()
        base = _version(based_on) if based_on is not None else None
        if base is not None and base.is_draft:
            raise Conflict(
                "A draft can only be copied from a published version.",
                code=Code.POLICY_VERSION_DRAFT,
                details={"version": base.number},
            )
        specs = [rule.spec() for rule in base.rules.order_by("position", "id")] if base else []
        version = _create_draft(
            note=note, specs=specs, based_on=base, actor=actor,
            source=f"copy of v{base.number}" if base else "empty",
        )  # fmt: skip
    return version


def policy_import(
    *,
    rules: list[dict[str, Any]],
    note: str = "",
    actor: Actor,
    publish: bool = False,
    default_modes: dict[str, str] | None = None,
    tiers: list[dict[str, Any]] | None = None,
) -> PolicyVersion:
    """A draft from imported rule specs, published at once with `publish`; all or nothing.

    `tiers` (the file's escalation tiers) are saved first, in the same transaction, so the rules
    may name them; a file without tiers names the tiers already there. Action type default modes
    are not versioned: they take effect when applied, so they are applied only together with
    publishing (and refused without it). Publishing at once is for the system alone.
    """
    if publish:
        _system_only(actor, "Publishing a policy")
    _validate_rules(rules)
    problems = default_mode_problems(default_modes or {})
    if problems:
        raise InvalidInput(
            problems[0], code=Code.INVALID_DEFAULT_MODE, details={"problems": problems}
        )
    if default_modes and not publish:
        raise InvalidInput(
            "Default modes take effect at once, so they are only imported with publishing.",
            code=Code.DEFAULT_MODES_NEED_PUBLISH,
        )
    with transaction.atomic(durable=True):
        lock_policies()
        tiers_import(specs=tiers or [], actor=actor)
        specs = _validate_rules(rules, tiers=tier_keys(), queues=queue_names())
        version = _create_draft(note=note, specs=specs, based_on=None, actor=actor, source="import")
        if publish:
            apply_default_modes(default_modes or {}, actor=actor)
            _publish(version, actor=actor)
    return version


def policy_rule_add(
    *, number: int, spec: dict[str, Any], actor: Actor, position: int | None = None
) -> Rule:
    """Add a rule to a draft, at the end or at `position` (1 is first)."""
    with transaction.atomic(durable=True):
        lock_policies()
        spec = _complete(
            _validate_rule(0, spec, where="rule", tiers=tier_keys(), queues=queue_names())
        )
        version = _editable_draft(number)
        _check_name_free(version, spec["name"])
        ids = _ordered_ids(version)
        rule = Rule.objects.create(policy_version=version, position=len(ids) + 1, **spec)
        if position is not None and 1 <= position <= len(ids):
            ids.insert(position - 1, rule.pk)
            _renumber(version, ids)
            rule.refresh_from_db(fields=["position"])
        audit_record(
            actor=actor,
            verb=Verb.POLICY_RULE_ADDED,
            object_type="policy_version",
            object_id=version.number,
            data={"rule": spec, "position": rule.position},
        )
    return rule


def policy_rule_update(*, number: int, rule_id: int, spec: dict[str, Any], actor: Actor) -> Rule:
    """Replace a draft rule's fields with `spec` (fields left out take their defaults)."""
    with transaction.atomic(durable=True):
        lock_policies()
        spec = _complete(
            _validate_rule(0, spec, where="rule", tiers=tier_keys(), queues=queue_names())
        )
        version = _editable_draft(number)
        rule = _draft_rule(version, rule_id)
        _check_name_free(version, spec["name"], except_id=rule.pk)
        before = rule.spec()
        changes = {f: [before[f], spec[f]] for f in RULE_SPEC_FIELDS if before[f] != spec[f]}
        if changes:
            for field, value in spec.items():
                setattr(rule, field, value)
            rule.save(update_fields=list(spec))
            audit_record(
                actor=actor,
                verb=Verb.POLICY_RULE_CHANGED,
                object_type="policy_version",
                object_id=version.number,
                data={"rule": before["name"], "changes": changes},
            )
    return rule


def policy_rule_delete(*, number: int, rule_id: int, actor: Actor) -> None:
    with transaction.atomic(durable=True):
        lock_policies()
        version = _editable_draft(number)
        rule = _draft_rule(version, rule_id)
        spec, position = rule.spec(), rule.position
        rule.delete()
        _renumber(version, _ordered_ids(version))
        audit_record(
            actor=actor,
            verb=Verb.POLICY_RULE_REMOVED,
            object_type="policy_version",
            object_id=version.number,
            data={"rule": spec, "position": position},
        )


def policy_rule_move(*, number: int, rule_id: int, to_position: int, actor: Actor) -> Rule:
    """Move a draft rule to `to_position` (clamped to the list); the others keep their order."""
    with transaction.atomic(durable=True):
        lock_policies()
        version = _editable_draft(number)
        rule = _draft_rule(version, rule_id)
        ids = _ordered_ids(version)
        before = ids.index(rule.pk) + 1
        after = min(max(int(to_position), 1), len(ids))
        if after != before:
            ids.remove(rule.pk)
            ids.insert(after - 1, rule.pk)
            _renumber(version, ids)
            rule.position = after
            audit_record(
                actor=actor,
                verb=Verb.POLICY_RULE_MOVED,
                object_type="policy_version",
                object_id=version.number,
                data={"rule": rule.name, "from": before, "to": after},
            )
    return rule


def policy_version_publish(*, number: int, actor: Actor, note: str | None = None) -> PolicyVersion:
    """Freeze a draft and make it the active version; new submissions are decided by it. The
    system only: a person asks a second admin (policies.publication)."""
    _system_only(actor, "Publishing a policy version")
    with transaction.atomic(durable=True):
        lock_policies()
        version = _draft(number)
        _publish(version, actor=actor, note=note[:200] if note is not None else None)
    return version


def check_activatable(version: PolicyVersion) -> None:
    """A version can be made active when it is published and not active already."""
    if version.is_draft:
        raise Conflict(
            f"Version {version.number} is a draft: publish it to make it active.",
            code=Code.POLICY_VERSION_DRAFT,
            details={"version": version.number},
        )
    if version.is_active:
        raise Conflict(
            f"Version {version.number} is already the active one.",
            code=Code.POLICY_VERSION_ALREADY_ACTIVE,
            details={"version": version.number},
        )


def policy_version_activate(*, number: int, actor: Actor, reason: str = "") -> PolicyVersion:
    """Make a published version the active one again (a rollback, or a roll forward). The system
    only: a person asks a second admin (policies.publication)."""
    _system_only(actor, "Activating a policy version")
    with transaction.atomic(durable=True):
        lock_policies()
        version = _version(number)
        check_activatable(version)
        previous = _activate(version)
        audit_record(
            actor=actor,
            verb=Verb.POLICY_ACTIVATED,
            object_type="policy_version",
            object_id=version.number,
            data={"previous_active": previous.number if previous else None, "reason": reason},
        )
    return version


def policy_draft_discard(*, number: int, actor: Actor) -> None:
    """Delete a draft and its rules; published versions stay forever."""
    with transaction.atomic(durable=True):
        lock_policies()
        version = _draft(number)
        rules = [rule.spec() for rule in version.rules.order_by("position", "id")]
        version.delete()
        audit_record(
            actor=actor,
            verb=Verb.POLICY_DRAFT_DISCARDED,
            object_type="policy_version",
            object_id=number,
            data={"note": version.note, "rules": rules},
        )
