"""Params as plain text a reviewer reads: rows, diffs between two sets, and the amount as money."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from policies.money import params_money_text

ABSENT = "—"


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def shown(value: Any) -> str:
    """A param value as plain text: strings as they are, anything else as compact JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


@dataclass(frozen=True)
class ParamRow:
    name: str
    value: str


@dataclass(frozen=True)
class DiffRow:
    name: str
    old: str
    new: str

    @property
    def changed(self) -> bool:
        return self.old != self.new


def _shown_param(name: str, params: Mapping[str, Any]) -> str:
    """A param as plain text; an amount in minor units also reads as money, so 12000 is not
    mistaken for twelve thousand dollars."""
    if name not in params:
        return ABSENT
    if name == "amount" and params_money_text(params):
        return f"{params[name]} ({params_money_text(params)})"
    return shown(params[name])


def param_rows(params: Mapping[str, Any]) -> list[ParamRow]:
    return [ParamRow(name, _shown_param(name, params)) for name in params]


def params_diff(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[DiffRow]:
    """Every field of either side, in the order of `old` then the fields only `new` has."""
    names = list(old) + [name for name in new if name not in old]
    return [DiffRow(name, _shown_param(name, old), _shown_param(name, new)) for name in names]
