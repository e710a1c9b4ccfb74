from __future__ import annotations

from django.conf import settings
from rest_framework import serializers

from ecomsite.engine import columns as col
from ecomsite.models import (
    Customer,
    Event,
    EventKind,
    ImportBatch,
    ImportFormat,
    ImportRejection,
    Product,
)


class EventInputSerializer(serializers.Serializer):
    """One event of the bulk API (documentation only: items are validated per item, in bulk)."""

    customer_id = serializers.CharField(
        required=False, allow_blank=True, max_length=col.MAX_ID_LENGTH
    )
    product_id = serializers.CharField(max_length=col.MAX_ID_LENGTH)
    kind = serializers.ChoiceField(choices=EventKind.choices)
    quantity = serializers.IntegerField(required=False, default=1)
    unit_price = serializers.DecimalField(max_digits=14, decimal_places=4, required=False)
    timestamp = serializers.DateTimeField(help_text="ISO 8601; without an offset, UTC")
    order_id = serializers.CharField(required=False, allow_blank=True)
    session_id = serializers.CharField(required=False, allow_blank=True)
    source = serializers.CharField(required=False, allow_blank=True)
    idempotency_key = serializers.CharField(
        required=False, help_text="Unique per real event; derived from the content when absent"
    )
    product_title = serializers.CharField(required=False, allow_blank=True)
    product_category = serializers.CharField(required=False, allow_blank=True)
    customer_country = serializers.CharField(required=False, allow_blank=True)


class EventBatchInputSerializer(serializers.Serializer):
    events = serializers.ListField(
        child=serializers.JSONField(),
        allow_empty=False,
        max_length=settings.EVENTS_API_MAX_BATCH,
        help_text=f"At most {settings.EVENTS_API_MAX_BATCH} events, each as EventInput",
    )


class EventItemResultSerializer(serializers.Serializer):
    index = serializers.IntegerField()
    status = serializers.ChoiceField(choices=["accepted", "duplicate", "rejected"])
    idempotency_key = serializers.CharField(allow_blank=True)
    reason = serializers.CharField(allow_blank=True)
    message = serializers.CharField(allow_blank=True)


class EventBatchOutputSerializer(serializers.Serializer):
    import_batch = serializers.IntegerField()
    accepted = serializers.IntegerField()
    duplicate = serializers.IntegerField()
    rejected = serializers.IntegerField()
    results = EventItemResultSerializer(many=True)


class EventOutputSerializer(serializers.ModelSerializer):
    customer_id = serializers.CharField(source="customer.external_id", default=None)
    product_id = serializers.CharField(source="product.external_id")
    timestamp = serializers.DateTimeField(source="occurred_at")

    class Meta:
        model = Event
        fields = [
            "id",
            "customer_id",
            "product_id",
            "kind",
            "quantity",
            "unit_price",
            "timestamp",
            "order_id",
            "session_id",
            "source",
            "idempotency_key",
        ]


class CustomerOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = Customer
        fields = [
            "external_id",
            "country",
            "first_seen_at",
            "last_seen_at",
            "email_consent",
            "sms_consent",
            "push_consent",
            "ads_consent",
            "attributes",
        ]


class ProductOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = Product
        fields = ["external_id", "title", "category", "price", "is_active"]


class ImportBatchOutputSerializer(serializers.ModelSerializer):
    created_by = serializers.CharField(source="created_by.get_username", default=None)
    partner_token = serializers.CharField(source="partner_token.name", default=None)
    url = serializers.HyperlinkedIdentityField(view_name="api:import-detail")

    class Meta:
        model = ImportBatch
        fields = [
            "id",
            "url",
            "source",
            "format",
            "file_name",
            "file_size",
            "status",
            "progress",
            "progress_message",
            "rows_received",
            "rows_accepted",
            "rows_rejected",
            "rows_duplicate",
            "quality",
            "metrics",
            "error",
            "created_by",
            "partner_token",
            "created_at",
            "started_at",
            "finished_at",
        ]


class ImportUploadInputSerializer(serializers.Serializer):
    file = serializers.FileField()
    format = serializers.ChoiceField(
        choices=[
            (f.value, f.label)
            for f in (ImportFormat.ONLINE_RETAIL, ImportFormat.CSV, ImportFormat.JSONL)
        ]
    )


class ImportRejectionOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = ImportRejection
        fields = ["row_number", "reason", "message", "raw"]
