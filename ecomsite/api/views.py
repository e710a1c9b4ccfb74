"""API v1 for the shop data. Views parse input, call one service or selector, shape output."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import CursorPagination
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.reverse import reverse
from rest_framework.views import APIView

from ecomsite.models import Customer, Event, ImportBatch, PartnerToken, Product, Scope
from ecomsite.roles import Role
from ecomsite.selectors import imports as selectors
from ecomsite.services.imports import import_upload_start
from ecomsite.services.ingest import events_ingest_batch

from . import serializers as s
from .permissions import HasScope, RoleRequired


class EventCursorPagination(CursorPagination):
    ordering = "-id"
    page_size = 500
    max_page_size = 5_000
    page_size_query_param = "page_size"


class EventApi(mixins.ListModelMixin, viewsets.GenericViewSet):
    """Behaviour events. POST takes a batch; GET lists stored events, newest first."""

    permission_classes = [HasScope]
    required_scopes = {"GET": Scope.EVENTS_READ, "POST": Scope.EVENTS_WRITE}
    serializer_class = s.EventOutputSerializer
    pagination_class = EventCursorPagination

    def get_queryset(self) -> QuerySet[Event]:
        queryset = Event.objects.select_related("customer", "product")
        params = self.request.query_params
        if params.get("customer_id"):
            queryset = queryset.filter(customer__external_id=params["customer_id"])
        if params.get("product_id"):
            queryset = queryset.filter(product__external_id=params["product_id"])
        if params.get("kind"):
            queryset = queryset.filter(kind=params["kind"])
        return queryset

    @extend_schema(
        parameters=[
            OpenApiParameter("customer_id", str),
            OpenApiParameter("product_id", str),
            OpenApiParameter("kind", str),
        ]
    )
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)

    @extend_schema(
        request=s.EventBatchInputSerializer,
        responses={200: s.EventBatchOutputSerializer},
        description=(
            f"Send up to {settings.EVENTS_API_MAX_BATCH} events as "
            '`{"events": [...]}` (or a bare '
            "JSON array). Each is answered in `results` by its index: accepted, duplicate (its "
            "idempotency key is already stored — resending a batch is harmless) or rejected with a "
            "reason. Needs the events:write scope."
        ),
    )
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = request.data
        if isinstance(data, list):
            data = {"events": data}
        elif not isinstance(data, dict) or "events" not in data:
            raise ValidationError(
                {"events": ['Send a JSON object {"events": [...]} or a JSON array of events.']}
            )
        payload = s.EventBatchInputSerializer(data=data)
        payload.is_valid(raise_exception=True)
        token = request.auth if isinstance(request.auth, PartnerToken) else None
        user = request.user if token is None else None
        result = events_ingest_batch(
            items=payload.validated_data["events"], token=token, created_by=user
        )
        out = {
            "import_batch": result.batch.pk,
            "accepted": result.count("accepted"),
            "duplicate": result.count("duplicate"),
            "rejected": result.count("rejected"),
            "results": [item.__dict__ for item in result.items],
        }
        return Response(s.EventBatchOutputSerializer(out).data, status=status.HTTP_200_OK)


class CustomerApi(viewsets.ReadOnlyModelViewSet):
    """Customers. Served as segments.api.CustomerApi, whose detail adds the predictive scores
    (segments builds on ecomsite, so they are added there)."""

    permission_classes = [HasScope]
    required_scope = Scope.CATALOG_READ
    serializer_class = s.CustomerOutputSerializer
    lookup_field = "external_id"
    lookup_value_regex = "[^/]+"

    def get_queryset(self) -> QuerySet[Customer]:
        queryset = Customer.objects.all()
        if self.request.query_params.get("country"):
            queryset = queryset.filter(country=self.request.query_params["country"])
        return queryset


class ProductApi(viewsets.ReadOnlyModelViewSet):
    permission_classes = [HasScope]
    required_scope = Scope.CATALOG_READ
    serializer_class = s.ProductOutputSerializer
    lookup_field = "external_id"
    lookup_value_regex = "[^/]+"

    def get_queryset(self) -> QuerySet[Product]:
        queryset = Product.objects.all()
        if self.request.query_params.get("category"):
            queryset = queryset.filter(category=self.request.query_params["category"])
        return queryset


class ImportBatchApi(viewsets.ReadOnlyModelViewSet):
    """Import batches (files and API calls) with their counts and progress. Staff (viewer+)."""

    permission_classes = [RoleRequired]
    required_role = Role.VIEWER
    serializer_class = s.ImportBatchOutputSerializer

    def get_queryset(self) -> QuerySet[ImportBatch]:
        return selectors.import_batch_list()


class ImportRejectionApi(mixins.ListModelMixin, viewsets.GenericViewSet):
    permission_classes = [RoleRequired]
    required_role = Role.VIEWER
    serializer_class = s.ImportRejectionOutputSerializer

    def get_queryset(self) -> QuerySet[Any]:
        return selectors.import_rejection_list(batch_id=int(self.kwargs["import_pk"]))


class ImportUploadApi(APIView):
    """Upload a file to import; answers 202 with the batch, whose progress the batch URL shows."""

    permission_classes = [RoleRequired]
    required_role = Role.ADMIN
    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(
        request=s.ImportUploadInputSerializer, responses={202: s.ImportBatchOutputSerializer}
    )
    def post(self, request: Request) -> Response:
        payload = s.ImportUploadInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        batch = import_upload_start(
            upload=payload.validated_data["file"],
            format=payload.validated_data["format"],
            created_by=request.user,
        )
        data = s.ImportBatchOutputSerializer(batch, context={"request": request}).data
        location = reverse("api:import-detail", args=[batch.pk], request=request)
        return Response(data, status=status.HTTP_202_ACCEPTED, headers={"Location": location})
