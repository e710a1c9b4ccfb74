"""Synthetic shop data at scale: into the database through the import path, or to a file."""

from __future__ import annotations

import gzip
from collections.abc import Callable
from pathlib import Path
from typing import IO

from django.utils import timezone

from ecomsite.engine import columns as col
from ecomsite.engine.synthetic import SyntheticParams, generate_events
from ecomsite.models import (
    Customer,
    Event,
    ImportBatch,
    ImportFormat,
    ImportSource,
    Product,
    RunStatus,
)

from .bulk import ANALYZE_AFTER_ROWS, analyze_tables
from .ingest import customers_refresh_seen, events_store
from .runs import ProgressReporter, run_fail, run_succeed

# on_progress(events_done, events_total)
ProgressCallback = Callable[[int, int], None]
CHUNK_ROWS = 100_000


def synthetic_events_store(
    *, params: SyntheticParams, on_progress: ProgressCallback | None = None
) -> ImportBatch:
    """Generate events and store them like an import (one ImportBatch, source "generator").
    Deterministic keys make a rerun with the same params add nothing."""
    started = timezone.now()
    batch = ImportBatch.objects.create(
        source=ImportSource.GENERATOR,
        format=ImportFormat.SYNTHETIC,
        file_name=f"synthetic seed={params.seed}",
        params={k: v for k, v in params.__dict__.items() if k != "countries"},
        status=RunStatus.RUNNING,
        started_at=started,
    )
    report = ProgressReporter(batch)
    done = inserted = 0
    try:
        for events in generate_events(params, chunk_size=CHUNK_ROWS):
            inserted += events_store(events=events, batch=batch)
            done += len(events)
            report(
                0.98 * done / max(params.events, 1),
                f"{done:,} events generated",
                rows_received=done,
                rows_accepted=inserted,
                rows_duplicate=done - inserted,
            )
            if on_progress:
                on_progress(done, params.events)
        if inserted >= ANALYZE_AFTER_ROWS:
            analyze_tables(Event, Customer, Product)
        customers_refresh_seen(batch=batch)
    except Exception as exc:
        run_fail(batch, error=exc, rows_received=done, rows_accepted=inserted)
        raise
    seconds = max((timezone.now() - started).total_seconds(), 1e-6)
    run_succeed(
        batch,
        message=f"{done:,} events: {inserted:,} new",
        rows_received=done,
        rows_accepted=inserted,
        rows_duplicate=done - inserted,
        metrics={"seconds": round(seconds, 2), "rows_per_second": round(done / seconds, 1)},
    )
    return batch


def synthetic_events_write(
    *, params: SyntheticParams, path: Path, on_progress: ProgressCallback | None = None
) -> int:
    """Write the events to a file in the generic format: .csv or .jsonl, gzip-compressed when the
    name ends in .gz. Returns the number of events written."""
    name = path.name.lower().removesuffix(".gz")
    as_json = name.endswith((".jsonl", ".ndjson"))
    columns = list(col.GENERIC_COLUMNS)
    done = 0
    path.parent.mkdir(parents=True, exist_ok=True)
    stream: IO[str] = (
        gzip.open(path, "wt", encoding="utf-8", compresslevel=3)  # type: ignore[assignment]
        if path.name.lower().endswith(".gz")
        else path.open("w", encoding="utf-8")
    )
    with stream:
        for events in generate_events(params, chunk_size=CHUNK_ROWS):
            frame = events[columns].copy()
            frame[col.TIMESTAMP] = frame[col.TIMESTAMP].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
            if as_json:
                frame[col.UNIT_PRICE] = frame[col.UNIT_PRICE].round(2)
                stream.write(frame.to_json(orient="records", lines=True, force_ascii=False))
                stream.write("\n")
            else:
                frame.to_csv(stream, header=done == 0, index=False, float_format="%.2f")
            done += len(events)
            if on_progress:
                on_progress(done, params.events)
    return done
