"""QA leads' pages: sampling plans (list, new, edit), a sample (how it was drawn, its items, who
has them, reassigning and removing), and scorecards (list and create).

Leads and auditors read them (the rulebook says who); only leads get the forms, and the services
enforce it again. A refused form comes back with the service's words next to the field at fault
and everything typed kept.
"""

from __future__ import annotations

import functools
import json
from datetime import UTC, datetime
from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from approvals import rulebook
from config.errors import ApplicationError, Code, Forbidden, InvalidInput
from config.http import request_id
from people.roles import Role
from qa import plan_selectors as selectors
from qa.models import Period
from qa.services import assignments, plans

PLANS_PAGE = "qa/plans.html"
PLAN_PAGE = "qa/plans_edit.html"
SAMPLE_PAGE = "qa/sample.html"
SCORECARDS_PAGE = "qa/scorecard_setup.html"
FLAGS = (
    ("rollbacks", "Every rollback"),
    ("overridden", "Every overridden proposal (rejected, edited or dismissed)"),
    ("rubber_stamps", "Every decision made within 3 seconds of opening the action"),
    ("negative_outcomes", "Every action with negative outcome feedback"),
)
JSON_LIMIT = 20_000


def qa_lead_pages(view=None, *, leads_only: bool = False):
    """Pages for QA leads, read by auditors; anyone else gets the "not for this account" page.
    What changes something (every POST, and `leads_only` pages such as a new plan's form) is for
    leads only: an auditor is refused before any form is read."""
    if view is None:
        return functools.partial(qa_lead_pages, leads_only=leads_only)

    @functools.wraps(view)
    def wrapped(request, *args, **kwargs):
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        person = rulebook.person_of(request.user)
        if not rulebook.may_read_all_qa(person):
            raise PermissionDenied(Forbidden(
                "Sampling plans, samples and scorecards are run by QA leads and read by "
                "auditors. QA reviewers find their assignments on the QA inbox.",
                code=Code.MISSING_ROLE, details={"roles": [Role.QA_LEAD, Role.AUDITOR]},
            ))  # fmt: skip
        led = rulebook.may_lead_qa(person)
        if not led and (leads_only or request.method != "GET"):
            raise PermissionDenied(led.error)
        return view(request, {"may_lead": bool(led), "viewer": person}, *args, **kwargs)

    return wrapped


# ---------------------------------------------------------------------------------------------
# plans


@require_GET
@qa_lead_pages
def plan_list(request, base):
    return render(request, PLANS_PAGE, {**base, "rows": selectors.plan_rows()})


def _int_or_raw(text: str) -> Any:
    text = (text or "").strip()
    return int(text) if text.isdigit() and len(text) < 10 else (text or None)


def _json_field(data, name: str, field: str, empty: Any) -> Any:
    text = (data.get(name) or "").strip()
    if not text:
        return empty
    if len(text) > JSON_LIMIT:
        raise InvalidInput(f"{field} is at most {JSON_LIMIT} characters of JSON.",
                           code=Code.INVALID_PLAN, details={"field": field})  # fmt: skip
    try:
        return json.loads(text)
    except RecursionError:
        raise InvalidInput(f"{field} is nested too deeply.", code=Code.INVALID_PLAN,
                           details={"field": field}) from None  # fmt: skip
    except ValueError as exc:
        raise InvalidInput(
            f"{field} is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno}).",
            code=Code.INVALID_PLAN, details={"field": field},
        ) from None  # fmt: skip


def _names(text: str) -> list[str]:
    return [part.strip() for part in (text or "").replace("\n", ",").split(",") if part.strip()]


