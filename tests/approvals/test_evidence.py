"""An action's evidence pack: served to people who see the action and to auditors, sealed, and
checked offline by `manage.py verify_evidence`, which refuses it after any one byte changes."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command

from approvals import services
from audit.chain import audit_seal
from audit.checkpoints import checkpoints_read
from audit.models import AuditEvent
from audit.signing import public_key_pem, trusted_public_key
from tests.approvals.conftest import refund_params


@pytest.fixture(autouse=True)
def _own_checkpoints(audit_checkpoint_dir):
    return audit_checkpoint_dir


@pytest.fixture
def decided(submit, supervisor):
    """A refund submitted and approved, through services."""
    action = submit(12000)
    services.action_approve(
        action_id=action.pk, by=supervisor, reason_code="verified-eligible", note="photos checked"
    )
    return action


def evidence(client, action) -> tuple[int, bytes]:
    response = client.get(f"/api/v1/actions/{action.pk}/evidence/")
    return response.status_code, response.content


def verify(tmp_path, content: bytes, *args) -> tuple[int, str, str]:
    path = tmp_path / "evidence.json"
    path.write_bytes(content)
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("verify_evidence", str(path), *args, stdout=out, stderr=err)
    except SystemExit as exc:
        return int(exc.code), out.getvalue(), err.getvalue()
    return 0, out.getvalue(), err.getvalue()


@pytest.mark.django_db
class TestThePack:
    def test_it_holds_the_action_its_decisions_its_events_and_a_covering_checkpoint(
        self, decided, supervisor_client
    ):
        status, content = evidence(supervisor_client, decided)

        assert status == 200
        pack = json.loads(content)
        assert pack["format"] == "countersign.evidence/1"
        action = pack["subject"]["action"]
        assert (action["id"], action["status"], action["params"]) == (
            str(decided.pk),
            "approved",
            refund_params(12000),
        )
        assert [(d["kind"], d["by"], d["note"]) for d in pack["subject"]["decisions"]] == [
            ("approve", "alice", "photos checked")
        ]
        expected = AuditEvent.objects.filter(object_type="action", object_id=str(decided.pk))
        assert [e["verb"] for e in pack["events"]] == [e.verb for e in expected.order_by("seq")]
        assert [e["hash"] for e in pack["events"]] == [e.hash for e in expected.order_by("seq")]
        checkpoint = pack["checkpoint"]["checkpoint"]
        assert checkpoint["seq"] >= pack["events"][-1]["seq"]
        assert [c.seq for c in checkpoints_read().valid] == [checkpoint["seq"]]
        assert pack["seal"]["algorithm"] == "Ed25519"

    def test_it_is_verified_offline(self, decided, supervisor_client, tmp_path):
        _, content = evidence(supervisor_client, decided)

        code, out, err = verify(tmp_path, content)

        assert code == 0, err
        assert f"evidence pack verified: action {decided.pk}, 2 audit events" in out

    def test_it_is_verified_with_only_the_public_key(self, decided, supervisor_client, tmp_path):
        _, content = evidence(supervisor_client, decided)
        public = tmp_path / "public.pem"
        public.write_text(public_key_pem(trusted_public_key()))

        code, _, err = verify(tmp_path, content, "--public-key", str(public))

        assert code == 0, err

    @pytest.mark.parametrize(
        ("change", "why"),
        [
            ((b'"photos checked"', b'"photos chocked"'), "seal does not verify"),
            ((b'"amount":12000', b'"amount":92000'), "seal does not verify"),
            ((b'"hash":"', b'"hash":"0'), "seal does not verify"),
            ((b'{"checkpoint":', b'{ "checkpoint":'), "not in canonical form"),
        ],
    )
    def test_one_byte_changed_is_refused(self, decided, supervisor_client, tmp_path, change, why):
        _, content = evidence(supervisor_client, decided)
        old, new = change
        assert old in content
        changed = content.replace(old, new, 1)

        code, _, err = verify(tmp_path, changed)

        assert code == 1
        assert "evidence pack REFUSED" in err
        assert why in err

    def test_every_single_byte_flip_is_refused(self, decided, supervisor_client):
        from audit.evidence import evidence_verify

        _, content = evidence(supervisor_client, decided)
        trusted = trusted_public_key()

        accepted = [
            at
            for at in range(0, len(content), max(1, len(content) // 200))
            if not evidence_verify(
                content[:at] + bytes([content[at] ^ 0x01]) + content[at + 1 :], trusted=trusted
            )[1]
        ]

        assert evidence_verify(content, trusted=trusted)[1] == []
        assert accepted == []

    def test_a_tampered_chain_gets_no_pack(self, decided, supervisor_client):
        from django.db import connection

        audit_seal()  # beat's seal ran: the events are in the chain
        with connection.cursor() as cursor:
            cursor.execute("SET session_replication_role = replica")
            cursor.execute(
                "UPDATE audit_auditevent SET actor_id = 'someone-else' WHERE verb = "
                "'action.approved'"
            )
            cursor.execute("SET session_replication_role = DEFAULT")

        status, content = evidence(supervisor_client, decided)

        assert status == 409
        assert json.loads(content)["error"]["code"] == "audit_chain_broken"

    def test_a_pack_sealed_with_another_key_is_refused(
        self, decided, supervisor_client, tmp_path, settings
    ):
        import base64

        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        raw = Ed25519PrivateKey.generate().private_bytes_raw()
        settings.AUDIT_SIGNING_KEY = base64.b64encode(raw).decode()
        settings.AUDIT_CHECKPOINT_DIR = str(tmp_path / "forger")
        _, forged = evidence(supervisor_client, decided)
        settings.AUDIT_SIGNING_KEY = ""

        code, _, err = verify(tmp_path, forged)

        assert code == 1
        assert "sealed with another key" in err


@pytest.mark.django_db
class TestWhoGetsIt:
    def test_an_auditor_who_works_no_queue_gets_it(self, decided, make_supervisor):
        from rest_framework.test import APIClient

        client = APIClient()
        client.force_login(make_supervisor("audra", role="auditor", queues=[]))

        assert evidence(client, decided)[0] == 200

    def test_a_person_of_another_queue_is_told_it_does_not_exist(self, decided, make_supervisor):
        from rest_framework.test import APIClient

        client = APIClient()
        client.force_login(make_supervisor("bob", queues=["General"]))

        status, content = evidence(client, decided)

        assert status == 404
        assert json.loads(content)["error"]["code"] == "action_not_found"

    def test_an_agent_is_refused(self, decided, agent):
        assert evidence(agent.client(), decided)[0] == 403

    def test_nobody_signed_in_is_refused(self, decided):
        from rest_framework.test import APIClient

        assert evidence(APIClient(), decided)[0] in (401, 403)
