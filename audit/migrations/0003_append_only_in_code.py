"""The append-only guard moves into code (django-pgtrigger, on `AuditEvent`) and refuses TRUNCATE too;
the hand-written trigger of 0002 goes."""

from importlib import import_module

import pgtrigger.compiler
import pgtrigger.migrations
from django.db import migrations

DROP_HAND_WRITTEN = """
DROP TRIGGER IF EXISTS audit_event_no_update_delete ON audit_auditevent;
DROP FUNCTION IF EXISTS audit_event_refuse_change();
"""


class Migration(migrations.Migration):

    dependencies = [
        ('audit', '0002_append_only'),
    ]

    operations = [
        migrations.RunSQL(
            DROP_HAND_WRITTEN,
            reverse_sql=import_module("audit.migrations.0002_append_only").FORWARD,
        ),
        pgtrigger.migrations.AddTrigger(
            model_name='auditevent',
            trigger=pgtrigger.compiler.Trigger(name='audit_append_only', sql=pgtrigger.compiler.UpsertTriggerSql(func="\n    RAISE EXCEPTION 'audit_auditevent is append-only: % refused', TG_OP\n        USING ERRCODE = 'insufficient_privilege';\n", hash='9fd75af67cbacf68c3a294fd748746077baf478f', level='STATEMENT', operation='UPDATE OR DELETE OR TRUNCATE', pgid='pgtrigger_audit_append_only_f6eda', table='audit_auditevent', when='BEFORE')),
        ),
    ]
