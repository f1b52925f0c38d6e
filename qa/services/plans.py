"""Saving scorecards and sampling plans (create or change, by slug), checked and audited.

Only QA leads change them: pass `by` (the person, from a page or the API) and the rulebook decides;
code that runs as the system (the demo loader) passes only an `actor`. Both use cases join the
caller's transaction when there is one, so a loader commits its scorecard and plan together.
Refusals are InvalidInput (`invalid_scorecard`, `invalid_plan`) whose `details["field"]` names the
field at fault and `details["problems"]` lists every problem found.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction

from agents.models import Agent
from approvals import rulebook
from audit.events import Verb
from audit.services import Actor, audit_record
from config import clock
from config.errors import Code, Conflict, InvalidInput
from policies.models import ActionType, Mode, Rule
from qa import sampling
from qa.models import Period, Review, SamplingPlan, Scorecard

_SLUG = re.compile(r"^[-a-zA-Z0-9_]+$")
_CURRENCY = re.compile(r"^[A-Z]{3}$")
MAX_CATEGORIES = 30
MAX_LABEL = 80
MAX_SCALE = 10
MAX_LIST = 50
MAX_STRATA = 10
MAX_REVIEWERS = 100
MAX_SIZE_COUNT = 10_000
DECIDED_BY = ("any", "person", "none")
INCLUSION_KEYS = tuple(key for key, _ in sampling.INCLUSION_KINDS)
FLAG_INCLUSIONS = tuple(key for key in INCLUSION_KEYS if key != "unattended_above")


class Problems:
    """What is wrong with a spec, field by field, and the refusal that tells it."""

    def __init__(self, code: Code, what: str) -> None:
        self.code, self.what, self.found = code, what, []

    def add(self, field: str, message: str) -> None:
        self.found.append({"field": field, "message": message})

    def raise_any(self) -> None:
        if self.found:
            first = self.found[0]
            raise InvalidInput(
                f"{self.what}: {first['message']}.",
                code=self.code,
                details={"field": first["field"], "problems": self.found},
            )


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _text(problems: Problems, field: str, value: Any, limit: int, *, required: bool) -> None:
    if not isinstance(value, str) or len(value) > limit:
        problems.add(field, f"{field} is text of at most {limit} characters")
    elif required and not value.strip():
        problems.add(field, f"{field} is required")


def _slug(problems: Problems, field: str, value: Any, limit: int = 64) -> None:
    if not isinstance(value, str) or not _SLUG.match(value) or len(value) > limit:
        problems.add(field, f"{field} is letters, digits, - and _ (at most {limit})")


def _who(by, actor: Actor | None) -> Actor:
    """The actor to audit: `by` once the rulebook lets them lead QA, else the system `actor`."""
    if by is not None:
        rulebook.enforce(rulebook.may_lead_qa(rulebook.person_of(by)))
        return Actor.user(by.pk)
    if actor is None:
        raise ValueError("pass `by` (a person) or `actor` (the system)")
    return actor


# ---------------------------------------------------------------------------------------------
# scorecards


def _categories(problems: Problems, categories: Any) -> list[dict[str, Any]]:
    """The categories with critical/allow_na spelled out; problems added for what is wrong."""
    if not isinstance(categories, list) or not 1 <= len(categories) <= MAX_CATEGORIES:
        problems.add("categories", f"categories is a list of 1 to {MAX_CATEGORIES} categories")
        return []
    clean, keys = [], set()
    allowed = {"key", "label", "weight", "critical", "allow_na"}
    for at, category in enumerate(categories):
        field = f"categories[{at}]"
        if not isinstance(category, dict):
            problems.add(field, f"{field} is an object with key, label and weight")
            continue
        unknown = sorted(set(category) - allowed)
        if unknown:
            problems.add(field, f"{field} has unknown fields: {', '.join(unknown)}")
        key, label, weight = category.get("key"), category.get("label"), category.get("weight")
        _slug(problems, f"{field}.key", key, 40)
        if key in keys:
            problems.add(f"{field}.key", f"{field}.key {key!r} is used twice")
        keys.add(key if isinstance(key, str) else None)
        _text(problems, f"{field}.label", label, MAX_LABEL, required=True)
        if not _is_int(weight) or not 1 <= weight <= 100:
            problems.add(f"{field}.weight", f"{field}.weight is a whole number from 1 to 100")
        flags = {}
        for flag in ("critical", "allow_na"):
            value = category.get(flag, False)
            if not isinstance(value, bool):
                problems.add(f"{field}.{flag}", f"{field}.{flag} is true or false")
            flags[flag] = value is True
        clean.append({"key": key, "label": label, "weight": weight, **flags})
    return clean


def _spelled_out(categories: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Stored categories with the flags they leave out at their defaults, to compare."""
    return [{"critical": False, "allow_na": False, **category} for category in categories]


