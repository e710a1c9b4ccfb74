"""Reads of the beat schedule (django-celery-beat's periodic tasks) for the schedules page."""

from __future__ import annotations

from dataclasses import dataclass

from django_celery_beat.models import PeriodicTask


@dataclass(frozen=True)
class ScheduleRow:
    task: PeriodicTask
    words: str  # "At 02:30 AM", "every 5 minutes", ...
    timezone: str  # crontab schedules only; empty otherwise
    expression: str  # the crontab's five fields; empty otherwise


def periodic_task_list() -> list[ScheduleRow]:
    """Every periodic task with its schedule in words, by name. Beat's own bookkeeping entry
    (celery.backend_cleanup, added when results are kept) is listed like any other."""
    tasks = PeriodicTask.objects.select_related("crontab", "interval", "solar", "clocked")
    return [_row(task) for task in tasks.order_by("name")]


def _row(task: PeriodicTask) -> ScheduleRow:
    if task.crontab is not None:
        crontab = task.crontab
        timezone = str(crontab.timezone)
        words = crontab.human_readable
        if words.endswith(f" {timezone}"):
            words = words[: -len(timezone) - 1]
        expression = " ".join(
            [
                crontab.minute,
                crontab.hour,
                crontab.day_of_month,
                crontab.month_of_year,
                crontab.day_of_week,
            ]
        )
        return ScheduleRow(task=task, words=words, timezone=timezone, expression=expression)
    if task.interval is not None:
        return ScheduleRow(task=task, words=str(task.interval), timezone="", expression="")
    if task.clocked is not None:
        return ScheduleRow(task=task, words=f"once, {task.clocked}", timezone="", expression="")
    if task.solar is not None:
        return ScheduleRow(task=task, words=str(task.solar), timezone="", expression="")
    return ScheduleRow(task=task, words="no schedule", timezone="", expression="")
