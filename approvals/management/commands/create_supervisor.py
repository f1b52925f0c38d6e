"""create_supervisor USERNAME [--role R] [--queues "A,B"]: a person in queues.

The password is asked for (twice, not echoed) or read from CREATE_SUPERVISOR_PASSWORD, never
from the command line, where the shell history and the process list would keep it.
"""

import getpass
import os
import sys

from django.core.management.base import BaseCommand, CommandError

from approvals.services import supervisor_create
from config.errors import ApplicationError
from people.roles import Role

PASSWORD_VARIABLE = "CREATE_SUPERVISOR_PASSWORD"


class Command(BaseCommand):
    help = (
        "Create a supervisor (or another role) who can sign in to the dashboard and work the "
        f"queues named by --queues. The password is asked for, or read from {PASSWORD_VARIABLE}."
    )

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--role", default="supervisor", choices=Role.values)
        parser.add_argument(
            "--queues",
            default="",
            help='Comma-separated queue names, e.g. "Refunds,Account security". A person sees and '
            "decides only the actions of their queues.",
        )

    def handle(self, *args, username, role, queues, **options):
        password = _password()
        names = [name.strip() for name in queues.split(",") if name.strip()]
        try:
            supervisor_create(username=username, password=password, role=role, queues=names)
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        where = f"in {', '.join(names)}" if names else "in no queue yet (sees no actions)"
        self.stdout.write(self.style.SUCCESS(f"created {role} {username} {where}"))


def _password() -> str:
    password = os.environ.get(PASSWORD_VARIABLE, "")
    if password:
        return password
    if not sys.stdin.isatty():
        raise CommandError(f"Set {PASSWORD_VARIABLE}, or run this in a terminal to be asked.")
    password = getpass.getpass("Password: ")
    if password != getpass.getpass("Password (again): "):
        raise CommandError("The passwords do not match.")
    if not password:
        raise CommandError("The password is empty.")
    return password
