"""`manage.py verify_audit` passes an intact log and names the first bad event of a tampered one."""

from __future__ import annotations

import io
import subprocess
import sys

import pytest
from django.core.management import call_command
from django.db import connection

from approvals import services
from approvals.models import Status
from audit.chain import audit_seal
from audit.models import AuditEvent
from tests.conftest import ROOT, _process_env


def refund(agent, amount: int) -> dict:
    return {
        "agent": agent.agent,
        "action_type": "refund.issue",
        "params": {"order_id": "ORD-1001", "amount": amount, "currency": "USD", "reason": "late"},
    }


@pytest.fixture
def scenario(demo, agent, supervisor):
    """Submit, approve and execute one refund, all through services, its events sealed."""
    action = services.action_submit(**refund(agent, 12000)).action
    services.action_approve(action_id=action.pk, by=supervisor, reason_code="goodwill")
    done = services.action_execute(action_id=action.pk)
    assert done.status == Status.SUCCEEDED
    audit_seal()
    return action


def behind_the_apps_back(sql: str, params=()) -> None:
    """Change the log as a superuser who switches the append-only trigger off for a moment."""
    with connection.cursor() as cursor:
        cursor.execute("SET session_replication_role = replica")
        try:
            cursor.execute(sql, params)
        finally:
            cursor.execute("SET session_replication_role = DEFAULT")


def verify() -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("verify_audit", stdout=out, stderr=err)
    except SystemExit as exc:
        return int(exc.code), out.getvalue(), err.getvalue()
    return 0, out.getvalue(), err.getvalue()


@pytest.mark.django_db
class TestVerifyAudit:
    def test_an_untouched_log_verifies_with_exit_code_0(self, scenario):
        code, out, _ = verify()

        assert code == 0
        assert f"audit chain intact: {AuditEvent.objects.count()} events" in out

    def test_altered_data_is_reported_at_its_seq_with_a_non_zero_exit(self, scenario):
        target = AuditEvent.objects.get(verb="action.approved")
        behind_the_apps_back(
            "UPDATE audit_auditevent "
            "SET data = jsonb_set(data::jsonb, '{note}', '\"edited\"')::json "
            "WHERE seq = %s",
            [target.seq],
        )

        code, _, err = verify()

        assert code == 1
        assert f"BROKEN at seq {target.seq}: content does not match its hash" in err
        assert f"({target.seq - 1} events verified before it)" in err

    def test_a_rehashed_forgery_is_caught_at_the_next_event(self, scenario):
        from audit.services import compute_hash

        target = AuditEvent.objects.get(verb="action.approved")
        target.actor_id = "someone-else"
        behind_the_apps_back(
            "UPDATE audit_auditevent SET actor_id = %s, hash = %s WHERE seq = %s",
            [target.actor_id, compute_hash(target), target.seq],
        )

        code, _, err = verify()

        assert code == 1
        assert f"BROKEN at seq {target.seq + 1}: previous hash does not match" in err

    def test_a_deleted_event_is_reported_as_a_gap(self, scenario):
        target = AuditEvent.objects.get(verb="action.approved")
        behind_the_apps_back("DELETE FROM audit_auditevent WHERE seq = %s", [target.seq])

        code, _, err = verify()

        assert code == 1
        assert f"BROKEN at seq {target.seq}: missing event" in err


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_the_command_exits_non_zero_as_a_process(scenario, test_database_name):
    command = [sys.executable, "manage.py", "verify_audit"]
    env = _process_env(test_database_name)
    intact = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    behind_the_apps_back("UPDATE audit_auditevent SET object_id = 'x' WHERE seq = 2")

    broken = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)

    assert intact.returncode == 0, intact.stderr
    assert broken.returncode == 1
    assert "BROKEN at seq 2" in broken.stderr
