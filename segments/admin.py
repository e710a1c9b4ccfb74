from django.contrib import admin

from ecomsite.admin import ReadOnlyAdminMixin
from segments.models import (
    CustomerScore,
    FeatureRun,
    PipelineRun,
    PredictionRun,
    Segment,
    SegmentationRun,
    SegmentMembership,
)


class RunAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["id", "status", "progress", "progress_message", "created_at", "finished_at"]
    list_filter = ["status"]
    search_fields = ["error", "task_id"]


@admin.register(FeatureRun)
class FeatureRunAdmin(RunAdmin):
    list_display = [*RunAdmin.list_display, "customers", "products"]
    readonly_fields = tuple(f.name for f in FeatureRun._meta.fields)


@admin.register(SegmentationRun)
class SegmentationRunAdmin(RunAdmin):
    readonly_fields = tuple(f.name for f in SegmentationRun._meta.fields)


@admin.register(PredictionRun)
class PredictionRunAdmin(RunAdmin):
    list_display = [*RunAdmin.list_display, "as_of", "horizon_days", "customers", "sufficient"]
    list_filter = ["status", "sufficient"]
    readonly_fields = tuple(f.name for f in PredictionRun._meta.fields)


@admin.register(CustomerScore)
class CustomerScoreAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = [
        "customer",
        "run",
        "clv",
        "expected_orders",
        "churn_risk",
        "p_alive",
        "next_order_date",
        "sufficient",
    ]
    list_filter = ["sufficient", "no_repeat", "short_history", "run"]
    search_fields = ["customer__external_id"]
    raw_id_fields = ["run", "customer"]
    list_select_related = ["customer"]
    readonly_fields = tuple(f.name for f in CustomerScore._meta.fields)
    show_full_result_count = False


@admin.register(PipelineRun)
class PipelineRunAdmin(RunAdmin):
    list_display = [*RunAdmin.list_display, "trigger", "skipped"]
    list_filter = ["status", "trigger", "skipped"]
    readonly_fields = tuple(f.name for f in PipelineRun._meta.fields)


@admin.register(Segment)
class SegmentAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "is_active", "created_by", "updated_at"]
    list_filter = ["kind", "is_active"]
    search_fields = ["name", "description"]


@admin.register(SegmentMembership)
class SegmentMembershipAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["run", "segment", "customer"]
    list_filter = ["segment__kind"]
    search_fields = ["customer__external_id", "segment__name"]
    raw_id_fields = ["run", "segment", "customer"]
    show_full_result_count = False
