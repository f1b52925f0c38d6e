"""Signed checkpoints of the chain's head, outside the database, and `verify_audit` against them:
a rewrite with every hash recomputed, a truncated tail and a gap are caught; so is a checkpoint
file changed or signed with another key."""

from __future__ import annotations

import base64
import io
import json
from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.core.management import call_command
from django.db import connection, transaction

from audit.checkpoints import AuditChainBroken, audit_checkpoint_write, checkpoints_read
from audit.events import Verb
from audit.models import AuditEvent
from audit.services import Actor, audit_record, audit_seal, audit_verify_chain, compute_hash
from audit.signing import seal, trusted_public_key, unseal

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def record(n: int) -> None:
    """`n` events, committed (as far as the test's transaction goes) and sealed."""
    with transaction.atomic():
        for i in range(n):
            audit_record(
                actor=Actor.system("test"),
                verb=Verb.REASON_CODE_SAVED,
                object_type="reason_code",
                object_id=f"code-{i}",
                data={"label": f"Label {i}"},
            )
    audit_seal()


def behind_the_apps_back(sql: str, params=()) -> None:
    """What the database's owner can do: switch the guard off and change rows."""
    with connection.cursor() as cursor:
        cursor.execute("SET session_replication_role = replica")
        try:
            cursor.execute(sql, params)
        finally:
            cursor.execute("SET session_replication_role = DEFAULT")


def rewrite_and_rehash(seq: int, **changes) -> None:
    """Change event `seq` and recompute its hash and every later one: a chain that verifies
    against itself."""
    prev = None
    for event in AuditEvent.objects.filter(seq__gte=seq).order_by("seq"):
        if event.seq == seq:
            for field, value in changes.items():
                setattr(event, field, value)
        else:
            event.prev_hash = prev
        event.hash = prev = compute_hash(event)
        behind_the_apps_back(
            "UPDATE audit_auditevent SET actor_id = %s, data = %s::json, prev_hash = %s, "
            "hash = %s WHERE seq = %s",
            [event.actor_id, json.dumps(event.data), event.prev_hash, event.hash, event.seq],
        )


def another_key() -> str:
    """AUDIT_SIGNING_KEY's form of a new key: base64 of its 32 bytes."""
    return base64.b64encode(Ed25519PrivateKey.generate().private_bytes_raw()).decode()


def run(command: str, *args) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command(command, *args, stdout=out, stderr=err)
    except SystemExit as exc:
        return int(exc.code), out.getvalue(), err.getvalue()
    return 0, out.getvalue(), err.getvalue()


@pytest.mark.django_db
class TestWritingCheckpoints:
    def test_the_command_seals_the_heads_seq_hash_and_time_into_a_file(
        self, frozen_clock, audit_checkpoint_dir
    ):
        frozen_clock.move_to(T0)
        record(3)
        head = AuditEvent.objects.get(seq=3)

        code, out, _ = run("audit_checkpoint")

        assert code == 0
        assert f"checkpoint at seq 3 (hash {head.hash})" in out
        (path,) = audit_checkpoint_dir.glob("*.json")
        assert path.name == "000000000003.json"
        document = unseal(json.loads(path.read_text()), trusted=trusted_public_key())
        assert document == {
            "format": "countersign.audit-checkpoint/1",
            "checkpoint": {
                "seq": 3,
                "hash": head.hash,
                "occurred_at": T0.isoformat(),
                "signed_at": T0.isoformat(),
            },
        }

    def test_nothing_new_writes_nothing_new_and_new_events_a_new_checkpoint(
        self, audit_checkpoint_dir
    ):
        record(2)
        first = audit_checkpoint_write()

        again = audit_checkpoint_write()
        record(1)
        later = audit_checkpoint_write()

        assert (first.seq, again.seq, later.seq) == (2, 2, 3)
        assert sorted(p.name for p in audit_checkpoint_dir.glob("*.json")) == [
            "000000000002.json",
            "000000000003.json",
        ]

    def test_an_empty_log_gets_no_checkpoint(self, audit_checkpoint_dir):
        code, out, _ = run("audit_checkpoint")

        assert (code, out.strip()) == (0, "the audit log is empty: nothing to checkpoint")
        assert list(audit_checkpoint_dir.glob("*.json")) == []

    def test_a_rewritten_chain_is_never_sealed(self, audit_checkpoint_dir):
        record(3)
        audit_checkpoint_write()
        record(2)
        rewrite_and_rehash(2, actor_id="someone-else")

        code, _, err = run("audit_checkpoint")

        assert code == 1
        assert "no checkpoint written: The audit chain is broken at seq 3" in err
        assert [c.seq for c in checkpoints_read().valid] == [3]
        with pytest.raises(AuditChainBroken):
            audit_checkpoint_write()

    def test_beat_writes_one_on_a_schedule(self, settings):
        entry = settings.CELERY_BEAT_SCHEDULE["audit-checkpoint"]

        assert entry["task"] == "audit.tasks.audit_checkpoint"
        assert entry["schedule"] == 300.0


