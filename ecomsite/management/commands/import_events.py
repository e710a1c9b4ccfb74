from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from ecomsite.exceptions import DomainError
from ecomsite.models import RunStatus
from ecomsite.selectors.imports import import_rejection_counts
from ecomsite.services.imports import FILE_FORMATS, import_file


class Command(BaseCommand):
    help = "Import behaviour events from a CSV/JSONL file (plain or .gz), in bounded memory."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", type=Path)
        parser.add_argument(
            "--format",
            choices=[str(f) for f in FILE_FORMATS],
            help="default: guessed from the file name and header",
        )
        parser.add_argument("--no-progress", action="store_true", help="no progress bar")

    def handle(self, *args: object, **options: object) -> None:
        path = options["path"]
        assert isinstance(path, Path)
        if not path.is_file():
            raise CommandError(f"no such file: {path}")
        bar = tqdm(
            total=path.stat().st_size,
            unit="B",
            unit_scale=True,
            desc=path.name,
            disable=bool(options["no_progress"]),
            file=self.stderr._out,
        )

        def on_progress(done: int, total: int, rows: int) -> None:
            bar.update(done - bar.n)
            bar.set_postfix_str(f"{rows:,} rows")

        try:
            batch = import_file(path=path, format=options["format"], on_progress=on_progress)  # type: ignore[arg-type]
        except DomainError as exc:
            raise CommandError(str(exc)) from exc
        finally:
            bar.close()
        if batch.status != RunStatus.SUCCEEDED:
            raise CommandError(f"import #{batch.pk} failed: {batch.error}")
        self.stdout.write(
            f"Import #{batch.pk} ({batch.format}) in {batch.metrics.get('seconds', 0):.1f}s: "
            f"{batch.rows_received:,} rows read = {batch.rows_accepted:,} accepted "
            f"+ {batch.rows_duplicate:,} duplicate + {batch.rows_rejected:,} rejected"
        )
        for name, count in sorted(batch.quality.items()):
            self.stdout.write(f"  accepted but flagged {name}: {count:,}")
        for reason, count in import_rejection_counts(batch=batch).items():
            self.stdout.write(f"  rejected {reason}: {count:,}")
