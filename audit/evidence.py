"""Evidence packs: what happened to one object, its audit events and the signed checkpoint that
covers them, sealed so that it can be checked offline, away from the database.

The app that owns the object says what it is (`subject`) and which events are its; this module
checks those events against the chain and a checkpoint before sealing, and checks a pack offline.
A pack is served and stored as its canonical JSON (`audit.signing.canonical`): any byte changed
either changes what the seal covers or the form, and both are refused.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from django.core.serializers.json import DjangoJSONEncoder

from audit.chain import (
    HASHED_FIELDS,
    audit_hashed_texts,
    audit_seal,
    audit_verify_chain,
    hash_of,
)
from audit.checkpoints import (
    AuditChainBroken,
    audit_checkpoint_write,
    checkpoint_from,
    checkpoints_read,
)
from audit.models import AuditEvent
from audit.signing import BadSeal, canonical, seal, unseal
from config import clock

FORMAT = "countersign.evidence/1"


def _event_document(event: AuditEvent, texts: Sequence[str]) -> dict[str, Any]:
    """An event as its hash covers it: the texts of `HASHED_FIELDS` the hash was computed over
    (the time as the database wrote it, `data_text` the JSON as stored), `data` parsed for the
    reader (checked against `data_text` offline), its id and hash."""
    document: dict[str, Any] = dict(zip(HASHED_FIELDS, texts, strict=True))
    document["seq"] = int(document["seq"])
    return {"id": event.pk, **document, "data": event.data, "hash": event.hash}


def _sealed(events: Sequence[AuditEvent]) -> list[tuple[AuditEvent, Sequence[str]]]:
    """The events, sealed first if they were not yet, in chain order, with their hashed texts."""
    audit_seal()
    sealed = AuditEvent.objects.filter(pk__in=[e.pk for e in events]).order_by("seq")
    texts = audit_hashed_texts(ids=[e.pk for e in events])
    return [(event, texts[event.pk]) for event in sealed]


def evidence_seal(*, subject: dict[str, Any], events: Sequence[AuditEvent]) -> bytes:
    """The sealed pack, as the bytes to serve: `subject`, `events` and the earliest checkpoint at
    or after the last of them (written now if none covers it yet). The chain from the first event
    to that checkpoint is verified first: a broken chain gets no pack (AuditChainBroken). Events
    not sealed yet are sealed first."""
    events = _sealed(events) if events else []
    checkpoint = None
    if events:
        last = events[-1][0].seq
        checkpoint = checkpoints_read().covering(last)
        if checkpoint is None:
            audit_checkpoint_write()
            checkpoint = checkpoints_read().covering(last)
        report = audit_verify_chain(
            since_seq=events[0][0].seq,
            until_seq=checkpoint.seq,
            checkpoints={checkpoint.seq: checkpoint.hash},
        )
        if not report.ok or report.last_seq != checkpoint.seq:
            raise AuditChainBroken(
                f"The audit chain does not verify at seq {report.first_bad_seq}: "
                f"{report.problem or 'events missing'}.",
                details={"seq": report.first_bad_seq, "problem": report.problem},
            )
    document = {
        "format": FORMAT,
        "generated_at": clock.now().isoformat(),
        "subject": json.loads(json.dumps(subject, cls=DjangoJSONEncoder)),
        "events": [_event_document(event, texts) for event, texts in events],
        "checkpoint": checkpoint.sealed if checkpoint else None,
    }
    return canonical(seal(document))


def evidence_verify(content: bytes, *, trusted: Ed25519PublicKey) -> tuple[dict, list[str]]:
    """Check a pack offline: its form and seal, each event's hash over its content, the links
    between events next to each other in the chain, and the checkpoint's seal and reach. The
    pack's document and the problems found (none: it holds)."""
    try:
        sealed = json.loads(content)
    except (UnicodeDecodeError, ValueError):
        return {}, ["not JSON"]
    if canonical(sealed) != content:
        return {}, ["not in canonical form: the file was changed after it was sealed"]
    try:
        document = unseal(sealed, trusted=trusted)
    except BadSeal as exc:
        return {}, [f"the pack's seal does not verify: {exc}"]
    if document.get("format") != FORMAT:
        return document, ["not an evidence pack"]
    problems: list[str] = []
    events = document.get("events") or []
    previous = None
    for event in events:
        try:
            recomputed = hash_of(str(event["seq"]), *(event[name] for name in HASHED_FIELDS[1:]))
            content = json.loads(event["data_text"])
            shown = event["data"]
        except (KeyError, TypeError, ValueError):
            problems.append(f"event {event.get('seq')}: fields missing")
            continue
        if recomputed != event.get("hash"):
            problems.append(f"event {event['seq']}: content does not match its hash")
        if content != shown:
            problems.append(f"event {event['seq']}: its data differs from the data hashed")
        if previous and event["seq"] == previous["seq"] + 1:
            if event["prev_hash"] != previous["hash"]:
                problems.append(f"event {event['seq']}: does not link to event {previous['seq']}")
        elif previous and event["seq"] <= previous["seq"]:
            problems.append(f"event {event['seq']}: out of order")
        previous = event
    if events:
        problems += _checkpoint_problems(document.get("checkpoint"), events, trusted=trusted)
    return document, problems


def _checkpoint_problems(sealed, events: list[dict], *, trusted) -> list[str]:
    try:
        checkpoint = checkpoint_from(sealed, trusted=trusted)
    except BadSeal as exc:
        return [f"the checkpoint's seal does not verify: {exc}"]
    last = events[-1]["seq"]
    if checkpoint.seq < last:
        return [f"the checkpoint (seq {checkpoint.seq}) does not cover event {last}"]
    at = next((e for e in events if e["seq"] == checkpoint.seq), None)
    if at is not None and at["hash"] != checkpoint.hash:
        return [f"event {at['seq']}: its hash differs from the checkpoint's"]
    return []
