"""Finding sensitive data: card numbers (Luhn-checked), emails and phones in free text, the fields
an action type's schema marks, and the logs."""

from __future__ import annotations

import io
import logging

import pytest

from config.redaction import (
    REDACTED,
    RedactingFilter,
    luhn_valid,
    marked_values,
    mask_by_schema,
    mask_text,
    mask_values,
    redact,
)

CARD = "4111 1111 1111 1111"  # a test Visa number: passes the Luhn check
NOT_A_CARD = "4111 1111 1111 1112"  # one digit off: fails it

ADDRESS_SCHEMA = {
    "type": "object",
    "properties": {
        "order_id": {"type": "string"},
        "name": {"type": "string", "x-sensitive": "name"},
        "address": {
            "type": "object",
            "properties": {
                "line1": {"type": "string", "x-sensitive": "address"},
                "city": {"type": "string"},
            },
        },
        "cards": {"type": "array", "items": {"type": "string", "x-sensitive": "card"}},
        "contact": {"type": "object", "x-sensitive": "email"},
    },
}


class TestCardNumbers:
    @pytest.mark.parametrize(
        "number", ["4111111111111111", "5555555555554444", "378282246310005", "6011111111111117"]
    )
    def test_numbers_that_pass_the_luhn_check_pass_it(self, number):
        assert luhn_valid(number)

    @pytest.mark.parametrize("number", ["4111111111111112", "1234567890123", ""])
    def test_numbers_that_fail_the_luhn_check_fail_it(self, number):
        assert not luhn_valid(number)

    @pytest.mark.parametrize("written", [CARD, "4111-1111-1111-1111", "4111111111111111"])
    def test_a_card_number_in_text_is_masked_to_its_last_four_digits(self, written):
        assert mask_text(f"card {written}, thanks") == "card [card ****1111], thanks"

    def test_a_digit_string_that_fails_the_luhn_check_is_left_alone(self):
        assert mask_text(f"ref {NOT_A_CARD} and 4111111111111112") == (
            f"ref {NOT_A_CARD} and 4111111111111112"
        )

    def test_a_card_number_followed_by_a_phone_number_masks_each(self):
        assert mask_text(f"{CARD} 555 123 4567") == "[card ****1111] [phone]"

    def test_a_card_number_given_as_a_json_number_is_masked(self):
        assert redact({"n": 4111111111111111, "amount": 1000000000000, "ok": True}) == {
            "n": "[card ****1111]",
            "amount": 1000000000000,
            "ok": True,
        }


class TestEmailsAndPhones:
    @pytest.mark.parametrize(
        ("text", "masked"),
        [
            ("mail ada.lovelace+x@example.co.uk now", "mail [email] now"),
            ("call +44 20 7946 0958.", "call [phone]."),
            ("call (555) 123-4567, please", "call [phone], please"),
            ("+442079460958", "[phone]"),
            ("555-123-4567", "[phone]"),
        ],
    )
    def test_emails_and_phone_numbers_are_masked(self, text, masked):
        assert mask_text(text) == masked

    @pytest.mark.parametrize(
        "text",
        [
            "ORD-1001",
            "refund 600.00 > 500.00",
            "2026-12-05 07:57:00+00:00",
            "2026-12-05T07:57:00+00:00",
            "550e8400-e29b-41d4-a716-446655440000",
            "192.168.100.200",
            "host:1234:abc:1",
            "order 1001 and 1002",
            "amount 12000 USD",
        ],
    )
    def test_ids_dates_amounts_and_addresses_of_machines_are_left_alone(self, text):
        assert mask_text(text) == text

    def test_redaction_masks_free_text_at_any_depth_and_sensitive_keys_whole(self):
        value = {"notes": [{"text": "write to ada@example.com"}], "api_key": "cs_123"}

        assert redact(value) == {"notes": [{"text": "write to [email]"}], "api_key": REDACTED}


class TestSchemaMarks:
    def test_marked_fields_are_masked_at_any_depth_and_the_rest_is_kept(self):
        params = {
            "order_id": "ORD-1",
            "name": "Ada Lovelace",
            "address": {"line1": "12 Byron Street", "city": "London"},
            "cards": ["4111111111111111"],
            "contact": {"email": "ada@example.com"},
        }

        assert mask_by_schema(ADDRESS_SCHEMA, params) == {
            "order_id": "ORD-1",
            "name": "[name]",
            "address": {"line1": "[address]", "city": "London"},
            "cards": ["[card ****1111]"],
            "contact": "[email]",
        }

    def test_an_unknown_kind_is_masked_as_redacted_and_a_missing_value_stays_missing(self):
        schema = {"properties": {"x": {"x-sensitive": "sauce"}, "y": {"x-sensitive": "name"}}}

        assert mask_by_schema(schema, {"x": "s", "y": None}) == {"x": REDACTED, "y": None}

    def test_marked_values_are_masked_where_they_are_echoed(self):
        params = {"address": {"line1": "12 Byron Street", "city": "London"}}
        marked = marked_values(ADDRESS_SCHEMA, params)

        echoed = {"shipping_address": {"line1": "12 Byron Street"}, "note": "to 12 Byron Street"}

        assert mask_values(echoed, marked) == {
            "shipping_address": {"line1": "[address]"},
            "note": "to [address]",
        }


class TestLogs:
    def test_the_logs_handler_masks_free_text_in_messages_and_tracebacks(self):
        # Arrange: the console handler settings configure, and a stream of our own with its filter
        root_filters = [f for h in logging.getLogger().handlers for f in h.filters]
        assert any(isinstance(f, RedactingFilter) for f in root_filters)
        stream = io.StringIO()
        handler = logging.StreamHandler(stream)
        handler.addFilter(RedactingFilter())
        logger = logging.getLogger("tests.redaction")
        logger.addHandler(handler)
        try:
            # Act
            logger.warning("card %s of %s", CARD, "ada@example.com")
            try:
                raise ValueError(f"bad phone +44 20 7946 0958 near {NOT_A_CARD}")
            except ValueError:
                logger.exception("failed")
        finally:
            logger.removeHandler(handler)

        # Assert
        written = stream.getvalue()
        assert "card [card ****1111] of [email]" in written
        assert "bad phone [phone] near " + NOT_A_CARD in written
        assert "4111 1111 1111 1111" not in written and "ada@" not in written
