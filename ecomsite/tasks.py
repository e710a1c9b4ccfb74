"""Celery tasks: thin interfaces that take a run id and call one service."""

from celery import shared_task

from ecomsite.services.imports import import_batch_execute

# An import of a 10M-row file takes minutes, not hours; the hard limit only stops a runaway.
IMPORT_SOFT_LIMIT = 3 * 60 * 60
IMPORT_HARD_LIMIT = IMPORT_SOFT_LIMIT + 300


@shared_task(
    bind=True,
    acks_late=True,
    ignore_result=True,
    soft_time_limit=IMPORT_SOFT_LIMIT,
    time_limit=IMPORT_HARD_LIMIT,
)
def import_batch_execute_task(self, batch_id: int) -> None:  # type: ignore[no-untyped-def]
    import_batch_execute(batch_id=batch_id, task_id=self.request.id or "")
