"""Masking sensitive data before it is kept or sent: by key name, by the `x-sensitive` marks of an
action type's params schema, and in free text (card numbers that pass the Luhn check, email
addresses, phone numbers).

Pure functions over JSON-like values, importing no app, so that the audit log, callbacks and the
logs mask alike. The detectors lean towards masking: a phone-shaped run of digits in a note is
masked even when it was something else, and a Luhn-valid card number is masked wherever it is.
"""

from __future__ import annotations

import logging
import re
from typing import Any

REDACTED = "[redacted]"
# Any key whose name contains one of these is stored as "[redacted]", at any depth. Names are
# compared lower-cased with "-", "." and spaces read as "_", so `X-Api-Key` is `x_api_key`.
SENSITIVE_KEY_PARTS = (
    "password", "passwd", "secret", "token", "api_key", "apikey", "authorization", "cookie",
    "private_key", "card_number", "cardnumber", "cvv", "cvc", "ssn",
)  # fmt: skip
_SEPARATORS = str.maketrans({"-": "_", ".": "_", " ": "_"})

# The schema keyword that marks a param sensitive, and the kinds it may name: e.g.
# `"line1": {"type": "string", "x-sensitive": "address"}`. A marked value is masked whole (an
# object or a list too); an unknown kind is masked as "[redacted]".
SCHEMA_MARK = "x-sensitive"
SENSITIVITIES = ("card", "email", "phone", "address", "name")

EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
# A run of digits with single spaces or hyphens between them, not part of a word or an id
# (`ORD-1001`, a UUID); the card numbers are found inside it (see `_mask_cards`).
_DIGIT_RUN = re.compile(r"(?<![\w-])\d(?:[ -]?\d)*(?![\w-])")
# A number in international form, or groups of digits (an area code in brackets allowed); not
# followed by a word, a colon (a time), a slash or a decimal point (a date, an amount, a version).
PHONE = re.compile(
    r"""(?<![\w+/.:-])
    (?: \+\d{8,15}
      | (?:\+\d{1,3}[ -]?)? (?:\(\d{1,5}\)[ ]?)? \d{1,5} (?:[ -]\d{1,5}){1,5} )
    (?![\w/:-]|\.\d)""",
    re.VERBOSE,
)
_PHONE_DIGITS = range(9, 16)
_CARD_DIGITS = range(13, 20)


def is_sensitive_key(key: Any) -> bool:
    name = str(key).lower().translate(_SEPARATORS)
    return any(part in name for part in SENSITIVE_KEY_PARTS)


