"""audit_signing_key: print the public half of the audit signing key; `--create` makes the key
at AUDIT_SIGNING_KEY_FILE first when there is none (what `./run` does on its first start)."""

from django.core.management.base import BaseCommand

from audit.signing import key_id, public_key_pem, signing_key, signing_key_ensure


class Command(BaseCommand):
    help = "Print the audit signing key's public key (PEM) and id; --create makes the key."

    def add_arguments(self, parser):
        parser.add_argument(
            "--create",
            action="store_true",
            help="generate an Ed25519 key at AUDIT_SIGNING_KEY_FILE if none is there",
        )

    def handle(self, *args, create=False, **options):
        if create:
            path, created = signing_key_ensure()
            if created:
                self.stderr.write(f"created the audit signing key {path}")
        public = signing_key().public_key()
        self.stdout.write(f"# key id {key_id(public)}\n{public_key_pem(public)}", ending="")
