from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.routers import DefaultRouter

from campaigns import api as campaigns_api
from recommendations import api as recommendations_api
from segments import api as segments_api

from . import views

app_name = "api"

router = DefaultRouter()
router.include_root_view = False
router.register("events", views.EventApi, basename="event")
# The customer detail carries the predictive scores, which segments adds (segments/api.py).
router.register("customers", segments_api.CustomerApi, basename="customer")
router.register("products", views.ProductApi, basename="product")
router.register("imports", views.ImportBatchApi, basename="import")
router.register("segments", segments_api.SegmentApi, basename="segment")
router.register("quality-reports", segments_api.QualityReportApi, basename="quality-report")
router.register("pipeline-runs", segments_api.PipelineRunApi, basename="pipeline-run")
router.register("predictions", segments_api.PredictionRunApi, basename="prediction")
router.register("models", recommendations_api.ModelRunApi, basename="model")
router.register("training-runs", recommendations_api.TrainingRunApi, basename="training-run")
router.register("campaigns", campaigns_api.CampaignApi, basename="campaign")
router.register("campaign-runs", campaigns_api.CampaignRunApi, basename="campaign-run")

# One small view per campaign operation (campaigns/api.py).
campaign_urls = [
    path("launch/", campaigns_api.CampaignLaunchApi.as_view(), name="campaign-launch"),
    path("cancel/", campaigns_api.CampaignCancelApi.as_view(), name="campaign-cancel"),
    path("schedule/", campaigns_api.CampaignScheduleApi.as_view(), name="campaign-schedule"),
    path("preview/", campaigns_api.CampaignPreviewApi.as_view(), name="campaign-preview"),
    path("audience/", campaigns_api.CampaignAudienceApi.as_view(), name="campaign-audience"),
    path(
        "audience.csv", campaigns_api.CampaignAudienceCsvApi.as_view(), name="campaign-audience-csv"
    ),
    path("results/", campaigns_api.CampaignResultsApi.as_view(), name="campaign-results"),
]

urlpatterns = [
    path("imports/upload/", views.ImportUploadApi.as_view(), name="import-upload"),
    path(
        "imports/<int:import_pk>/rejections/",
        views.ImportRejectionApi.as_view({"get": "list"}),
        name="import-rejections",
    ),
    path(
        "customers/<str:external_id>/recommendations/",
        recommendations_api.CustomerRecommendationsApi.as_view(),
        name="customer-recommendations",
    ),
    path(
        "products/<str:external_id>/similar/",
        recommendations_api.SimilarProductsApi.as_view(),
        name="product-similar",
    ),
    path("campaigns/<int:pk>/", include(campaign_urls)),
    path("", include(router.urls)),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api:schema"), name="docs"),
]
