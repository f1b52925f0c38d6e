"""load_demo: the demo policy, reason codes, roles and sandbox orders. Idempotent."""

from django.core.management.base import BaseCommand

from approvals.demo import demo_load


class Command(BaseCommand):
    help = "Load the demo catalog (action types, policy, reason codes, roles, orders). Idempotent."

    def handle(self, *args, **options):
        result = demo_load()
        self.stdout.write(
            self.style.SUCCESS(
                "demo loaded: "
                f"{result['policies_published']} policy version(s) published, "
                f"{result['orders_created']} order(s) created, "
                f"{result['breakers_saved']} breaker(s) saved"
            )
        )
