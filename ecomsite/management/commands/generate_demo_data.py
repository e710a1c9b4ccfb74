from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from ecomsite.engine.synthetic import SyntheticParams
from ecomsite.services.synthetic import synthetic_events_store, synthetic_events_write


class Command(BaseCommand):
    help = (
        "Generate realistic synthetic shop data (long-tail products, category preferences, "
        "view→cart→purchase sessions, repeat buying, returns, seasonality), deterministic per "
        "seed. "
        "Stored in the database, or written to --output in the generic CSV/JSONL format."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--customers", type=int, default=2_000)
        parser.add_argument("--products", type=int, default=500)
        parser.add_argument("--events", type=int, default=100_000)
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--start", default="2024-01-01", help="first day (UTC), ISO date")
        parser.add_argument("--days", type=int, default=365)
        parser.add_argument("--categories", type=int, default=12)
        parser.add_argument(
            "--output", type=Path, help="write a .csv/.jsonl(.gz) file instead of the database"
        )
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args: object, **options: object) -> None:
        try:
            params = SyntheticParams(
                customers=options["customers"],  # type: ignore[arg-type]
                products=options["products"],  # type: ignore[arg-type]
                events=options["events"],  # type: ignore[arg-type]
                seed=options["seed"],  # type: ignore[arg-type]
                start=options["start"],  # type: ignore[arg-type]
                days=options["days"],  # type: ignore[arg-type]
                categories=options["categories"],  # type: ignore[arg-type]
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        bar = tqdm(
            total=params.events,
            unit="ev",
            unit_scale=True,
            disable=bool(options["no_progress"]),
            file=self.stderr._out,
        )

        def on_progress(done: int, total: int) -> None:
            bar.update(done - bar.n)

        output = options["output"]
        try:
            if isinstance(output, Path):
                written = synthetic_events_write(
                    params=params, path=output, on_progress=on_progress
                )
                bar.close()
                self.stdout.write(f"Wrote {written:,} events to {output}")
                return
            batch = synthetic_events_store(params=params, on_progress=on_progress)
        finally:
            bar.close()
        self.stdout.write(
            f"Import #{batch.pk}: {batch.rows_received:,} events generated, "
            f"{batch.rows_accepted:,} new, {batch.rows_duplicate:,} already stored "
            f"({batch.metrics['seconds']:.1f}s)"
        )
