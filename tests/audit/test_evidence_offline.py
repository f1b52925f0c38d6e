"""An evidence pack carries the texts each event's hash covers: checked offline, a pack whose
events were sealed after they were written holds, and one whose shown data differs from the data
hashed is refused even under a valid seal (whoever holds the key cannot slip it past either)."""

from __future__ import annotations

import json

import pytest
from django.db import transaction

from audit.events import Verb
from audit.evidence import evidence_seal, evidence_verify
from audit.models import AuditEvent
from audit.services import Actor, audit_record
from audit.signing import canonical, seal, trusted_public_key, unseal


def write(n: int) -> list[AuditEvent]:
    with transaction.atomic():
        return [
            audit_record(
                actor=Actor.system("test"),
                verb=Verb.REASON_CODE_SAVED,
                object_type="thing",
                object_id="1",
                data={"i": i, "note": "tab\there"},
            )
            for i in range(n)
        ]


@pytest.mark.django_db
class TestEvidenceOffline:
    def test_a_pack_of_events_not_sealed_yet_seals_them_first_and_verifies(self):
        events = write(3)
        assert all(e.seq is None for e in events)

        content = evidence_seal(subject={"kind": "thing"}, events=events)

        document, problems = evidence_verify(content, trusted=trusted_public_key())
        assert problems == []
        assert [e["seq"] for e in document["events"]] == [1, 2, 3]
        assert [e["data"]["i"] for e in document["events"]] == [0, 1, 2]
        assert document["checkpoint"]["checkpoint"]["seq"] == 3

    def test_data_shown_otherwise_than_hashed_is_refused_under_a_valid_seal(self):
        content = evidence_seal(subject={"kind": "thing"}, events=write(2))
        document = unseal(json.loads(content), trusted=trusted_public_key())
        document["events"][1]["data"]["i"] = 99

        forged = canonical(seal(document))

        _, problems = evidence_verify(forged, trusted=trusted_public_key())
        assert problems == ["event 2: its data differs from the data hashed"]

    def test_a_changed_hashed_text_is_refused_under_a_valid_seal(self):
        content = evidence_seal(subject={"kind": "thing"}, events=write(2))
        document = unseal(json.loads(content), trusted=trusted_public_key())
        document["events"][0]["actor_id"] = "someone-else"

        forged = canonical(seal(document))

        _, problems = evidence_verify(forged, trusted=trusted_public_key())
        assert problems == ["event 1: content does not match its hash"]
