"""The error catalog: one enum of codes, each with the HTTP status the API answers it with."""

import pytest

from config.errors import ApplicationError, Code, Conflict, InvalidInput, NotFound


def test_every_code_is_a_distinct_snake_case_name_with_an_http_error_status():
    values = [code.value for code in Code]

    assert len(values) == len(set(values))
    assert all(value.replace("_", "").isalpha() and value.islower() for value in values)
    assert all(400 <= code.status < 600 for code in Code)


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (NotFound("gone", code=Code.ACTION_NOT_FOUND), 404, "action_not_found"),
        (Conflict("changed", code=Code.STALE_VERSION), 409, "stale_version"),
        (InvalidInput("bad"), 400, "invalid_input"),
        (
            ApplicationError("twice", code=Code.IDEMPOTENCY_KEY_REUSED),
            422,
            "idempotency_key_reused",
        ),
    ],
)
def test_an_error_answers_with_the_status_of_its_code(error, status, code):
    assert error.status_code == status
    assert error.code == code
    assert error.as_dict() == {"error": {"code": code, "message": str(error), "details": {}}}


def test_a_code_outside_the_catalog_is_refused_where_it_is_raised():
    with pytest.raises(ValueError, match="not a valid Code"):
        InvalidInput("bad", code="made_up_code")