def scorecard_save(
    *, slug: str, name: str, description: str = "", scale: int = 4, categories: Any,
    is_active: bool = True, actor: Actor | None = None, by=None, request_id: str = "",
) -> Scorecard:  # fmt: skip
    """Create the scorecard `slug` or change it. Once a review used it, its categories and scale
    stay as they are (the reviews were scored on them): a change is a new scorecard."""
    who = _who(by, actor)
    problems = Problems(Code.INVALID_SCORECARD, f"Scorecard {slug!r}")
    _slug(problems, "slug", slug)
    _text(problems, "name", name, 100, required=True)
    _text(problems, "description", description, 300, required=False)
    if not _is_int(scale) or not 1 <= scale <= MAX_SCALE:
        problems.add("scale", f"scale is a whole number from 1 to {MAX_SCALE}")
    clean = _categories(problems, categories)
    if not isinstance(is_active, bool):
        problems.add("is_active", "is_active is true or false")
    problems.raise_any()
    with transaction.atomic():
        card = Scorecard.objects.select_for_update().filter(slug=slug).first()
        created = card is None
        if card is None:
            card = Scorecard(slug=slug)
        elif (_spelled_out(card.categories) != clean or card.scale != scale) and (
            Review.objects.filter(scorecard=card).exists()
        ):
            raise Conflict(
                f"Scorecard {slug!r} was used by reviews, so its categories and scale stay as "
                "they are: make a new scorecard for the change.",
                code=Code.SCORECARD_IN_USE,
                details={"field": "categories"},
            )
        card.name, card.description, card.scale = name.strip(), description.strip(), scale
        card.categories, card.is_active = clean, is_active
        card.save()
        audit_record(
            actor=who, verb=Verb.QA_SCORECARD_SAVED, object_type="qa.scorecard",
            object_id=card.pk, request_id=request_id,
            data={"slug": slug, "created": created, "scale": scale, "categories": clean,
                  "is_active": is_active},
        )  # fmt: skip
    return card


# ---------------------------------------------------------------------------------------------
# sampling plans


def _names(problems: Problems, field: str, value: Any, known: set[str] | None) -> None:
    if not isinstance(value, list) or len(value) > MAX_LIST:
        problems.add(field, f"{field} is a list of at most {MAX_LIST} names")
        return
    if not all(isinstance(v, str) and 0 < len(v) <= 100 for v in value):
        problems.add(field, f"{field} holds names (text)")
        return
    unknown = sorted(set(value) - known) if known is not None else []
    if unknown:
        problems.add(field, f"{field}: unknown {', '.join(unknown)}")


def _where(problems: Problems, field: str, where: Any, known: dict[str, set[str]]) -> dict:
    """A scope or a stratum's `where`, checked against the names there are."""
    if not isinstance(where, dict):
        problems.add(field, f"{field} is an object")
        return {}
    unknown = sorted(set(where) - set(sampling.SCOPE_KEYS))
    if unknown:
        problems.add(field, f"{field} has unknown keys: {', '.join(unknown)}")
    clean: dict[str, Any] = {}
    for key in ("action_types", "modes", "agents", "rules"):
        value = where.get(key, [])
        _names(problems, f"{field}.{key}", value, known[key])
        clean[key] = sorted(set(value)) if isinstance(value, list) else []
    decided_by = where.get("decided_by", "any")
    if decided_by not in DECIDED_BY:
        problems.add(f"{field}.decided_by", f"{field}.decided_by is one of any, person, none")
    clean["decided_by"] = decided_by
    return clean


