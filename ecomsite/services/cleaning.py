"""Cleaning runs: raw events → cleaning rules → a clean frame (artifact) and a quality report."""

from __future__ import annotations

from django.utils import timezone

from ecomsite.engine.cleaning import CleaningParams, clean_events
from ecomsite.models import CleaningRun
from ecomsite.selectors.pipeline import events_data_version, events_raw_frame

from .artifacts import artifact_dir, frame_save
from .runs import ProgressReporter, run_claim, run_fail, run_succeed


def cleaning_run_create(*, up_to: int | None = None) -> CleaningRun:
    version = events_data_version() if up_to is None else up_to
    return CleaningRun.objects.create(data_version=version, params={"up_to": version})


def cleaning_run_execute(*, run_id: int, task_id: str = "") -> CleaningRun | None:
    """Clean every raw event up to the run's data version. Idempotent: the artifact and report
    are replaced wholesale; raw events are only read. Returns None if the run was not claimed."""
    run = run_claim(CleaningRun, run_id=run_id, task_id=task_id)
    if run is None:
        return None
    report = ProgressReporter(run)
    started = timezone.now()
    try:
        report(0.05, "Reading raw events", force=True)
        raw = events_raw_frame(up_to=run.data_version)
        report(0.3, f"Cleaning {len(raw):,} events", force=True)
        result = clean_events(
            raw,
            CleaningParams(),
            on_progress=lambda done, total, **_: report(
                0.3 + 0.6 * done / max(total, 1), "Cleaning"
            ),
        )
        report(0.9, "Writing the clean table", force=True)
        path = frame_save(result.events, artifact_dir("cleaning", run.pk) / "clean.parquet")
    except Exception as exc:
        run_fail(run, error=exc)
        raise
    quality = result.report.to_dict()
    seconds = (timezone.now() - started).total_seconds()
    run_succeed(
        run,
        message=f"{len(raw):,} events cleaned",
        events_seen=len(raw),
        report=quality,
        artifact=str(path),
        metrics={"seconds": round(seconds, 2), "rows": len(raw)},
    )
    return run
