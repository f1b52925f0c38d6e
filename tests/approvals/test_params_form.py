"""The params edit form built from a JSON schema: its fields, parsing, and where errors land.

Moved here from test_action_page.py (the form builder and parser tests), with new cases for how
jsonschema's errors are placed on fields.
"""

from __future__ import annotations

import pytest
from jsonschema import Draft202012Validator

from approvals.demo import ACTION_TYPES
from approvals.params_form import ParamsForm, placed_errors

REFUND = next(spec for spec in ACTION_TYPES if spec["key"] == "refund.issue")["params_schema"]
ADDRESS = next(spec for spec in ACTION_TYPES if spec["key"] == "address.change")["params_schema"]


def refund_post(**fields: str) -> dict[str, str]:
    data = {"order_id": "ORD-1001", "amount": "2500", "currency": "USD", "reason": "damaged"}
    data.update(fields)
    return {f"param-{name}": value for name, value in data.items()}


def errors_of(form: ParamsForm) -> dict[str, list[str]]:
    return {name: list(errors) for name, errors in form.errors.items()}


# ------------------------------------------------------------------------------------- fields


@pytest.mark.parametrize("spec", ACTION_TYPES, ids=lambda spec: spec["key"])
def test_the_edit_form_has_a_field_per_schema_property(spec):
    schema = spec["params_schema"]
    values = {"amount": 12000, "currency": "USD"} if spec["key"] == "refund.issue" else {}

    form = ParamsForm(schema, initial=values)

    assert list(form.fields) == list(schema["properties"])
    for name, prop in schema["properties"].items():
        field = form.fields[name]
        assert field.schema_required == (name in schema["required"])
        assert not field.required  # left empty is absent: the schema says if that is allowed
        if "enum" in prop:
            assert field.kind == "select"
            assert [text for _, text in field.widget.choices] == prop["enum"]
        elif prop.get("type") == "object":
            assert field.kind == "json"
        elif prop.get("type") == "integer":
            assert field.kind == "integer"
            assert field.widget.attrs["min"] == prop["minimum"]
            assert field.widget.attrs["max"] == prop["maximum"]
        else:
            assert field.kind == "text"
            if "maxLength" in prop:
                assert field.widget.attrs["maxlength"] == prop["maxLength"]
    if spec["key"] == "refund.issue":
        amount = form["amount"]
        assert amount.label == "Amount (minor units)"
        assert "12000 is 120.00 USD" in amount.help_text
        assert amount.value() == "12000"


def test_inputs_are_named_param_name_with_the_element_id_edit_name():
    form = ParamsForm(REFUND, initial={"amount": 3000})

    amount = form["amount"]

    assert (amount.html_name, amount.auto_id, amount.id_for_label) == (
        "param-amount",
        "edit-amount",
        "edit-amount",
    )


def test_every_widget_kind_and_a_boolean_round_trip():
    # Arrange
    schema = {
        "type": "object",
        "properties": {
            "notify": {"type": "boolean"},
            "ratio": {"type": "number", "minimum": 0},
            "tags": {"type": "array"},
            "channel": {"enum": ["email", "sms"]},
        },
        "required": ["notify"],
    }
    data = {
        "param-notify-shown": "1",
        "param-ratio": "0.5",
        "param-tags": '["a", "b"]',
        "param-channel": '"sms"',
    }

    # Act
    form = ParamsForm(schema, data, current={"kept": 1})

    # Assert
    assert form.is_valid(), form.errors
    assert form.params == {
        "kept": 1,
        "notify": False,
        "ratio": 0.5,
        "tags": ["a", "b"],
        "channel": "sms",
    }
    assert [f.kind for f in ParamsForm(schema, initial=form.params).fields.values()] == [
        "checkbox",
        "number",
        "json",
        "select",
    ]


@pytest.mark.parametrize(
    ("data", "params"),
    [
        ({}, {}),
        ({"param-flag-shown": "1"}, {"flag": False}),
        ({"param-flag-shown": "1", "param-flag": "true"}, {"flag": True}),
    ],
    ids=["not on the form", "unchecked", "checked"],
)
def test_a_checkbox_tells_unchecked_from_not_on_the_form(data, params):
    form = ParamsForm({"type": "object", "properties": {"flag": {"type": "boolean"}}}, data)

    assert form.is_valid()
    assert form.params == params