def _known_names() -> dict[str, set[str]]:
    return {
        "action_types": set(ActionType.objects.order_by("key").values_list("key", flat=True)),
        "modes": set(Mode.values),
        "agents": set(Agent.objects.order_by("name").values_list("name", flat=True)),
        "rules": set(Rule.objects.order_by("name").values_list("name", flat=True).distinct()),
    }


def _strata(problems: Problems, strata: Any, known: dict[str, set[str]]) -> list[dict]:
    if not isinstance(strata, list) or len(strata) > MAX_STRATA:
        problems.add("strata", f"strata is a list of at most {MAX_STRATA} strata")
        return []
    clean, names, total = [], set(), 0
    for at, stratum in enumerate(strata):
        field = f"strata[{at}]"
        if not isinstance(stratum, dict):
            problems.add(field, f"{field} is an object with name, where and min_percent")
            continue
        unknown = sorted(set(stratum) - {"name", "where", "min_percent"})
        if unknown:
            problems.add(field, f"{field} has unknown keys: {', '.join(unknown)}")
        name, share = stratum.get("name"), stratum.get("min_percent")
        _slug(problems, f"{field}.name", name, 40)
        if name in names:
            problems.add(f"{field}.name", f"{field}.name {name!r} is used twice")
        names.add(name if isinstance(name, str) else None)
        if not _is_int(share) or not 1 <= share <= 100:
            problems.add(f"{field}.min_percent", f"{field}.min_percent is from 1 to 100")
        else:
            total += share
        where = _where(problems, f"{field}.where", stratum.get("where", {}), known)
        clean.append({"name": name, "where": where, "min_percent": share})
    if total > 100:
        problems.add("strata", f"the strata's min_percent add up to {total}, more than 100")
    return clean


def _inclusions(problems: Problems, inclusions: Any) -> dict[str, Any]:
    if not isinstance(inclusions, dict):
        problems.add("inclusions", "inclusions is an object")
        return {}
    unknown = sorted(set(inclusions) - set(INCLUSION_KEYS))
    if unknown:
        problems.add("inclusions", f"inclusions has unknown keys: {', '.join(unknown)}")
    clean: dict[str, Any] = {}
    for key in FLAG_INCLUSIONS:
        value = inclusions.get(key, False)
        if not isinstance(value, bool):
            problems.add(f"inclusions.{key}", f"inclusions.{key} is true or false")
        clean[key] = value is True
    above = inclusions.get("unattended_above")
    field = "inclusions.unattended_above"
    if above is None:
        clean["unattended_above"] = None
    elif (
        not isinstance(above, dict)
        or set(above) != {"amount", "currency"}
        or not _is_int(above["amount"])
        or above["amount"] < 0
        or not isinstance(above["currency"], str)
        or not _CURRENCY.match(above["currency"])
    ):
        problems.add(
            field, f"{field} is empty or an amount (minor units, 0 or more) and a currency (USD)"
        )
    else:
        clean["unattended_above"] = {"amount": above["amount"], "currency": above["currency"]}
    return clean


def _size(problems: Problems, size_count: Any, size_percent: Any) -> None:
    if (size_count is None) == (size_percent is None):
        problems.add("size_count", "give the size as a number of items or as a share, not both")
    elif size_count is not None and (
        not _is_int(size_count) or not 1 <= size_count <= MAX_SIZE_COUNT
    ):
        problems.add("size_count", f"size_count is a whole number from 1 to {MAX_SIZE_COUNT}")
    elif size_percent is not None and (not _is_int(size_percent) or not 1 <= size_percent <= 100):
        problems.add("size_percent", "size_percent is a whole number from 1 to 100")


