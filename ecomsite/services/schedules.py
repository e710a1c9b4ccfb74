"""Changes to the beat schedule (django-celery-beat's periodic tasks) from the staff UI."""

from __future__ import annotations

from django_celery_beat.models import PeriodicTask


def periodic_task_set_enabled(*, task: PeriodicTask, enabled: bool) -> PeriodicTask:
    """Turn a periodic task on or off. Saved through the model, so that beat's database scheduler
    notices the change (PeriodicTasks.changed) and, as in the admin, a disabled task forgets its
    last run time (re-enabled, it waits for its next slot instead of catching up)."""
    if task.enabled != enabled:
        task.enabled = enabled
        task.save()
    return task
