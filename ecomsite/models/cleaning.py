"""Cleaning runs: the raw events stay as they are; each run writes a clean table beside them."""

from django.db import models

from .base import BaseRun


class CleaningRun(BaseRun):
    """One pass of the cleaning rules over all raw events up to `data_version` (the newest
    Event.id it saw). The clean frame is a Parquet artifact; `report` is the data-quality report
    (counts and examples per rule, before/after totals)."""

    data_version = models.BigIntegerField(default=0, help_text="Newest Event.id included")
    events_seen = models.BigIntegerField(default=0)
    report = models.JSONField(default=dict, blank=True)
    artifact = models.CharField(max_length=500, blank=True)

    class Meta(BaseRun.Meta):
        pass

    def __str__(self) -> str:
        return f"Cleaning #{self.pk} ({self.status})"
