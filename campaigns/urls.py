from django.urls import path

from .views import builder, pages

urlpatterns = [
    path("campaigns/", pages.CampaignListView.as_view(), name="campaign-list"),
    # The builder (campaigns/views/builder.py): one view per step on a draft campaign
    path("campaigns/new/", builder.CampaignCreateView.as_view(), name="campaign-create"),
    path("campaigns/<int:pk>/edit/", builder.CampaignBasicsView.as_view(), name="campaign-basics"),
    path(
        "campaigns/<int:pk>/audience/",
        builder.CampaignAudienceView.as_view(),
        name="campaign-audience",
    ),
    path(
        "campaigns/<int:pk>/content/",
        builder.CampaignContentView.as_view(),
        name="campaign-content",
    ),
    path(
        "campaigns/<int:pk>/control/",
        builder.CampaignControlView.as_view(),
        name="campaign-control",
    ),
    path(
        "campaigns/<int:pk>/schedule/",
        builder.CampaignScheduleView.as_view(),
        name="campaign-schedule",
    ),
    path(
        "campaigns/<int:pk>/preview.json",
        builder.CampaignPreviewView.as_view(),
        name="campaign-preview",
    ),
    # A campaign's page, its launch and cancellation (campaigns/views/pages.py)
    path("campaigns/<int:pk>/", pages.CampaignDetailView.as_view(), name="campaign-detail"),
    path(
        "campaigns/<int:pk>/progress.json",
        pages.CampaignProgressView.as_view(),
        name="campaign-progress",
    ),
    path(
        "campaigns/<int:pk>/audience.csv",
        pages.CampaignAudienceCsvView.as_view(),
        name="campaign-audience-csv",
    ),
    path("campaigns/<int:pk>/launch/", pages.CampaignLaunchView.as_view(), name="campaign-launch"),
    path("campaigns/<int:pk>/cancel/", pages.CampaignCancelView.as_view(), name="campaign-cancel"),
]
