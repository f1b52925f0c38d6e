"""Writers append without waiting for one another; sealers chain what committed, every event once,
with no gap and no fork; an event left unsealed is reported."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connection, transaction

from audit.chain import audit_seal, audit_unsealed_past_grace
from audit.checkpoints import audit_verify
from audit.events import Verb
from audit.models import AuditEvent
from audit.services import Actor, audit_record, audit_verify_chain
from tests.clock import frozen


def record(object_id) -> AuditEvent:
    return audit_record(
        actor=Actor.system("test"), verb=Verb.USER_CREATED, object_type="user", object_id=object_id
    )


def chain() -> list[tuple[int, int]]:
    """(seq, id) of every event, in chain order."""
    return list(AuditEvent.objects.order_by("seq").values_list("seq", "id"))


class Rollback(Exception):
    pass


@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_and_sealers_chain_every_committed_event_once_with_no_gap():
    # Arrange: 6 writers (some of whose transactions roll back) and 2 sealers, all at once
    writers, sealers = 6, 2
    start = threading.Barrier(writers + sealers, timeout=10)
    writing = threading.Event()
    errors: list[Exception] = []
    committed: list[int] = []

    def writer(n: int):
        try:
            start.wait()
            for i in range(15):
                try:
                    with transaction.atomic():
                        event = record(f"{n}-{i}")
                        if i % 5 == 4:
                            raise Rollback
                    committed.append(event.pk)
                except Rollback:
                    pass
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()

    def sealer():
        try:
            start.wait()
            while writing.is_set():
                audit_seal(wait=False, batch_size=7)
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()

    writing.set()
    threads = [threading.Thread(target=writer, args=(n,)) for n in range(writers)]
    sealing = [threading.Thread(target=sealer) for _ in range(sealers)]
    for thread in threads + sealing:
        thread.start()

    # Act: the writers finish, the sealers stop, one last seal catches what committed after
    # their last read
    for thread in threads:
        thread.join(timeout=60)
    writing.clear()
    for thread in sealing:
        thread.join(timeout=60)
    audit_seal()

    # Assert: every committed event is in the chain exactly once, in seq 1..N, and it verifies
    assert errors == []
    assert len(committed) == writers * 12
    sealed = chain()
    assert [seq for seq, _ in sealed] == list(range(1, len(committed) + 1))
    assert sorted(event_id for _, event_id in sealed) == sorted(committed)
    assert not AuditEvent.objects.filter(seq__isnull=True).exists()
    assert audit_verify_chain().ok


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_writer_leaves_no_event_and_no_gap():
    with transaction.atomic():
        record(1)
    with pytest.raises(Rollback), transaction.atomic():
        record(2)
        raise Rollback
    with transaction.atomic():
        record(3)

    audit_seal()

    assert list(AuditEvent.objects.order_by("seq").values_list("seq", "object_id")) == [
        (1, "1"),
        (2, "3"),
    ]
    assert audit_verify_chain().ok


@pytest.mark.django_db(transaction=True)
def test_a_writer_holding_its_transaction_open_blocks_neither_another_writer_nor_a_sealer():
    # Arrange: a first writer appends in a transaction it keeps open
    first_wrote, first_may_commit = threading.Event(), threading.Event()
    errors: list[Exception] = []

    def first_writer():
        try:
            with transaction.atomic():
                record("first")
                first_wrote.set()
                assert first_may_commit.wait(timeout=30)
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()

    def second_writer():
        try:
            with transaction.atomic():
                record("second")
        finally:
            connection.close()

    first = threading.Thread(target=first_writer)
    first.start()
    assert first_wrote.wait(timeout=10)

    # Act: a second writer commits on its own connection, with a deadline
    second = threading.Thread(target=second_writer)
    second.start()
    second.join(timeout=10)

    # Assert: it committed while the first is still open, and a sealer chains it at once
    try:
        assert not second.is_alive(), "the second writer waited for the first one's commit"
        assert first.is_alive()
        assert audit_seal() == 1
        assert list(AuditEvent.objects.values_list("object_id", "seq")) == [("second", 1)]
    finally:
        first_may_commit.set()
        first.join(timeout=30)

    # ... and the first writer's event, committed after that seal, gets the next place although
    # its id is the lower one: the seal after catches it (no lost wake-up)
    assert errors == []
    assert audit_seal() == 1
    assert list(AuditEvent.objects.order_by("seq").values_list("object_id", "seq")) == [
        ("second", 1),
        ("first", 2),
    ]
    first_id, second_id = (AuditEvent.objects.get(object_id=o).id for o in ("first", "second"))
    assert first_id < second_id
    assert audit_verify_chain().ok


@pytest.mark.django_db
class TestLostSeals:
    def test_verify_reports_an_event_left_unsealed_past_the_grace(self, settings):
        # Arrange: an event nobody sealed for longer than the grace
        settings.AUDIT_SEAL_GRACE_SECONDS = 60
        with frozen() as clock:
            with transaction.atomic():
                record(1)
            audit_seal()
            with transaction.atomic():
                lost = record(2)
            clock.shift(timedelta(seconds=61))

            # Act
            report = audit_verify()

        # Assert: the chain itself holds (verify sealed the event) but the lost seal fails it
        assert (report.ok, report.checked) == (False, 2)
        assert report.problem.startswith("lost seal: 1 event(s) left unsealed past the 60 s grace")
        assert f"from id {lost.pk}, the earliest written at" in report.problem
        assert AuditEvent.objects.get(pk=lost.pk).seq == 2

    def test_an_event_within_the_grace_is_not_a_lost_seal(self, settings):
        settings.AUDIT_SEAL_GRACE_SECONDS = 60
        with frozen() as clock:
            with transaction.atomic():
                record(1)
            clock.shift(timedelta(seconds=59))

            assert audit_unsealed_past_grace() is None
            report = audit_verify()

        assert (report.ok, report.checked) == (True, 1)


def test_beat_seals_every_second_and_drops_a_run_that_waited_too_long():
    entry = settings.CELERY_BEAT_SCHEDULE["audit-seal"]

    assert entry["task"] == "audit.tasks.audit_seal"
    assert entry["schedule"] <= 1.0
    assert entry["options"]["expires"] > entry["schedule"]
