"""API v1 for segments, data-quality reports and pipeline runs.

Reading needs the segments:read scope (data-quality reports: events:read, as they quote events);
staff sessions need the viewer role. Creating, changing or retiring rule segments and starting
the pipeline are staff-only (editor role), never open to partner tokens."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
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

from ecomsite.api.permissions import HasScope, RoleRequired
from ecomsite.models import CleaningRun, Scope
from ecomsite.roles import Role
from segments import selectors
from segments.engine.rules import RuleError
from segments.models import PipelineRun, PipelineTrigger, Segment, SegmentationRun, SegmentKind
from segments.services.pipeline import pipeline_start
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