def _starts_at(text: str) -> datetime | None:
    text = (text or "").strip()
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput(
            "starts_at is a date and time (UTC), e.g. 2025-03-10T00:00.",
            code=Code.INVALID_PLAN, details={"field": "starts_at"},
        ) from None  # fmt: skip
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def plan_from_form(data) -> dict[str, Any]:
    """A plan spec from the form: anything malformed is left for the service to name, but for
    JSON and dates, which only the form can read (InvalidInput naming the field)."""
    size = _int_or_raw(data.get("size_value", ""))
    by_share = data.get("size_kind") == "percent"
    amount = _int_or_raw(data.get("unattended_amount", ""))
    currency = (data.get("unattended_currency") or "").strip().upper()
    inclusions: dict[str, Any] = {key: bool(data.get(key)) for key, _ in FLAGS}
    inclusions["unattended_above"] = (
        {"amount": amount, "currency": currency} if amount is not None or currency else None
    )
    return {
        "slug": (data.get("slug") or "").strip(),
        "name": (data.get("name") or "").strip(),
        "description": (data.get("description") or "").strip(),
        "period": data.get("period", ""),
        "size_count": None if by_share else size,
        "size_percent": size if by_share else None,
        "scope": {
            "action_types": data.getlist("action_types"),
            "modes": data.getlist("modes"),
            "agents": _names(data.get("agents", "")),
            "rules": _names(data.get("rules", "")),
            "decided_by": data.get("decided_by", "any"),
        },
        "strata": _json_field(data, "strata", "strata", []),
        "inclusions": inclusions,
        "scorecard_slug": data.get("scorecard", ""),
        "reviewer_usernames": data.getlist("reviewers"),
        "double_review_percent": _int_or_raw(data.get("double_review_percent", "")),
        "starts_at": _starts_at(data.get("starts_at", "")),
        "is_active": bool(data.get("is_active")),
    }


def _form_values(plan=None, data=None) -> dict[str, Any]:
    """What the form shows: the posted values after a refusal, else the plan's, else defaults."""
    if data is not None:
        values = {key: data.get(key, "") for key in (
            "slug", "name", "description", "period", "size_kind", "size_value", "agents", "rules",
            "decided_by", "strata", "unattended_amount", "unattended_currency", "scorecard",
            "double_review_percent", "starts_at")}  # fmt: skip
        values.update(
            action_types=data.getlist("action_types"), modes=data.getlist("modes"),
            reviewers=data.getlist("reviewers"), is_active=bool(data.get("is_active")),
            flags={key: bool(data.get(key)) for key, _ in FLAGS},
        )  # fmt: skip
        return values
    if plan is None:
        return {"period": Period.WEEKLY, "size_kind": "count", "size_value": 50,
                "decided_by": "any", "strata": "", "double_review_percent": 10,
                "is_active": True, "action_types": [], "modes": [], "reviewers": [],
                "flags": {}, "unattended_currency": "USD"}  # fmt: skip
    scope, inclusions = plan.scope or {}, plan.inclusions or {}
    above = inclusions.get("unattended_above") or {}
    return {
        "slug": plan.slug, "name": plan.name, "description": plan.description,
        "period": plan.period, "size_kind": "percent" if plan.size_percent else "count",
        "size_value": plan.size_percent or plan.size_count,
        "action_types": scope.get("action_types", []), "modes": scope.get("modes", []),
        "agents": ", ".join(scope.get("agents", [])), "rules": ", ".join(scope.get("rules", [])),
        "decided_by": scope.get("decided_by", "any"),
        "strata": json.dumps(plan.strata, indent=2) if plan.strata else "",
        "flags": {key: bool(inclusions.get(key)) for key, _ in FLAGS},
        "unattended_amount": above.get("amount", ""),
        "unattended_currency": above.get("currency", "USD"),
        "scorecard": plan.scorecard.slug,
        "reviewers": [u.username for u in plan.reviewers.all()],
        "double_review_percent": plan.double_review_percent,
        "starts_at": plan.starts_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M"),
        "is_active": plan.is_active,
    }  # fmt: skip


def _form_field(field: str) -> str:
    """The form field that shows a problem with the spec's `field` ("" for the whole form)."""
    head, _, rest = field.partition(".")
    head = head.split("[")[0]
    if head == "scope":
        return rest
    if head in ("size_count", "size_percent"):
        return "size"
    if field == "inclusions.unattended_above":
        return "unattended"
    return head


