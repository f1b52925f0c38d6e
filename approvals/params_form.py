"""The params edit form, built from the action type's JSON schema, and the edit area's steps."""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.forms.boundfield import BoundField
from jsonschema import ValidationError as SchemaError

from approvals import selectors
from approvals.models import Action, DecisionKind
from approvals.param_rows import DiffRow, is_int, params_diff, shown
from policies.models import UNOVERRIDABLE_MODES
from policies.money import format_money
from policies.validation import params_errors

# What the policy may say about edited params that no edit can get past.


class _Absent:
    """A property left out of the params, which JSON's null (a value) is not."""

    def __repr__(self) -> str:
        return "ABSENT"


ABSENT = _Absent()


class _ParamBoundField(BoundField):
    @property
    def auto_id(self) -> str:
        return f"edit-{self.name}"

    def value(self) -> Any:
        """A field that parsed shows its value as a fresh form would (` 12 ` reads `12`); one
        that did not, or that the schema refused, shows what was typed, next to its error."""
        if not self.form.is_bound:
            return self.field.prepare_value(self.initial)
        if self.name in self.form.cleaned_data:
            return self.field.prepare_value(self.form.cleaned_data[self.name])
        return self.form.data.get(self.html_name, "")


class _ParamField(forms.Field):
    """A string property, and the base of the others. Left empty a property is absent, not
    invalid: whether it may be left out is the schema's call, so Django never requires it and
    `schema_required` only marks the input."""

    kind = "text"  # which markup the template draws, and the field's CSS class
    widget = forms.TextInput
    invalid = ""

    def __init__(self, spec: Mapping[str, Any], *, schema_required: bool, **kwargs: Any) -> None:
        self.spec = spec  # before Field.__init__, which asks widget_attrs
        super().__init__(required=False, initial=ABSENT, **kwargs)
        self.schema_required = schema_required

    def get_bound_field(self, form, field_name):
        return _ParamBoundField(form, self, field_name)

    def widget_attrs(self, widget) -> dict[str, Any]:
        # The schema's bounds as the browser's constraints: a hint while typing, since the form
        # is posted with novalidate and the schema checks them on the server.
        limits = (("minLength", "minlength"), ("maxLength", "maxlength"))
        attrs = {attr: self.spec[key] for key, attr in limits if is_int(self.spec.get(key))}
        if isinstance(self.spec.get("pattern"), str):
            attrs["pattern"] = self.spec["pattern"]
        return attrs

    def to_python(self, value: Any) -> Any:
        if value is None or value.strip() == "":
            return ABSENT
        try:
            return self.parse(value)
        except (ValueError, RecursionError):  # a deep enough nest overflows the decoder
            raise ValidationError(self.invalid, code="invalid") from None

    def parse(self, raw: str) -> Any:
        return raw

    def prepare_value(self, value: Any) -> Any:
        return "" if value is ABSENT or value is None else shown(value)


class _IntegerField(_ParamField):
    kind = "integer"
    widget = forms.NumberInput
    invalid = "Enter a whole number."
    step = "1"

    def widget_attrs(self, widget) -> dict[str, Any]:
        attrs: dict[str, Any] = {"step": self.step}
        for key, attr in (("minimum", "min"), ("maximum", "max")):
            limit = self.spec.get(key)
            if isinstance(limit, int | float) and not isinstance(limit, bool):
                attrs[attr] = limit
        return attrs

    def parse(self, raw: str) -> Any:
        return int(raw.strip())


class _NumberField(_IntegerField):
    kind = "number"
    invalid = "Enter a number."
    step = "any"

    def parse(self, raw: str) -> Any:
        number = float(raw.strip())
        if not math.isfinite(number):
            raise ValueError(raw)
        return int(number) if number.is_integer() else number


class _SelectField(_ParamField):
    """An enum; the options carry their values as JSON, so numbers and null round-trip."""

    kind = "select"
    widget = forms.Select
    invalid = "Choose one of the options."

    def __init__(self, spec: Mapping[str, Any], **kwargs: Any) -> None:
        super().__init__(spec, **kwargs)
        self.widget.choices = [(json.dumps(v), shown(v)) for v in spec.get("enum", [])]

    def widget_attrs(self, widget) -> dict[str, Any]:
        return {}

    def parse(self, raw: str) -> Any:
        return json.loads(raw)

    def prepare_value(self, value: Any) -> Any:
        return "" if value is ABSENT else json.dumps(value)


