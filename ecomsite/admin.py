from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from ecomsite.models import (
    CleaningRun,
    Customer,
    Event,
    ImportBatch,
    ImportRejection,
    PartnerToken,
    Product,
)
from ecomsite.services.tokens import partner_token_create, partner_token_revoke


class ReadOnlyAdminMixin:
    """Raw data and run rows are written by services, never edited by hand."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    list_display = [
        "external_id",
        "country",
        "first_seen_at",
        "last_seen_at",
        "email_consent",
        "sms_consent",
        "push_consent",
        "ads_consent",
    ]
    list_filter = ["country", "email_consent", "sms_consent", "push_consent", "ads_consent"]
    search_fields = ["external_id"]
    readonly_fields = ["external_id", "first_seen_at", "last_seen_at", "created_at", "updated_at"]
    date_hierarchy = "last_seen_at"
    show_full_result_count = False


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = ["external_id", "title", "category", "price", "is_active"]
    list_filter = ["is_active", "category"]
    search_fields = ["external_id", "title"]
    readonly_fields = ["external_id", "created_at", "updated_at"]
    show_full_result_count = False


@admin.register(Event)
class EventAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = [
        "occurred_at",
        "kind",
        "customer",
        "product",
        "quantity",
        "unit_price",
        "order_id",
        "source",
    ]
    list_filter = ["kind", "source"]
    search_fields = ["customer__external_id", "product__external_id", "order_id", "idempotency_key"]
    list_select_related = ["customer", "product"]
    raw_id_fields = ["customer", "product", "import_batch"]
    date_hierarchy = "occurred_at"
    # Counting millions of rows on every page is slow; the admin shows "more" instead.
    show_full_result_count = False


class ImportRejectionInline(admin.TabularInline):
    model = ImportRejection
    fields = ("row_number", "reason", "message", "raw")
    readonly_fields = fields
    extra = 0
    max_num = 0
    can_delete = False
    show_change_link = False

    def get_queryset(self, request: HttpRequest) -> QuerySet[ImportRejection]:
        return super().get_queryset(request).order_by("row_number")


@admin.register(ImportBatch)
class ImportBatchAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = [
        "id",
        "source",
        "format",
        "file_name",
        "status",
        "progress",
        "rows_received",
        "rows_accepted",
        "rows_duplicate",
        "rows_rejected",
        "created_by",
        "created_at",
    ]
    list_filter = ["status", "source", "format"]
    search_fields = ["file_name", "created_by__username", "partner_token__name"]
    readonly_fields = tuple(f.name for f in ImportBatch._meta.fields)
    inlines = [ImportRejectionInline]


@admin.register(ImportRejection)
class ImportRejectionAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["batch", "row_number", "reason", "message"]
    list_filter = ["reason"]
    search_fields = ["message", "raw"]
    raw_id_fields = ["batch"]


@admin.register(PartnerToken)
class PartnerTokenAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "prefix",
        "scopes",
        "is_active",
        "last_used_at",
        "expires_at",
        "created_by",
    ]
    list_filter = ["is_active"]
    search_fields = ["name", "prefix"]
    fields = ["name", "scopes", "expires_at", "prefix", "is_active", "last_used_at", "created_by"]
    readonly_fields = ("prefix", "is_active", "last_used_at", "created_by")
    actions = ["revoke"]

    def get_readonly_fields(
        self, request: HttpRequest, obj: PartnerToken | None = None
    ) -> list[str]:
        if obj is not None:
            return [*self.readonly_fields, "name", "scopes", "expires_at"]
        return list(self.readonly_fields)

    def save_model(self, request: HttpRequest, obj: PartnerToken, form: Any, change: bool) -> None:
        if change:
            return
        token, raw = partner_token_create(
            name=obj.name,
            scopes=obj.scopes,
            expires_at=obj.expires_at,
            created_by=request.user,  # type: ignore[arg-type]
        )
        obj.pk = token.pk
        messages.warning(
            request, f"Token for {token.name}: {raw} — copy it now, it is not shown again."
        )

    @admin.action(description="Revoke selected tokens")
    def revoke(self, request: HttpRequest, queryset: QuerySet[PartnerToken]) -> None:
        for token in queryset:
            partner_token_revoke(token=token)
        self.message_user(request, f"Revoked {queryset.count()} token(s).")


@admin.register(CleaningRun)
class CleaningRunAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["id", "status", "progress", "data_version", "events_seen", "created_at"]
    list_filter = ["status"]
    search_fields = ["error", "task_id"]
    readonly_fields = tuple(f.name for f in CleaningRun._meta.fields)
