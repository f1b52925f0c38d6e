"""callback_secret AGENT: print the key that signs the callbacks sent to one agent."""

from django.core.management.base import BaseCommand, CommandError

from agents.models import Agent
from approvals.callbacks import agent_signing_secret


class Command(BaseCommand):
    help = (
        "Print the key Countersign signs an agent's callbacks with (derived from "
        "CALLBACK_SIGNING_SECRET, or SECRET_KEY when unset), for the agent's operator to verify "
        "X-Countersign-Signature with."
    )

    def add_arguments(self, parser):
        parser.add_argument("agent", help="The agent's name.")

    def handle(self, *args, agent, **options):
        found = Agent.objects.filter(name=agent).order_by("pk").first()
        if found is None:
            raise CommandError(f"No agent named {agent!r}.")
        self.stdout.write(agent_signing_secret(found.pk))
