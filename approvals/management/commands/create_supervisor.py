"""create_supervisor USERNAME --password P [--role R]: a person who works the queue."""

from django.core.management.base import BaseCommand, CommandError

from approvals.demo import ROLES
from approvals.services import supervisor_create
from config.errors import ApplicationError


class Command(BaseCommand):
    help = "Create a supervisor (or another role) who can sign in to the dashboard."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--password", required=True)
        parser.add_argument("--role", default="supervisor", choices=ROLES)

    def handle(self, *args, username, password, role, **options):
        try:
            supervisor_create(username=username, password=password, role=role)
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(self.style.SUCCESS(f"created {role} {username}"))
