from django.core.management.base import BaseCommand, CommandParser

from campaigns.services.launch import campaigns_due_process


class Command(BaseCommand):
    help = (
        "Run the campaigns sweep once (what beat does every minute): launch scheduled campaigns "
        "whose time has come, queue stalled launches again, complete campaigns whose attribution "
        "window has ended. Launches are queued for the worker."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--stale-seconds",
            type=int,
            default=None,
            help="Treat launches silent for this long as stalled (default: the setting "
            "CAMPAIGN_LAUNCH_STALE_SECONDS)",
        )

    def handle(self, *args: object, **options: object) -> None:
        stale = options["stale_seconds"]
        report = campaigns_due_process(stale_seconds=stale if isinstance(stale, int) else None)
        self.stdout.write(
            f"launched {report.launched}, refused {report.refused}, "
            f"resumed {report.resumed}, completed {report.completed}"
        )