class _JSONField(_ParamField):
    """Any property the form has no input for (objects, arrays, several types), as JSON text."""

    kind = "json"
    widget = forms.Textarea
    invalid = "Enter valid JSON."

    def widget_attrs(self, widget) -> dict[str, Any]:
        return {"rows": 6, "spellcheck": "false"}

    def parse(self, raw: str) -> Any:
        return json.loads(raw)

    def prepare_value(self, value: Any) -> Any:
        return "" if value is ABSENT else json.dumps(value, indent=2, sort_keys=True)


class _ShownCheckbox(forms.CheckboxInput):
    """Tells unchecked from not on the form: an unchecked box posts nothing, so the template
    adds a hidden `<name>-shown` input; a post with neither leaves the param out."""

    def value_from_datadict(self, data, files, name):
        if name in data:
            return True
        return False if f"{name}-shown" in data else None


class _BooleanField(_ParamField):
    kind = "checkbox"
    widget = _ShownCheckbox

    def widget_attrs(self, widget) -> dict[str, Any]:
        return {}

    def to_python(self, value: Any) -> Any:
        return ABSENT if value is None else value

    def prepare_value(self, value: Any) -> Any:
        return value is True


_BY_TYPE = {"string": _ParamField, "integer": _IntegerField, "number": _NumberField}
_BY_TYPE["boolean"] = _BooleanField


def _field_class(spec: Mapping[str, Any]) -> type[_ParamField]:
    if "enum" in spec:
        return _SelectField
    kind = spec.get("type")
    return _BY_TYPE.get(kind, _JSONField) if isinstance(kind, str) else _JSONField


def _money_help(currency: Any) -> str:
    currency = currency if isinstance(currency, str) else ""
    unit = currency or "the currency's"
    return f"In minor units of {unit}: 12000 is {format_money(12000, currency or None)}."


def _help(spec: Mapping[str, Any], text: str) -> str:
    if isinstance(spec.get("description"), str):
        return f"{spec['description']} {text}".strip()
    return text


def placed_errors(
    errors: Iterable[SchemaError], names: Sequence[str]
) -> list[tuple[str | None, str]]:
    """Each of jsonschema's errors with the property of `names` it is about, by the first step of
    its path, or None when it is about the params as a whole."""
    missing_taken: Counter[tuple] = Counter()
    placed: list[tuple[str | None, str]] = []
    for error in errors:
        name = error.absolute_path[0] if error.absolute_path else None
        if name is None and error.validator == "required":
            # A property left out has no path: jsonschema yields one error per missing property
            # in the order of the `required` list and names it only in the message, so pair
            # them in that order rather than read the message.
            keyword = tuple(error.absolute_schema_path)
            missing = [p for p in error.validator_value if p not in error.instance]
            nth = missing_taken[keyword]
            missing_taken[keyword] += 1
            name = missing[nth] if nth < len(missing) else None
        placed.append((name if name in names else None, error.message))
    return placed