def _reviewers(problems: Problems, usernames: Any) -> list:
    if not isinstance(usernames, list) or len(usernames) > MAX_REVIEWERS:
        problems.add("reviewers", f"reviewers is a list of at most {MAX_REVIEWERS} usernames")
        return []
    if not all(isinstance(u, str) and 0 < len(u) <= 150 for u in usernames):
        problems.add("reviewers", "reviewers holds usernames")
        return []
    users = list(
        get_user_model().objects.filter(username__in=usernames, is_active=True).order_by("username")
    )
    unknown = sorted(set(usernames) - {u.username for u in users})
    if unknown:
        problems.add("reviewers", f"reviewers: no active account {', '.join(unknown)}")
    refused = [
        u.username for u in users if not rulebook.may_be_plan_reviewer(rulebook.person_of(u))
    ]
    if refused:
        problems.add(
            "reviewers", f"reviewers must hold qa_reviewer or qa_lead: {', '.join(refused)}"
        )
    return users


def plan_save(
    *, slug: str, name: str, description: str = "", period: str, size_count: int | None = None,
    size_percent: int | None = None, scope: Any, strata: Any, inclusions: Any,
    scorecard_slug: str, reviewer_usernames: Any, double_review_percent: int = 10,
    starts_at: datetime | None = None, is_active: bool = True, actor: Actor | None = None,
    by=None, request_id: str = "",
) -> SamplingPlan:  # fmt: skip
    """Create the plan `slug` or change it (its seed never changes: samples drawn stay
    reproducible). Without `starts_at` a new plan starts with the period in progress."""
    who = _who(by, actor)
    problems = Problems(Code.INVALID_PLAN, f"Plan {slug!r}")
    _slug(problems, "slug", slug)
    _text(problems, "name", name, 100, required=True)
    _text(problems, "description", description, 300, required=False)
    if period not in Period.values:
        problems.add("period", "period is daily or weekly")
    _size(problems, size_count, size_percent)
    known = _known_names()
    clean_scope = _where(problems, "scope", scope, known)
    clean_strata = _strata(problems, strata, known)
    clean_inclusions = _inclusions(problems, inclusions)
    card = Scorecard.objects.filter(slug=scorecard_slug).first() if isinstance(
        scorecard_slug, str) else None  # fmt: skip
    if card is None:
        problems.add("scorecard", f"scorecard {scorecard_slug!r} is not a scorecard")
    reviewers = _reviewers(problems, reviewer_usernames)
    if not _is_int(double_review_percent) or not 0 <= double_review_percent <= 100:
        problems.add("double_review_percent", "double_review_percent is from 0 to 100")
    if starts_at is not None and (not isinstance(starts_at, datetime) or starts_at.tzinfo is None):
        problems.add("starts_at", "starts_at is a moment with its time zone")
    if not isinstance(is_active, bool):
        problems.add("is_active", "is_active is true or false")
    problems.raise_any()
    with transaction.atomic():
        plan = SamplingPlan.objects.select_for_update().filter(slug=slug).first()
        created = plan is None
        if plan is None:
            plan = SamplingPlan(slug=slug)
        if starts_at is not None:
            plan.starts_at = starts_at
        elif created:
            plan.starts_at = sampling.period_bounds(period, clock.now())[0]
        fields = {
            "name": name.strip(), "description": description.strip(), "period": period,
            "size_count": size_count, "size_percent": size_percent, "scope": clean_scope,
            "strata": clean_strata, "inclusions": clean_inclusions, "scorecard": card,
            "double_review_percent": double_review_percent, "is_active": is_active,
        }  # fmt: skip
        for key, value in fields.items():
            setattr(plan, key, value)
        plan.save()
        plan.reviewers.set(reviewers)
        audit_record(
            actor=who, verb=Verb.QA_PLAN_SAVED, object_type="qa.plan", object_id=plan.pk,
            request_id=request_id,
            data={**fields, "slug": slug, "created": created, "scorecard": card.slug,
                  "reviewers": [u.username for u in reviewers],
                  "starts_at": plan.starts_at.isoformat()},
        )  # fmt: skip
    return plan
