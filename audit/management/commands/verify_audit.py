"""verify_audit: the audit chain, link by link and against its signed checkpoints; exit 0 if it
holds, else 1 and the first bad seq (a rewrite, a truncated tail, a gap) or a lost seal. Events
committed but not chained yet are chained first."""

import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from audit.checkpoints import audit_verify
from audit.signing import public_key_from_pem


class Command(BaseCommand):
    help = (
        "Verify the audit log's hash chain against the signed checkpoints in "
        "AUDIT_CHECKPOINT_DIR. Exits non-zero at the first bad sequence number."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--public-key",
            type=Path,
            help="PEM of the key checkpoints must be signed with (default: the signing key's)",
        )

    def handle(self, *args, public_key=None, **options):
        try:
            trusted = public_key_from_pem(public_key.read_bytes()) if public_key else None
        except (OSError, ValueError) as exc:
            raise CommandError(f"cannot read the public key: {exc}") from exc
        report = audit_verify(trusted=trusted)
        if report.ok:
            self.stdout.write(
                self.style.SUCCESS(
                    f"audit chain intact: {report.checked} events, "
                    f"{report.checkpoints} signed checkpoints"
                )
            )
            if not report.checkpoints and report.checked:
                self.stderr.write(
                    "warning: no signed checkpoint: the chain was checked only against itself "
                    "(run `manage.py audit_checkpoint`, and beat, to write them)"
                )
            return
        where = f" at seq {report.first_bad_seq}" if report.first_bad_seq else ""
        self.stderr.write(
            f"audit chain BROKEN{where}: {report.problem} "
            f"({report.checked} events verified before it)"
        )
        sys.exit(1)
