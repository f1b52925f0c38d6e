"""Validating action params against their action type's JSON schema."""

from __future__ import annotations

from typing import Any

from jsonschema import Draft202012Validator, ValidationError
from jsonschema.validators import extend

from config.errors import Code, InvalidInput


def _is_strict_integer(checker, instance) -> bool:
    # JSON Schema counts 120.0 as an integer; money in minor units must be a real integer.
    return isinstance(instance, int) and not isinstance(instance, bool)


_StrictValidator = extend(
    Draft202012Validator,
    type_checker=Draft202012Validator.TYPE_CHECKER.redefine("integer", _is_strict_integer),
)


def params_errors(*, schema: dict[str, Any], params: Any) -> list[ValidationError]:
    """Every way `params` breaks `schema`, as jsonschema's error objects (for callers that place
    each error by its path and keyword), ordered by where in the params they are."""
    return sorted(_StrictValidator(schema).iter_errors(params), key=lambda e: list(e.path))


def validate_params(*, action_type_key: str, schema: dict[str, Any], params: Any) -> None:
    errors = params_errors(schema=schema, params=params)
    if errors:
        raise InvalidInput(
            f"params do not match the schema of {action_type_key}.",
            code=Code.INVALID_PARAMS,
            details={
                "errors": [
                    {"path": "params" + "".join(f"[{p!r}]" for p in e.path), "message": e.message}
                    for e in errors[:20]
                ]
            },
        )


def check_schema(schema: dict[str, Any]) -> None:
    Draft202012Validator.check_schema(schema)


def action_type_checked(action_type: Any, *, key: str, params: Any) -> Any:
    """The action type found for `key` (None: unknown, refused), with `params` valid by its
    schema: what every decision checks before the policy is asked."""
    if action_type is None:
        raise InvalidInput(
            f"Unknown action type {key!r}.",
            code=Code.UNKNOWN_ACTION_TYPE,
            details={"action_type": key},
        )
    validate_params(action_type_key=key, schema=action_type.params_schema, params=params)
    return action_type