def _plan_context(base, *, plan=None, data=None, error: ApplicationError | None = None):
    problems = (error.details.get("problems") if error else None) or []
    if error and not problems:
        problems = [{"field": error.details.get("field", ""), "message": error.message}]
    errors: dict[str, list[str]] = {}
    for problem in problems:
        errors.setdefault(_form_field(problem["field"]), []).append(problem["message"])
    reviewers = list(plan.reviewers.all()) if plan else []
    form = _form_values(plan, data)
    return {
        **base,
        "plan": plan,
        "form": form,
        "errors": errors,
        "error": error,
        "flags": [(key, label, form["flags"].get(key, False)) for key, label in FLAGS],
        "periods": Period.choices,
        "choices": selectors.scope_choices(),
        "scorecards": selectors.scorecards(),
        "reviewer_choices": selectors.reviewer_choices(also=reviewers),
        "samples": selectors.plan_samples(plan) if plan else [],
    }


def _save_plan(request, base, plan=None) -> HttpResponse:
    try:
        spec = plan_from_form(request.POST)
        if plan is not None:
            spec["slug"] = plan.slug  # the slug names the plan: it is not edited
        elif selectors.plan_get(slug=spec["slug"]) is not None:
            raise InvalidInput(
                f"A plan {spec['slug']!r} exists already; edit it instead.",
                code=Code.INVALID_PLAN, details={"field": "slug"},
            )  # fmt: skip
        saved = plans.plan_save(**spec, by=request.user, request_id=request_id(request))
    except ApplicationError as exc:
        context = _plan_context(base, plan=plan, data=request.POST, error=exc)
        return render(request, PLAN_PAGE, context, status=exc.status_code)
    return redirect("qa:plan", slug=saved.slug)


@require_http_methods(["GET", "POST"])
@qa_lead_pages(leads_only=True)
def plan_new(request, base):
    if request.method == "POST":
        return _save_plan(request, base)
    return render(request, PLAN_PAGE, _plan_context(base))


@require_http_methods(["GET", "POST"])
@qa_lead_pages
def plan_edit(request, base, slug: str):
    plan = selectors.plan_get(slug=slug)
    if plan is None:
        raise Http404("No such sampling plan.")
    if request.method == "POST":
        return _save_plan(request, base, plan)
    return render(request, PLAN_PAGE, _plan_context(base, plan=plan))


# ---------------------------------------------------------------------------------------------
# a sample


def _sample(sample_id):
    sample = selectors.sample_get(sample_id=sample_id)
    if sample is None:
        raise Http404("No such sample.")
    return sample


def _failed_form(post) -> dict[str, Any]:
    target = post.get("target", "")[:12]
    return {"form": post.get("form", "")[:16], "target": int(target) if target.isdigit() else None}


def _sample_page(request, base, sample_id, *, error: ApplicationError | None = None):
    sample = _sample(sample_id)
    items = selectors.sample_items(sample)
    context = {
        **base,
        "sample": sample,
        "plan": sample.plan,
        "explanation": sample.explanation or {},
        "items": items,
        "unassigned": [row for row in items if not row.assigned],
        "reviewer_choices": selectors.reviewer_choices() if base["may_lead"] else [],
        "error": error,
        # The form that was refused (which kind, for which assignment or item), shown again
        # with what was typed.
        "failed": _failed_form(request.POST) if error else {},
        "typed": {key: request.POST.get(key, "")[:300] for key in ("to_username", "reason")},
    }
    return render(request, SAMPLE_PAGE, context, status=error.status_code if error else 200)


@require_GET
@qa_lead_pages
def sample(request, base, sample_id: int):
    return _sample_page(request, base, sample_id)


@require_POST
@qa_lead_pages
def item_assign(request, base, sample_id: int, item_id: int):
    """A lead gives an item nobody has to a reviewer the rulebook lets review it."""
    _sample(sample_id)
    try:
        assignments.item_assign(
            item_id=item_id, to_username=request.POST.get("to_username", "")[:150],
            by=request.user, request_id=request_id(request),
        )  # fmt: skip
    except ApplicationError as exc:
        return _sample_page(request, base, sample_id, error=exc)
    return redirect("qa:sample", sample_id=sample_id)


