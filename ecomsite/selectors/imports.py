"""Reads of the shop data: querysets, values and small dataclasses for views and the API."""

from __future__ import annotations

from collections.abc import Iterator

from django.db.models import Count, QuerySet

from ecomsite.engine import parsing
from ecomsite.models import ImportBatch, ImportRejection


def import_batch_list() -> QuerySet[ImportBatch]:
    return ImportBatch.objects.select_related("created_by", "partner_token")


def import_rejection_counts(*, batch: ImportBatch) -> dict[str, int]:
    """{reason code: rejected rows} for one batch, most frequent first."""
    rows = batch.rejections.values("reason").annotate(n=Count("id")).order_by("-n", "reason")
    return {row["reason"]: row["n"] for row in rows}


def import_quality_rows(*, batch: ImportBatch) -> list[tuple[str, str, int]]:
    """(code, label, accepted rows) per data-quality class found in the batch."""
    return [
        (code, parsing.QUALITY_CLASSES.get(code, code), count)
        for code, count in sorted(batch.quality.items(), key=lambda item: -item[1])
    ]


def import_rejections_csv_rows(*, batch: ImportBatch) -> Iterator[list[str]]:
    """Header and one row per rejected row, streamed in row order (for CSV download)."""
    yield ["row_number", "reason", "message", "raw"]
    rejections: QuerySet[ImportRejection] = batch.rejections.order_by("row_number")
    for row in rejections.values_list("row_number", "reason", "message", "raw").iterator(
        chunk_size=5_000
    ):
        yield [str(row[0]), row[1], row[2], row[3]]


def import_rejection_list(*, batch_id: int) -> QuerySet[ImportRejection]:
    return ImportRejection.objects.filter(batch_id=batch_id).order_by("row_number", "id")
