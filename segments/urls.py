from django.urls import path

from ecomsite.roles import Role
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
    path(
        "schedules/",
        SectionPendingView.as_view(
            section="Schedules", arrives_with="issue 4", required_role=Role.ADMIN
        ),
        name="schedule-list",
    ),
]
