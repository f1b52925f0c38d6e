"""Sealing committed audit events into the hash chain, and verifying the chain.

Writers only insert an event's content (`audit.services.audit_record`); nothing they do waits
for another writer. A sealer chains what has committed: under an advisory lock that only sealers
take, it gives each unsealed event, in insertion order, the next `seq`, the previous event's hash
and its own hash, in one UPDATE per batch that the database allows once per event
(`audit.models.AuditEvent`, `audit_seal_once`). An event's hash is the SHA-256 of

    seq, prev_hash, occurred_at, actor_kind, actor_id, verb, object_type, object_id, request_id,
    data

as PostgreSQL writes them as text (`HASHED_SQL`: the time in UTC, `data` the JSON text as
stored, which a `json` column keeps as written) in one line of COPY's text format (tab between
fields, backslash escapes inside them: `hash_of`), so no two contents give the same bytes. The
hash covers the very columns readers read, and verifying streams those lines from COPY and
hashes them as they come, with nothing parsed, rendered or escaped again per event.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction

from config import clock

GENESIS_HASH = "0" * 64
# What the hash covers, in order, as an evidence pack names it (`data_text`: data as stored).
HASHED_FIELDS = ("seq", "prev_hash", "occurred_at", "actor_kind", "actor_id", "verb",
                 "object_type", "object_id", "request_id", "data_text")  # fmt: skip
# The content's columns as text, whatever the session's time zone (DateStyle is set per use).
CONTENT_SQL = (
    "(occurred_at AT TIME ZONE 'UTC')::text, actor_kind, actor_id, verb, object_type, "
    "object_id, request_id, data::text"
)
HASHED_SQL = "seq::text, prev_hash, " + CONTENT_SQL
# Sealers (never writers) serialize on this key, held only for a seal's own short transaction.
_SEAL_LOCK_KEY = 0x0C0A5162
_sha256 = hashlib.sha256


# COPY's text format: these characters escaped, fields joined by a tab (which is then never one
# inside a field), so no two contents give the same bytes.
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\b": "\\b", "\f": "\\f", "\n": "\\n",
                               "\r": "\\r", "\t": "\\t", "\v": "\\v"})  # fmt: skip


def hash_of(*texts: str) -> str:
    """The hash of an event from the texts of `HASHED_FIELDS`, in that order: the SHA-256 of
    the line PostgreSQL's COPY writes for them (what `audit_verify_chain` reads)."""
    return _sha256("\t".join(t.translate(_COPY_ESCAPES) for t in texts).encode()).hexdigest()


def _iso_dates(cursor) -> None:
    cursor.execute("SET LOCAL DateStyle = 'ISO, MDY'")


def compute_hash(event) -> str:
    """The hash of an event's content as it is in memory (one query: the database writes the
    texts, as it does for the stored row)."""
    with transaction.atomic(), connection.cursor() as cursor:
        _iso_dates(cursor)
        cursor.execute(
            "SELECT " + CONTENT_SQL + " FROM (SELECT %s::timestamptz AS occurred_at, "  # noqa: S608
            "%s::text AS actor_kind, %s::text AS actor_id, %s::text AS verb, "
            "%s::text AS object_type, %s::text AS object_id, %s::text AS request_id, "
            "%s::json AS data) AS event",
            [event.occurred_at, event.actor_kind, event.actor_id, event.verb, event.object_type,
             event.object_id, event.request_id, event.data_text()],
        )  # fmt: skip
        return hash_of(str(event.seq), event.prev_hash, *cursor.fetchone())


# ------------------------------------------------------------------------------------- sealing


def audit_seal(*, wait: bool = True, batch_size: int = 1000) -> int:
    """Chain every committed, unsealed event; how many were sealed. `wait=False` leaves at once
    (sealing nothing) when another sealer holds the lock: that sealer, or the next, will do it.
    Each batch is its own short transaction (a savepoint inside the caller's)."""
    sealed = 0
    while True:
        with transaction.atomic(), connection.cursor() as cursor:
            _iso_dates(cursor)
            if wait:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_SEAL_LOCK_KEY])
            else:
                cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [_SEAL_LOCK_KEY])
                if not cursor.fetchone()[0]:
                    return sealed
            count = seal_batch(cursor, batch_size)
        sealed += count
        if count < batch_size:
            return sealed


def seal_batch(cursor, batch_size: int) -> int:
    """Seal up to `batch_size` unsealed events with `cursor`, which holds the seal lock (or the
    table to itself, in a migration) in a transaction with ISO dates: three statements whatever
    the batch's size."""
    # The lock was taken before these statements: in READ COMMITTED they see the last sealer's
    # commit, so the head is the real head and no seq is given twice.
    cursor.execute(
        "SELECT seq, hash FROM audit_auditevent WHERE seq IS NOT NULL ORDER BY seq DESC LIMIT 1"
    )
    head = cursor.fetchone()
    seq, prev_hash = head if head else (0, GENESIS_HASH)
    cursor.execute(
        "SELECT id, " + CONTENT_SQL + " FROM audit_auditevent "  # noqa: S608 (constant SQL)
        "WHERE seq IS NULL ORDER BY id LIMIT %s",
        [batch_size],
    )
    ids, seqs, prevs, hashes = [], [], [], []
    for event_id, *content in cursor.fetchall():
        seq += 1
        digest = hash_of(str(seq), prev_hash, *content)
        ids.append(event_id)
        seqs.append(seq)
        prevs.append(prev_hash)
        hashes.append(digest)
        prev_hash = digest
    if ids:
        cursor.execute(
            "UPDATE audit_auditevent AS event SET seq = seal.seq, prev_hash = seal.prev_hash, "
            "hash = seal.hash FROM unnest(%s::bigint[], %s::bigint[], %s::text[], %s::text[]) "
            "AS seal(id, seq, prev_hash, hash) WHERE event.id = seal.id",
            [ids, seqs, prevs, hashes],
        )
    return len(ids)


