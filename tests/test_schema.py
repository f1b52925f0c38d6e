"""The OpenAPI schema is valid and describes what the API really answers."""

import yaml
from django.core.management import call_command


def test_the_openapi_schema_validates_without_warnings(tmp_path):
    out = tmp_path / "schema.yml"

    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out))

    schema = yaml.safe_load(out.read_text())
    action = schema["components"]["schemas"]["ActionResponse"]["properties"]
    assert {"approvals", "escalation", "decision"} <= set(action)
    reason_codes = schema["paths"]["/api/v1/reason-codes/"]["get"]["responses"]["200"]
    assert reason_codes["content"]["application/json"]["schema"]["$ref"].endswith("/ReasonCodeList")


def test_the_api_docs_list_every_error_code_with_its_status(client):
    from config.errors import Code

    schema = client.get("/api/schema/?format=json").json()
    description = schema["info"]["description"]

    for code in Code:
        assert f"| `{code.value}` | {code.status} |" in description