def luhn_valid(digits: str) -> bool:
    """Whether a string of digits passes the Luhn check that every card number passes."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return bool(digits) and total % 10 == 0


def card_mask(value: Any) -> str:
    """A card number as kept: its last four digits only (what receipts show)."""
    digits = re.sub(r"\D", "", str(value))
    return f"[card ****{digits[-4:]}]" if len(digits) >= 4 else "[card]"


def _mask_cards(text: str) -> str:
    """Mask every card number in `text`: within each run of digit groups, the longest stretch of
    whole groups with 13 to 19 digits that passes the Luhn check, leftmost first."""

    def in_run(match: re.Match) -> str:
        run = match.group()
        groups = [(m.start(), m.end()) for m in re.finditer(r"\d+", run)]
        out, kept_to, i = [], 0, 0
        while i < len(groups):
            for j in range(len(groups), i, -1):
                digits = "".join(run[a:b] for a, b in groups[i:j])
                if len(digits) in _CARD_DIGITS and luhn_valid(digits):
                    start, end = groups[i][0], groups[j - 1][1]
                    out += [run[kept_to:start], card_mask(digits)]
                    kept_to, i = end, j
                    break
            else:
                i += 1
        return "".join([*out, run[kept_to:]])

    return _DIGIT_RUN.sub(in_run, text)


def _mask_phone(match: re.Match) -> str:
    digits = sum(char.isdigit() for char in match.group())
    return "[phone]" if digits in _PHONE_DIGITS else match.group()


def mask_text(text: str) -> str:
    """`text` with the email addresses, Luhn-valid card numbers and phone numbers in it masked."""
    text = EMAIL.sub("[email]", text)
    text = _mask_cards(text)
    return PHONE.sub(_mask_phone, text)


def redact_keys(value: Any) -> Any:
    """`value` with the values of sensitive keys replaced, at any depth; text kept as written."""
    if isinstance(value, dict):
        return {k: REDACTED if is_sensitive_key(k) else redact_keys(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_keys(v) for v in value]
    return value


def redact(value: Any) -> Any:
    """`value` with the values of sensitive keys replaced and free text masked, at any depth."""
    if isinstance(value, dict):
        return {k: REDACTED if is_sensitive_key(k) else redact(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, int) and not isinstance(value, bool):
        digits = str(abs(value))
        if len(digits) in _CARD_DIGITS and luhn_valid(digits):
            return card_mask(digits)
    return value


def mask_marked(kind: Any, value: Any) -> Any:
    if value is None:
        return None
    if kind == "card":
        return card_mask(value)
    return f"[{kind}]" if kind in SENSITIVITIES else REDACTED


def mask_by_schema(schema: Any, value: Any) -> Any:
    """`value` with what `schema` marks `x-sensitive` masked, following `properties`,
    `additionalProperties` and `items`; what the schema does not mark is left as it is."""
    if not isinstance(schema, dict):
        return value
    if SCHEMA_MARK in schema:
        return mask_marked(schema[SCHEMA_MARK], value)
    if isinstance(value, dict):
        properties = schema.get("properties") or {}
        extra = schema.get("additionalProperties")
        return {
            key: mask_by_schema(properties.get(key, extra), item) for key, item in value.items()
        }
    if isinstance(value, list):
        return [mask_by_schema(schema.get("items"), item) for item in value]
    return value


def marked_values(schema: Any, *params: Any) -> dict[str, str]:
    """Every string value `schema` marks in any of `params`, with its mask: to find them again
    where they are echoed (an executor's result, a note quoting them)."""
    found: dict[str, str] = {}

    def collect(sub: Any, value: Any, kind: Any = None) -> None:
        if kind is None and isinstance(sub, dict) and SCHEMA_MARK in sub:
            kind = sub[SCHEMA_MARK]
        if isinstance(value, dict):
            sub = sub if isinstance(sub, dict) else {}
            properties, extra = sub.get("properties") or {}, sub.get("additionalProperties")
            for key, item in value.items():
                collect(properties.get(key, extra), item, kind)
        elif isinstance(value, list):
            for item in value:
                collect(sub.get("items") if isinstance(sub, dict) else None, item, kind)
        elif kind is not None and isinstance(value, str) and value.strip():
            found[value] = mask_marked(kind, value)

    for each in params:
        collect(schema, each)
    return found


# A marked value shorter than this is masked only where it is a whole value, never inside text.
_MIN_QUOTED = 4


def mask_values(value: Any, marked: dict[str, str]) -> Any:
    """`value` with every string in `marked` masked, whole or quoted inside a longer string."""
    if not marked:
        return value
    if isinstance(value, dict):
        return {k: mask_values(v, marked) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [mask_values(v, marked) for v in value]
    if not isinstance(value, str):
        return value
    if value in marked:
        return marked[value]
    for text in sorted(marked, key=len, reverse=True):
        if len(text) >= _MIN_QUOTED and text in value:
            value = value.replace(text, marked[text])
    return value


class RedactingFilter(logging.Filter):
    """A logging filter that masks free text in each record's message and traceback, so a note,
    a context or an exception quoting them leaves no card number, email or phone in the logs."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask_text(message)
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask_text(record.exc_text)
        return True
