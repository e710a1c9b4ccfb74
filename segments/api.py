"""API v1 for segments, data-quality reports, pipeline runs and predictive scores.

Reading needs the segments:read scope (data-quality reports: events:read, as they quote events;
prediction runs and customer scores: predictions:read); staff sessions need the viewer role.
Creating, changing or retiring rule segments and starting the pipeline are staff-only (editor
role), never open to partner tokens.

The customer detail (``CustomerApi``, registered for /customers/ in ecomsite/api/urls.py) is the
shop data's own endpoint with the customer's scores added here: segments builds on ecomsite, not
the reverse."""

from __future__ import annotations

from typing import Any

from django.db.models import F, QuerySet
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import PageNumberPagination
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.reverse import reverse
from rest_framework.views import APIView

from ecomsite.api import views as ecomsite_api
from ecomsite.api.permissions import HasScope, RoleRequired
from ecomsite.api.serializers import CustomerOutputSerializer
from ecomsite.models import CleaningRun, Customer, Scope
from ecomsite.roles import Role
from segments import selectors
from segments.engine.rules import RuleError
from segments.models import (
    CustomerScore,
    PipelineRun,
    PipelineTrigger,
    PredictionRun,
    Segment,
    SegmentationRun,
    SegmentKind,
)
from segments.services.pipeline import pipeline_start
from segments.services.predictions import INTERVAL_SCORES
from segments.services.rules import (
    rule_segment_create,
    rule_segment_deactivate,
    rule_segment_update,
)

# -- serializers --------------------------------------------------------------------------------


class SegmentSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="segment.pk")
    kind = serializers.CharField(source="segment.kind")
    name = serializers.CharField(source="segment.name")
    description = serializers.CharField(source="segment.description")
    definition = serializers.JSONField(source="segment.definition")
    is_active = serializers.BooleanField(source="segment.is_active")
    size = serializers.IntegerField()
    share = serializers.FloatField(help_text="Of the customers scored in the run")
    change = serializers.IntegerField(allow_null=True, help_text="Since the run before")
    trend = serializers.ListField(
        child=serializers.IntegerField(), help_text="Sizes over recent runs, oldest first"
    )


class RuleSegmentInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=120)
    description = serializers.CharField(required=False, allow_blank=True, default="")
    definition = serializers.JSONField(help_text="A rule tree: see the README's rule segments")
    is_active = serializers.BooleanField(required=False, default=True)


class RulePreviewInputSerializer(serializers.Serializer):
    definition = serializers.JSONField()
    exclude_segment = serializers.CharField(required=False, allow_blank=True, default="")


class RulePreviewSerializer(serializers.Serializer):
    description = serializers.CharField()
    size = serializers.IntegerField()
    population = serializers.IntegerField()
    share = serializers.FloatField()
    sample = serializers.ListField(child=serializers.CharField(), help_text="Customer ids")


class MemberSerializer(serializers.Serializer):
    customer_id = serializers.CharField(source="external_id")
    country = serializers.CharField()
    features = serializers.DictField(allow_null=True)


class CleaningReportSerializer(serializers.ModelSerializer):
    class Meta:
        model = CleaningRun
        fields = [
            "id",
            "status",
            "data_version",
            "events_seen",
            "report",
            "metrics",
            "error",
            "created_at",
            "started_at",
            "finished_at",
        ]


class PipelineRunSerializer(serializers.ModelSerializer):
    url = serializers.HyperlinkedIdentityField(view_name="api:pipeline-run-detail")
    created_by = serializers.CharField(source="created_by.get_username", default=None)
    steps = serializers.SerializerMethodField()

    class Meta:
        model = PipelineRun
        fields = [
            "id",
            "url",
            "trigger",
            "status",
            "skipped",
            "progress",
            "progress_message",
            "error",
            "steps",
            "created_by",
            "created_at",
            "started_at",
            "finished_at",
        ]

    def get_steps(self, run: PipelineRun) -> list[dict[str, Any]]:
        steps: list[dict[str, Any]] = []
        for name, step in (
            ("clean", run.cleaning_run),
            ("features", run.feature_run),
            ("predict", run.prediction_run),
            ("segment", run.segmentation_run),
            ("train", run.training_run),
        ):
            if step is None:
                steps.append({"step": name, "run": None, "status": "not started"})
                continue
            steps.append(
                {
                    "step": name,
                    "run": step.pk,
                    "status": step.status,
                    "progress": step.progress,
                    "message": step.progress_message,
                    "seconds": (step.metrics or {}).get("seconds"),
                    "error": step.error,
                }
            )
        return steps


