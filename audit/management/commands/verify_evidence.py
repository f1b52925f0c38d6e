"""verify_evidence FILE: check an evidence pack offline (no database): its seal, its events'
hashes and links, and the signed checkpoint that covers them; exit 0 if it holds, else 1."""

import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from audit.evidence import evidence_verify
from audit.signing import public_key_from_pem, trusted_public_key


class Command(BaseCommand):
    help = "Check an evidence pack (GET /api/v1/actions/{id}/evidence/) offline."
    requires_system_checks = []

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path)
        parser.add_argument(
            "--public-key",
            type=Path,
            help="PEM of the key the pack must be sealed with (default: the signing key's)",
        )

    def handle(self, *args, file, public_key=None, **options):
        try:
            content = file.read_bytes()
            trusted = (
                public_key_from_pem(public_key.read_bytes()) if public_key else trusted_public_key()
            )
        except (OSError, ValueError) as exc:
            raise CommandError(str(exc)) from exc
        document, problems = evidence_verify(content, trusted=trusted)
        if problems:
            self.stderr.write(f"evidence pack REFUSED: {'; '.join(problems)}")
            sys.exit(1)
        events = document["events"]
        checkpoint = document["checkpoint"]["checkpoint"] if events else None
        covered = (
            f", covered by the checkpoint at seq {checkpoint['seq']} signed at "
            f"{checkpoint['signed_at']}"
            if checkpoint
            else ""
        )
        self.stdout.write(
            self.style.SUCCESS(
                f"evidence pack verified: {document['subject'].get('kind', 'subject')} "
                f"{document['subject'].get('action', {}).get('id', '')}, "
                f"{len(events)} audit events{covered}"
            )
        )
