"""`manage.py policy`: export, import (all or nothing), simulate and diff from the command line."""

from __future__ import annotations

import io
import subprocess
import sys
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from approvals.models import Action
from approvals.services import action_submit
from audit.models import AuditEvent
from audit.services import Actor
from policies import services
from policies.models import PolicyVersion, Rule
from policies.yaml_io import policy_to_yaml
from tests.conftest import ROOT, _process_env

pytestmark = pytest.mark.django_db


def run(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("policy", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def state() -> tuple[int, int, int, list[str]]:
    return (
        PolicyVersion.objects.count(),
        Rule.objects.count(),
        AuditEvent.objects.count(),
        list(PolicyVersion.objects.filter(is_active=True).values_list("note", flat=True)),
    )


# ---------------------------------------------------------------------------------------------
# export


def test_export_prints_the_active_version_as_yaml(demo):
    out, _ = run("export")

    assert out == policy_to_yaml(PolicyVersion.objects.get(is_active=True))
    assert "name: refund-over-50-needs-approval" in out


def test_export_writes_a_given_version_to_a_file(demo, tmp_path):
    draft = services.policy_draft_create(actor=Actor.system("test"))
    target = tmp_path / "draft.yaml"

    out, err = run("export", "--version", str(draft.number), "--output", str(target))

    assert out == ""
    assert f"wrote v{draft.number} (draft)" in err
    assert target.read_text() == policy_to_yaml(draft)
    assert "rules: []" in target.read_text()


def test_export_of_an_unknown_version_fails(demo):
    with pytest.raises(CommandError, match="No policy version 99"):
        run("export", "--version", "99")


# ---------------------------------------------------------------------------------------------
# import


def test_import_creates_a_draft_and_changes_nothing_active(demo, tmp_path):
    path = tmp_path / "policy.yaml"
    path.write_text(run("export")[0].replace("amount > 5000\n", "amount > 2000\n"))
    active = PolicyVersion.objects.get(is_active=True)

    out, _ = run("import", str(path), "--note", "lower gate")

    draft = PolicyVersion.objects.order_by("-number").first()
    assert out.strip() == f"imported 6 rule(s) and 4 tier(s) as v{draft.number} (draft)"
    assert (draft.status, draft.note) == ("draft", "lower gate")
    assert draft.rules.get(name="refund-over-50-needs-approval").condition == (
        "params.amount > 2000"
    )
    assert PolicyVersion.objects.get(is_active=True) == active


def test_import_with_publish_makes_the_file_the_active_policy(demo, tmp_path):
    path = tmp_path / "policy.yaml"
    path.write_text(
        "note: only escalate\nrules:\n  - {name: all, action_type: '*', mode: escalate}\n"
    )

    out, _ = run("import", str(path), "--publish")

    active = PolicyVersion.objects.get(is_active=True)
    assert out.strip() == f"imported 1 rule(s) as v{active.number} (published and active)"
    assert active.note == "only escalate"
    assert [r.name for r in active.rules.all()] == ["all"]
    assert AuditEvent.objects.filter(verb="policy.published", object_id=active.number).exists()


def test_export_import_export_through_the_command_gives_the_same_yaml(demo, tmp_path):
    path = tmp_path / "policy.yaml"
    run("export", "--with-defaults", "--output", str(path))

    run("import", str(path), "--publish")
    again, _ = run("export", "--with-defaults")

    assert again == path.read_text()


BROKEN_FILES = {
    "bad-yaml": "rules: [\n  - name: r\n",
    "unknown-field": "rules:\n  - {name: r, action_type: a.b, mode: escalate, colour: red}\n",
    "bad-mode": "rules:\n  - {name: r, action_type: a.b, mode: sometimes}\n",
    "bad-cel": "rules:\n  - {name: r, action_type: a.b, mode: escalate, condition: 'x >'}\n",
    "repeated-name": "rules:\n  - {name: r, action_type: a.b, mode: escalate}\n"
    "  - {name: r, action_type: a.b, mode: forbidden}\n",
    "one-good-rule-one-bad": "rules:\n  - {name: ok, action_type: a.b, mode: escalate}\n"
    "  - {name: bad, action_type: a.b, mode: escalate, approvals_required: 7}\n",
    "bad-default-mode": "rules: []\naction_types:\n  refund.issue: {default_mode: maybe}\n",
}


@pytest.mark.parametrize("text", BROKEN_FILES.values(), ids=BROKEN_FILES.keys())
@pytest.mark.parametrize("publish", [False, True], ids=["draft", "publish"])
def test_importing_a_broken_file_changes_nothing(demo, tmp_path, text, publish):
    path = tmp_path / "broken.yaml"
    path.write_text(text)
    before = state()

    with pytest.raises(CommandError, match="nothing was imported"):
        run("import", str(path), *(["--publish"] if publish else []))

    assert state() == before


def test_a_broken_file_is_reported_problem_by_problem(demo, tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text(
        "rules:\n  - {name: a, action_type: a.b, mode: sometimes}\n"
        "  - {name: b, action_type: a.b, mode: escalate, condition: 'x >'}\n"
    )
    err = io.StringIO()

    with pytest.raises(CommandError):
        call_command("policy", "import", str(path), stdout=io.StringIO(), stderr=err)

    lines = err.getvalue().splitlines()
    assert lines[0] == f"{path} is not a valid policy (4 problem(s)):"
    assert lines[1].startswith("  rules[0] (line 2): has mode 'sometimes'")
    assert lines[2].startswith(
        "  rules[1] (line 3): condition does not compile at line 1, column 4"
    )


def test_a_missing_file_fails_without_a_traceback(demo, tmp_path):
    with pytest.raises(CommandError, match="cannot read"):
        run("import", str(tmp_path / "nope.yaml"))


@pytest.mark.django_db(transaction=True)
def test_the_command_exits_non_zero_on_a_broken_file_and_the_database_is_unchanged(
    demo, tmp_path, test_database_name
):
    path = tmp_path / "broken.yaml"
    path.write_text(BROKEN_FILES["bad-cel"])
    before = state()

    result = subprocess.run(
        [sys.executable, "manage.py", "policy", "import", str(path), "--publish"],
        cwd=ROOT, env=_process_env(test_database_name), capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip

    assert result.returncode == 1
    assert "rules[0] (line 2): condition does not compile at line 1, column 4" in result.stderr
    assert "CommandError: nothing was imported" in result.stderr
    assert state() == before


# ---------------------------------------------------------------------------------------------
# simulate and diff


def test_simulate_prints_what_a_draft_would_have_decided_differently(demo, agent, tmp_path):
    for amount in (3000, 4000, 60000):
        action = action_submit(
            agent=agent.agent,
            action_type="refund.issue",
            params={"order_id": "ORD-1001", "amount": amount, "currency": "USD", "reason": "r"},
        ).action
        Action.objects.filter(pk=action.pk).update(created_at=timezone.now() - timedelta(days=1))
    path = tmp_path / "p.yaml"
    path.write_text(run("export")[0].replace("amount <= 5000\n", "amount <= 3000\n"))
    run("import", str(path))
    draft = PolicyVersion.objects.order_by("-number").first()

    out, _ = run("simulate", "--version", str(draft.number), "--days", "7")

    assert f"Simulation of v{draft.number} (draft) against 3 action(s)" in out
    assert "1 would change outcome (40.00 USD)" in out
    assert (
        f"v{draft.number} would have gated 1 more refund.issue in the last 7 day(s), "
        "40.00 USD at stake"
    ) in out


def test_simulate_refuses_a_silly_number_of_days(demo):
    with pytest.raises(CommandError, match="days is a whole number from 1 to 366"):
        run("simulate", "--days", "0")


def test_diff_prints_the_changes_between_two_versions(demo, tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text(run("export")[0].replace("amount > 5000\n", "amount > 2000\n"))
    run("import", str(path))

    out, _ = run("diff", "1", "2")
    against_active, _ = run("diff", "2")

    assert out.splitlines() == [
        "v1 -> v2",
        "~ #2 refund-over-50-needs-approval",
        "    condition: 'params.amount > 5000' -> 'params.amount > 2000'",
    ]
    assert against_active == out
