"""The application's role seals events (beat's `audit-seal` runs as it): UPDATE of the three seal
columns only, which the `audit_seal_once` trigger allows once per event. It still may not change
an event's content, a seal once set, nor delete or truncate (see 0004 and README, "Audit")."""

from importlib import import_module

from django.conf import settings
from django.db import migrations

_role_exists = import_module("audit.migrations.0004_app_role_appends_only")._role_exists


def app_role_seals(apps, schema_editor):
    role = settings.DATABASE_APP_ROLE
    connection = schema_editor.connection
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_user")
        if not role or cursor.fetchone()[0] == role or not _role_exists(cursor, role):
            return  # no second role to grant to (0004 made it where it could)
        name = connection.ops.quote_name(role)
        cursor.execute(f"GRANT UPDATE (seq, prev_hash, hash) ON audit_auditevent TO {name}")


class Migration(migrations.Migration):
    dependencies = [("audit", "0005_seal_after_commit")]
    operations = [migrations.RunPython(app_role_seals, migrations.RunPython.noop)]
