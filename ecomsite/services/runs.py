"""Shared life cycle of run rows (BaseRun): claim, report progress, succeed, fail."""

from __future__ import annotations

import time
import traceback
from typing import TypeVar

from django.db.models import Q
from django.utils import timezone

from ecomsite.models import BaseRun, RunStatus

RunT = TypeVar("RunT", bound=BaseRun)

# Progress is written at most this often (seconds): enough for a live bar, cheap for the database.
PROGRESS_INTERVAL = 2.0


def run_claim(model: type[RunT], *, run_id: int, task_id: str = "") -> RunT | None:
    """Move a pending run to running, recording the task id. A redelivered task (same task id,
    after a worker crash) may claim its own running run again and redo the work. Returns None when
    the run is finished or belongs to another task, so the caller returns at once."""
    claimable = Q(status=RunStatus.PENDING)
    if task_id:
        claimable |= Q(status=RunStatus.RUNNING, task_id=task_id)
    claimed = model._default_manager.filter(claimable, pk=run_id).update(
        status=RunStatus.RUNNING,
        task_id=task_id,
        started_at=timezone.now(),
        finished_at=None,
        progress=0.0,
        error="",
        updated_at=timezone.now(),
    )
    if not claimed:
        return None
    return model._default_manager.get(pk=run_id)


class ProgressReporter:
    """Writes a run's progress (0–1) and message, throttled to one write per PROGRESS_INTERVAL."""

    def __init__(self, run: BaseRun, *, interval: float = PROGRESS_INTERVAL) -> None:
        self.run = run
        self.interval = interval
        self._last = 0.0

    def __call__(
        self, fraction: float, message: str = "", *, force: bool = False, **fields: object
    ) -> None:
        now = time.monotonic()
        if not force and now - self._last < self.interval:
            return
        self._last = now
        self.run.progress = max(0.0, min(1.0, fraction))
        self.run.progress_message = message[:200]
        updates = {"progress": self.run.progress, "progress_message": self.run.progress_message}
        for name, value in fields.items():
            setattr(self.run, name, value)
            updates[name] = value
        type(self.run)._default_manager.filter(pk=self.run.pk).update(
            updated_at=timezone.now(), **updates
        )


def run_succeed(run: BaseRun, *, message: str = "Done", **fields: object) -> None:
    run.status = RunStatus.SUCCEEDED
    run.progress = 1.0
    run.progress_message = message[:200]
    run.finished_at = timezone.now()
    for name, value in fields.items():
        setattr(run, name, value)
    run.save()


def run_fail(run: BaseRun, *, error: BaseException | str, **fields: object) -> None:
    if isinstance(error, BaseException):
        detail = "".join(traceback.format_exception_only(type(error), error)).strip()
    else:
        detail = error
    run.status = RunStatus.FAILED
    run.error = detail
    run.progress_message = "Failed"
    run.finished_at = timezone.now()
    for name, value in fields.items():
        setattr(run, name, value)
    run.save()
