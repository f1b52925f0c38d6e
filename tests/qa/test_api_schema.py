"""The OpenAPI schema documents the QA endpoints: their bodies, and every refusal in the one
error shape with the codes it carries."""

from __future__ import annotations

import pytest

QA_OPERATIONS = {
    ("/api/v1/qa/assignments/", "get"): {"200", "400", "401", "403", "404"},
    ("/api/v1/qa/reviews/", "post"): {"201", "400", "401", "403", "404", "409"},
    ("/api/v1/qa/reviews/{review_id}/", "get"): {"200", "401", "403", "404"},
    ("/api/v1/qa/metrics/", "get"): {"200", "400", "401", "403"},
    ("/api/v1/actions/{action_id}/outcome/", "post"): {"200", "201", "400", "401", "403", "404",
                                                        "409"},
}  # fmt: skip


@pytest.fixture(scope="module")
def schema(django_db_blocker):
    from django.test import Client

    with django_db_blocker.unblock():
        return Client().get("/api/schema/?format=json").json()


@pytest.mark.parametrize(("path", "method"), list(QA_OPERATIONS))
def test_each_qa_operation_documents_its_answers_and_refusals_in_the_error_shape(
    schema, path, method
):
    operation = schema["paths"][path][method]

    assert set(operation["responses"]) == QA_OPERATIONS[path, method]
    for status, response in operation["responses"].items():
        body = response["content"]["application/json"]["schema"]
        if status.startswith(("4", "5")):
            assert body["$ref"] == "#/components/schemas/ApiError", status
            assert "`" in response["description"], status  # names its codes
        else:
            assert "$ref" in body or "type" in body, status


def test_the_error_shape_is_code_message_and_details(schema):
    detail = schema["components"]["schemas"]["ApiErrorDetail"]

    assert set(detail["properties"]) == {"code", "message", "details"}
    assert set(detail["required"]) == {"code", "message", "details"}


def test_the_review_body_is_documented_field_by_field(schema):
    body = schema["paths"]["/api/v1/qa/reviews/"]["post"]["requestBody"]["content"]
    ref = body["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]

    assert {"assignment_id", "scores", "verdict", "root_causes", "note"} <= set(
        schema["components"]["schemas"][ref]["properties"]
    )
