"""Segment pages: list with sizes and trends, RFM grid, movements, detail, rule builder."""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Mapping, Sequence
from functools import cached_property
from typing import Any

from django import forms
from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    JsonResponse,
    StreamingHttpResponse,
)
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.utils.text import slugify
from django.views import View
from django.views.generic import DetailView, FormView, TemplateView
from django.views.generic.detail import SingleObjectMixin

from ecomsite.exceptions import DomainError
from ecomsite.models import RunStatus
from ecomsite.roles import Role
from ecomsite.views.base import RoleRequiredMixin
from segments import selectors
from segments.engine.rules import RuleError, describe_rule
from segments.models import Segment, SegmentationRun, SegmentKind
from segments.services.rules import (
    MAX_NAME,
    SegmentConflict,
    rule_segment_create,
    rule_segment_deactivate,
    rule_segment_update,
)

MEMBERS_PAGE = 50
TOP_MOVES = 15
LIST_MOVES = 5
# The node a RuleError names sits at the start of its message: "$.children[1].child: ...".
RULE_PATH = re.compile(r"^(\$[\w.\[\]]*):\s*")
KIND_TITLES = {
    SegmentKind.RFM: "RFM segments",
    SegmentKind.CLUSTER: "Clusters",
    SegmentKind.RULE: "Rule segments",
}


def _heat(count: int, largest: int) -> float:
    """0–1 colour intensity of a count among its table's cells."""
    return round(count / largest, 3) if largest else 0.0


def _grid_rows(grid: Mapping[str, Any], segment_ids: Mapping[str, int]) -> list[dict[str, Any]]:
    """The RFM grid's cells as rows of recency score (5 first), each cell with its heat and the
    id of its named segment for a link."""
    cells = grid["cells"]
    largest = max((cell["customers"] for cell in cells), default=0)
    rows: dict[int, list[dict[str, Any]]] = {}
    for cell in cells:
        rows.setdefault(cell["r"], []).append(
            {
                **cell,
                "heat": _heat(cell["customers"], largest),
                "segment_id": segment_ids.get(cell["segment"]),
            }
        )
    return [{"r": r, "cells": row} for r, row in rows.items()]


def _movement_matrix(movements: selectors.Movements) -> list[dict[str, Any]]:
    """From (rows, previous run) × to (columns, current run) counts with heat; stayers are on the
    diagonal and do not set the colour scale (they would wash out every move). Nobody comes from
    GONE or goes to OUTSIDE, so those are only a column and only a row."""
    counts = {(a, b): n for a, b, n in movements.flows}
    largest = max((n for a, b, n in movements.flows if a != b), default=0)
    sources = [name for name in movements.segments if name != selectors.GONE]
    targets = [name for name in movements.segments if name != selectors.OUTSIDE]
    rows = []
    for source in sources:
        cells: list[dict[str, Any]] = []
        for target in targets:
            n = counts.get((source, target), 0)
            cells.append(
                {
                    "to": target,
                    "customers": n,
                    "stay": source == target,
                    "heat": 0.0 if source == target else _heat(n, largest),
                }
            )
        rows.append({"from": source, "cells": cells, "total": sum(c["customers"] for c in cells)})
    return rows


def _evaluated_from(segment: Segment, finished: Sequence[Any], sizes: Sequence[int]) -> int:
    """Index of the first run to chart: a rule segment shows 0 in the runs that finished before
    it was created (it did not exist), which would read as growth from nothing."""
    if segment.kind != SegmentKind.RULE:
        return 0
    start = 0
    while (
        start < len(sizes) - 1
        and sizes[start] == 0
        and finished[start] is not None
        and finished[start] < segment.created_at
    ):
        start += 1
    return start


def _trend(row: selectors.SegmentRow, recent: Sequence[SegmentationRun]) -> list[int]:
    """The sizes to draw on the row's sparkline (`row.trend` is aligned with the newest runs)."""
    finished = [run.finished_at for run in recent[len(recent) - len(row.trend) :]]
    return row.trend[_evaluated_from(row.segment, finished, row.trend) :]


def _is_new(segment: Segment, previous: SegmentationRun | None) -> bool:
    """Created after the previous run: its change since then is not a change."""
    return bool(previous and previous.finished_at and segment.created_at > previous.finished_at)


def _with_run(runs: list[SegmentationRun], run: SegmentationRun | None) -> list[SegmentationRun]:
    """The recent runs for a run picker, plus the one on show if it is older than those."""
    if run is None or any(r.pk == run.pk for r in runs):
        return runs
    return [run, *runs]


