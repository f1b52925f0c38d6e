"""Params checked against their schema: jsonschema's errors for the form, one shape for the API."""

from __future__ import annotations

import pytest

from config.errors import InvalidInput
from policies.validation import params_errors, validate_params

SCHEMA = {
    "type": "object",
    "properties": {"amount": {"type": "integer"}, "address": {"type": "object"}},
    "required": ["amount"],
    "additionalProperties": False,
}


def test_params_errors_are_jsonschemas_error_objects_ordered_by_path():
    errors = params_errors(schema=SCHEMA, params={"address": {}, "amount": 1.0, "x": 1})

    assert [(list(e.path), e.validator) for e in errors] == [
        ([], "additionalProperties"),
        (["amount"], "type"),
    ]


def test_an_amount_of_120_point_0_is_not_an_integer():
    assert [e.validator for e in params_errors(schema=SCHEMA, params={"amount": 120.0})] == ["type"]


def test_validate_params_raises_invalid_params_with_a_path_and_message_per_error():
    with pytest.raises(InvalidInput) as caught:
        validate_params(action_type_key="refund.issue", schema=SCHEMA, params={"amount": "1"})

    assert caught.value.code == "invalid_params"
    assert caught.value.message == "params do not match the schema of refund.issue."
    assert caught.value.details == {
        "errors": [{"path": "params['amount']", "message": "'1' is not of type 'integer'"}]
    }
