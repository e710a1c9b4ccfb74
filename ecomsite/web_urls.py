from django.contrib.auth import views as auth_views
from django.urls import path

from . import views

urlpatterns = [
    path("", views.HomeView.as_view(), name="home"),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("imports/", views.ImportBatchListView.as_view(), name="import-list"),
    path("imports/new/", views.ImportBatchCreateView.as_view(), name="import-create"),
    path("imports/<int:pk>/", views.ImportBatchDetailView.as_view(), name="import-detail"),
    path(
        "imports/<int:pk>/progress.json",
        views.ImportBatchProgressView.as_view(),
        name="import-progress",
    ),
    path(
        "imports/<int:pk>/rejected.csv",
        views.ImportRejectionCsvView.as_view(),
        name="import-rejections-csv",
    ),
]
