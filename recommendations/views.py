"""The Models page: training rounds and model runs with their metrics beside popularity, which run
serves, metrics over time, a side-by-side comparison, and promote / roll back for admins."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.views import View
from django.views.generic import TemplateView

from ecomsite.exceptions import DomainError
from ecomsite.models import RunStatus
from ecomsite.roles import Role
from ecomsite.views.base import RoleRequiredMixin
from recommendations import selectors
from recommendations.models import ModelRun, TrainingRun
from recommendations.services.precompute import model_run_promote_start
from recommendations.services.registry import model_roll_back
from recommendations.services.training import training_in_progress, training_run_start

MODEL_RUNS_PAGE = 25
TRAINING_RUNS_SHOWN = 10
MAX_COMPARED = 4


class ModelRunListView(RoleRequiredMixin, TemplateView):
    """Which model serves and why; the latest training round, live while it runs; metrics of
    every training round over time; all model runs with NDCG@10 and recall@10 on all and on new
    items beside popularity, to pick for comparison; training rounds; promotion history."""

    template_name = "recommendations/modelrun_list.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        page = Paginator(selectors.model_runs(), MODEL_RUNS_PAGE).get_page(
            self.request.GET.get("page")
        )
        promotions = selectors.promotions()
        current = promotions[0] if promotions else None
        serving = selectors.model_run_rows([current.model_run])[0] if current else None
        training = list(selectors.training_runs()[:TRAINING_RUNS_SHOWN])
        awaiting = self.request.GET.get("awaiting", "")
        awaited = ModelRun.objects.filter(pk=int(awaiting)).first() if awaiting.isdigit() else None
        latest = training[0] if training else None
        context.update(
            page_obj=page,
            rows=selectors.model_run_rows(page.object_list),
            serving=serving,
            promotion=current,
            promotions=promotions,
            training_runs=training,
            latest_training=latest,
            training_live=latest is not None and not latest.is_finished,
            training_busy=training_in_progress(),
            # a promotion by hand waiting for its precompute: the page reloads until it serves
            awaited=awaited,
            awaited_serves=awaited is not None
            and serving is not None
            and serving.run.pk == awaited.pk,
            history=selectors.metrics_history(),
            search={},
            max_compared=MAX_COMPARED,
        )
        return context


def _best(values: Sequence[float | None], higher_is_better: bool = True) -> float | None:
    present = [v for v in values if v is not None]
    if len(present) < 2 or max(present) == min(present):
        return None  # nothing to pick between
    return max(present) if higher_is_better else min(present)


def _comparison(rows: Sequence[selectors.ModelRunRow]) -> list[dict[str, Any]]:
    """Table rows of the comparison: per view and metric, each run's value (best marked), then
    popularity's value of each run's training round."""
    table: list[dict[str, Any]] = []
    for view, title in ((selectors.ALL_ITEMS, "All items"), (selectors.NEW_ITEMS, "New items")):
        for metric, label in selectors.METRICS:
            values = [
                (row.all_items if view == selectors.ALL_ITEMS else row.new_items).get(metric)
                for row in rows
            ]
            baseline = [
                (row.baseline_all if view == selectors.ALL_ITEMS else row.baseline_new).get(metric)
                for row in rows
            ]
            best = _best(values)
            table.append(
                {
                    "group": title,
                    "metric": metric,
                    "label": label,
                    "view": view,
                    "cells": [
                        {"value": v, "best": best is not None and v == best, "baseline": b}
                        for v, b in zip(values, baseline, strict=True)
                    ],
                }
            )
    return table


def _chart(rows: Sequence[selectors.ModelRunRow]) -> dict[str, Any]:
    """NDCG@10 and recall@10 (all and new items) of each compared run, for a grouped bar chart."""
    wanted = [
        (selectors.ALL_ITEMS, "ndcg", "NDCG@10 all items"),
        (selectors.ALL_ITEMS, "recall", "Recall@10 all items"),
        (selectors.NEW_ITEMS, "ndcg", "NDCG@10 new items"),
        (selectors.NEW_ITEMS, "recall", "Recall@10 new items"),
    ]
    return {
        "labels": [label for _, _, label in wanted],
        "runs": [
            {
                "label": f"#{row.run.pk} {row.run.algorithm}",
                "data": [
                    (row.all_items if view == selectors.ALL_ITEMS else row.new_items).get(metric)
                    for view, metric, _ in wanted
                ],
            }
            for row in rows
        ],
    }


# Per-epoch figures that are not curves (the x axis, timing).
_NOT_CURVES = {"epoch", "epochs", "seconds", "best_epoch"}


def training_curves(rows: Sequence[selectors.ModelRunRow]) -> list[dict[str, Any]]:
    """The training curves of the deep-model runs among `rows`: per run, the epochs and one
    series per figure of its history — losses on the left axis, validation metrics (NDCG,
    recall...) on the right — for a line chart each."""
    curves = []
    for row in rows:
        history = row.history
        if not history:
            continue
        names: list[str] = []
        for entry in history:
            for name, value in entry.items():
                numeric = isinstance(value, int | float) and not isinstance(value, bool)
                if name not in _NOT_CURVES and name not in names and numeric:
                    names.append(name)
        curves.append(
            {
                "run": row.run.pk,
                "title": f"#{row.run.pk} {row.run.algorithm}: training curves",
                "epochs": [entry["epoch"] for entry in history],
                "series": [
                    {
                        "label": name.replace("_", " "),
                        "data": [entry.get(name) for entry in history],
                        "axis": "y" if "loss" in name else "y2",
                    }
                    for name in names
                ],
                "rows": [
                    [entry["epoch"], *(entry.get(name) for name in names)] for entry in history
                ],
            }
        )
    return curves


class ModelRunCompareView(RoleRequiredMixin, TemplateView):
    """Chosen model runs (?run=1&run=2, at most MAX_COMPARED) side by side: metrics on all and
    new items with the best marked, popularity of their training rounds, parameters, timings."""

    template_name = "recommendations/modelrun_compare.html"

    def _ids(self) -> list[int]:
        ids: list[int] = []
        for raw in self.request.GET.getlist("run"):
            for part in raw.split(","):
                if part.strip().isdigit() and int(part) not in ids:
                    ids.append(int(part))
        return ids

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        ids = self._ids()
        too_many = len(ids) > MAX_COMPARED
        rows = selectors.model_run_rows(selectors.model_runs_by_ids(ids[:MAX_COMPARED]))
        params = sorted({key for row in rows for key in (row.run.params or {})})
        context.update(
            rows=rows,
            asked=len(ids),
            too_many=too_many,
            max_compared=MAX_COMPARED,
            comparison=_comparison(rows),
            params=[
                {"name": name, "values": [(row.run.params or {}).get(name, "–") for row in rows]}
                for name in params
            ],
            chart=_chart(rows) if rows else None,
            curves=training_curves(rows),
        )
        return context


class ModelRunPromoteView(RoleRequiredMixin, View):
    """POST: make a model run the serving model (admins). A run whose recommendations were
    pruned is precomputed by a worker first; the Models page shows when it serves."""

    required_role = Role.ADMIN

    def post(self, request: HttpRequest, pk: int, *args: Any, **kwargs: Any) -> HttpResponse:
        run = get_object_or_404(ModelRun, pk=pk)
        try:
            promotion = model_run_promote_start(run, created_by=request.user)  # type: ignore[arg-type]
        except DomainError as exc:
            messages.error(request, str(exc))
        else:
            if promotion is None:
                messages.info(
                    request,
                    f"Precomputing the recommendations of {run.algorithm} #{run.pk}: it serves "
                    "once they are written.",
                )
                return redirect(f"{reverse('model-list')}?awaiting={run.pk}")
            else:
                messages.success(request, f"{run.algorithm} #{run.pk} now serves recommendations.")
        return redirect("model-list")


class ModelRollbackView(RoleRequiredMixin, View):
    """POST: serve the model that served before the current one again (admins)."""

    required_role = Role.ADMIN

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            promotion = model_roll_back(created_by=request.user)  # type: ignore[arg-type]
        except DomainError as exc:
            messages.error(request, str(exc))
        else:
            run = promotion.model_run
            messages.success(
                request, f"Rolled back: {run.algorithm} #{run.pk} serves recommendations again."
            )
        return redirect("model-list")


class TrainingRunStartView(RoleRequiredMixin, View):
    """POST: "retrain now" (admins): a training round on the newest cleaned data, run by a worker
    while the Models page follows its progress; with ``deep=1`` "Train deep models" (the Keras
    sequence model, neural CF and ranker)."""

    required_role = Role.ADMIN

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        deep = request.POST.get("deep") == "1"
        try:
            run = training_run_start(created_by=request.user, deep=deep)  # type: ignore[arg-type]
        except DomainError as exc:
            messages.error(request, str(exc))
        else:
            kind = "Deep-model training" if deep else "Training"
            messages.success(request, f"{kind} #{run.pk} started; this page follows it.")
        return redirect("model-list")


def training_run_json(run: TrainingRun) -> dict[str, Any]:
    """What the Models page's progress bar shows of a training round."""
    return {
        "id": run.pk,
        "status": run.status,
        "status_label": run.get_status_display(),
        "progress": round(float(run.progress), 4),
        "message": run.progress_message,
        "finished": run.is_finished,
        "succeeded": run.status == RunStatus.SUCCEEDED,
        "error": run.error,
        "model_runs": run.model_runs.count(),
    }


class TrainingRunProgressView(RoleRequiredMixin, View):
    """JSON polled by the Models page while a training round runs."""

    def get(self, request: HttpRequest, pk: int, *args: Any, **kwargs: Any) -> JsonResponse:
        return JsonResponse(training_run_json(get_object_or_404(TrainingRun, pk=pk)))
