"""Indexes for keyset pages of the queue, and an SLA due time for every action that awaits a person."""

from datetime import timedelta

import django.db.models.expressions
from django.conf import settings
from django.db import migrations, models
from django.db.models import F


def backfill_sla(apps, schema_editor):
    # Keyset pages compare (sla_due_at, id) rows, which a NULL would drop out of: actions submitted
    # before SLAs existed get the default one from their submission time.
    Action = apps.get_model("approvals", "Action")
    seconds = settings.COUNTERSIGN["DEFAULT_SLA_SECONDS"]
    Action.objects.filter(
        status__in=("pending", "recommended", "drafted"), sla_due_at__isnull=True
    ).update(sla_due_at=F("created_at") + timedelta(seconds=seconds))


class Migration(migrations.Migration):
    dependencies = [
        ("agents", "0002_breakers"),
        ("approvals", "0004_action_priority_sla_claim"),
        ("policies", "0003_published_versions_immutable"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RunPython(backfill_sla, migrations.RunPython.noop),
        migrations.AddIndex(
            model_name="action",
            index=models.Index(
                django.db.models.expressions.CombinedExpression(
                    models.F("priority"), "*", models.Value(-1)
                ),
                models.F("sla_due_at"),
                models.F("id"),
                condition=models.Q(("status__in", ("pending", "recommended", "drafted"))),
                name="action_awaiting_rank",
            ),
        ),
        migrations.AddIndex(
            model_name="action",
            index=models.Index(
                condition=models.Q(("status__in", ("pending", "recommended", "drafted"))),
                fields=["queue", "sla_due_at", "id"],
                name="action_awaiting_queue_sla",
            ),
        ),
        migrations.AddIndex(
            model_name="action",
            index=models.Index(
                models.F("queue"),
                django.db.models.expressions.CombinedExpression(
                    models.F("priority"), "*", models.Value(-1)
                ),
                models.F("sla_due_at"),
                models.F("id"),
                condition=models.Q(("status__in", ("pending", "recommended", "drafted"))),
                name="action_awaiting_queue_rank",
            ),
        ),
    ]
