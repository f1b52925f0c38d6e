"""create_supervisor USERNAME --password P [--role R] [--queues "A,B"]: a person in queues."""

from django.core.management.base import BaseCommand, CommandError

from approvals.services import supervisor_create
from config.errors import ApplicationError
from people.roles import Role


class Command(BaseCommand):
    help = (
        "Create a supervisor (or another role) who can sign in to the dashboard and work the "
        "queues named by --queues."
    )

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--password", required=True)
        parser.add_argument("--role", default="supervisor", choices=Role.values)
        parser.add_argument(
            "--queues",
            default="",
            help='Comma-separated queue names, e.g. "Refunds,Account security". A person sees and '
            "decides only the actions of their queues.",
        )

    def handle(self, *args, username, password, role, queues, **options):
        names = [name.strip() for name in queues.split(",") if name.strip()]
        try:
            supervisor_create(username=username, password=password, role=role, queues=names)
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        where = f"in {', '.join(names)}" if names else "in no queue yet (sees no actions)"
        self.stdout.write(self.style.SUCCESS(f"created {role} {username} {where}"))
