"""The application's database role appends to the audit log, reads it and seals it, and may do
nothing else there: the database refuses it UPDATE of an event's content, DELETE and TRUNCATE by
privilege, and the change of a seal once set by its trigger."""

from __future__ import annotations

from contextlib import contextmanager

import pytest
from django.conf import settings
from django.db import DatabaseError, connection, transaction

from audit.events import Verb
from audit.models import AuditEvent
from audit.services import Actor, audit_record, audit_seal, audit_verify_chain


@contextmanager
def as_the_app_role():
    """This connection acts as the app's role until the block ends (`SET LOCAL ROLE`: the
    privileges checked are that role's, as on a connection it opened itself)."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"SET LOCAL ROLE {connection.ops.quote_name(settings.DATABASE_APP_ROLE)}")
        yield cursor
        cursor.execute("RESET ROLE")


def record(n: int, *, seal: bool = True) -> None:
    with transaction.atomic():
        for i in range(n):
            audit_record(
                actor=Actor.system("test"), verb=Verb.USER_CREATED, object_type="user", object_id=i
            )
    if seal:
        audit_seal()


@pytest.mark.django_db
class TestTheAppRole:
    def test_the_migrations_made_the_role_and_gave_it_only_select_and_insert(self):
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT privilege, has_table_privilege(%s, 'audit_auditevent', privilege) "
                "FROM unnest(ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', "
                "'REFERENCES', 'TRIGGER']) AS privilege",
                [settings.DATABASE_APP_ROLE],
            )
            held = {privilege for privilege, granted in cursor.fetchall() if granted}

        assert held == {"SELECT", "INSERT"}

    def test_it_may_update_only_the_seal_columns(self):
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT attname FROM pg_attribute WHERE attrelid = 'audit_auditevent'::regclass "
                "AND attnum > 0 AND NOT attisdropped "
                "AND has_column_privilege(%s, 'audit_auditevent', attname, 'UPDATE')",
                [settings.DATABASE_APP_ROLE],
            )
            updatable = {name for (name,) in cursor.fetchall()}

        assert updatable == {"seq", "prev_hash", "hash"}

    def test_it_appends_to_the_chain_reads_it_and_seals_it(self):
        record(2)

        with as_the_app_role() as cursor:
            cursor.execute("SELECT current_user")
            (acting_as,) = cursor.fetchone()
            audit_record(
                actor=Actor.system("test"), verb=Verb.USER_CREATED, object_type="user", object_id=9
            )
            sealed = audit_seal()
            count = AuditEvent.objects.count()

        assert acting_as == settings.DATABASE_APP_ROLE
        assert (count, sealed) == (3, 1)
        assert AuditEvent.objects.get(object_id="9").seq == 3
        assert audit_verify_chain().ok

    @pytest.mark.parametrize(
        "sql",
        [
            "UPDATE audit_auditevent SET verb = 'action.approved' WHERE seq = 1",
            "DELETE FROM audit_auditevent WHERE seq = 2",
            "TRUNCATE audit_auditevent",
        ],
    )
    def test_it_is_refused_updates_deletes_and_truncates_by_privilege(self, sql):
        record(2)

        with (
            pytest.raises(DatabaseError, match="permission denied for table audit_auditevent"),
            as_the_app_role() as cursor,
        ):
            cursor.execute(sql)

        assert AuditEvent.objects.count() == 2
        assert audit_verify_chain().ok

    @pytest.mark.parametrize(
        "sql",
        [
            "UPDATE audit_auditevent SET hash = repeat('0', 64) WHERE seq = 1",
            "UPDATE audit_auditevent SET seq = 9 WHERE seq = 2",
            "UPDATE audit_auditevent SET seq = NULL, prev_hash = NULL, hash = NULL WHERE seq = 2",
        ],
    )
    def test_it_cannot_change_a_seal_once_set(self, sql):
        record(2)

        with pytest.raises(DatabaseError, match="append-only"), as_the_app_role() as cursor:
            cursor.execute(sql)

        assert list(AuditEvent.objects.order_by("id").values_list("seq", flat=True)) == [1, 2]
        assert audit_verify_chain().ok

    def test_a_seal_it_forges_on_an_unsealed_event_fails_verification(self):
        record(1)
        record(1, seal=False)

        with as_the_app_role() as cursor:
            cursor.execute(
                "UPDATE audit_auditevent SET seq = 2, prev_hash = repeat('a', 64), "
                "hash = repeat('b', 64) WHERE seq IS NULL"
            )

        report = audit_verify_chain()
        assert (report.ok, report.first_bad_seq) == (False, 2)
        assert report.problem == "previous hash does not match"

    def test_it_cannot_switch_the_guard_off_either(self):
        record(1)

        with pytest.raises(DatabaseError, match="must be owner"), as_the_app_role() as cursor:
            cursor.execute("ALTER TABLE audit_auditevent DISABLE TRIGGER ALL")

        assert AuditEvent.objects.count() == 1