def _run_from_query(request: HttpRequest) -> SegmentationRun | None:
    """The succeeded run named by ?run= (404 for anything else), or the run in use."""
    raw = request.GET.get("run", "")
    if raw:
        if not raw.isdigit():
            raise Http404("No such segmentation run.")
        return get_object_or_404(
            SegmentationRun.objects.select_related("feature_run", "feature_run__cleaning_run"),
            pk=int(raw),
            status=RunStatus.SUCCEEDED,
        )
    return selectors.segmentation_current()


# -- list, grid, movements ------------------------------------------------------------------------


class SegmentListView(RoleRequiredMixin, TemplateView):
    """Every segment by kind with size, share, change and trend; the RFM grid; the largest moves
    since the previous run."""

    template_name = "segments/segment_list.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        run = selectors.segmentation_current()
        context["run"] = run
        if run is None:
            context["rules"] = selectors.segment_rows(None, kind=SegmentKind.RULE)
            return context
        rows = selectors.segment_rows(run, include_inactive=True)
        previous = selectors.segmentation_previous(run)
        recent = selectors.segmentation_recent()
        rfm_ids = {
            row.segment.name: row.segment.pk for row in rows if row.segment.kind == SegmentKind.RFM
        }
        trends = {row.segment.pk: _trend(row, recent) for row in rows}
        groups = [
            {
                "kind": kind,
                "title": title,
                "rows": [
                    (r, trends[r.segment.pk])
                    for r in rows
                    if r.segment.kind == kind and r.segment.is_active
                ],
            }
            for kind, title in KIND_TITLES.items()
        ]
        moves = selectors.segment_movements(previous, run).moved if previous else []
        grid = selectors.rfm_grid(run)
        context.update(
            groups=groups,
            retired=[r.segment for r in rows if not r.segment.is_active],
            previous=previous,
            new_since_previous={r.segment.pk for r in rows if _is_new(r.segment, previous)},
            population=run.metrics.get("customers"),
            grid=grid,
            grid_rows=_grid_rows(grid, rfm_ids),
            moves=moves[:LIST_MOVES],
            charts={
                "runs": [{"run": r.pk, "finished_at": r.finished_at} for r in recent],
                "trends": {str(pk): trend for pk, trend in trends.items()},
            },
        )
        return context


class SegmentMovementsView(RoleRequiredMixin, TemplateView):
    """Customers moving between RFM segments (or clusters) from the previous run to the current
    one: the largest moves on a chart, the whole from × to matrix and the table."""

    template_name = "segments/segment_movements.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        kind = self.request.GET.get("kind", SegmentKind.RFM)
        if kind not in (SegmentKind.RFM, SegmentKind.CLUSTER):
            kind = SegmentKind.RFM
        run = selectors.segmentation_current()
        previous = selectors.segmentation_previous(run) if run else None
        context.update(
            kind=kind,
            kinds=[(SegmentKind.RFM, "RFM segments"), (SegmentKind.CLUSTER, "Clusters")],
            run=run,
            previous=previous,
            outside=selectors.OUTSIDE,
            gone=selectors.GONE,
        )
        if run is None or previous is None:
            return context
        movements = selectors.segment_movements(previous, run, kind=kind)
        moved = movements.moved
        compared = sum(n for a, b, n in movements.flows if a != selectors.OUTSIDE)
        changed = sum(n for a, b, n in moved if a != selectors.OUTSIDE and b != selectors.GONE)
        from_totals: dict[str, int] = {}
        for a, _b, n in movements.flows:
            from_totals[a] = from_totals.get(a, 0) + n
        context.update(
            movements=movements,
            moved=[
                {"from": a, "to": b, "customers": n, "share": n / from_totals[a]}
                for a, b, n in moved
            ],
            matrix=_movement_matrix(movements),
            compared=compared,
            changed=changed,
            changed_share=changed / compared if compared else 0.0,
            arrived=sum(n for a, b, n in movements.flows if a == selectors.OUTSIDE),
            left=sum(n for a, b, n in movements.flows if b == selectors.GONE),
            charts={
                "from_run": previous.pk,
                "to_run": run.pk,
                "kind": kind,
                "moves": [{"from": a, "to": b, "customers": n} for a, b, n in moved[:TOP_MOVES]],
            },
        )
        return context


# -- detail, members ------------------------------------------------------------------------------


