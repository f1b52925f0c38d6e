"""The audit log: hash-chained after commit, redacted, append-only in the database itself."""

from __future__ import annotations

import threading

import pytest
from django.db import DatabaseError, connection, transaction

from audit.events import Verb
from audit.models import AuditEvent
from audit.services import (
    GENESIS_HASH,
    REDACTED,
    Actor,
    audit_record,
    audit_seal,
    audit_verify_chain,
    compute_hash,
)


def record(n: int = 1, **data) -> list[AuditEvent]:
    """`n` events written in one transaction, then sealed: as read back, seal and all."""
    events = write(n, **data)
    audit_seal()
    return list(AuditEvent.objects.filter(pk__in=[e.pk for e in events]).order_by("id"))


def write(n: int = 1, **data) -> list[AuditEvent]:
    with transaction.atomic():
        return [
            audit_record(
                actor=Actor.system("test"),
                verb=Verb.REASON_CODE_SAVED,
                object_type="thing",
                object_id=i,
                data={"i": i, **data},
            )
            for i in range(n)
        ]


@pytest.mark.django_db
class TestChain:
    def test_each_event_links_to_the_hash_of_the_one_before(self):
        events = record(3)

        assert [e.seq for e in events] == [1, 2, 3]
        assert events[0].prev_hash == GENESIS_HASH
        assert events[1].prev_hash == events[0].hash
        assert events[2].prev_hash == events[1].hash

    def test_the_stored_hash_is_the_hash_of_the_stored_content(self):
        record(2, note="hello", amount=12000, nested={"b": [1, 2.5, None], "a": True})

        for event in AuditEvent.objects.order_by("seq"):
            assert compute_hash(event) == event.hash

    def test_an_event_is_written_unsealed_in_one_query_and_sealed_after(
        self, django_assert_num_queries
    ):
        with transaction.atomic(), django_assert_num_queries(1):
            event = audit_record(
                actor=Actor.system("test"), verb=Verb.USER_CREATED, object_type="user", object_id=1
            )

        assert (event.seq, event.prev_hash, event.hash) == (None, None, None)
        assert audit_seal() == 1
        event.refresh_from_db()
        assert (event.seq, event.prev_hash) == (1, GENESIS_HASH)
        assert compute_hash(event) == event.hash

    def test_changing_any_field_changes_the_hash(self):
        event = AuditEvent.objects.get(pk=record(1)[0].pk)
        original = compute_hash(event)

        event.data = {**event.data, "i": 99}

        assert compute_hash(event) != original

    def test_an_intact_chain_verifies(self):
        record(5)

        report = audit_verify_chain()

        assert (report.ok, report.checked, report.first_bad_seq) == (True, 5, None)
        assert report.last_hash == AuditEvent.objects.get(seq=5).hash

    def test_text_that_copy_escapes_hashes_the_same_sealed_and_verified(self):
        awkward = "tab\there, line\nbreak\r, back\\slash, \b\f\v\x01 and é"
        with transaction.atomic():
            audit_record(
                actor=Actor.system(awkward),
                verb=Verb.REASON_CODE_SAVED,
                object_type="thing",
                object_id=awkward,
                data={awkward: awkward},
                request_id=awkward,
            )
        audit_seal()

        event = AuditEvent.objects.get()
        assert (event.actor_id, event.data) == (awkward, {awkward: awkward})
        assert compute_hash(event) == event.hash
        assert audit_verify_chain().ok

    def test_an_empty_log_verifies(self):
        assert audit_verify_chain().ok

    def test_sensitive_keys_are_redacted_at_any_depth(self):
        (event,) = record(
            1,
            password="hunter2",
            customer={"name": "Ada", "card_number": "4111111111111111", "cards": [{"CVV": "123"}]},
            headers=[{"X-Api-Key": "cs_abc"}, {"accept": "json"}, {"Authorization": "Api-Key x"}],
            session_token="t0k",
        )

        stored = AuditEvent.objects.get(pk=event.pk).data
        assert stored["password"] == REDACTED
        assert stored["customer"] == {
            "name": "Ada",
            "card_number": REDACTED,
            "cards": [{"CVV": REDACTED}],
        }
        assert stored["headers"] == [
            {"X-Api-Key": REDACTED},
            {"accept": "json"},
            {"Authorization": REDACTED},
        ]
        assert stored["session_token"] == REDACTED

    @pytest.mark.parametrize("key", ["order_id", "amount", "reason", "session", "business-number"])
    def test_ordinary_keys_are_kept(self, key):
        (event,) = record(1, **{key: "kept"})

        assert AuditEvent.objects.get(pk=event.pk).data[key] == "kept"

    def test_the_data_the_caller_passed_is_left_untouched(self):
        data = {"password": "hunter2"}

        with transaction.atomic():
            audit_record(
                actor=Actor.system(),
                verb=Verb.USER_CREATED,
                object_type="user",
                object_id=1,
                data=data,
            )

        assert data == {"password": "hunter2"}


@pytest.mark.django_db
class TestAppendOnly:
    @pytest.mark.parametrize(
        "sql",
        [
            "UPDATE audit_auditevent SET verb = 'action.approved'",
            "UPDATE audit_auditevent SET hash = repeat('0', 64) WHERE seq = 2",
            "UPDATE audit_auditevent SET seq = NULL, prev_hash = NULL, hash = NULL WHERE seq = 2",
            "UPDATE audit_auditevent SET data = '{}'::json WHERE seq = 1",
            "DELETE FROM audit_auditevent WHERE seq = 1",
            "DELETE FROM audit_auditevent",
            "TRUNCATE audit_auditevent",
            "TRUNCATE audit_auditevent RESTART IDENTITY CASCADE",
        ],
    )
    def test_the_database_refuses_updates_deletes_and_truncates_even_to_its_owner(self, sql):
        record(2)

        with (
            pytest.raises(DatabaseError, match="append-only"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(sql)

        assert AuditEvent.objects.count() == 2
        assert audit_verify_chain().ok

    def test_the_content_of_an_event_not_sealed_yet_cannot_change_either(self):
        write(1)

        with (
            pytest.raises(DatabaseError, match="append-only"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute("UPDATE audit_auditevent SET verb = 'action.approved'")

        assert AuditEvent.objects.get().verb == Verb.REASON_CODE_SAVED

    def test_the_orm_cannot_update_or_delete_either(self):
        record(1)

        with pytest.raises(DatabaseError), transaction.atomic():
            AuditEvent.objects.update(verb="x")
        with pytest.raises(DatabaseError), transaction.atomic():
            AuditEvent.objects.all().delete()

        assert AuditEvent.objects.get().verb == Verb.REASON_CODE_SAVED


@pytest.mark.django_db(transaction=True)
def test_recording_outside_a_transaction_is_refused():
    with pytest.raises(RuntimeError, match="inside the transaction"):
        audit_record(actor=Actor.system(), verb=Verb.USER_CREATED, object_type="user", object_id=1)

    assert AuditEvent.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_make_one_gapless_chain():
    start = threading.Barrier(6, timeout=10)
    errors: list[Exception] = []

    def writer():
        try:
            start.wait()
            for _ in range(10):
                record(1)
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=writer) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    assert list(AuditEvent.objects.order_by("seq").values_list("seq", flat=True)) == list(
        range(1, 61)
    )
    assert audit_verify_chain().ok
