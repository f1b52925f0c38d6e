"""`manage.py sla_sweep`: run one SLA sweep now (actions past their SLA, then cases)."""

from django.core.management.base import BaseCommand

from escalations.services import slas_sweep


class Command(BaseCommand):
    help = "Enforce every SLA that ran out: actions (expire, reject, escalate) and cases."

    def handle(self, *args, **options) -> None:
        counts = slas_sweep()
        self.stdout.write(", ".join(f"{name}: {n}" for name, n in counts.items()))