class ParamsForm(forms.Form):
    """One field per property of the params schema, in the schema's order, named `param-<name>`.

    Cleaning parses each field, then checks the params against the schema and puts each of
    jsonschema's errors on the field it is about. `params` then holds the params to save: the
    fields' values, and the current params the schema does not describe as they were."""

    def __init__(
        self,
        schema: Mapping[str, Any],
        data: Mapping[str, str] | None = None,
        *,
        initial: Mapping[str, Any] | None = None,
        current: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(data=data, initial=dict(initial or {}), prefix="param")
        self.schema = schema
        properties = schema.get("properties") or {}
        required = set(schema.get("required") or [])
        self.params = {k: v for k, v in (current or {}).items() if k not in properties}
        self._money = ""
        for name, spec in properties.items():
            spec = spec if isinstance(spec, Mapping) else {}
            cls = _field_class(spec)
            label = name.replace("_", " ").capitalize()
            if name == "amount" and spec.get("type") == "integer" and "currency" in properties:
                self._money, label = name, f"{label} (minor units)"
            self.fields[name] = cls(
                spec,
                schema_required=name in required,
                label=label,
                help_text=_help(spec, "JSON" if cls is _JSONField else ""),
            )
        self._name_the_currency(self.initial)

    def _name_the_currency(self, values: Mapping[str, Any]) -> None:
        """The amount's hint names the currency the form shows; a posted form knows it only once
        cleaned (and shows none when the currency was refused)."""
        if self._money:
            field = self.fields[self._money]
            field.help_text = _help(field.spec, _money_help(values.get("currency")))
            self[self._money].help_text = field.help_text

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if not self.errors:  # with a field that did not parse, the schema would only repeat it
            self.params.update((k, v) for k, v in cleaned.items() if v is not ABSENT)
            errors = params_errors(schema=self.schema, params=self.params)
            for name, message in placed_errors(errors, list(self.fields)):
                self.add_error(name, message)
        self._name_the_currency(self.cleaned_data)
        return cleaned


# ---------------------------------------------------------------------------------------------
# the edit area's steps


@dataclass(frozen=True)
class PolicyOutlook:
    """What the active policy would say about the edited params, next to what it said before."""

    mode: str
    rule_name: str
    explanation: str
    approvals_required: int
    approver_role: str
    refused: bool
    needs_more: bool
    policy_version: int | None


@dataclass(frozen=True)
class EditStep:
    """The edit area: the form (with errors) or the confirm step (diff, outlook, reason)."""

    step: str  # "form", "confirm", or "refused" (the viewer may not edit it now)
    form: ParamsForm | None = None
    errors: Sequence[str] = ()  # of no single field
    diff: Sequence[DiffRow] = ()
    outlook: PolicyOutlook | None = None
    params_json: str = ""
    edit_codes: Sequence[Any] = ()
    version: int = 0
    message: str = ""
    message_code: str = ""


def edit_form(
    action: Action,
    *,
    values: Mapping[str, Any] | None = None,
    general: Sequence[str] = (),
    version: int | None = None,
) -> EditStep:
    """The form prefilled from `values`, by default the params that would execute now."""
    return EditStep(
        step="form",
        form=ParamsForm(
            action.action_type.params_schema or {},
            initial=values if values is not None else action.effective_params or {},
        ),
        errors=list(general),
        version=version if version is not None else action.version,
    )


def policy_outlook(action: Action, params: Mapping[str, Any]) -> PolicyOutlook:
    _, decision = selectors.policy_decision(
        agent_name=action.agent.name,
        action_type=action.action_type.key,
        params=dict(params),
        context=action.context if isinstance(action.context, dict) else {},
    )
    refused = decision.mode in UNOVERRIDABLE_MODES
    needs_more = not refused and (
        decision.approvals_required > action.approvals_required
        or bool(decision.approver_role and decision.approver_role != action.approver_role)
    )
    return PolicyOutlook(
        mode=decision.mode,
        rule_name=decision.rule_name,
        explanation=decision.explanation,
        approvals_required=decision.approvals_required,
        approver_role=decision.approver_role,
        refused=refused,
        needs_more=needs_more,
        policy_version=decision.policy_version,
    )


def edit_review(
    action: Action, data: Mapping[str, str], *, version: int | None = None
) -> tuple[EditStep, dict[str, Any] | None]:
    """Check a submitted edit form: the form again with its errors, or the confirm step (diff
    original → new and the policy outlook) with the params it would save."""
    form = ParamsForm(
        action.action_type.params_schema or {}, data, current=action.effective_params or {}
    )
    if not form.is_valid():
        version = version if version is not None else action.version
        general = list(form.non_field_errors())
        return EditStep(step="form", form=form, errors=general, version=version), None
    return confirm_step(action, form.params, version=version), form.params


def confirm_step(
    action: Action,
    params: Mapping[str, Any],
    *,
    version: int | None = None,
    message: str = "",
    message_code: str = "",
) -> EditStep:
    return EditStep(
        step="confirm",
        diff=params_diff(action.params or {}, params),
        outlook=policy_outlook(action, params),
        params_json=json.dumps(params, sort_keys=True),
        edit_codes=selectors.reason_codes(kind=DecisionKind.EDIT),
        version=version if version is not None else action.version,
        message=message,
        message_code=message_code,
    )
