"""API v1 for campaigns.

Reading (list, detail, audience export as paginated JSON or streamed CSV, results, launch runs)
needs the campaigns:read scope; staff sessions need the viewer role. Creating, changing,
scheduling, launching, cancelling and the preview are staff-only (editor role), never open to
partner tokens, one small view per operation; domain errors come back as 400 (ValidationFailed)
or 409 (InvalidTransition) through the project's exception handler."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, overload

from django.db.models import QuerySet
from django.http import StreamingHttpResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status, viewsets
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import PageNumberPagination
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.reverse import reverse
from rest_framework.views import APIView

from campaigns import selectors
from campaigns.models import Campaign, CampaignRun, CampaignStatus
from campaigns.selectors_results import campaign_results
from campaigns.serializers import (
    AudienceRowSerializer,
    CampaignInputSerializer,
    CampaignPreviewSerializer,
    CampaignRunSerializer,
    CampaignScheduleInputSerializer,
    CampaignSerializer,
    export_csv_lines,
    export_filename,
    preview_as_dict,
)
from campaigns.services.campaigns import (
    campaign_cancel,
    campaign_create,
    campaign_export_record,
    campaign_launch,
    campaign_schedule,
    campaign_update,
)
from ecomsite.api.permissions import HasScope, RoleRequired
from ecomsite.models import Scope
from ecomsite.roles import Role

MAX_PREVIEW_SAMPLES = 20


class _ReadMixin:
    """campaigns:read for tokens, the viewer role for sessions."""

    permission_classes = [HasScope]
    required_scope = Scope.CAMPAIGNS_READ


class _StaffMixin:
    """Editors with a session (and its CSRF token); never partner tokens."""

    permission_classes = [RoleRequired]
    required_role = Role.EDITOR


def _campaign(pk: int) -> Campaign:
    return get_object_or_404(selectors.campaign_list(), pk=pk)


def _detail(request: Request, campaign: Campaign, code: int = status.HTTP_200_OK) -> Response:
    campaign = _campaign(campaign.pk)  # fresh, with its segments, products and runs
    data = CampaignSerializer(campaign, context={"request": request}).data
    location = reverse("api:campaign-detail", args=[campaign.pk], request=request)
    return Response(data, status=code, headers={"Location": location})


class CampaignApi(viewsets.GenericViewSet):
    """Campaigns, newest first (?status= filters). Staff editors create drafts and change draft
    or scheduled campaigns (PATCH sends only what changes)."""

    serializer_class = CampaignSerializer
    required_scope = Scope.CAMPAIGNS_READ
    required_role = Role.EDITOR

    def get_permissions(self) -> list[BasePermission]:
        if self.action in ("list", "retrieve"):
            return [HasScope()]
        return [RoleRequired()]

    def get_queryset(self) -> QuerySet[Campaign]:
        campaigns = selectors.campaign_list()
        wanted = self.request.query_params.get("status", "")
        if wanted:
            if wanted not in CampaignStatus.values:
                raise ValidationError({"status": [f"One of {', '.join(CampaignStatus.values)}."]})
            campaigns = campaigns.filter(status=wanted)
        return campaigns

    @extend_schema(
        parameters=[OpenApiParameter("status", str, enum=CampaignStatus.values)],
        responses=CampaignSerializer(many=True),
    )
    def list(self, request: Request) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        assert page is not None
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    def retrieve(self, request: Request, pk: str) -> Response:
        return Response(self.get_serializer(self.get_object()).data)

    @extend_schema(request=CampaignInputSerializer, responses={201: CampaignSerializer})
    def create(self, request: Request) -> Response:
        payload = CampaignInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        campaign = campaign_create(user=request.user, data=payload.validated_data)  # type: ignore[arg-type]
        return _detail(request, campaign, status.HTTP_201_CREATED)

    @extend_schema(request=CampaignInputSerializer, responses=CampaignSerializer)
    def update(self, request: Request, pk: str) -> Response:
        return self._change(request, partial=False)

    @extend_schema(request=CampaignInputSerializer, responses=CampaignSerializer)
    def partial_update(self, request: Request, pk: str) -> Response:
        return self._change(request, partial=True)

    def _change(self, request: Request, *, partial: bool) -> Response:
        campaign = self.get_object()
        payload = CampaignInputSerializer(data=request.data, partial=partial)
        payload.is_valid(raise_exception=True)
        campaign_update(campaign=campaign, user=request.user, data=payload.validated_data)  # type: ignore[arg-type]
        return _detail(request, campaign)


class CampaignScheduleApi(_StaffMixin, APIView):
    """Schedule a draft (or move a scheduled campaign) to launch at a time; the worker launches
    it then."""

    @extend_schema(request=CampaignScheduleInputSerializer, responses=CampaignSerializer)
    def post(self, request: Request, pk: int) -> Response:
        campaign = _campaign(pk)
        payload = CampaignScheduleInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        campaign_schedule(campaign=campaign, user=request.user, at=payload.validated_data["at"])  # type: ignore[arg-type]
        return _detail(request, campaign)


class CampaignLaunchApi(_StaffMixin, APIView):
    """Launch now: 202 with the launch run (follow its URL). Idempotent: launching a running
    campaign answers with the same run (resumed if it failed)."""

    @extend_schema(request=None, responses={202: CampaignRunSerializer})
    def post(self, request: Request, pk: int) -> Response:
        run = campaign_launch(campaign=_campaign(pk), user=request.user)  # type: ignore[arg-type]
        data = CampaignRunSerializer(run, context={"request": request}).data
        location = reverse("api:campaign-run-detail", args=[run.pk], request=request)
        return Response(data, status=status.HTTP_202_ACCEPTED, headers={"Location": location})


class CampaignCancelApi(_StaffMixin, APIView):
    """Cancel a draft, scheduled or running campaign (a running launch stops at its next
    batch; what was sent stays sent)."""

    @extend_schema(request=None, responses=CampaignSerializer)
    def post(self, request: Request, pk: int) -> Response:
        campaign = _campaign(pk)
        campaign_cancel(campaign=campaign, user=request.user)  # type: ignore[arg-type]
        return _detail(request, campaign)


class CampaignPreviewApi(_StaffMixin, APIView):
    """The audience before launch: size after each step, overlap with other scheduled or running
    campaigns, profile against everyone scored, sample recipients with their products, and
    whether the control group can detect a +10% uplift."""

    @extend_schema(
        parameters=[OpenApiParameter("samples", int, description="1–20, default 5")],
        responses=CampaignPreviewSerializer,
    )
    def get(self, request: Request, pk: int) -> Response:
        samples = request.query_params.get("samples", "5")
        if not samples.isdigit() or not 1 <= int(samples) <= MAX_PREVIEW_SAMPLES:
            raise ValidationError({"samples": [f"A whole number from 1 to {MAX_PREVIEW_SAMPLES}."]})
        preview = selectors.campaign_preview(_campaign(pk), samples=int(samples))
        return Response(preview_as_dict(preview))


class AudiencePagination(PageNumberPagination):
    page_size = 500
    page_size_query_param = "page_size"
    max_page_size = 5_000


class _ExportRows(Sequence[dict[str, Any]]):
    """The audience export as a sequence a paginator can slice: a page reads its rows from
    selectors.audience_export_rows (which streams in recipient order)."""

    def __init__(self, campaign: Campaign) -> None:
        self.campaign = campaign
        self._count: int | None = None

    def __len__(self) -> int:
        if self._count is None:
            self._count = selectors.campaign_recipients(self.campaign).count()
        return self._count

    @overload
    def __getitem__(self, index: int) -> dict[str, Any]: ...

    @overload
    def __getitem__(self, index: slice) -> list[dict[str, Any]]: ...

    def __getitem__(self, index: int | slice) -> dict[str, Any] | list[dict[str, Any]]:
        if isinstance(index, int):
            return self[index : index + 1][0]
        start, stop = index.start or 0, index.stop
        return list(selectors.audience_export_rows(self.campaign, start, stop))

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return selectors.audience_export_rows(self.campaign)


class CampaignAudienceApi(_ReadMixin, APIView):
    """The launched audience, paginated (?page=, ?page_size= up to 5,000): each recipient's id,
    group (control: held out, never to be contacted), hashed email and recommended SKUs. Empty
    before the launch. The whole audience streams as CSV from audience.csv."""

    @extend_schema(
        parameters=[OpenApiParameter("page", int), OpenApiParameter("page_size", int)],
        responses=AudienceRowSerializer(many=True),
    )
    def get(self, request: Request, pk: int) -> Response:
        campaign = _campaign(pk)
        paginator = AudiencePagination()
        page = paginator.paginate_queryset(_ExportRows(campaign), request, self)  # type: ignore[arg-type]
        assert page is not None and paginator.page is not None
        campaign_export_record(
            campaign=campaign,
            user=request.user,
            fmt="json",
            page=paginator.page.number,
            rows=len(page),
        )
        return paginator.get_paginated_response(AudienceRowSerializer(page, many=True).data)


class CampaignAudienceCsvApi(_ReadMixin, APIView):
    """The whole launched audience as a streamed CSV: external_id, group, hashed_email,
    products (space-separated SKUs)."""

    @extend_schema(
        responses={
            (200, "text/csv"): OpenApiResponse(
                OpenApiTypes.STR, description="external_id,group,hashed_email,products"
            )
        }
    )
    def get(self, request: Request, pk: int) -> StreamingHttpResponse:
        campaign = _campaign(pk)
        campaign_export_record(campaign=campaign, user=request.user, fmt="csv")
        response = StreamingHttpResponse(
            export_csv_lines(selectors.audience_export_rows(campaign)), content_type="text/csv"
        )
        response["Content-Disposition"] = f'attachment; filename="{export_filename(campaign)}"'
        return response


class CampaignResultsSerializer(serializers.Serializer):
    campaign = serializers.IntegerField()
    status = serializers.CharField()
    results = serializers.DictField(
        allow_null=True,
        help_text="null before the launch. window {start, end, days, as_of, complete, "
        "data_through}; groups {treatment, control}: recipients, converters, conversion_rate, "
        "revenue, revenue_per_recipient, items, items_per_recipient, purchases, recommended "
        "{purchases, units, revenue, buyers, revenue_share}; uplift {conversion_rate, "
        "revenue_per_recipient, revenue_per_recipient_welch, items_per_recipient}: treatment, "
        "control, difference, ci_low, ci_high, relative, relative_ci_low, relative_ci_high, "
        "p_value, method, significant; incremental {buyers, revenue}: [estimate, low, high]; "
        "provisional: the attribution window is still open",
    )


class CampaignResultsApi(_ReadMixin, APIView):
    """Treatment against control over the attribution window: provisional while it is open,
    final (stored) after."""

    @extend_schema(responses=CampaignResultsSerializer)
    def get(self, request: Request, pk: int) -> Response:
        campaign = _campaign(pk)
        results = campaign_results(campaign)
        return Response(
            {
                "campaign": campaign.pk,
                "status": campaign.status,
                "results": results.as_dict() if results is not None else None,
            }
        )


class CampaignRunApi(_ReadMixin, viewsets.ReadOnlyModelViewSet):
    """Launch and results runs of campaigns: status, progress, metrics, error."""

    serializer_class = CampaignRunSerializer

    def get_queryset(self) -> QuerySet[CampaignRun]:
        return CampaignRun.objects.order_by("-created_at", "-pk")
