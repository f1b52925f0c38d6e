"""The reason-code catalog: saved, retired and restored by one service, each change audited."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from approvals import services
from approvals.models import ReasonCode
from audit.events import Verb
from audit.models import AuditEvent
from audit.services import Actor
from config.errors import InvalidInput, NotFound

CLI = Actor.system("cli")


def saved_events():
    return list(
        AuditEvent.objects.filter(verb=Verb.REASON_CODE_SAVED).order_by("id").values("data")
    )


@pytest.mark.django_db
class TestReasonCodeSave:
    def test_a_new_code_is_created_with_its_kinds_in_catalog_order_and_audited(self):
        reason = services.reason_code_save(
            code="wrong-amount", label="Wrong amount", kinds=["edit", "reject"], actor=CLI
        )

        assert (reason.label, reason.kinds, reason.is_active) == (
            "Wrong amount",
            ["reject", "edit"],
            True,
        )
        (event,) = saved_events()
        assert event["data"]["before"] is None
        assert event["data"]["after"]["kinds"] == ["reject", "edit"]

    def test_saving_the_same_code_again_unchanged_writes_nothing(self):
        services.reason_code_save(code="dup", label="Duplicate", kinds=["reject"], actor=CLI)
        services.reason_code_save(code="dup", label="Duplicate", kinds=["reject"], actor=CLI)

        assert len(saved_events()) == 1

    def test_a_change_records_what_it_was_before(self):
        services.reason_code_save(code="dup", label="Duplicate", kinds=["reject"], actor=CLI)
        services.reason_code_save(
            code="dup", label="Duplicate request", kinds=["reject"], actor=CLI
        )

        assert saved_events()[-1]["data"]["before"]["label"] == "Duplicate"
        assert ReasonCode.objects.get(code="dup").label == "Duplicate request"

    @pytest.mark.parametrize(
        ("code", "label", "kinds", "error"),
        [
            ("Not A Slug", "x", ["reject"], "invalid_reason_code"),
            ("", "x", ["reject"], "invalid_reason_code"),
            ("ok", "   ", ["reject"], "invalid_label"),
            ("ok", "Fine", [], "invalid_kinds"),
            ("ok", "Fine", ["reject", "shrug"], "invalid_kinds"),
        ],
    )
    def test_bad_input_is_refused_with_a_named_error_and_nothing_saved(
        self, code, label, kinds, error
    ):
        with pytest.raises(InvalidInput) as exc:
            services.reason_code_save(code=code, label=label, kinds=kinds, actor=CLI)

        assert exc.value.code == error
        # Only the codes Countersign gives itself (migration 0010) are in the catalog.
        assert set(ReasonCode.objects.values_list("code", flat=True)) == {
            "sla-timeout", "returned-to-agent",
        }  # fmt: skip

    def test_a_retired_code_can_no_longer_be_picked_for_a_decision(self, submit, supervisor):
        services.reason_code_save(code="dup", label="Duplicate", kinds=["reject"], actor=CLI)
        action = submit(12000)

        services.reason_code_set_active(code="dup", is_active=False, actor=CLI)

        with pytest.raises(InvalidInput) as exc:
            services.action_reject(action_id=action.pk, by=supervisor, reason_code="dup")
        assert exc.value.code == "unknown_reason_code"

    def test_retiring_an_unknown_code_is_a_not_found(self):
        with pytest.raises(NotFound):
            services.reason_code_set_active(code="nope", is_active=False, actor=CLI)


@pytest.mark.django_db
class TestReasonCodesCommand:
    def test_save_retire_restore_and_list(self):
        out = StringIO()
        call_command("reason_codes", "save", "dup", "--label", "Duplicate", "--kinds", "reject")
        call_command("reason_codes", "retire", "dup")
        call_command("reason_codes", "list", stdout=out)
        assert "dup" in out.getvalue() and "(retired)" in out.getvalue()

        call_command("reason_codes", "restore", "dup")
        assert ReasonCode.objects.get(code="dup").is_active

    def test_a_refusal_is_a_command_error_with_the_service_message(self):
        with pytest.raises(CommandError, match="Kinds must be some of"):
            call_command("reason_codes", "save", "dup", "--label", "Dup", "--kinds", "shrug")
