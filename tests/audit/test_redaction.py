"""What the audit log keeps of an event's data: card numbers (Luhn-checked), emails and phones
masked in free text such as an agent's context and a person's note; the chain still verifies."""

from __future__ import annotations

import pytest
from django.db import transaction

from audit.events import Verb
from audit.models import AuditEvent
from audit.services import Actor, audit_record, audit_verify_chain

pytestmark = pytest.mark.django_db

CARD = "4111 1111 1111 1111"  # passes the Luhn check
NOT_A_CARD = "4111 1111 1111 1112"  # fails it


def recorded(**data) -> dict:
    with transaction.atomic():
        event = audit_record(
            actor=Actor.system("test"), verb=Verb.ACTION_SUBMITTED, object_type="action",
            object_id="a-1", data=data,
        )  # fmt: skip
    return AuditEvent.objects.get(pk=event.pk).data


def test_a_card_number_with_a_valid_luhn_in_the_context_is_masked_in_the_audit_event():
    data = recorded(context={"customer_words": f"I paid with {CARD}", "ref": NOT_A_CARD})

    assert data["context"] == {"customer_words": "I paid with [card ****1111]", "ref": NOT_A_CARD}


def test_an_email_and_a_phone_number_in_a_note_are_masked_in_the_audit_event():
    data = recorded(note="She asked us to use ada@example.com or +44 20 7946 0958 instead.")

    assert data["note"] == "She asked us to use [email] or [phone] instead."


def test_the_chain_verifies_over_what_was_kept():
    recorded(note=f"card {CARD}")
    recorded(note="mail ada@example.com")

    assert audit_verify_chain().ok


def test_keys_the_caller_names_verbatim_keep_their_text_but_not_their_secrets():
    with transaction.atomic():
        event = audit_record(
            actor=Actor.system("test"), verb=Verb.SUBSCRIPTION_SAVED, object_type="subscription",
            object_id=1, data={"where": "ops@example.com", "note": "ops@example.com",
                               "user": {"name": "ada@example.com", "token": "t0k"}},
            verbatim=("where", "user"),
        )  # fmt: skip

    data = AuditEvent.objects.get(pk=event.pk).data
    assert data == {
        "where": "ops@example.com",
        "note": "[email]",
        "user": {"name": "ada@example.com", "token": "[redacted]"},
    }
