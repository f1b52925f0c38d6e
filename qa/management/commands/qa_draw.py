"""`manage.py qa_draw [--plan SLUG] [--now]`: draw every due QA sample at once."""

from django.core.management.base import BaseCommand, CommandError

from config import clock
from config.errors import ApplicationError
from qa.services.sampling import samples_draw_due


class Command(BaseCommand):
    help = (
        "Draw every sampling period that ended and is not drawn yet (catching up), for every "
        "active plan or the one named; --now also draws the period in progress, up to now."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--plan", metavar="SLUG", help="only this plan (active or not)")
        parser.add_argument(
            "--now", action="store_true",
            help="also draw the period in progress from what resolved so far; the beat will "
                 "not draw that period again",
        )  # fmt: skip

    def handle(self, *args, **options) -> None:
        try:
            run = samples_draw_due(now=clock.now(), plan_slug=options["plan"], early=options["now"])
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        for drawn in run.drawn:
            early = " (drawn early)" if drawn.drawn_early else ""
            period = f"{drawn.period_start:%Y-%m-%d %H:%M}..{drawn.period_end:%Y-%m-%d %H:%M}"
            if not drawn.population:
                # An empty period is a normal answer (a fresh demo, a quiet week), not an error.
                self.stdout.write(
                    f"{drawn.plan}: {period}{early}: nothing in the plan's scope resolved in "
                    f"this period, so its sample is empty (sample {drawn.sample_id})"
                )
                continue
            self.stdout.write(
                f"{drawn.plan}: {period}{early}: population {drawn.population}, "
                f"{drawn.items} items, {drawn.unassigned} unassigned (sample {drawn.sample_id})"
            )
        for plan, count in run.deferred.items():
            self.stdout.write(f"{plan}: {count} more due periods left for the next run")
        if not run.drawn:
            self.stdout.write("Nothing due.")