class PipelineStartSerializer(serializers.Serializer):
    force = serializers.BooleanField(
        required=False, default=False, help_text="Run even when no event arrived since last time"
    )


# -- views --------------------------------------------------------------------------------------


class MemberPagination(PageNumberPagination):
    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 1_000


def _run(request: Request) -> SegmentationRun:
    """The segmentation run named by ?run=, or the one in use."""
    raw = request.query_params.get("run")
    if raw:
        if not raw.isdigit():
            raise ValidationError({"run": ["A segmentation run id."]})
        return get_object_or_404(
            SegmentationRun.objects.select_related("feature_run"), pk=int(raw), status="succeeded"
        )
    run = selectors.segmentation_current()
    if run is None:
        raise NotFound("No segmentation has run yet: start the pipeline first.")
    return run


class SegmentApi(viewsets.ViewSet):
    """Segments with sizes in the run in use (or ?run=), members, profile, RFM grid, movements.
    Staff editors create, change and retire rule segments."""

    read_actions = {"list", "retrieve", "members", "profile", "movements", "rfm_grid", "preview"}
    required_scope = Scope.SEGMENTS_READ
    required_role = Role.EDITOR

    def get_permissions(self) -> list[BasePermission]:
        if self.action in self.read_actions:
            return [HasScope()]
        return [RoleRequired()]

    def _segment(self, pk: str) -> Segment:
        if not str(pk).isdigit():
            raise NotFound()
        return get_object_or_404(Segment, pk=int(pk))

    def _row(self, segment: Segment, run: SegmentationRun) -> selectors.SegmentRow:
        rows = selectors.segment_rows(run, include_inactive=True)
        return next(row for row in rows if row.segment.pk == segment.pk)

    @extend_schema(
        parameters=[
            OpenApiParameter("kind", str, enum=[k.value for k in SegmentKind]),
            OpenApiParameter("run", int, description="Segmentation run (default: in use)"),
        ],
        responses=SegmentSerializer(many=True),
    )
    def list(self, request: Request) -> Response:
        kind = request.query_params.get("kind", "")
        if kind and kind not in SegmentKind.values:
            raise ValidationError({"kind": [f"One of {', '.join(SegmentKind.values)}."]})
        run = _run(request)
        rows = selectors.segment_rows(run, kind=kind)
        return Response(
            {"run": run.pk, "results": SegmentSerializer(rows, many=True).data},
        )

    @extend_schema(responses=SegmentSerializer)
    def retrieve(self, request: Request, pk: str) -> Response:
        segment = self._segment(pk)
        run = _run(request)
        data = dict(SegmentSerializer(self._row(segment, run)).data)
        data["run"] = run.pk
        data["history"] = selectors.segment_history(segment)
        return Response(data)

    @extend_schema(request=RuleSegmentInputSerializer, responses={201: SegmentSerializer})
    def create(self, request: Request) -> Response:
        payload = RuleSegmentInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        segment = rule_segment_create(
            name=payload.validated_data["name"],
            definition=payload.validated_data["definition"],
            description=payload.validated_data["description"],
            created_by=request.user,  # type: ignore[arg-type]
        )
        return self._saved(request, segment, status.HTTP_201_CREATED)

    @extend_schema(request=RuleSegmentInputSerializer, responses=SegmentSerializer)
    def update(self, request: Request, pk: str) -> Response:
        segment = self._segment(pk)
        payload = RuleSegmentInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        rule_segment_update(segment, **payload.validated_data)
        return self._saved(request, segment, status.HTTP_200_OK)

    @extend_schema(responses={204: None})
    def destroy(self, request: Request, pk: str) -> Response:
        """Retire a rule segment: later runs skip it, earlier memberships stay."""
        rule_segment_deactivate(self._segment(pk))
        return Response(status=status.HTTP_204_NO_CONTENT)

    def _saved(self, request: Request, segment: Segment, code: int) -> Response:
        run = selectors.segmentation_current()
        if run is None:
            row = selectors.SegmentRow(segment, 0, 0.0, None, [])
        else:
            row = self._row(segment, run)
        location = reverse("api:segment-detail", args=[segment.pk], request=request)
        return Response(SegmentSerializer(row).data, status=code, headers={"Location": location})

    @extend_schema(
        parameters=[OpenApiParameter("run", int), OpenApiParameter("page_size", int)],
        responses=MemberSerializer(many=True),
    )
    @action(detail=True)
    def members(self, request: Request, pk: str) -> Response:
        segment = self._segment(pk)
        run = _run(request)
        paginator = MemberPagination()
        page = paginator.paginate_queryset(selectors.segment_members(segment, run), request, self)
        assert page is not None
        features = selectors.member_features(run, [c.pk for c in page])
        rows = [
            {"external_id": c.external_id, "country": c.country, "features": features.get(c.pk)}
            for c in page
        ]
        return paginator.get_paginated_response(MemberSerializer(rows, many=True).data)

    @extend_schema(parameters=[OpenApiParameter("run", int)], responses={200: dict})
    @action(detail=True)
    def profile(self, request: Request, pk: str) -> Response:
        """Members against everyone scored: feature medians/means, category, country and RFM
        mix (shares 0–1)."""
        segment = self._segment(pk)
        run = _run(request)
        return Response({"run": run.pk, **selectors.segment_profile(segment, run).as_dict()})

    @extend_schema(
        parameters=[
            OpenApiParameter("kind", str, enum=[SegmentKind.RFM, SegmentKind.CLUSTER]),
            OpenApiParameter("from_run", int, description="Default: the run before to_run"),
            OpenApiParameter("to_run", int, description="Default: the run in use"),
        ],
        responses={200: dict},
    )
    @action(detail=False)
    def movements(self, request: Request) -> Response:
        """How many customers moved from each segment to each other between two runs."""
        params = request.query_params
        kind = params.get("kind", SegmentKind.RFM)
        if kind not in (SegmentKind.RFM, SegmentKind.CLUSTER):
            raise ValidationError({"kind": ["rfm or cluster."]})
        target = _succeeded_run(params.get("to_run")) or selectors.segmentation_current()
        if target is None:
            raise NotFound("No segmentation has run yet.")
        source = _succeeded_run(params.get("from_run")) or selectors.segmentation_previous(target)
        if source is None:
            raise NotFound("Movements need two segmentation runs; only one has run so far.")
        return Response(selectors.segment_movements(source, target, kind=kind).as_dict())

    @extend_schema(parameters=[OpenApiParameter("run", int)], responses={200: dict})
    @action(detail=False, url_path="rfm-grid")
    def rfm_grid(self, request: Request) -> Response:
        """Customers per (R, FM) cell with the cell's segment and mean revenue."""
        run = _run(request)
        return Response({"run": run.pk, **selectors.rfm_grid(run)})

    @extend_schema(request=RulePreviewInputSerializer, responses=RulePreviewSerializer)
    @action(detail=False, methods=["post"])
    def preview(self, request: Request) -> Response:
        """Size of a rule on the run in use, without saving it."""
        payload = RulePreviewInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        run = _run(request)
        try:
            preview = selectors.rule_preview(
                payload.validated_data["definition"],
                run,
                exclude_segment=payload.validated_data["exclude_segment"],
            )
        except RuleError as exc:
            raise ValidationError({"definition": [str(exc)]}) from exc
        return Response(
            {
                "description": preview.description,
                "size": preview.size,
                "population": preview.population,
                "share": preview.share,
                "sample": [c.external_id for c in preview.sample],
            }
        )