@dataclass(frozen=True)
class Unsealed:
    count: int
    first_id: int
    earliest_at: str


def audit_unsealed_past_grace(*, grace_seconds: float | None = None) -> Unsealed | None:
    """Committed events still unsealed `grace_seconds` after they occurred: a lost seal (the
    sealer is down or failing). None when there is none."""
    if grace_seconds is None:
        grace_seconds = settings.AUDIT_SEAL_GRACE_SECONDS
    cutoff = clock.now() - timedelta(seconds=grace_seconds)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*), min(id), min(occurred_at) FROM audit_auditevent "
            "WHERE seq IS NULL AND occurred_at < %s",
            [cutoff],
        )
        count, oldest_id, oldest_at = cursor.fetchone()
    if not count:
        return None
    return Unsealed(count, oldest_id, oldest_at.isoformat())


# ----------------------------------------------------------------------------------- verifying


@dataclass(frozen=True)
class ChainReport:
    ok: bool
    checked: int
    first_bad_seq: int | None = None
    problem: str = ""
    # The last event read (the head, when the whole chain verified).
    last_seq: int = 0
    last_hash: str = ""
    checkpoints: int = 0


def audit_verify_chain(
    *,
    since_seq: int = 1,
    until_seq: int | None = None,
    checkpoints: Mapping[int, str] | None = None,
) -> ChainReport:
    """Recompute every sealed event's hash in chain order from `since_seq`; report the first
    event that does not fit the chain or whose hash differs from the signed checkpoint
    (`checkpoints`: seq -> hash) at its seq. From a later `since_seq` the first event's link is
    not checked: a checkpoint at that seq vouches for it instead. Unsealed events are not in the
    chain yet (`audit_seal` first to include them)."""
    checkpoints = checkpoints or {}
    expected_prev = GENESIS_HASH.encode() if since_seq == 1 else None
    lines = _chain_lines(since_seq, until_seq)
    try:
        return _verify_lines(lines, since_seq, expected_prev, checkpoints)
    finally:
        lines.close()


def _verify_lines(lines, since_seq, expected_prev, checkpoints) -> ChainReport:
    expected_seq, last_hash, sha256 = since_seq, b"", _sha256
    for line in lines:
        # `<hash>\t<seq>\t<prev_hash>\t...`: everything after the hash is what it covers.
        stored, hashed = line[:64], line[65:-1]
        tab = hashed.index(b"\t")
        seq = int(hashed[:tab])
        if seq != expected_seq:
            problem = "missing event (gap in sequence)"
            checked = expected_seq - since_seq
            return ChainReport(False, checked, expected_seq, problem, expected_seq - 1)
        if expected_prev is not None and hashed[tab + 1 : tab + 65] != expected_prev:
            checked = seq - since_seq
            return ChainReport(False, checked, seq, "previous hash does not match", seq)
        if sha256(hashed).hexdigest().encode() != stored:
            checked = seq - since_seq
            return ChainReport(False, checked, seq, "content does not match its hash", seq)
        if seq in checkpoints and checkpoints[seq].encode() != stored:
            problem = "rewritten: its hash differs from the signed checkpoint at this seq"
            return ChainReport(False, seq - since_seq, seq, problem, seq)
        expected_prev, expected_seq = stored, seq + 1
        last_hash = stored
    checked = expected_seq - since_seq
    return ChainReport(True, checked, last_seq=expected_seq - 1, last_hash=last_hash.decode())


def _chain_lines(since_seq: int, until_seq: int | None) -> Iterator[bytes]:
    """Every sealed event from `since_seq` to `until_seq` in chain order, as the line COPY
    writes for its hash and the fields the hash covers: one streamed statement, plain bytes,
    nothing parsed or converted in Python but the seq."""
    until = until_seq if until_seq is not None else 2**63 - 1
    with transaction.atomic(), connection.cursor() as django_cursor:
        _iso_dates(django_cursor)
        # The chain's order is the seq index's: no sort of the whole log (the planner, with
        # stale statistics, would spill one to disk).
        django_cursor.execute("SET LOCAL enable_sort = off")
        with (
            django_cursor.connection.cursor() as cursor,
            cursor.copy(
                f"COPY (SELECT hash, {HASHED_SQL} FROM audit_auditevent "  # noqa: S608 (ints)
                f"WHERE seq >= {int(since_seq)} AND seq <= {int(until)} "
                "ORDER BY audit_auditevent.seq) TO STDOUT"
            ) as copy,
        ):
            for line in copy:
                yield bytes(line)


def audit_hashed_texts(*, ids: list[int]) -> dict[int, tuple[str, ...]]:
    """The texts of `HASHED_FIELDS` of the events `ids`, by id (an evidence pack carries them)."""
    with transaction.atomic(), connection.cursor() as cursor:
        _iso_dates(cursor)
        cursor.execute(
            "SELECT id, " + HASHED_SQL + " FROM audit_auditevent "  # noqa: S608 (constant SQL)
            "WHERE id = ANY(%s)",
            [ids],
        )
        return {row[0]: tuple(row[1:]) for row in cursor.fetchall()}
