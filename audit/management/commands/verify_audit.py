"""verify_audit: recompute the audit hash chain; exit 0 if intact, else 1 and the first bad seq."""

import sys

from django.core.management.base import BaseCommand

from audit.services import audit_verify_chain


class Command(BaseCommand):
    help = "Verify the audit log's hash chain. Exits non-zero at the first bad sequence number."

    def handle(self, *args, **options):
        report = audit_verify_chain()
        if report.ok:
            self.stdout.write(self.style.SUCCESS(f"audit chain intact: {report.checked} events"))
            return
        self.stderr.write(
            f"audit chain BROKEN at seq {report.first_bad_seq}: {report.problem} "
            f"({report.checked} events verified before it)"
        )
        sys.exit(1)