def test_json_null_is_a_value_and_an_empty_field_is_absent():
    schema = {"type": "object", "properties": {"extra": {}, "note": {"type": "string"}}}

    form = ParamsForm(schema, {"param-extra": "null", "param-note": "  "})

    assert form.is_valid()
    assert form.params == {"extra": None}


# ------------------------------------------------------------------------------------- errors


def test_a_value_that_does_not_parse_is_its_fields_error_and_the_schema_is_not_asked():
    form = ParamsForm(REFUND, refund_post(amount="12.5", reason=""))

    assert not form.is_valid()
    assert errors_of(form) == {"amount": ["Enter a whole number."]}  # no "reason" required yet
    assert form["amount"].value() == "12.5"  # what they typed stays next to its error


@pytest.mark.parametrize(
    ("kind", "spec", "typed", "message"),
    [
        ("number", {"type": "number"}, "inf", "Enter a number."),
        ("select", {"enum": ["a", "b"]}, "a", "Choose one of the options."),
        ("json", {"type": "object"}, "{", "Enter valid JSON."),
    ],
)
def test_each_kind_says_what_it_could_not_parse(kind, spec, typed, message):
    form = ParamsForm({"type": "object", "properties": {"x": spec}}, {"param-x": typed})

    assert form.fields["x"].kind == kind
    assert errors_of(form) == {"x": [message]}


def test_a_pattern_mismatch_lands_on_its_field_and_the_others_show_their_parsed_values():
    form = ParamsForm(REFUND, refund_post(order_id="nope", amount=" 2500 "))

    pattern = REFUND["properties"]["order_id"]["pattern"]
    assert errors_of(form) == {"order_id": [f"'nope' does not match {pattern!r}"]}
    assert form["order_id"].value() == "nope"
    assert form["amount"].value() == "2500"


def test_each_missing_required_property_gets_its_own_message():
    form = ParamsForm(REFUND, refund_post(order_id="", reason=""))

    assert errors_of(form) == {
        "order_id": ["'order_id' is a required property"],
        "reason": ["'reason' is a required property"],
    }


def test_an_error_inside_an_object_lands_on_the_objects_field():
    form = ParamsForm(
        ADDRESS,
        {"param-order_id": "ORD-1001", "param-address": '{"city": "Lyon", "country": "fr"}'},
    )

    assert errors_of(form) == {
        "address": ["'line1' is a required property", "'fr' does not match '^[A-Z]{2}$'"]
    }
    assert form["address"].value() == '{"city": "Lyon", "country": "fr"}'


def test_an_error_about_no_single_field_is_a_form_error():
    schema = {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["ghost"]}

    form = ParamsForm(schema, {"param-a": "x"})

    assert errors_of(form) == {"__all__": ["'ghost' is a required property"]}
    assert list(form.non_field_errors()) == ["'ghost' is a required property"]


def test_missing_properties_of_two_required_lists_are_each_placed():
    schema = {
        "allOf": [{"required": ["a", "b"]}, {"required": ["c"]}],
        "properties": {"a": {}, "b": {}, "c": {}},
    }
    errors = sorted(Draft202012Validator(schema).iter_errors({"b": 1}), key=lambda e: e.message)

    placed = placed_errors(errors, ["a", "b", "c"])

    assert sorted(placed) == [
        ("a", "'a' is a required property"),
        ("c", "'c' is a required property"),
    ]


def test_the_amount_hint_names_the_posted_currency_and_none_once_it_is_refused():
    valid = ParamsForm(REFUND, refund_post(currency="EUR", reason=""))
    refused = ParamsForm(REFUND, refund_post(currency="eur", reason=""))

    assert not valid.is_valid() and not refused.is_valid()
    assert "In minor units of EUR: 12000 is 120.00 EUR." in valid["amount"].help_text
    assert "In minor units of the currency's" in refused["amount"].help_text
