from django.core.management.base import BaseCommand, CommandError, CommandParser

from ecomsite.exceptions import DomainError
from ecomsite.models import RunStatus
from recommendations.services.training import (
    cleaning_run_newest,
    training_run_create,
    training_run_execute,
    training_run_start,
)


class Command(BaseCommand):
    help = (
        "Train, evaluate and (if it beats the serving model) promote the recommenders on the "
        "newest cleaning run: queued for a worker, or --sync here."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--sync", action="store_true", help="train in this process")
        parser.add_argument(
            "--deep",
            action="store_true",
            help="train the deep models (Keras sequence model, neural CF, learned ranker)",
        )

    def handle(self, *args: object, **options: object) -> None:
        if not options["sync"]:
            try:
                run = training_run_start(deep=bool(options["deep"]))
            except DomainError as exc:
                raise CommandError(str(exc)) from exc
            self.stdout.write(f"Training #{run.pk} queued; a worker runs it.")
            return
        cleaning = cleaning_run_newest()
        if cleaning is None:
            raise CommandError("No cleaned data yet: run the pipeline first (run_pipeline).")
        run = training_run_create(cleaning, params={"deep": bool(options["deep"])})
        try:
            training_run_execute(run.pk)
        except Exception as exc:
            raise CommandError(f"Training #{run.pk} failed: {exc}") from exc
        run.refresh_from_db()
        if run.status != RunStatus.SUCCEEDED:
            raise CommandError(f"Training #{run.pk} failed: {run.error}")
        for model_run in run.model_runs.order_by("pk"):
            figures = model_run.metrics.get("all", {})
            new = model_run.metrics.get("new", {})
            self.stdout.write(
                f"  {model_run.algorithm:<12} #{model_run.pk}: held-out NDCG@10 "
                f"{figures.get('ndcg', 0):.4f}, recall@10 {figures.get('recall', 0):.4f}; "
                f"new items {new.get('ndcg', 0):.4f} / {new.get('recall', 0):.4f}; "
                f"refit {model_run.train_seconds or 0:.1f}s"
            )
        promotion = run.metrics.get("promotion")
        if promotion:
            self.stdout.write(f"  {promotion['decision']}: {promotion['reason']}")
        self.stdout.write(f"Training #{run.pk}: {run.progress_message} ({run.metrics['seconds']}s)")
