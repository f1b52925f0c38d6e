"""Changing escalation tiers: saving one (create or change, by key) and deleting one.

Tiers are data a policy admin manages next to the rules that name them, so both use cases take
the policy lock: a rule that names a tier and the deletion of that tier never pass each other.
`tier_save` joins the caller's transaction when there is one, so a policy import commits its
tiers together with its rules, or neither.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable
from dataclasses import asdict, dataclass
from typing import Any

from django.db import transaction
from django.db.models import Q

from audit.events import Verb
from audit.services import Actor, audit_record
from config.errors import Code, Conflict, InvalidInput
from policies import business_hours
from policies.locks import lock_policies
from policies.models import TIER_SPEC_FIELDS, PolicyVersion, Rule, Tier

_SLUG = re.compile(r"^[-a-zA-Z0-9_]+$")
KEY_MAX = 32
_TEXT_FIELDS = {"name": 100, "handler_group": 64, "handler_queue": 64, "time_zone": 64}
MIN_RENOTIFY_SECONDS = 60


@dataclass(frozen=True)
class TierProblem:
    """One thing wrong with a tier: the field at fault and why, in words for a policy admin."""

    field: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _key_problems(field: str, value: Any) -> list[TierProblem]:
    if not isinstance(value, str) or not _SLUG.match(value) or len(value) > KEY_MAX:
        return [TierProblem(field, f"{field} is letters, digits, - and _ (at most {KEY_MAX})")]
    return []


def _calendar_problems(spec: dict[str, Any]) -> list[TierProblem]:
    """business_hours.check for each calendar field apart, so each problem names its field."""
    parts = {
        "time_zone": {"time_zone": spec.get("time_zone"), "weekly_hours": {}, "holidays": []},
        "weekly_hours": {"time_zone": "UTC", "weekly_hours": spec.get("weekly_hours"),
                         "holidays": []},
        "holidays": {"time_zone": "UTC", "weekly_hours": {}, "holidays": spec.get("holidays")},
    }  # fmt: skip
    problems = []
    for field, calendar in parts.items():
        try:
            business_hours.check(**calendar)
        except (business_hours.CalendarProblem, TypeError) as exc:
            problems.append(TierProblem(field, f"{field}: {exc}"))
    return problems


def tier_problems(spec: Any) -> list[TierProblem]:
    """Everything wrong with a tier spec that can be told without the database: at most one
    problem per field, in the order of the fields."""
    if not isinstance(spec, dict):
        return [TierProblem("", "is not an object")]
    problems: list[TierProblem] = []
    unknown = set(spec) - set(TIER_SPEC_FIELDS)
    if unknown:
        problems.append(TierProblem("", f"has unknown fields: {sorted(unknown)}"))
    key = spec.get("key")
    problems += _key_problems("key", key)
    for field, limit in _TEXT_FIELDS.items():
        value = spec.get(field, "")
        if not isinstance(value, str) or len(value) > limit:
            problems.append(TierProblem(field, f"{field} is text of at most {limit} characters"))
    name = spec.get("name")
    if isinstance(name, str) and not name.strip():
        problems.append(TierProblem("name", "needs a name"))
    if not spec.get("handler_group") and not spec.get("handler_queue"):
        problems.append(
            TierProblem("handler_group", "needs its handlers: a group, a queue, or both")
        )
    for field in ("ack_sla_seconds", "resolve_sla_seconds"):
        value = spec.get(field)
        if not _is_int(value) or value < 1:
            problems.append(TierProblem(field, f"{field} is a whole number of seconds, at least 1"))
    renotify = spec.get("renotify_seconds")
    if not _is_int(renotify) or renotify < MIN_RENOTIFY_SECONDS:
        problems.append(
            TierProblem(
                "renotify_seconds",
                f"renotify_seconds is a whole number of seconds, at least {MIN_RENOTIFY_SECONDS}",
            )
        )
    next_tier = spec.get("next_tier", "")
    if next_tier != "":
        problems += _key_problems("next_tier", next_tier)
        if next_tier == key:
            problems.append(TierProblem("next_tier", "a tier cannot pass its cases on to itself"))
    problems += _calendar_problems(spec)
    if not isinstance(spec.get("is_default"), bool):
        problems.append(TierProblem("is_default", "is_default is true or false"))
    first_per_field: dict[str, TierProblem] = {}
    for problem in problems:
        first_per_field.setdefault(problem.field or f"tier-{id(problem)}", problem)
    return list(first_per_field.values())


def tier_keys() -> frozenset[str]:
    """The keys of the escalation tiers there are, for checking the rules that name them."""
    return frozenset(Tier.objects.order_by("key").values_list("key", flat=True))


def unknown_tier_message(tier: Any, tiers: Collection[str] | None) -> str | None:
    """Why a rule's escalation_tier names none of `tiers` (no check without them), or None.
    Empty names the default tier, whatever the rule's mode."""
    if tiers is None or not isinstance(tier, str) or not tier or tier in tiers:
        return None
    known = ", ".join(sorted(tiers)) or "none"
    return (
        f"escalation_tier {tier!r} is not an escalation tier (tiers: {known}; "
        "leave it empty for the default tier)"
    )