class SegmentDetailView(RoleRequiredMixin, DetailView):
    """One segment in the run in use (or ?run=): description, size history, profile against the
    population, members."""

    template_name = "segments/segment_detail.html"
    context_object_name = "segment"
    queryset = Segment.objects.select_related("created_by")

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        segment: Segment = self.object
        current = selectors.segmentation_current()
        run = _run_from_query(self.request)
        context.update(
            run=run,
            current=current,
            rule_text=describe_rule(segment.definition) if segment.kind == SegmentKind.RULE else "",
            runs=_with_run(selectors.segmentation_recent(), run),
        )
        if run is None:
            return context
        row = next(
            r for r in selectors.segment_rows(run, include_inactive=True) if r.segment == segment
        )
        # An empty segment has no profile to compare (and medians of nothing only warn).
        profile = selectors.segment_profile(segment, run) if row.size else None
        history = selectors.segment_history(segment)
        history = history[
            _evaluated_from(
                segment, [h["finished_at"] for h in history], [h["size"] for h in history]
            ) :
        ]
        page = Paginator(selectors.segment_members(segment, run), MEMBERS_PAGE).get_page(
            self.request.GET.get("page")
        )
        features = selectors.member_features(run, [c.pk for c in page])
        columns = [
            {"name": name, "label": selectors.FEATURE_LABELS[name][0], "unit": unit}
            for name in selectors.MEMBER_COLUMNS
            for unit in [selectors.FEATURE_LABELS[name][1]]
        ]
        context.update(
            row=row,
            is_new=_is_new(segment, selectors.segmentation_previous(run)),
            profile=profile,
            population=run.metrics.get("customers"),
            history=history,
            page_obj=page,
            search={"run": self.request.GET.get("run", "")},
            columns=columns,
            members=[
                (c, [(features.get(c.pk, {}).get(col["name"]), col["unit"]) for col in columns])
                for c in page
            ],
            monetary=next((f for f in profile.features if f.feature == "monetary"), None)
            if profile
            else None,
            charts={"history": history, "run": run.pk, **(profile.as_dict() if profile else {})},
        )
        return context


class _Echo:
    def write(self, value: str) -> str:
        return value


class SegmentMembersCsvView(RoleRequiredMixin, SingleObjectMixin, View):
    """Every member of the segment in the run in use (or ?run=), with their features, as CSV."""

    queryset = Segment.objects.all()

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> StreamingHttpResponse:
        segment = self.get_object()
        run = _run_from_query(request)
        if run is None:
            raise Http404("No segmentation has run yet.")
        writer = csv.writer(_Echo())
        rows = (writer.writerow(row) for row in selectors.segment_members_export(segment, run))
        response = StreamingHttpResponse(rows, content_type="text/csv")
        name = slugify(segment.name) or "segment"
        response["Content-Disposition"] = (
            f'attachment; filename="segment-{segment.pk}-{name}-run-{run.pk}.csv"'
        )
        return response


# -- rule segments ------------------------------------------------------------------------------


class RuleSegmentForm(forms.Form):
    """Name, description and the rule tree (JSON, written by the condition builder)."""

    name = forms.CharField(max_length=MAX_NAME)
    description = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Optional. Left empty, it is the rule in words.",
    )
    definition = forms.CharField(
        widget=forms.HiddenInput,
        error_messages={"required": "Add at least one condition."},
    )

    def clean_definition(self) -> dict[str, Any]:
        raw = self.cleaned_data["definition"]
        try:
            tree = json.loads(raw)
        except ValueError as exc:
            raise forms.ValidationError("The rule could not be read (not JSON).") from exc
        if not isinstance(tree, dict):
            raise forms.ValidationError("The rule could not be read (not a rule tree).")
        return tree


class RuleSegmentUpdateForm(RuleSegmentForm):
    is_active = forms.BooleanField(
        required=False,
        label="Active",
        help_text="Active segments are evaluated by every pipeline run; retired ones keep their "
        "past members only.",
    )


class _RuleBuilderMixin:
    """What the condition builder needs: the vocabulary of the run in use, the rule to start
    from (the one posted back after an error, else the saved one) and where to preview."""

    request: HttpRequest
    exclude_segment = ""

    def builder_config(self, form: RuleSegmentForm, saved: Mapping[str, Any] | None) -> Any:
        run = selectors.segmentation_current()
        vocabulary = selectors.rule_vocabulary(run)
        vocabulary["segments"] = [s for s in vocabulary["segments"] if s != self.exclude_segment]
        definition: Any = saved
        if form.is_bound:
            try:
                definition = json.loads(form.data.get("definition") or "null")
            except ValueError:
                definition = None
        errors = [str(e) for e in form.errors.get("definition", [])]
        return {
            "vocabulary": vocabulary,
            "definition": definition,
            "previewUrl": reverse("segment-preview"),
            "excludeSegment": self.exclude_segment,
            "hasRun": run is not None,
            "error": errors[0] if errors else "",
        }


