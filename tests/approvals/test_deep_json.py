"""JSON a person types into a page, nested deeper than Python's decoder goes, is a clear refusal:
never a RecursionError turned into a 500."""

from __future__ import annotations

import pytest

from approvals.params_form import ParamsForm
from approvals.views.common import edited_params
from config.errors import Code, InvalidInput

DEEP = "[" * 5000


def test_edited_params_nested_too_deeply_are_refused_as_malformed_json():
    with pytest.raises(InvalidInput) as refused:
        edited_params(DEEP)

    assert refused.value.code == Code.MALFORMED_JSON
    assert "nested too deeply" in refused.value.message


def test_a_json_field_nested_too_deeply_is_an_invalid_field():
    schema = {"type": "object", "properties": {"items": {"type": "array"}}}

    form = ParamsForm(schema, {"param-items": DEEP})

    assert not form.is_valid()
    assert form.errors["items"] == ["Enter valid JSON."]
