"""agent_operators AGENT [--add USER]... [--remove USER]...: who operates an agent (audited)."""

from django.core.management.base import BaseCommand, CommandError

from agents.services import agent_operators_change
from audit.services import Actor
from config.errors import ApplicationError


class Command(BaseCommand):
    help = (
        "Add or remove the people who operate an agent, then print its operators. Operators "
        "never review or decide the agent's actions, reconcile them or reset its breakers."
    )

    def add_arguments(self, parser):
        parser.add_argument("agent")
        parser.add_argument("--add", action="append", default=[], metavar="USER")
        parser.add_argument("--remove", action="append", default=[], metavar="USER")

    def handle(self, *args, agent, add, remove, **options):
        try:
            operators = agent_operators_change(
                agent_name=agent, add=add, remove=remove, actor=Actor.system("cli")
            )
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(f"{agent}: " + (", ".join(operators) or "no operators"))
