from django.contrib import admin

from ecomsite.admin import ReadOnlyAdminMixin
from segments.models import FeatureRun, PipelineRun, Segment, SegmentationRun, SegmentMembership


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
