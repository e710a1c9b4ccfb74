from django.urls import path

from .views import pipeline, predictions, segments

urlpatterns = [
    # Segment pages (segments/views/segments.py)
    path("segments/", segments.SegmentListView.as_view(), name="segment-list"),
    path(
        "segments/movements/",
        segments.SegmentMovementsView.as_view(),
        name="segment-movements",
    ),
    path("segments/new/", segments.SegmentCreateView.as_view(), name="segment-create"),
    path("segments/preview.json", segments.SegmentPreviewView.as_view(), name="segment-preview"),
    path("segments/<int:pk>/", segments.SegmentDetailView.as_view(), name="segment-detail"),
    path("segments/<int:pk>/edit/", segments.SegmentUpdateView.as_view(), name="segment-edit"),
    path("segments/<int:pk>/retire/", segments.SegmentRetireView.as_view(), name="segment-retire"),
    path(
        "segments/<int:pk>/members.csv",
        segments.SegmentMembersCsvView.as_view(),
        name="segment-members-csv",
    ),
    # The prediction run in use and its backtest (segments/views/predictions.py)
    path("predictions/", predictions.PredictionDetailView.as_view(), name="prediction-detail"),
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
