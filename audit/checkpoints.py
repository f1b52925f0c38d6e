"""Signed checkpoints of the audit chain's head, kept outside the database, and verifying the
chain against them.

A checkpoint says "at `signed_at` the chain's event `seq` had hash `hash`", sealed with the audit
signing key (`audit.signing`). It is one JSON file per seq in `AUDIT_CHECKPOINT_DIR`, written once
and never changed. Rewriting an event and recomputing every hash after it changes the hash at the
next checkpointed seq; deleting the tail leaves the chain shorter than a checkpoint; neither can
be hidden without the key, which is not in the database.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from django.conf import settings

from audit.chain import ChainReport, audit_seal, audit_unsealed_past_grace, audit_verify_chain
from audit.models import AuditEvent
from audit.signing import BadSeal, seal, trusted_public_key, unseal
from config import clock
from config.errors import Code, Conflict

logger = logging.getLogger(__name__)

FORMAT = "countersign.audit-checkpoint/1"


class AuditChainBroken(Conflict):
    default_code = Code.AUDIT_CHAIN_BROKEN


@dataclass(frozen=True)
class Checkpoint:
    seq: int
    hash: str
    occurred_at: str  # the head event's time
    signed_at: str
    sealed: dict[str, Any]  # the file's contents, seal and all


@dataclass(frozen=True)
class CheckpointSet:
    valid: list[Checkpoint]  # by seq
    # Files in the directory whose seal does not verify (or that are not checkpoints at all).
    bad: list[str]

    @property
    def latest(self) -> Checkpoint | None:
        return self.valid[-1] if self.valid else None

    def covering(self, seq: int) -> Checkpoint | None:
        """The earliest checkpoint at or after `seq`: it vouches for every event up to `seq`."""
        return next((c for c in self.valid if c.seq >= seq), None)


def checkpoint_dir() -> Path:
    return Path(settings.AUDIT_CHECKPOINT_DIR)


def _file_name(seq: int) -> str:
    return f"{seq:012d}.json"


def checkpoint_from(sealed: Any, *, trusted) -> Checkpoint:
    """The checkpoint a sealed document holds; BadSeal if the seal or its shape is wrong."""
    document = unseal(sealed, trusted=trusted)
    body = document.get("checkpoint")
    if document.get("format") != FORMAT or not isinstance(body, dict):
        raise BadSeal("not an audit checkpoint")
    try:
        return Checkpoint(
            seq=int(body["seq"]),
            hash=str(body["hash"]),
            occurred_at=str(body["occurred_at"]),
            signed_at=str(body["signed_at"]),
            sealed=sealed,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise BadSeal("not an audit checkpoint") from exc


def checkpoints_read(*, trusted: Ed25519PublicKey | None = None) -> CheckpointSet:
    """Every checkpoint in the directory whose seal the `trusted` key (by default the signing
    key's public half) verifies; the others by file name."""
    directory = checkpoint_dir()
    paths = sorted(directory.glob("*.json")) if directory.is_dir() else []
    if paths and trusted is None:
        trusted = trusted_public_key()
    valid, bad = [], []
    for path in paths:
        try:
            checkpoint = checkpoint_from(json.loads(path.read_bytes()), trusted=trusted)
        except (BadSeal, ValueError):
            bad.append(path.name)
            continue
        if path.name != _file_name(checkpoint.seq):
            bad.append(path.name)  # a valid checkpoint copied over another seq's file
            continue
        valid.append(checkpoint)
    return CheckpointSet(sorted(valid, key=lambda c: c.seq), bad)


def _write_once(directory: Path, name: str, content: bytes) -> None:
    """Write the file whole or not at all, and never over an existing one."""
    directory.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=directory, prefix=".checkpoint-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(content)
            out.flush()
            os.fsync(out.fileno())
        # An existing file is the same head, checkpointed a moment ago by another process.
        with contextlib.suppress(FileExistsError):
            os.link(temporary, directory / name)
    finally:
        os.unlink(temporary)


def audit_checkpoint_write() -> Checkpoint | None:
    """Seal the chain's head into a new checkpoint, once the events since the latest checkpoint
    verify against it; None while the log is empty. Events committed but not chained yet are
    chained first: the checkpoint covers only sealed events. A chain that does not verify gets no
    checkpoint (a rewrite must never be sealed): AuditChainBroken."""
    audit_seal()
    existing = checkpoints_read()
    latest = existing.latest
    report = audit_verify_chain(
        since_seq=latest.seq if latest else 1,
        checkpoints={latest.seq: latest.hash} if latest else {},
    )
    report = _with_tail_checked(report, latest)
    if not report.ok:
        logger.error("audit chain broken at seq %s: %s", report.first_bad_seq, report.problem)
        raise AuditChainBroken(
            f"The audit chain is broken at seq {report.first_bad_seq}: {report.problem}.",
            details={"seq": report.first_bad_seq, "problem": report.problem},
        )
    if report.last_seq == 0:
        return None
    if latest and latest.seq == report.last_seq:
        return latest  # nothing new since: the latest checkpoint is the head's
    head = AuditEvent.objects.only("seq", "occurred_at", "hash").get(seq=report.last_seq)
    sealed = seal(
        {
            "format": FORMAT,
            "checkpoint": {
                "seq": head.seq,
                "hash": head.hash,
                "occurred_at": head.occurred_at.isoformat(),
                "signed_at": clock.now().isoformat(),
            },
        }
    )
    content = json.dumps(sealed, sort_keys=True, indent=1).encode() + b"\n"
    _write_once(checkpoint_dir(), _file_name(head.seq), content)
    return checkpoint_from(json.loads(content), trusted=trusted_public_key())


def _with_tail_checked(report: ChainReport, latest: Checkpoint | None) -> ChainReport:
    """A chain that ends before the latest checkpoint lost its tail."""
    if report.ok and latest and report.last_seq < latest.seq:
        problem = (
            f"truncated: the chain ends at seq {report.last_seq} but a checkpoint signed at "
            f"{latest.signed_at} covers seq {latest.seq}"
        )
        return replace(report, ok=False, first_bad_seq=report.last_seq + 1, problem=problem)
    return report


def audit_verify(*, trusted: Ed25519PublicKey | None = None) -> ChainReport:
    """The whole chain, checked link by link and against every signed checkpoint: a rewrite
    (a hash at a checkpointed seq differs), a truncated tail (the chain is shorter than a
    checkpoint) or a gap fails it, and so does a checkpoint file whose seal does not verify, and
    an event that was left unsealed past `AUDIT_SEAL_GRACE_SECONDS` (a lost seal: nothing chained
    it, so nothing vouched for it all that time). Pending events are sealed first, so the chain
    checked holds every event committed before the call."""
    lost = audit_unsealed_past_grace()
    audit_seal()
    checkpoints = checkpoints_read(trusted=trusted)
    if checkpoints.bad:
        problem = f"checkpoint files with a seal that does not verify: {', '.join(checkpoints.bad)}"
        return ChainReport(False, 0, None, problem, checkpoints=len(checkpoints.valid))
    report = audit_verify_chain(checkpoints={c.seq: c.hash for c in checkpoints.valid})
    report = _with_tail_checked(report, checkpoints.latest)
    if report.ok and lost is not None:
        problem = (
            f"lost seal: {lost.count} event(s) left unsealed past the "
            f"{settings.AUDIT_SEAL_GRACE_SECONDS:g} s grace, from id {lost.first_id}, the "
            f"earliest written at {lost.earliest_at} (is beat's `audit-seal` running?)"
        )
        report = replace(report, ok=False, problem=problem)
    return replace(report, checkpoints=len(checkpoints.valid))
