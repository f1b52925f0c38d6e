"""`/qa/disputes/`: disputes of reviews; QA leads uphold or overturn them, auditors read them."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from approvals import rulebook
from config.errors import ApplicationError, Code, Forbidden
from config.http import request_id
from people.roles import Role
from qa import selectors
from qa.services.disputes import TEXT_LIMIT, dispute_decide
from qa.views.home import qa_context, qa_required


def _readable(person) -> None:
    if not rulebook.may_read_all_qa(person):
        raise PermissionDenied(Forbidden(
            "Disputes are for QA leads and auditors.", code=Code.MISSING_ROLE,
            details={"roles": [Role.QA_LEAD, Role.AUDITOR]},
        ))  # fmt: skip


def _render(request, person, *, error=None, failed_id=None, typed_note=""):
    disputes = selectors.disputes_list()
    decidable = {
        d.pk for d in disputes
        if d.state == "open" and rulebook.may_decide_dispute(
            person, reviewer_id=d.review.reviewer_id, raised_by_id=d.raised_by_id)
    }  # fmt: skip
    context = qa_context(person, disputes=disputes, decidable=decidable, error=error,
                         failed_id=failed_id, typed_note=typed_note,
                         note_limit=TEXT_LIMIT)  # fmt: skip
    status = error.status_code if error is not None else 200
    return render(request, "qa/disputes.html", context, status=status)


@require_GET
@qa_required
def disputes(request, person):
    _readable(person)
    return _render(request, person)


@require_POST
@qa_required
def decide(request, person, dispute_id):
    _readable(person)
    try:
        dispute_decide(
            dispute_id=dispute_id, by=request.user, outcome=request.POST.get("outcome", "")[:32],
            note=request.POST.get("note", "")[: TEXT_LIMIT + 1], request_id=request_id(request),
        )  # fmt: skip
    except ApplicationError as exc:
        failed = int(dispute_id) if str(dispute_id).isdigit() else None
        note = request.POST.get("note", "")[:TEXT_LIMIT]
        return _render(request, person, error=exc, failed_id=failed, typed_note=note)
    return redirect("qa:disputes")
