"""The application's database role may append to the audit log and read it, nothing more.

Migrations run as the role that owns the tables (docker-compose: `migrate` connects as the owner,
the app as `DATABASE_APP_ROLE`; see README, "Audit"). This grants the app role SELECT and INSERT on
`audit_auditevent` and takes back UPDATE, DELETE and TRUNCATE, which the deployment's default
privileges give it on every other table. Where the role does not exist yet it is created (NOLOGIN)
if the migrating role may create roles (a superuser: a laptop, the test database), and otherwise
this is a no-op: create the role, then grant by hand as the README says.
"""

from django.conf import settings
from django.db import IntegrityError, ProgrammingError, migrations, transaction


def _role_exists(cursor, role: str) -> bool:
    cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role])
    return cursor.fetchone() is not None


def app_role_appends_only(apps, schema_editor):
    role = settings.DATABASE_APP_ROLE
    connection = schema_editor.connection
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_user")
        if not role or cursor.fetchone()[0] == role:
            return  # the app migrates as itself: there is no second role to restrict
        name = connection.ops.quote_name(role)
        if not _role_exists(cursor, role):
            try:
                with transaction.atomic(using=connection.alias):
                    cursor.execute(f"CREATE ROLE {name} NOLOGIN")
            except (ProgrammingError, IntegrityError):
                # Not allowed to create roles, or another database's migration just created it
                # (roles belong to the whole server).
                if not _role_exists(cursor, role):
                    return
        cursor.execute(f"GRANT USAGE ON SCHEMA public TO {name}")
        cursor.execute(f"GRANT SELECT, INSERT ON audit_auditevent TO {name}")
        cursor.execute(
            "REVOKE UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER ON audit_auditevent "
            f"FROM PUBLIC, {name}"
        )


class Migration(migrations.Migration):
    dependencies = [("audit", "0003_append_only_in_code")]
    operations = [migrations.RunPython(app_role_appends_only, migrations.RunPython.noop)]