def _refused(problems: list[TierProblem], key: Any) -> InvalidInput:
    first = problems[0]
    return InvalidInput(
        f"Tier {key!r}: {first.message}." if isinstance(key, str) else f"{first.message}.",
        code=Code.INVALID_TIER,
        details={"field": first.field, "problems": [p.as_dict() for p in problems]},
    )


def _loop_through(key: str, next_key: str) -> list[str] | None:
    """The keys of the loop that `key` -> `next_key` would close, or None when the chain ends."""
    next_of = dict(Tier.objects.order_by("key").values_list("key", "next_tier__key"))
    next_of[key] = next_key
    path, current = [key], next_key
    while current:
        if current == key:
            return [*path, key]
        if current in path:  # a loop further up that does not pass through `key`
            return None
        path.append(current)
        current = next_of.get(current) or ""
    return None


def _next_tier(key: str, next_key: str) -> Tier | None:
    if not next_key:
        return None
    next_tier = Tier.objects.filter(key=next_key).first()
    if next_tier is None:
        raise _refused([TierProblem("next_tier", f"next_tier {next_key!r} is not a tier")], key)
    loop = _loop_through(key, next_key)
    if loop:
        raise _refused(
            [TierProblem("next_tier", f"next_tier would make a loop: {' -> '.join(loop)}")], key
        )
    return next_tier


def tier_save(
    *, key: str, name: str, handler_group: str, handler_queue: str, ack_sla_seconds: int,
    resolve_sla_seconds: int, next_tier: str, renotify_seconds: int, time_zone: str,
    weekly_hours: dict, holidays: list, is_default: bool, actor: Actor,
) -> tuple[Tier, bool]:  # fmt: skip
    """Create the tier `key` or change it; (tier, changed). Nothing is written when unchanged.

    Making a tier the default takes the flag from the tier that had it (there is one default, where
    cases go that name no tier); the default loses it only that way, never by being unticked.
    Refusals are InvalidInput `invalid_tier` with `details["field"]` and every problem found.
    """
    spec = {
        "key": key, "name": name, "handler_group": handler_group, "handler_queue": handler_queue,
        "ack_sla_seconds": ack_sla_seconds, "resolve_sla_seconds": resolve_sla_seconds,
        "next_tier": next_tier or "", "renotify_seconds": renotify_seconds,
        "time_zone": time_zone, "weekly_hours": weekly_hours, "holidays": holidays,
        "is_default": is_default,
    }  # fmt: skip
    problems = tier_problems(spec)
    if problems:
        raise _refused(problems, key)
    # Stored as JSON: pairs become lists, so an unchanged calendar compares equal.
    spec["weekly_hours"] = {
        day: [list(span) for span in spans] for day, spans in weekly_hours.items()
    }
    with transaction.atomic():
        lock_policies()
        tier = (
            Tier.objects.select_for_update(of=("self",))
            .select_related("next_tier")
            .filter(key=key)
            .first()
        )
        before = tier.spec() if tier is not None else None
        if before == spec:
            return tier, False
        values = {f: spec[f] for f in TIER_SPEC_FIELDS if f not in ("key", "next_tier")}
        values["next_tier"] = _next_tier(key, spec["next_tier"])
        default = Tier.objects.select_for_update().filter(is_default=True).first()
        if tier is not None and tier.is_default and not is_default:
            raise _refused(
                [TierProblem("is_default", f"{key} is the default tier; make another tier the "
                                           "default instead")], key,
            )  # fmt: skip
        if is_default and default is not None and default.key != key:
            _take_default_from(default, by=key, actor=actor)
        if tier is None:
            tier = Tier.objects.create(key=key, **values)
        else:
            for field, value in values.items():
                setattr(tier, field, value)
            tier.save()
        data: dict[str, Any] = {"created": before is None, "tier": spec}
        if before is not None:
            data["changes"] = {
                f: [before[f], spec[f]] for f in TIER_SPEC_FIELDS if before[f] != spec[f]
            }
        audit_record(
            actor=actor, verb=Verb.TIER_SAVED, object_type="tier", object_id=key, data=data
        )
    return tier, True


