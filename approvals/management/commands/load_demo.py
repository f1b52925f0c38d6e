"""load_demo: the demo tiers, policy, reason codes, roles, queues and sandbox orders. Idempotent."""

from django.core.management.base import BaseCommand

from approvals.demo import demo_load


class Command(BaseCommand):
    help = (
        "Load the demo catalog (action types, escalation tiers, policy, reason codes, roles, "
        "queues, orders). "
        "Idempotent."
    )

    def handle(self, *args, **options):
        result = demo_load()
        self.stdout.write(
            self.style.SUCCESS(
                "demo loaded: "
                f"{result['policies_published']} policy version(s) published, "
                f"{result['tiers_saved']} tier(s) saved, "
                f"{result['queues_created']} queue(s) created, "
                f"{result['orders_created']} order(s) created, "
                f"{result['breakers_saved']} breaker(s) saved"
            )
        )
