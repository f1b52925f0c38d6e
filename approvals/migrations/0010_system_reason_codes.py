from django.db import migrations

# The reason codes Countersign itself gives: an SLA ran out (the system rejects), and a handler
# sent an escalated action back to its agent with guidance.
SYSTEM_CODES = [
    ("sla-timeout", "Nobody decided within the SLA", ["timeout"]),
    ("returned-to-agent", "Returned to the agent with guidance", ["return"]),
]


def create(apps, schema_editor):
    ReasonCode = apps.get_model("approvals", "ReasonCode")
    for code, label, kinds in SYSTEM_CODES:
        ReasonCode.objects.get_or_create(code=code, defaults={"label": label, "kinds": kinds})


class Migration(migrations.Migration):
    dependencies = [("approvals", "0009_system_decisions")]

    operations = [migrations.RunPython(create, migrations.RunPython.noop)]