def _add_service_error(form: RuleSegmentForm, exc: DomainError) -> None:
    """A refused save as a form error on the field it is about."""
    if isinstance(exc, SegmentConflict):
        form.add_error("name", str(exc))
    elif isinstance(exc.__cause__, RuleError):
        form.add_error("definition", str(exc))
    else:
        form.add_error(None, str(exc))


class SegmentCreateView(RoleRequiredMixin, _RuleBuilderMixin, FormView):
    required_role = Role.EDITOR
    template_name = "segments/segment_form.html"
    form_class = RuleSegmentForm

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["builder"] = self.builder_config(context["form"], None)
        return context

    def form_valid(self, form: RuleSegmentForm) -> HttpResponse:
        data = form.cleaned_data
        try:
            segment = rule_segment_create(
                name=data["name"],
                definition=data["definition"],
                description=data["description"],
                created_by=self.request.user,  # type: ignore[arg-type]
            )
        except DomainError as exc:
            _add_service_error(form, exc)
            return self.form_invalid(form)
        messages.success(self.request, f"Created the rule segment “{segment.name}”.")
        return redirect("segment-detail", pk=segment.pk)


class SegmentUpdateView(RoleRequiredMixin, _RuleBuilderMixin, FormView):
    required_role = Role.EDITOR
    template_name = "segments/segment_form.html"
    form_class = RuleSegmentUpdateForm

    @cached_property
    def segment(self) -> Segment:
        return get_object_or_404(Segment, pk=self.kwargs["pk"], kind=SegmentKind.RULE)

    @property
    def exclude_segment(self) -> str:  # type: ignore[override]
        return self.segment.name

    def get_initial(self) -> dict[str, Any]:
        segment = self.segment
        description = segment.description
        # A description that is only the rule in words follows the rule when it changes.
        if description == describe_rule(segment.definition):
            description = ""
        return {
            "name": segment.name,
            "description": description,
            "definition": json.dumps(segment.definition),
            "is_active": segment.is_active,
        }

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["segment"] = self.segment
        context["builder"] = self.builder_config(context["form"], self.segment.definition)
        return context

    def form_valid(self, form: RuleSegmentForm) -> HttpResponse:
        data = form.cleaned_data
        try:
            segment = rule_segment_update(
                self.segment,
                name=data["name"],
                definition=data["definition"],
                description=data["description"],
                is_active=data["is_active"],
            )
        except DomainError as exc:
            _add_service_error(form, exc)
            return self.form_invalid(form)
        messages.success(self.request, f"Saved the rule segment “{segment.name}”.")
        return redirect("segment-detail", pk=segment.pk)


class SegmentRetireView(RoleRequiredMixin, SingleObjectMixin, View):
    """POST: later pipeline runs stop evaluating the rule segment; its past members stay."""

    required_role = Role.EDITOR

    def get_queryset(self) -> QuerySet[Segment]:
        return Segment.objects.filter(kind=SegmentKind.RULE)

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        segment = self.get_object()
        try:
            rule_segment_deactivate(segment)
        except DomainError as exc:
            messages.error(request, str(exc))
        else:
            messages.success(
                request,
                f"Retired “{segment.name}”: pipeline runs no longer evaluate it. "
                "Edit it and tick Active to bring it back.",
            )
        return redirect("segment-detail", pk=segment.pk)


class SegmentPreviewView(RoleRequiredMixin, View):
    """POST {"definition": rule tree, "exclude_segment": name} → the rule's size, share, reading
    and a few customers on the run in use; 400 {"error", "path"} for a rule that cannot run."""

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
        try:
            payload = json.loads(request.body or b"null")
        except ValueError:
            return _preview_error("The request is not JSON.")
        if not isinstance(payload, dict) or "definition" not in payload:
            return _preview_error('Send {"definition": a rule tree}.')
        run = selectors.segmentation_current()
        if run is None:
            return _preview_error(
                "No segmentation has run yet: run the pipeline to preview sizes.", status=409
            )
        try:
            preview = selectors.rule_preview(
                payload["definition"],
                run,
                exclude_segment=str(payload.get("exclude_segment") or ""),
            )
        except RuleError as exc:
            return _preview_error(str(exc))
        return JsonResponse(
            {
                "run": run.pk,
                "size": preview.size,
                "population": preview.population,
                "share": preview.share,
                "description": preview.description,
                "sample": [
                    {
                        "id": c.external_id,
                        "country": c.country,
                        "url": reverse("customer-detail", args=[c.external_id]),
                    }
                    for c in preview.sample
                ],
            }
        )


def _preview_error(message: str, *, status: int = 400) -> JsonResponse:
    match = RULE_PATH.match(message)
    return JsonResponse({"error": message, "path": match.group(1) if match else ""}, status=status)
