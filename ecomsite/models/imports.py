"""Import batches (one per file or API call) and the rows they rejected."""

from django.conf import settings
from django.db import models

from ecomsite.engine import parsing

from .base import BaseRun, TimeStampedModel


class ImportFormat(models.TextChoices):
    ONLINE_RETAIL = "online-retail", "Online Retail CSV"
    CSV = "csv", "Generic CSV"
    JSONL = "jsonl", "Generic JSON Lines"
    API = "api", "Bulk API (JSON)"
    SYNTHETIC = "synthetic", "Synthetic generator"


class ImportSource(models.TextChoices):
    CLI = "cli", "Command line"
    UPLOAD = "upload", "Web upload"
    API = "api", "API"
    GENERATOR = "generator", "Synthetic generator"


class RejectionReason(models.TextChoices):
    MALFORMED_ROW = parsing.MALFORMED_ROW, parsing.REJECTION_REASONS[parsing.MALFORMED_ROW]
    MALFORMED_JSON = parsing.MALFORMED_JSON, parsing.REJECTION_REASONS[parsing.MALFORMED_JSON]
    MISSING_INVOICE = parsing.MISSING_INVOICE, parsing.REJECTION_REASONS[parsing.MISSING_INVOICE]
    MISSING_PRODUCT = parsing.MISSING_PRODUCT, parsing.REJECTION_REASONS[parsing.MISSING_PRODUCT]
    BAD_DATE = parsing.BAD_DATE, parsing.REJECTION_REASONS[parsing.BAD_DATE]
    BAD_QUANTITY = parsing.BAD_QUANTITY, parsing.REJECTION_REASONS[parsing.BAD_QUANTITY]
    BAD_PRICE = parsing.BAD_PRICE, parsing.REJECTION_REASONS[parsing.BAD_PRICE]
    UNKNOWN_KIND = parsing.UNKNOWN_KIND, parsing.REJECTION_REASONS[parsing.UNKNOWN_KIND]
    TOO_LONG = parsing.TOO_LONG, parsing.REJECTION_REASONS[parsing.TOO_LONG]


class ImportBatch(BaseRun):
    """One import: who sent what, when, and what became of every row.

    rows_received == rows_accepted + rows_rejected + rows_duplicate once finished.
    `quality` counts accepted rows by dirty-row class (returns, anonymous, zero price, ...).
    """

    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    partner_token = models.ForeignKey(
        "ecomsite.PartnerToken", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    source = models.CharField(max_length=16, choices=ImportSource.choices)
    format = models.CharField(max_length=16, choices=ImportFormat.choices)
    file_name = models.CharField(max_length=255, blank=True)
    file_path = models.CharField(max_length=1024, blank=True, help_text="Where the worker reads it")
    file_size = models.BigIntegerField(null=True, blank=True)
    rows_received = models.BigIntegerField(default=0)
    rows_accepted = models.BigIntegerField(default=0)
    rows_rejected = models.BigIntegerField(default=0)
    rows_duplicate = models.BigIntegerField(default=0)
    quality = models.JSONField(default=dict, blank=True)

    class Meta(BaseRun.Meta):
        verbose_name_plural = "import batches"

    def __str__(self) -> str:
        return f"Import #{self.pk} {self.file_name or self.get_source_display()}"


class ImportRejection(TimeStampedModel):
    batch = models.ForeignKey(ImportBatch, on_delete=models.CASCADE, related_name="rejections")
    row_number = models.BigIntegerField(help_text="Line in the file, or index in the API batch")
    reason = models.CharField(max_length=32, choices=RejectionReason.choices)
    message = models.CharField(max_length=500)
    raw = models.TextField(blank=True)

    class Meta:
        ordering = ["batch", "row_number"]
        indexes = [models.Index(fields=["batch", "row_number"], name="rejection_batch_row")]

    def __str__(self) -> str:
        return f"row {self.row_number}: {self.message}"
