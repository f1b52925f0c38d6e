"""Publishing and activating policy versions with four eyes: one policy admin asks, another
confirms (or someone withdraws the request).

What the active version allows, agents do, some of it without a person; so a person never
publishes or activates a version alone. A request waits as a `PublicationRequest` row; while it
waits its draft cannot change, so the second admin confirms exactly what they read. The database
refuses a confirmation by the requesting admin too (migration 0006). Each use case runs in one
durable transaction under the policy lock and writes its audit events.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction

from audit.events import Verb
from audit.services import Actor, audit_record
from config import clock
from config.errors import Code, Conflict, Forbidden, NotFound
from policies.locks import lock_policies
from policies.models import PolicyVersion, PublicationRequest
from policies.rule_checks import _validate_rules, queue_names
from policies.services import (
    PolicyVersionPublished,
    _activate,
    _publish,
    _version,
    check_activatable,
)
from policies.tiers import tier_keys

Kind = PublicationRequest.Kind
State = PublicationRequest.State


def _check_may_publish(version: PolicyVersion) -> None:
    if not version.is_draft:
        raise PolicyVersionPublished(
            f"Policy version {version.number} is published already.",
            details={"version": version.number},
        )
    # Checked when asked too, so the second admin is never asked to confirm a draft that would
    # not publish (a rule naming a tier or queue that is gone); checked again on confirmation.
    rules = [rule.spec() for rule in version.rules.order_by("position", "id")]
    _validate_rules(rules, tiers=tier_keys(), queues=queue_names())


def _pending_request(request_id: Any) -> PublicationRequest:
    request = (
        PublicationRequest.objects.select_for_update()
        .select_related("policy_version")
        .filter(pk=request_id if str(request_id).isdigit() else None)
        .first()
    )
    if request is None:
        raise NotFound(
            f"No publication request {request_id}.", code=Code.PUBLICATION_REQUEST_NOT_FOUND
        )
    if request.state != State.PENDING:
        raise Conflict(
            f"This request was {request.state} already.",
            code=Code.PUBLICATION_REQUEST_DECIDED,
            details={"state": request.state},
        )
    return request


def policy_publication_pending(version: PolicyVersion) -> bool:
    """Whether a request to publish or activate `version` waits (call under the policy lock)."""
    return version.publication_requests.filter(state=State.PENDING).exists()


def policy_publication_request(
    *, number: int, kind: str, by, note: str = "", request_id: str = ""
) -> PublicationRequest:
    """Ask a second policy admin to publish draft `number` (with `note` as its publishing note)
    or to make published version `number` active again (`note` says why)."""
    if kind not in Kind.values:
        raise NotFound(f"Nothing to request called {kind!r}.", code=Code.NOT_FOUND)
    with transaction.atomic(durable=True):
        lock_policies()
        version = _version(number)
        if kind == Kind.PUBLISH:
            _check_may_publish(version)
        else:
            check_activatable(version)
        if policy_publication_pending(version):
            raise Conflict(
                f"A request for version {version.number} is already waiting for a second admin.",
                code=Code.PUBLICATION_ALREADY_REQUESTED,
                details={"version": version.number},
            )
        request = PublicationRequest.objects.create(
            policy_version=version,
            kind=kind,
            note=(note or "").strip()[:500],
            requested_by=by,
            requested_at=clock.now(),
        )
        audit_record(
            actor=Actor.user(by.pk),
            verb=Verb.POLICY_PUBLICATION_REQUESTED,
            object_type="policy_version",
            object_id=version.number,
            data={"request_id": request.pk, "kind": kind, "note": request.note},
            request_id=request_id,
        )
    return request


def policy_publication_confirm(*, publication_id: Any, by, request_id: str = "") -> PolicyVersion:
    """A second policy admin confirms a request: the draft is published, or the version made
    active. The admin who asked cannot confirm their own request."""
    with transaction.atomic(durable=True):
        lock_policies()
        request = _pending_request(publication_id)
        if request.requested_by_id == by.pk:
            raise Forbidden(
                "You asked for this yourself: another policy admin must confirm it.",
                code=Code.SECOND_ADMIN_REQUIRED,
            )
        version = _version(request.policy_version.number)
        actor = Actor.user(by.pk)
        if request.kind == Kind.PUBLISH:
            _check_may_publish(version)
            _publish(version, actor=actor, note=request.note[:200] or None)
        else:
            check_activatable(version)
            previous = _activate(version)
            audit_record(
                actor=actor,
                verb=Verb.POLICY_ACTIVATED,
                object_type="policy_version",
                object_id=version.number,
                data={
                    "previous_active": previous.number if previous else None,
                    "reason": request.note,
                    "requested_by": request.requested_by_id,
                },
                request_id=request_id,
            )
        request.state, request.decided_by, request.decided_at = State.CONFIRMED, by, clock.now()
        request.save(update_fields=["state", "decided_by", "decided_at"])
        audit_record(
            actor=actor,
            verb=Verb.POLICY_PUBLICATION_CONFIRMED,
            object_type="policy_version",
            object_id=version.number,
            data={
                "request_id": request.pk,
                "kind": request.kind,
                "requested_by": request.requested_by_id,
            },
            request_id=request_id,
        )
    return version


def policy_publication_withdraw(*, publication_id: Any, by, request_id: str = "") -> None:
    """Take back a waiting request (the admin who asked, or another one turning it down)."""
    with transaction.atomic(durable=True):
        lock_policies()
        request = _pending_request(publication_id)
        request.state, request.decided_by, request.decided_at = State.WITHDRAWN, by, clock.now()
        request.save(update_fields=["state", "decided_by", "decided_at"])
        audit_record(
            actor=Actor.user(by.pk),
            verb=Verb.POLICY_PUBLICATION_WITHDRAWN,
            object_type="policy_version",
            object_id=request.policy_version.number,
            data={
                "request_id": request.pk,
                "kind": request.kind,
                "requested_by": request.requested_by_id,
            },
            request_id=request_id,
        )
