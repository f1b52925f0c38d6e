import hashlib
import json

from django.db import migrations, models

APPROVAL_KINDS = ("approve", "adopt")


def _digest(params) -> str:
    # approvals.models.params_digest as of this migration.
    canonical = json.dumps(params, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def bind_existing(apps, schema_editor):
    """Bind the decisions made before this migration to the params they were counted for.

    What counted before: every approval of an action never edited, and after an edit the
    approvals given after the latest one plus the latest editor's own. Those, and the latest edit,
    are bound to the action's effective params; approvals given before the first edit saw the
    agent's params. Any other (between two edits) saw params no row keeps: it stays unbound ("")
    and counts for nothing, as it counted for nothing before.
    """
    Action = apps.get_model("approvals", "Action")
    Decision = apps.get_model("approvals", "Decision")
    actions = Action.objects.filter(decisions__isnull=False).distinct().order_by("pk")
    for action in actions.iterator(chunk_size=500):
        effective = action.final_params if action.final_params is not None else action.params
        current, agents = _digest(effective), _digest(action.params)
        decisions = list(action.decisions.order_by("created_at", "id"))
        edits = [d for d in decisions if d.kind == "edit"]
        first, latest = (edits[0], edits[-1]) if edits else (None, None)
        for decision in decisions:
            if latest is None or decision.action_version > latest.action_version:
                decision.params_hash = current
            elif decision.pk == latest.pk or (
                decision.kind in APPROVAL_KINDS and decision.by_id == latest.by_id
            ):
                decision.params_hash = current
            elif decision.action_version < first.action_version:
                decision.params_hash = agents
            else:
                continue
            decision.save(update_fields=["params_hash"])


class Migration(migrations.Migration):
    dependencies = [("approvals", "0012_decision_opened_at")]

    operations = [
        migrations.AddField(
            model_name="decision",
            name="params_hash",
            field=models.CharField(blank=True, max_length=64),
        ),
        migrations.RunPython(bind_existing, migrations.RunPython.noop),
    ]