@require_POST
@qa_lead_pages
def assignment_reassign(request, base, sample_id: int, assignment_id: int):
    try:
        assignments.assignment_reassign(
            assignment_id=assignment_id, to_username=request.POST.get("to_username", "")[:150],
            reason=request.POST.get("reason", "")[:1000], by=request.user,
            request_id=request_id(request),
        )  # fmt: skip
    except ApplicationError as exc:
        return _sample_page(request, base, sample_id, error=exc)
    return redirect("qa:sample", sample_id=sample_id)


@require_POST
@qa_lead_pages
def assignment_remove(request, base, sample_id: int, assignment_id: int):
    try:
        assignments.assignment_remove(
            assignment_id=assignment_id, reason=request.POST.get("reason", "")[:1000],
            by=request.user,
            request_id=request_id(request),
        )  # fmt: skip
    except ApplicationError as exc:
        return _sample_page(request, base, sample_id, error=exc)
    return redirect("qa:sample", sample_id=sample_id)


# ---------------------------------------------------------------------------------------------
# scorecards

CATEGORIES_EXAMPLE = json.dumps(
    [{"key": "decision", "label": "Right decision", "weight": 40, "critical": True},
     {"key": "policy", "label": "Policy followed", "weight": 30},
     {"key": "reason", "label": "Reason code accurate", "weight": 10, "allow_na": True},
     {"key": "amount", "label": "Amount right", "weight": 20, "critical": True,
      "allow_na": True}],
    indent=2,
)  # fmt: skip


def _scorecards_context(base, *, data=None, error: ApplicationError | None = None):
    problems = (error.details.get("problems") if error else None) or []
    if error and not problems:
        problems = [{"field": error.details.get("field", ""), "message": error.message}]
    errors: dict[str, list[str]] = {}
    for problem in problems:
        errors.setdefault(problem["field"].split("[")[0], []).append(problem["message"])
    form = {"scale": 4, "categories": CATEGORIES_EXAMPLE, "is_active": True}
    if data is not None:
        form = {key: data.get(key, "") for key in
                ("slug", "name", "description", "scale", "categories")}  # fmt: skip
        form["is_active"] = bool(data.get("is_active"))
    return {**base, "scorecards": selectors.scorecards(), "form": form, "errors": errors,
            "error": error}  # fmt: skip


@require_http_methods(["GET", "POST"])
@qa_lead_pages
def scorecard_setup(request, base):
    if request.method == "GET":
        return render(request, SCORECARDS_PAGE, _scorecards_context(base))
    data = request.POST
    try:
        text = (data.get("categories") or "").strip()
        if len(text) > JSON_LIMIT:
            raise InvalidInput(
                f"categories is at most {JSON_LIMIT} characters of JSON.",
                code=Code.INVALID_SCORECARD, details={"field": "categories"},
            )  # fmt: skip
        try:
            categories = json.loads(text or "null")
        except RecursionError:
            raise InvalidInput(
                "categories is nested too deeply.",
                code=Code.INVALID_SCORECARD, details={"field": "categories"},
            ) from None  # fmt: skip
        except ValueError as exc:
            raise InvalidInput(
                f"categories is not valid JSON: {exc.msg} (line {exc.lineno}).",
                code=Code.INVALID_SCORECARD, details={"field": "categories"},
            ) from None  # fmt: skip
        plans.scorecard_save(
            slug=(data.get("slug") or "").strip(), name=(data.get("name") or "").strip(),
            description=(data.get("description") or "").strip(),
            scale=_int_or_raw(data.get("scale", "")), categories=categories,
            is_active=bool(data.get("is_active")), by=request.user,
            request_id=request_id(request),
        )  # fmt: skip
    except ApplicationError as exc:
        context = _scorecards_context(base, data=data, error=exc)
        return render(request, SCORECARDS_PAGE, context, status=exc.status_code)
    return redirect("qa:scorecard-setup")
