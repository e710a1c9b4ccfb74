"""API v1 for recommendations: a customer's list, a product's similar items, the model registry
and training rounds.

Reading needs the recommendations:read scope (staff sessions: the viewer role). Promoting a model
run, rolling back and starting a training round are staff-only (admin role: "manage models"),
never open to partner tokens, and need the session's CSRF token like every staff write."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import APIException, NotFound, ValidationError
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.reverse import reverse
from rest_framework.views import APIView

from ecomsite.api.permissions import HasScope, RoleRequired
from ecomsite.models import Scope
from ecomsite.roles import Role
from recommendations import selectors
from recommendations.models import ModelPromotion, ModelRun, TrainingRun
from recommendations.services.precompute import model_run_promote_start
from recommendations.services.registry import model_roll_back
from recommendations.services.training import training_run_start

# -- serializers --------------------------------------------------------------------------------


class RecommendationsQuerySerializer(serializers.Serializer):
    k = serializers.IntegerField(
        min_value=1,
        max_value=selectors.MAX_K,
        default=selectors.DEFAULT_K,
        help_text=f"How many products (1–{selectors.MAX_K})",
    )
    exclude_purchased = serializers.BooleanField(
        default=False, help_text="Leave out products the customer has ever bought"
    )
    category = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        max_length=100,
        help_text="Only products of this category (new products reach customers this way)",
    )


class SimilarQuerySerializer(serializers.Serializer):
    k = serializers.IntegerField(
        min_value=1,
        max_value=selectors.MAX_K,
        default=selectors.DEFAULT_K,
        help_text=f"How many products (1–{selectors.MAX_K})",
    )


class RecommendedProductSerializer(serializers.Serializer):
    product_id = serializers.CharField(help_text="The product's id as imported (SKU)")
    title = serializers.CharField()
    category = serializers.CharField()
    price = serializers.FloatField(allow_null=True)
    score = serializers.FloatField(help_text="Higher is better; comparable within one source")
    reason = serializers.CharField(help_text="Why, in plain words")
    source = serializers.ChoiceField(
        choices=selectors.SOURCES,
        help_text="model: the customer's own list; fallback: a popular list filling it up",
    )


class ModelRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    algorithm = serializers.CharField()


class CustomerRecommendationsSerializer(serializers.Serializer):
    customer_id = serializers.CharField()
    customer_known = serializers.BooleanField(
        help_text="False: no customer has this id, so every item is a fallback"
    )
    basis = serializers.ChoiceField(
        choices=[selectors.KNOWN, selectors.NEW, selectors.UNKNOWN],
        help_text="Whether the serving model has a list for the customer",
    )
    model = ModelRefSerializer(help_text="The serving model run")
    count = serializers.IntegerField()
    results = RecommendedProductSerializer(many=True)


class SimilarProductsSerializer(serializers.Serializer):
    product_id = serializers.CharField()
    title = serializers.CharField()
    model = ModelRefSerializer()
    count = serializers.IntegerField()
    results = RecommendedProductSerializer(many=True)


class ModelRunSerializer(serializers.ModelSerializer):
    url = serializers.HyperlinkedIdentityField(view_name="api:model-detail")
    serving = serializers.SerializerMethodField(help_text="Whether this run serves now")
    summary = serializers.SerializerMethodField(
        help_text="Test-period figures at k=10 on all items and on items new to the customer"
    )

    class Meta:
        model = ModelRun
        fields = [
            "id",
            "url",
            "algorithm",
            "status",
            "serving",
            "summary",
            "params",
            "metrics",
            "tuning",
            "cutoff",
            "train_seconds",
            "customers",
            "products",
            "precomputed",
            "training_run",
            "cleaning_run",
            "progress",
            "progress_message",
            "error",
            "created_at",
            "started_at",
            "finished_at",
        ]

    def get_serving(self, run: ModelRun) -> bool:
        return bool(run.pk == self.context.get("serving_id"))

    def get_summary(self, run: ModelRun) -> dict[str, dict[str, float]]:
        return {
            view: selectors.metrics_view(run.metrics, view)
            for view in (selectors.ALL_ITEMS, selectors.NEW_ITEMS)
        }


class PromotionSerializer(serializers.ModelSerializer):
    created_by = serializers.CharField(source="created_by.get_username", default=None)

    class Meta:
        model = ModelPromotion
        fields = ["id", "model_run", "previous", "automatic", "reason", "created_by", "created_at"]


class PromotionQueuedSerializer(serializers.Serializer):
    detail = serializers.CharField()
    model_run = serializers.IntegerField()


class TrainingRunSerializer(serializers.ModelSerializer):
    url = serializers.HyperlinkedIdentityField(view_name="api:training-run-detail")
    created_by = serializers.CharField(source="created_by.get_username", default=None)
    model_runs = serializers.PrimaryKeyRelatedField(many=True, read_only=True)

    class Meta:
        model = TrainingRun
        fields = [
            "id",
            "url",
            "status",
            "progress",
            "progress_message",
            "params",
            "metrics",
            "error",
            "model_runs",
            "cleaning_run",
            "created_by",
            "created_at",
            "started_at",
            "finished_at",
        ]


# -- views --------------------------------------------------------------------------------------


class ServingUnavailable(APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_code = "no_serving_model"


def _items(items: list[selectors.RecommendedProduct]) -> list[dict[str, Any]]:
    # vars(): the fields are flat, and dataclasses.asdict's deep copy was a tenth of a request
    return [dict(vars(item)) for item in items]


class CustomerRecommendationsApi(APIView):
    """Products for one customer, best first, from the serving model; topped up from popular
    lists (their segment's, country's, trending, all-time) when the model has too few."""

    permission_classes = [HasScope]
    required_scope = Scope.RECOMMENDATIONS_READ

    @extend_schema(
        operation_id="customer_recommendations",
        parameters=[RecommendationsQuerySerializer],
        responses={
            200: CustomerRecommendationsSerializer,
            503: OpenApiResponse(description="No model has been promoted yet"),
        },
        description=(
            "An unknown customer id is not an error: the answer says `customer_known: false` and "
            "every item is a fallback (`source` says which). Inactive products are never returned."
        ),
    )
    def get(self, request: Request, external_id: str) -> Response:
        query = RecommendationsQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        try:
            found = selectors.customer_recommendations(external_id, **query.validated_data)
        except selectors.NoServingModel as exc:
            raise ServingUnavailable(str(exc)) from exc
        return Response(
            {
                "customer_id": found.customer_id,
                "customer_known": found.customer_known,
                "basis": found.basis,
                "model": {"id": found.model_run_id, "algorithm": found.algorithm},
                "count": len(found.items),
                "results": _items(found.items),
            }
        )


class SimilarProductsApi(APIView):
    """Products similar to one product in the serving model (bought by the same customers);
    for products the model has no rows for, popular products of the same category."""

    permission_classes = [HasScope]
    required_scope = Scope.RECOMMENDATIONS_READ

    @extend_schema(
        operation_id="product_similar",
        parameters=[SimilarQuerySerializer],
        responses={
            200: SimilarProductsSerializer,
            404: OpenApiResponse(description="No product has this id"),
            503: OpenApiResponse(description="No model has been promoted yet"),
        },
    )
    def get(self, request: Request, external_id: str) -> Response:
        query = SimilarQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        try:
            found = selectors.similar_products(external_id, k=query.validated_data["k"])
        except selectors.UnknownProduct as exc:
            raise NotFound(str(exc)) from exc
        except selectors.NoServingModel as exc:
            raise ServingUnavailable(str(exc)) from exc
        return Response(
            {
                "product_id": found.product_id,
                "title": found.title,
                "model": {"id": found.model_run_id, "algorithm": found.algorithm},
                "count": len(found.items),
                "results": _items(found.items),
            }
        )


class ModelRunApi(viewsets.ReadOnlyModelViewSet):
    """Model runs (one algorithm with its hyperparameters each) with their test metrics and
    whether they serve. Staff admins promote a run or roll back to the previous serving one."""

    serializer_class = ModelRunSerializer
    required_scope = Scope.RECOMMENDATIONS_READ
    required_role = Role.ADMIN
    lookup_value_regex = "[0-9]+"

    def get_permissions(self) -> list[BasePermission]:
        if self.action in ("promote", "rollback"):
            return [RoleRequired()]
        return [HasScope()]

    def get_queryset(self) -> QuerySet[ModelRun]:
        return selectors.model_runs()

    def get_serializer_context(self) -> dict[str, Any]:
        return {**super().get_serializer_context(), "serving_id": selectors.serving_model_id()}

    @extend_schema(
        request=None,
        responses={200: PromotionSerializer, 202: PromotionQueuedSerializer},
    )
    @action(detail=True, methods=["post"])
    def promote(self, request: Request, pk: str) -> Response:
        """Make this run the serving model: at once (200) when its recommendations are
        precomputed, else after a background task has precomputed them (202). 400 for a run
        without a fitted model."""
        run = self.get_object()
        promotion = model_run_promote_start(run, created_by=request.user)  # type: ignore[arg-type]
        if promotion is None:
            detail = (
                f"Precomputing the recommendations of {run.algorithm} #{run.pk}; "
                "it serves once they are written."
            )
            return Response(
                {"detail": detail, "model_run": run.pk}, status=status.HTTP_202_ACCEPTED
            )
        return Response(PromotionSerializer(promotion).data)

    @extend_schema(request=None, responses={200: PromotionSerializer})
    @action(detail=False, methods=["post"])
    def rollback(self, request: Request) -> Response:
        """Serve the model that served before the current one again (409 if there is none)."""
        promotion = model_roll_back(created_by=request.user)  # type: ignore[arg-type]
        return Response(PromotionSerializer(promotion).data)


class TrainingRunApi(mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    """Training rounds (tune, evaluate and refit every algorithm; promote the winner if it beats
    the serving model) with their progress. Staff admins start one with POST ("retrain now",
    202); one runs at a time (409 while another is in progress)."""

    serializer_class = TrainingRunSerializer
    required_scope = Scope.RECOMMENDATIONS_READ
    required_role = Role.ADMIN
    lookup_value_regex = "[0-9]+"

    def get_permissions(self) -> list[BasePermission]:
        return [RoleRequired()] if self.action == "create" else [HasScope()]

    def get_queryset(self) -> QuerySet[TrainingRun]:
        return selectors.training_runs()

    @extend_schema(
        request=inline_serializer(
            "TrainingRunStart", {"deep": serializers.BooleanField(default=False)}
        ),
        responses={202: TrainingRunSerializer},
    )
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Start a round: the nightly CF family, or ``{"deep": true}`` the deep models."""
        deep = request.data.get("deep", False) if hasattr(request.data, "get") else False
        if not isinstance(deep, bool):
            raise ValidationError({"deep": ["Must be true or false."]})
        run = training_run_start(created_by=request.user, deep=deep)  # type: ignore[arg-type]
        data = TrainingRunSerializer(run, context={"request": request}).data
        location = reverse("api:training-run-detail", args=[run.pk], request=request)
        return Response(data, status=status.HTTP_202_ACCEPTED, headers={"Location": location})
