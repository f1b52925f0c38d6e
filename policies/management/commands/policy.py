"""policy: export, import, simulate and diff policy versions from the command line."""

from __future__ import annotations

import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from audit.services import Actor
from config.errors import ApplicationError
from policies import selectors, services
from policies.simulation import simulate
from policies.yaml_io import PolicyFileError, parse_policy, policy_to_yaml


class Command(BaseCommand):
    help = "Export, import, simulate and diff policy versions."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="subcommand", required=True, metavar="subcommand")

        export = sub.add_parser("export", help="print or write a version as YAML")
        export.add_argument("--version", type=int, help="version number (default: the active one)")
        export.add_argument("--output", "-o", help="write to this file instead of printing")
        export.add_argument(
            "--with-defaults", action="store_true", help="include the action types' default modes"
        )

        load = sub.add_parser("import", help="create a draft (or publish) from a YAML file")
        load.add_argument("file", help="the YAML file, or - for standard input")
        load.add_argument("--publish", action="store_true", help="publish and activate it too")
        load.add_argument("--note", help="the version's note (default: the file's note)")

        sim = sub.add_parser("simulate", help="replay recent actions against a version")
        sim.add_argument("--version", type=int, help="version number (default: the newest)")
        sim.add_argument("--days", type=int, default=7, help="how far back (default 7)")

        diff = sub.add_parser(
            "diff", help="what changed from version A to B (with only A: from the active one to A)"
        )
        diff.add_argument("old", type=int, metavar="A")
        diff.add_argument("new", type=int, nargs="?", metavar="B")

    def handle(self, *args, **options) -> None:
        handler = getattr(self, f"_{options['subcommand']}")
        try:
            handler(options)
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc

    # ------------------------------------------------------------------------------- export

    def _export(self, options) -> None:
        version = self._version_or_active(options["version"])
        text = policy_to_yaml(version, with_defaults=options["with_defaults"])
        if options["output"]:
            Path(options["output"]).write_text(text, encoding="utf-8")
            self.stderr.write(f"wrote v{version.number} ({version.status}) to {options['output']}")
        else:
            self.stdout.write(text, ending="")

    # ------------------------------------------------------------------------------- import

    def _import(self, options) -> None:
        source = options["file"]
        try:
            text = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise CommandError(f"cannot read {source}: {exc}") from exc
        try:
            document = parse_policy(text)
        except PolicyFileError as exc:
            self.stderr.write(f"{source} is not a valid policy ({len(exc.problems)} problem(s)):")
            for problem in exc.problems:
                self.stderr.write(f"  {problem}")
            raise CommandError("nothing was imported") from exc
        for warning in document.warnings:
            self.stderr.write(f"warning: {warning}")
        version = services.policy_import(
            rules=document.rules,
            note=options["note"] if options["note"] is not None else document.note,
            actor=Actor.system("cli"),
            publish=options["publish"],
            default_modes=document.default_modes if options["publish"] else None,
            tiers=document.tiers,
        )
        if document.default_modes and not options["publish"]:
            self.stderr.write(
                "warning: action_types default modes were not applied: they take effect at "
                "once, so they are only imported with --publish"
            )
        state = "published and active" if options["publish"] else "draft"
        tiers = f" and {len(document.tiers)} tier(s)" if document.tiers else ""
        self.stdout.write(
            self.style.SUCCESS(
                f"imported {len(document.rules)} rule(s){tiers} as v{version.number} ({state})"
            )
        )

    # ------------------------------------------------------------------------------- simulate

    def _simulate(self, options) -> None:
        if options["version"] is not None:
            version = selectors.policy_version_get(number=options["version"])
        else:
            versions = selectors.policy_versions()
            if not versions:
                raise CommandError("there are no policy versions")
            version = versions[0]
        report = simulate(version=version, days=options["days"])
        for line in report.lines():
            self.stdout.write(line)

    # ------------------------------------------------------------------------------- diff

    def _diff(self, options) -> None:
        if options["new"] is None:
            active = selectors.active_version()
            if active is None:
                raise CommandError("no version is active; name two versions")
            old, new = active.number, options["old"]
        else:
            old, new = options["old"], options["new"]
        diff = selectors.policy_diff(old=old, new=new)
        self.stdout.write(f"v{old} -> v{new}")
        for line in diff.rules.lines():
            self.stdout.write(line)

    def _version_or_active(self, number: int | None):
        if number is not None:
            return selectors.policy_version_get(number=number)
        active = selectors.active_version()
        if active is None:
            raise CommandError("no version is active; pass --version")
        return active
