"""audit_checkpoint: seal the audit chain's head into AUDIT_CHECKPOINT_DIR now (beat does it on a
schedule); exit 1 if the chain since the latest checkpoint does not verify."""

import sys

from django.core.management.base import BaseCommand

from audit.checkpoints import AuditChainBroken, audit_checkpoint_write, checkpoint_dir


class Command(BaseCommand):
    help = "Write a signed checkpoint of the audit chain's head outside the database, now."

    def handle(self, *args, **options):
        try:
            checkpoint = audit_checkpoint_write()
        except AuditChainBroken as exc:
            self.stderr.write(f"no checkpoint written: {exc.message}")
            sys.exit(1)
        if checkpoint is None:
            self.stdout.write("the audit log is empty: nothing to checkpoint")
            return
        self.stdout.write(
            self.style.SUCCESS(
                f"checkpoint at seq {checkpoint.seq} (hash {checkpoint.hash}) in {checkpoint_dir()}"
            )
        )