def _take_default_from(default: Tier, *, by: str, actor: Actor) -> None:
    default.is_default = False
    default.save(update_fields=["is_default"])
    audit_record(
        actor=actor,
        verb=Verb.TIER_SAVED,
        object_type="tier",
        object_id=default.key,
        data={
            "created": False,
            "tier": default.spec(),
            "changes": {"is_default": [True, False]},
            "default_now": by,
        },
    )


def tiers_in_saving_order(specs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The specs in an order each can be saved in: a tier after the tiers it passes cases on to,
    and the new default (with the tiers above it) before every other, so the tier that is the
    default now is no longer the default when its own spec clears the flag."""
    by_key = {spec["key"]: spec for spec in specs}
    ordered: list[dict[str, Any]] = []
    placed: set[str] = set()

    def place(spec: dict[str, Any], visiting: frozenset[str]) -> None:
        if spec["key"] in placed or spec["key"] in visiting:
            return  # a loop is refused when the tier is saved
        above = by_key.get(spec.get("next_tier") or "")
        if above is not None:
            place(above, visiting | {spec["key"]})
        placed.add(spec["key"])
        ordered.append(spec)

    for spec in sorted(specs, key=lambda s: not s.get("is_default")):
        place(spec, frozenset())
    return ordered


def tiers_import(*, specs: Iterable[dict[str, Any]], actor: Actor) -> int:
    """Save every tier of a policy file through `tier_save`, in an order that works on a database
    that has none of them; how many were created or changed. Joins the caller's transaction."""
    changed = 0
    with transaction.atomic():
        for spec in tiers_in_saving_order(list(specs)):
            changed += tier_save(**spec, actor=actor)[1]
    return changed


def _uses(tier: Tier) -> list[str]:
    """Why the tier cannot go, in words; empty when nothing needs it."""
    reasons = []
    cases = tier.cases.count()
    if cases:
        reasons.append(f"{cases} escalation case(s) are in it")
    if tier.is_default:
        reasons.append("it is the default tier; make another tier the default first")
    below = Tier.objects.filter(next_tier=tier).order_by("key").values_list("key", flat=True)
    if below:
        reasons.append(f"tier(s) {', '.join(below)} pass their cases on to it")
    rules = (
        Rule.objects.filter(escalation_tier=tier.key)
        .filter(
            Q(policy_version__is_active=True) | Q(policy_version__status=PolicyVersion.Status.DRAFT)
        )
        .select_related("policy_version")
        .order_by("policy_version__number", "position")
    )
    for rule in rules:
        version = rule.policy_version
        state = "active" if version.is_active else "draft"
        reasons.append(f"rule {rule.name} of v{version.number} ({state}) names it")
    return reasons


def tier_delete(*, key: str, actor: Actor) -> None:
    """Delete a tier nothing needs: no case is in it, it is not the default, no tier passes cases
    on to it, and no rule of the active version or of a draft names it."""
    with transaction.atomic(durable=True):
        lock_policies()
        tier = (
            Tier.objects.select_for_update(of=("self",))
            .select_related("next_tier")
            .filter(key=key)
            .first()
        )
        if tier is None:
            raise InvalidInput(
                f"There is no escalation tier {key!r}.",
                code=Code.UNKNOWN_TIER,
                details={"field": "key", "tier": key},
            )
        reasons = _uses(tier)
        if reasons:
            raise Conflict(
                f"Tier {key} is in use: {'; '.join(reasons)}.",
                code=Code.TIER_IN_USE,
                details={"tier": key, "reasons": reasons},
            )
        spec = tier.spec()
        tier.delete()
        audit_record(
            actor=actor, verb=Verb.TIER_DELETED, object_type="tier", object_id=key,
            data={"tier": spec},
        )  # fmt: skip
