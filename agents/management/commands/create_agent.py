"""create_agent NAME: create an agent and print its API key (shown once, stored hashed)."""

from django.core.management.base import BaseCommand, CommandError

from agents.services import agent_create
from config.errors import ApplicationError


class Command(BaseCommand):
    help = "Create an agent and print a new API key. The key is shown only this once."

    def add_arguments(self, parser):
        parser.add_argument("name")
        parser.add_argument("--description", default="")
        parser.add_argument(
            "--read-sandbox",
            action="store_true",
            help="Let the agent read sandbox orders (GET /api/v1/sandbox/orders/{order_id}/).",
        )

    def handle(self, *args, name, description, read_sandbox, **options):
        try:
            issued = agent_create(name=name, description=description, can_read_sandbox=read_sandbox)
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(issued.key)
