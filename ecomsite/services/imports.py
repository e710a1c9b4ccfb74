"""Imports: files (command line or web upload, run by a Celery task) into events, with a report."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

from django.conf import settings
from django.contrib.auth.models import User
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils import timezone
from django.utils.text import get_valid_filename

from ecomsite.engine import columns as col
from ecomsite.engine import parsing
from ecomsite.exceptions import UnknownFormat, ValidationFailed
from ecomsite.models import (
    Customer,
    Event,
    ImportBatch,
    ImportFormat,
    ImportSource,
    Product,
)

from . import readers
from .bulk import ANALYZE_AFTER_ROWS, analyze_tables
from .ingest import customers_refresh_seen, events_store, rejections_store
from .runs import ProgressReporter, run_claim, run_fail, run_succeed

# on_progress(bytes_done, bytes_total, rows_read): the CLI draws its bar from it.
ProgressCallback = Callable[[int, int, int], None]

FILE_FORMATS = (ImportFormat.ONLINE_RETAIL, ImportFormat.CSV, ImportFormat.JSONL)


def import_batch_create(
    *,
    path: Path,
    format: str,
    source: str,
    file_name: str = "",
    created_by: User | None = None,
) -> ImportBatch:
    if format not in FILE_FORMATS:
        raise ValidationFailed(f"unknown format {format!r}; use one of {', '.join(FILE_FORMATS)}")
    batch = ImportBatch(
        source=source,
        format=format,
        file_name=file_name or path.name,
        file_path=str(path),
        file_size=path.stat().st_size,
        created_by=created_by,
        params={"format": format, "file_name": file_name or path.name},
    )
    batch.full_clean()
    batch.save()
    return batch


def import_upload_start(*, upload: UploadedFile, format: str, created_by: User) -> ImportBatch:
    """Store an uploaded file where workers read it, record the batch, and enqueue the import
    once the transaction commits. The request returns at once; the page follows the progress."""
    from ecomsite.tasks import import_batch_execute_task

    if upload.size and upload.size > settings.IMPORT_UPLOAD_MAX_BYTES:
        raise ValidationFailed(
            f"the file is {upload.size:,} bytes; the most an upload may be is "
            f"{settings.IMPORT_UPLOAD_MAX_BYTES:,} (use `manage.py import_events` for larger files)"
        )
    name = get_valid_filename(Path(upload.name or "upload").name) or "upload"
    folder = Path(settings.MEDIA_ROOT) / "imports"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{uuid.uuid4().hex}-{name}"
    with path.open("wb") as out:
        for part in upload.chunks():
            out.write(part)
    with transaction.atomic():
        batch = import_batch_create(
            path=path,
            format=format,
            source=ImportSource.UPLOAD,
            file_name=name,
            created_by=created_by,
        )
        import_batch_execute_task.delay_on_commit(batch.pk)
    return batch


def import_file(
    *,
    path: Path,
    format: str | None = None,
    created_by: User | None = None,
    on_progress: ProgressCallback | None = None,
) -> ImportBatch:
    """Import a file synchronously (the command line). The batch records the outcome either way."""
    batch = import_batch_create(
        path=path,
        format=format or readers.detect_format(path),
        source=ImportSource.CLI,
        created_by=created_by,
    )
    import_batch_execute(batch_id=batch.pk, on_progress=on_progress)
    batch.refresh_from_db()
    return batch


def _chunks(
    batch: ImportBatch, path: Path
) -> Iterator[tuple[readers.RawChunk, parsing.ParsedChunk]]:
    if batch.format == ImportFormat.ONLINE_RETAIL:
        for chunk in readers.read_csv_chunks(path, required=parsing.ONLINE_RETAIL_COLUMNS):
            yield chunk, parsing.parse_online_retail(chunk.rows)
    elif batch.format == ImportFormat.CSV:
        for chunk in readers.read_csv_chunks(
            path, required=(col.PRODUCT_ID, col.KIND, col.TIMESTAMP)
        ):
            yield chunk, parsing.parse_generic(chunk.rows, default_source=ImportFormat.CSV)
    elif batch.format == ImportFormat.JSONL:
        for chunk in readers.read_jsonl_chunks(path):
            yield chunk, parsing.parse_generic(chunk.rows, default_source=ImportFormat.JSONL)
    else:
        raise UnknownFormat(f"format {batch.format!r} cannot be read from a file")


def import_batch_execute(
    *, batch_id: int, task_id: str = "", on_progress: ProgressCallback | None = None
) -> ImportBatch | None:
    """Run an import batch: read its file in chunks, validate, store, report. Idempotent: a finished
    batch returns at once; a redelivered task redoes the work and, because events are keyed, stores
    nothing twice. Returns None when the batch was not claimed (finished, or another task's)."""
    batch = run_claim(ImportBatch, run_id=batch_id, task_id=task_id)
    if batch is None:
        return None
    # A redo starts the report afresh; the events a crashed attempt stored stay attributed to it.
    batch.rejections.all().delete()
    path = Path(batch.file_path)
    total = batch.file_size or path.stat().st_size
    report = ProgressReporter(batch)
    received = rejected = inserted = 0
    quality: Counter[str] = Counter()
    try:
        report(0.0, "Reading the file", force=True)
        for raw, parsed in _chunks(batch, path):
            received += raw.size
            rejected += rejections_store(batch=batch, rejected=raw.rejected)
            rejected += rejections_store(batch=batch, rejected=parsed.rejected)
            inserted += events_store(events=parsed.events, batch=batch)
            quality.update(parsed.quality)
            fraction = min(raw.bytes_read / total, 1.0) if total else 0.0
            report(
                0.98 * fraction,
                f"{received:,} rows read, {inserted:,} new events",
                rows_received=received,
                rows_accepted=inserted,
                rows_rejected=rejected,
                rows_duplicate=received - rejected - inserted,
            )
            if on_progress:
                on_progress(raw.bytes_read, total, received)
        report(0.99, "Updating customers", force=True)
        if inserted >= ANALYZE_AFTER_ROWS:
            analyze_tables(Event, Customer, Product)
        customers_refresh_seen(batch=batch)
    except Exception as exc:
        run_fail(
            batch,
            error=exc,
            rows_received=received,
            rows_accepted=inserted,
            rows_rejected=rejected,
            rows_duplicate=received - rejected - inserted,
            quality=dict(quality),
        )
        if isinstance(exc, UnknownFormat):
            return batch
        raise
    accepted = Event.objects.filter(import_batch=batch).count()
    seconds = (
        max((timezone.now() - batch.started_at).total_seconds(), 1e-6) if batch.started_at else 1e-6
    )
    run_succeed(
        batch,
        message=f"{received:,} rows: {accepted:,} new, "
        f"{received - rejected - accepted:,} duplicate, "
        f"{rejected:,} rejected",
        rows_received=received,
        rows_accepted=accepted,
        rows_rejected=rejected,
        rows_duplicate=received - rejected - accepted,
        quality=dict(quality),
        metrics={"seconds": round(seconds, 2), "rows_per_second": round(received / seconds, 1)},
    )
    return batch
