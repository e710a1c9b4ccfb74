from django.core.management.base import BaseCommand, CommandError, CommandParser

from ecomsite.models import RunStatus
from segments.models import PipelineTrigger
from segments.services.pipeline import STEPS, PipelineBusy, pipeline_start


class Command(BaseCommand):
    help = (
        "Run the pipeline clean → features → predict → segment → train (queued for a worker, or "
        "--sync here)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--sync", action="store_true", help="run every step in this process")
        parser.add_argument("--force", action="store_true", help="run even without new events")
        parser.add_argument(
            "--until",
            choices=STEPS,
            default=STEPS[-1],
            help="last step to run (default: all); --until segment skips retraining",
        )

    def handle(self, *args: object, **options: object) -> None:
        try:
            run = pipeline_start(
                trigger=PipelineTrigger.CLI,
                force=bool(options["force"]),
                sync=bool(options["sync"]),
                until=str(options["until"]),
            )
        except PipelineBusy as exc:
            raise CommandError(str(exc)) from exc
        if run.skipped:
            self.stdout.write(f"Pipeline #{run.pk}: {run.progress_message}")
            return
        if not options["sync"]:
            self.stdout.write(f"Pipeline #{run.pk} queued; a worker runs it.")
            return
        if run.status != RunStatus.SUCCEEDED:
            raise CommandError(f"Pipeline #{run.pk} failed: {run.error}")
        steps = (
            run.cleaning_run,
            run.feature_run,
            run.prediction_run,
            run.segmentation_run,
            run.training_run,
        )
        for step in steps:
            if step is not None:
                self.stdout.write(f"  {step}: {step.metrics.get('seconds', 0):.1f}s")
        promotion = (run.training_run.metrics.get("promotion") or {}) if run.training_run else {}
        if promotion:
            self.stdout.write(f"  recommenders: {promotion['decision']}: {promotion['reason']}")
        self.stdout.write(f"Pipeline #{run.pk} succeeded.")
