"""The Models page and its actions (recommendations/views.py), included by ecomsite/web_urls."""

from django.urls import path

from . import views

urlpatterns = [
    path("models/", views.ModelRunListView.as_view(), name="model-list"),
    path("models/compare/", views.ModelRunCompareView.as_view(), name="model-compare"),
    path("models/rollback/", views.ModelRollbackView.as_view(), name="model-rollback"),
    path("models/retrain/", views.TrainingRunStartView.as_view(), name="model-retrain"),
    path("models/<int:pk>/promote/", views.ModelRunPromoteView.as_view(), name="model-promote"),
    path(
        "models/training/<int:pk>/progress.json",
        views.TrainingRunProgressView.as_view(),
        name="training-progress",
    ),
]
