"""Print the key a webhook subscription's requests are signed with, for the receiver's owner."""

from django.core.management.base import BaseCommand, CommandError

from notifications.models import Channel, Subscription
from notifications.sending import webhook_signing_secret


class Command(BaseCommand):
    help = "Print the signing key of a webhook subscription (derived, never stored)."

    def add_arguments(self, parser):
        parser.add_argument("subscription_id", type=int)

    def handle(self, *args, subscription_id: int, **options):
        subscription = Subscription.objects.filter(
            pk=subscription_id, channel=Channel.WEBHOOK
        ).first()
        if subscription is None:
            raise CommandError(f"There is no webhook subscription {subscription_id}.")
        self.stdout.write(webhook_signing_secret(subscription.pk))