@pytest.mark.django_db
class TestVerifyingAgainstCheckpoints:
    def test_an_intact_chain_verifies_against_its_checkpoints(self):
        record(3)
        audit_checkpoint_write()
        record(2)
        audit_checkpoint_write()

        code, out, _ = run("verify_audit")

        assert code == 0
        assert "audit chain intact: 5 events, 2 signed checkpoints" in out

    def test_a_rewritten_row_with_the_whole_chain_recomputed_fails_on_the_checkpoint(self):
        record(4)
        audit_checkpoint_write()
        record(2)
        rewrite_and_rehash(2, data={"label": "what it never said"})
        assert audit_verify_chain().ok  # the chain alone cannot tell

        code, _, err = run("verify_audit")

        assert code == 1
        assert (
            "audit chain BROKEN at seq 4: rewritten: its hash differs from the signed "
            "checkpoint at this seq (3 events verified before it)"
        ) in err

    def test_a_deleted_tail_fails_as_truncated(self):
        record(5)
        audit_checkpoint_write()
        behind_the_apps_back("DELETE FROM audit_auditevent WHERE seq > 3")

        code, _, err = run("verify_audit")

        assert code == 1
        assert "audit chain BROKEN at seq 4: truncated: the chain ends at seq 3 but a " in err
        assert "covers seq 5" in err

    def test_a_log_emptied_entirely_fails_as_truncated(self):
        record(2)
        audit_checkpoint_write()
        behind_the_apps_back("TRUNCATE audit_auditevent")

        code, _, err = run("verify_audit")

        assert code == 1
        assert "truncated: the chain ends at seq 0" in err

    def test_a_deleted_event_in_the_middle_fails_as_a_gap(self):
        record(4)
        audit_checkpoint_write()
        behind_the_apps_back("DELETE FROM audit_auditevent WHERE seq = 2")

        code, _, err = run("verify_audit")

        assert code == 1
        assert "audit chain BROKEN at seq 2: missing event (gap in sequence)" in err

    def test_a_checkpoint_file_with_one_byte_changed_fails(self, audit_checkpoint_dir):
        record(2)
        audit_checkpoint_write()
        path = audit_checkpoint_dir / "000000000002.json"
        content = bytearray(path.read_bytes())
        at = content.index(b'"seq": 2') + len(b'"seq": ')
        content[at] = ord("1")
        path.write_bytes(bytes(content))

        code, _, err = run("verify_audit")

        assert code == 1
        assert "seal that does not verify: 000000000002.json" in err

    def test_a_checkpoint_sealed_with_another_key_fails(self, audit_checkpoint_dir, settings):
        record(2)
        head = AuditEvent.objects.get(seq=2)
        forged = {
            "format": "countersign.audit-checkpoint/1",
            "checkpoint": {"seq": 2, "hash": head.hash, "occurred_at": "", "signed_at": ""},
        }
        settings.AUDIT_SIGNING_KEY = another_key()
        audit_checkpoint_dir.mkdir()
        (audit_checkpoint_dir / "000000000002.json").write_text(json.dumps(seal(forged)))
        settings.AUDIT_SIGNING_KEY = ""

        code, _, err = run("verify_audit")

        assert code == 1
        assert "seal that does not verify: 000000000002.json" in err

    def test_without_checkpoints_the_chain_verifies_with_a_warning(self):
        record(2)

        code, out, err = run("verify_audit")

        assert code == 0
        assert "2 events, 0 signed checkpoints" in out
        assert "warning: no signed checkpoint" in err
