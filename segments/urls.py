from django.urls import path

from ecomsite.views.dashboard import SectionPendingView

from .views import pipeline, segments  # noqa: F401

urlpatterns = [
    # Segment pages (segments/views/segments.py)
    path(
        "segments/",
        SectionPendingView.as_view(section="Segments", arrives_with="issue 4"),
        name="segment-list",
    ),
    # Pipeline, data-quality and schedule pages (segments/views/pipeline.py)
    path("pipeline/", pipeline.PipelineRunListView.as_view(), name="pipeline-list"),
    path("pipeline/start/", pipeline.PipelineRunStartView.as_view(), name="pipeline-start"),
    path(
        "pipeline/<int:pk>/progress.json",
        pipeline.PipelineRunProgressView.as_view(),
        name="pipeline-progress",
    ),
    path("data-quality/", pipeline.QualityReportListView.as_view(), name="quality-list"),
    path(
        "data-quality/<int:pk>/",
        pipeline.QualityReportDetailView.as_view(),
        name="quality-detail",
    ),
    path("schedules/", pipeline.PeriodicTaskListView.as_view(), name="schedule-list"),
    path(
        "schedules/<int:pk>/enabled/",
        pipeline.PeriodicTaskEnableView.as_view(),
        name="schedule-enable",
    ),
]
