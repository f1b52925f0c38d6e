"""reason_codes list | save CODE --label L --kinds K,K | retire CODE | restore CODE."""

from django.core.management.base import BaseCommand, CommandError

from approvals.models import DecisionKind, ReasonCode
from approvals.services import reason_code_save, reason_code_set_active
from audit.services import Actor
from config.errors import ApplicationError


class Command(BaseCommand):
    help = (
        "Manage the catalog of reason codes people pick when they decide: list them, add or "
        "change one, retire one (past decisions keep it) or restore it."
    )

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="verb", required=True)
        sub.add_parser("list", help="Every code, active or retired, with its kinds.")
        save = sub.add_parser("save", help="Add a code or change its label and kinds.")
        save.add_argument("code")
        save.add_argument("--label", required=True)
        save.add_argument(
            "--kinds",
            required=True,
            help=f"Comma-separated decision kinds: {', '.join(DecisionKind.values)}.",
        )
        for verb in ("retire", "restore"):
            sub.add_parser(verb).add_argument("code")

    def handle(self, *args, verb, **options):
        actor = Actor.system("cli")
        try:
            if verb == "list":
                self._list()
            elif verb == "save":
                kinds = [k.strip() for k in options["kinds"].split(",") if k.strip()]
                reason = reason_code_save(
                    code=options["code"], label=options["label"], kinds=kinds, actor=actor
                )
                self.stdout.write(self.style.SUCCESS(f"saved {reason.code}"))
            else:
                reason = reason_code_set_active(
                    code=options["code"], is_active=verb == "restore", actor=actor
                )
                self.stdout.write(self.style.SUCCESS(f"{verb}d {reason.code}"))
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc

    def _list(self) -> None:
        for reason in ReasonCode.objects.order_by("code"):
            state = "" if reason.is_active else "  (retired)"
            kinds = ",".join(reason.kinds) or "any"
            self.stdout.write(f"{reason.code:<28} {kinds:<24} {reason.label}{state}")
