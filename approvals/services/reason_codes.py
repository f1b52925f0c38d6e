"""The reason-code catalog: codes are retired, never deleted (decisions keep pointing at them)."""

from __future__ import annotations

from collections.abc import Sequence

from django.db import transaction
from django.utils.text import slugify

from approvals.models import DecisionKind, ReasonCode
from audit.events import Verb
from audit.services import Actor, audit_record
from config.errors import Code, InvalidInput, NotFound


def reason_code_save(
    *, code: str, label: str, kinds: Sequence[str], is_active: bool = True, actor: Actor
) -> ReasonCode:
    """Create or change one reason code: its label, the decision kinds that may use it and
    whether people can still pick it. Audited with what it was before."""
    if not code or slugify(code) != code:
        raise InvalidInput(
            f"{code!r} is not a usable code: use lowercase letters, digits and dashes.",
            code=Code.INVALID_REASON_CODE,
        )
    label = label.strip()
    if not label:
        raise InvalidInput("A reason code needs a label people can read.", code=Code.INVALID_LABEL)
    unknown = sorted(set(kinds) - set(DecisionKind.values))
    if unknown or not kinds:
        raise InvalidInput(
            f"Kinds must be some of {', '.join(DecisionKind.values)}"
            + (f"; unknown: {', '.join(unknown)}." if unknown else "."),
            code=Code.INVALID_KINDS,
            details={"unknown": unknown},
        )
    kinds = [k for k in DecisionKind.values if k in set(kinds)]
    with transaction.atomic(durable=True):
        reason = ReasonCode.objects.select_for_update().filter(code=code).first()
        before = (
            None
            if reason is None
            else {"label": reason.label, "kinds": reason.kinds, "is_active": reason.is_active}
        )
        after = {"label": label[:120], "kinds": kinds, "is_active": is_active}
        if before == after:
            return reason
        reason, _ = ReasonCode.objects.update_or_create(code=code, defaults=after)
        audit_record(
            actor=actor,
            verb=Verb.REASON_CODE_SAVED,
            object_type="reason_code",
            object_id=reason.pk,
            data={"code": code, "before": before, "after": after},
        )
    return reason


def reason_code_set_active(*, code: str, is_active: bool, actor: Actor) -> ReasonCode:
    """Retire a code (people can no longer pick it; past decisions keep it) or bring it back."""
    reason = ReasonCode.objects.filter(code=code).first()
    if reason is None:
        raise NotFound(f"No reason code {code!r}.", code=Code.REASON_CODE_NOT_FOUND)
    return reason_code_save(
        code=code, label=reason.label, kinds=reason.kinds, is_active=is_active, actor=actor
    )