def _succeeded_run(raw: str | None) -> SegmentationRun | None:
    if not raw:
        return None
    if not raw.isdigit():
        raise ValidationError({"run": ["A segmentation run id."]})
    return get_object_or_404(SegmentationRun, pk=int(raw), status="succeeded")


class QualityReportApi(viewsets.ReadOnlyModelViewSet):
    """The data-quality report of each cleaning run: rows and revenue per rule, examples,
    before/after totals."""

    permission_classes = [HasScope]
    required_scope = Scope.EVENTS_READ
    serializer_class = CleaningReportSerializer

    def get_queryset(self) -> QuerySet[CleaningRun]:
        return selectors.cleaning_runs()


class PipelineRunApi(mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    """Pipeline runs (clean → features → predict → segment → train) with each step's status.
    Staff editors start one with POST (202); a run with no new data since the last is recorded
    as skipped."""

    serializer_class = PipelineRunSerializer
    required_scope = Scope.SEGMENTS_READ
    required_role = Role.EDITOR

    def get_permissions(self) -> list[BasePermission]:
        return [RoleRequired()] if self.action == "create" else [HasScope()]

    def get_queryset(self) -> QuerySet[PipelineRun]:
        return selectors.pipeline_runs()

    @extend_schema(request=PipelineStartSerializer, responses={202: PipelineRunSerializer})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        payload = PipelineStartSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        run = pipeline_start(
            trigger=PipelineTrigger.API,
            created_by=request.user,  # type: ignore[arg-type]
            force=payload.validated_data["force"],
        )
        data = PipelineRunSerializer(run, context={"request": request}).data
        location = reverse("api:pipeline-run-detail", args=[run.pk], request=request)
        return Response(data, status=status.HTTP_202_ACCEPTED, headers={"Location": location})


# -- predictive scores --------------------------------------------------------------------------

SCORE_ORDERING = ("clv", "churn_risk", "expected_orders", "p_alive")
SCORE_FLAGS = ("no_repeat", "short_history", "sufficient")


class IntervalSerializer(serializers.Serializer):
    value = serializers.FloatField(allow_null=True, help_text="The expected value")
    lo = serializers.FloatField(allow_null=True, help_text="Lower bound of its interval")
    hi = serializers.FloatField(allow_null=True, help_text="Upper bound of its interval")


class PredictiveIntervalSerializer(serializers.Serializer):
    lo = serializers.FloatField(allow_null=True)
    hi = serializers.FloatField(allow_null=True)


class OrdersIntervalSerializer(serializers.Serializer):
    lo = serializers.IntegerField(allow_null=True)
    hi = serializers.IntegerField(allow_null=True)


class ScoreFlagsSerializer(serializers.Serializer):
    no_repeat = serializers.BooleanField(
        help_text="No repeat order yet: the purchase rate rests on the population prior"
    )
    short_history = serializers.BooleanField(help_text="First order too recent to judge")
    sufficient = serializers.BooleanField(
        help_text="The fit is trusted and the history long enough"
    )


class ScoreValuesSerializer(serializers.Serializer):
    """One customer's scores over the run's horizon; each interval is the run's `level` (80%)
    interval of the expected value (bootstrap over customers)."""

    expected_orders = IntervalSerializer(help_text="Expected orders over the horizon")
    clv = IntervalSerializer(help_text="Expected revenue over the horizon (shop currency)")
    expected_order_value = IntervalSerializer(help_text="Expected value of an order")
    p_alive = IntervalSerializer(help_text="Probability the customer has not lapsed for good")
    churn_risk = IntervalSerializer(help_text="Probability of no order within the horizon")
    next_order_days = IntervalSerializer(
        help_text="Median days from as_of to the next order, if still active"
    )
    next_order_date = serializers.DateTimeField(allow_null=True, help_text="as_of + that median")
    orders_pred = OrdersIntervalSerializer(
        help_text="Predictive interval of the orders actually placed in the horizon (whole "
        "numbers; carries the purchase process's own randomness)"
    )
    revenue_pred = PredictiveIntervalSerializer(
        help_text="Predictive interval of the revenue actually spent in the horizon"
    )
    flags = ScoreFlagsSerializer()


class _ScoreRunFields(serializers.Serializer):
    run = serializers.IntegerField(help_text="Prediction run")
    as_of = serializers.DateTimeField(allow_null=True, help_text="Predictions start here")
    horizon_days = serializers.IntegerField()
    level = serializers.FloatField(help_text="Coverage of the intervals (0.8 = 80%)")


class CustomerScoresSerializer(_ScoreRunFields, ScoreValuesSerializer):
    pass


class _ScoreCustomerFields(serializers.Serializer):
    customer_id = serializers.CharField(help_text="The customer's id as imported")


class ScoreRowSerializer(_ScoreCustomerFields, ScoreValuesSerializer):
    pass


class CustomerDetailSerializer(CustomerOutputSerializer):
    scores = CustomerScoresSerializer(
        allow_null=True,
        required=False,
        read_only=True,
        help_text="The customer's predictive scores in the prediction run in use; null when "
        "the customer has none (no purchase before as_of, or no run yet). Only for callers who "
        "may read predictions (predictions:read, or a staff session): absent for the others.",
    )

    class Meta(CustomerOutputSerializer.Meta):
        fields = [*CustomerOutputSerializer.Meta.fields, "scores"]


def _level(run: PredictionRun) -> float:
    return float((run.metrics or {}).get("level", 0.8))


def score_values(score: CustomerScore) -> dict[str, Any]:
    """A CustomerScore in ScoreValuesSerializer's shape."""
    values: dict[str, Any] = {
        name: {
            "value": getattr(score, name),
            "lo": getattr(score, f"{name}_lo"),
            "hi": getattr(score, f"{name}_hi"),
        }
        for name in INTERVAL_SCORES
    }
    values["next_order_date"] = score.next_order_date
    values["orders_pred"] = {"lo": score.orders_pred_lo, "hi": score.orders_pred_hi}
    values["revenue_pred"] = {"lo": score.revenue_pred_lo, "hi": score.revenue_pred_hi}
    values["flags"] = {flag: getattr(score, flag) for flag in SCORE_FLAGS}
    return values


def score_run_values(run: PredictionRun) -> dict[str, Any]:
    return {
        "run": run.pk,
        "as_of": run.as_of,
        "horizon_days": run.horizon_days,
        "level": _level(run),
    }


class _PredictionsRead(APIView):
    """Stands for "an endpoint needing predictions:read" when one response holds parts of
    several scopes (HasScope reads the scope from the view)."""

    required_scope = Scope.PREDICTIONS_READ


def may_read_predictions(request: Request) -> bool:
    return HasScope().has_permission(request, _PredictionsRead())


class CustomerApi(ecomsite_api.CustomerApi):
    """Customers (catalog:read). The detail also carries the customer's predictive scores in
    the prediction run in use, for callers who may read predictions."""

    @extend_schema(responses=CustomerDetailSerializer)
    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        customer = self.get_object()
        data = dict(self.get_serializer(customer).data)
        if may_read_predictions(request):
            data["scores"] = _customer_scores(customer)
        return Response(data)


def _customer_scores(customer: Customer) -> dict[str, Any] | None:
    run = selectors.prediction_current()
    score = selectors.customer_score(customer, run) if run is not None else None
    if run is None or score is None:
        return None
    return dict(CustomerScoresSerializer({**score_run_values(run), **score_values(score)}).data)


class PredictionRunSerializer(serializers.ModelSerializer):
    url = serializers.HyperlinkedIdentityField(view_name="api:prediction-detail")
    scores_url = serializers.HyperlinkedIdentityField(view_name="api:prediction-scores")
    in_use = serializers.SerializerMethodField(
        help_text="The run whose scores the customer API, rule segments and campaigns read"
    )

    class Meta:
        model = PredictionRun
        fields = [
            "id",
            "url",
            "scores_url",
            "status",
            "progress",
            "progress_message",
            "error",
            "in_use",
            "feature_run",
            "as_of",
            "horizon_days",
            "customers",
            "sufficient",
            "created_at",
            "started_at",
            "finished_at",
        ]

    def get_in_use(self, run: PredictionRun) -> bool:
        return run.pk == self.context.get("current_id")


class PredictionRunDetailSerializer(PredictionRunSerializer):
    """A run with what it measured: the fit report (parameters, repeat buyers, calibration
    days, convergence, the sufficiency verdict and its reasons), the backtest (fitted on an
    earlier cut, scored on the following horizon beside the naive baseline: metrics, totals,
    deciles) and a histogram per score. Empty objects until the run has succeeded."""

    model = serializers.SerializerMethodField(help_text="mbgnbd or bgnbd (+ Gamma-Gamma)")
    level = serializers.SerializerMethodField(help_text="Coverage of the intervals")
    bootstrap = serializers.SerializerMethodField(help_text="Bootstrap replicates")
    seconds = serializers.SerializerMethodField()
    fit = serializers.SerializerMethodField(
        help_text="bgnbd {r, alpha, a, b}, gamma_gamma {p, q, gamma, ...}, customers, "
        "repeat_buyers, calibration_days, converged, sufficient, reasons"
    )
    backtest = serializers.SerializerMethodField(
        help_text="calibration_end, holdout_days, customers, sufficient, reasons, metrics "
        "(model and baseline), totals, deciles; or {skipped: why}"
    )
    distributions = serializers.SerializerMethodField(
        help_text="Per score: histogram edges and counts, median, mean"
    )

    class Meta(PredictionRunSerializer.Meta):
        fields = [
            *PredictionRunSerializer.Meta.fields,
            "model",
            "level",
            "bootstrap",
            "seconds",
            "fit",
            "backtest",
            "distributions",
        ]

    def get_model(self, run: PredictionRun) -> str | None:
        return (run.metrics or {}).get("model")

    def get_level(self, run: PredictionRun) -> float | None:
        return (run.metrics or {}).get("level")

    def get_bootstrap(self, run: PredictionRun) -> int | None:
        return (run.metrics or {}).get("bootstrap")

    def get_seconds(self, run: PredictionRun) -> float | None:
        return (run.metrics or {}).get("seconds")

    def get_fit(self, run: PredictionRun) -> dict[str, Any]:
        return dict((run.metrics or {}).get("fit") or {})

    def get_backtest(self, run: PredictionRun) -> dict[str, Any]:
        return dict((run.metrics or {}).get("backtest") or {})

    def get_distributions(self, run: PredictionRun) -> dict[str, Any]:
        return dict((run.metrics or {}).get("distributions") or {})


class ScoreQuerySerializer(serializers.Serializer):
    """Filters and ordering of a run's scores (all optional, combined with AND)."""

    clv__gte = serializers.FloatField(required=False)
    clv__lte = serializers.FloatField(required=False)
    churn_risk__gte = serializers.FloatField(required=False)
    churn_risk__lte = serializers.FloatField(required=False)
    expected_orders__gte = serializers.FloatField(required=False)
    expected_orders__lte = serializers.FloatField(required=False)
    p_alive__gte = serializers.FloatField(required=False)
    p_alive__lte = serializers.FloatField(required=False)
    expected_order_value__gte = serializers.FloatField(required=False)
    expected_order_value__lte = serializers.FloatField(required=False)
    next_order_days__gte = serializers.FloatField(required=False)
    next_order_days__lte = serializers.FloatField(required=False)
    sufficient = serializers.BooleanField(required=False)
    no_repeat = serializers.BooleanField(required=False)
    short_history = serializers.BooleanField(required=False)
    customer_id = serializers.CharField(required=False, help_text="One customer's scores")
    ordering = serializers.ChoiceField(
        choices=[*SCORE_ORDERING, *(f"-{name}" for name in SCORE_ORDERING)],
        required=False,
        help_text="A score, ascending; with '-' descending (customers without the score last). "
        "Default: by customer.",
    )


class ScorePagination(PageNumberPagination):
    """Pages of a run's scores, headed by the run they come from (`run`, set by the view)."""

    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 1_000
    run: dict[str, Any] | None = None

    def get_paginated_response(self, data: Any) -> Response:
        response = super().get_paginated_response(data)
        response.data = {"run": self.run, **response.data}
        return response

    def get_paginated_response_schema(self, schema: dict[str, Any]) -> dict[str, Any]:
        paginated = super().get_paginated_response_schema(schema)
        run = {
            "type": "object",
            "description": "The prediction run: run (id), as_of, horizon_days, level",
            "properties": {
                "run": {"type": "integer"},
                "as_of": {"type": "string", "format": "date-time", "nullable": True},
                "horizon_days": {"type": "integer"},
                "level": {"type": "number"},
            },
        }
        paginated["properties"] = {"run": run, **paginated["properties"]}
        paginated["required"] = ["run", *paginated.get("required", [])]
        return paginated


def prediction_scores(run: PredictionRun, query: dict[str, Any]) -> QuerySet[CustomerScore]:
    """The run's scores matching ScoreQuerySerializer's validated `query`, in its ordering (ties
    and the default: by customer)."""
    scores = CustomerScore.objects.filter(run=run).select_related("customer")
    for key, value in query.items():
        if key == "ordering":
            continue
        scores = scores.filter(**{"customer__external_id" if key == "customer_id" else key: value})
    ordering = query.get("ordering", "")
    if not ordering:
        return scores.order_by("customer_id")
    name = ordering.removeprefix("-")
    column = (
        F(name).desc(nulls_last=True) if ordering.startswith("-") else F(name).asc(nulls_last=True)
    )
    return scores.order_by(column, "customer_id")


class PredictionRunApi(viewsets.ReadOnlyModelViewSet):
    """Prediction runs, newest first, with their status; a run's fit report, backtest and score
    histograms; its customers' scores with intervals, filtered and ordered. `current` is the
    run in use (the current segmentation's)."""

    permission_classes = [HasScope]
    required_scope = Scope.PREDICTIONS_READ

    def get_queryset(self) -> QuerySet[PredictionRun]:
        return PredictionRun.objects.order_by("-created_at", "-pk")

    def get_serializer_class(self) -> type[serializers.BaseSerializer]:
        if self.action in ("retrieve", "current"):
            return PredictionRunDetailSerializer
        return PredictionRunSerializer

    def get_serializer_context(self) -> dict[str, Any]:
        current = selectors.prediction_current()
        return {**super().get_serializer_context(), "current_id": current and current.pk}

    def _current(self) -> PredictionRun:
        run = selectors.prediction_current()
        if run is None:
            raise NotFound("No prediction run has succeeded yet: start the pipeline first.")
        return run

    @extend_schema(description="Prediction runs, newest first (all statuses).")
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)

    @extend_schema(
        description="A run with its fit report, backtest and score histograms (empty until it "
        "has succeeded)."
    )
    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().retrieve(request, *args, **kwargs)

    @extend_schema(
        responses=PredictionRunDetailSerializer,
        description="The run in use: the current segmentation's (rule segments and campaigns "
        "read its scores), else the newest that succeeded. 404 before any.",
    )
    @action(detail=False)
    def current(self, request: Request) -> Response:
        return Response(self.get_serializer(self._current()).data)

    @extend_schema(
        parameters=[ScoreQuerySerializer, OpenApiParameter("page_size", int)],
        responses=ScoreRowSerializer(many=True),
        description="The run's customer scores with their intervals, filtered (AND) and "
        "ordered; paginated, `page_size` up to 1,000. Unknown parameters are a 400.",
    )
    @action(detail=True, pagination_class=ScorePagination)
    def scores(self, request: Request, pk: str) -> Response:
        return self._scores(request, self.get_object())

    @extend_schema(
        operation_id="predictions_current_scores",
        parameters=[ScoreQuerySerializer, OpenApiParameter("page_size", int)],
        responses=ScoreRowSerializer(many=True),
        description="The scores of the run in use (as /predictions/{id}/scores/).",
    )
    @action(
        detail=False,
        url_path="current/scores",
        url_name="current-scores",
        pagination_class=ScorePagination,
    )
    def current_scores(self, request: Request) -> Response:
        return self._scores(request, self._current())

    def _scores(self, request: Request, run: PredictionRun) -> Response:
        params = request.query_params
        allowed = {*ScoreQuerySerializer().fields, "page", "page_size"}
        unknown = sorted(set(params) - allowed)
        if unknown:
            raise ValidationError({name: ["Unknown parameter."] for name in unknown})
        query = ScoreQuerySerializer(data=params.dict())
        query.is_valid(raise_exception=True)
        page = self.paginate_queryset(prediction_scores(run, dict(query.validated_data)))
        assert page is not None and isinstance(self.paginator, ScorePagination)
        self.paginator.run = dict(_ScoreRunFields(score_run_values(run)).data)
        rows = [{"customer_id": s.customer.external_id, **score_values(s)} for s in page]
        return self.get_paginated_response(ScoreRowSerializer(rows, many=True).data)
