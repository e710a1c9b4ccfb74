"""Pipeline pages: runs with a start button and live status, data-quality reports, schedules."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.contrib import messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.views import View
from django.views.generic import DetailView, ListView, TemplateView
from django.views.generic.detail import SingleObjectMixin
from django_celery_beat.models import PeriodicTask

from ecomsite.models import BaseRun, CleaningRun, RunStatus
from ecomsite.roles import Role
from ecomsite.selectors import cleaning as cleaning_selectors
from ecomsite.selectors.schedules import periodic_task_list
from ecomsite.services.schedules import periodic_task_set_enabled
from ecomsite.views.base import RoleRequiredMixin
from segments import selectors
from segments.models import PipelineRun, PipelineTrigger
from segments.services.pipeline import (
    PipelineBusy,
    pipeline_in_progress,
    pipeline_last_completed,
    pipeline_start,
)

# (step name, label, PipelineRun field), in chain order.
STEPS = (
    ("clean", "Clean", "cleaning_run"),
    ("features", "Features", "feature_run"),
    ("predict", "Predict", "prediction_run"),
    ("segment", "Segment", "segmentation_run"),
    ("train", "Train", "training_run"),
)
NOT_STARTED = "not_started"
BEAT_COMMAND = "celery -A ecomsite beat --loglevel=INFO"


@dataclass(frozen=True)
class StepState:
    name: str
    label: str
    run: BaseRun | None

    @property
    def status(self) -> str:
        return self.run.status if self.run is not None else NOT_STARTED

    @property
    def status_label(self) -> str:
        return self.run.get_status_display() if self.run is not None else "Not started"

    @property
    def seconds(self) -> float | None:
        if self.run is None:
            return None
        seconds = (self.run.metrics or {}).get("seconds")
        return float(seconds) if seconds is not None else self.run.duration_seconds

    @property
    def error(self) -> str:
        return self.run.error if self.run is not None else ""


@dataclass(frozen=True)
class RunRow:
    """A pipeline run as the page shows it: its steps, and whether it is really in progress."""

    run: PipelineRun
    steps: list[StepState]
    in_progress: bool

    @property
    def stale(self) -> bool:
        """Pending or running, but silent for so long that it no longer blocks a new start (its
        worker was presumably stopped)."""
        return not self.run.is_finished and not self.in_progress

    @property
    def failed_step(self) -> StepState | None:
        return next((step for step in self.steps if step.status == RunStatus.FAILED), None)

    @property
    def current_step(self) -> StepState | None:
        """The first step that has not succeeded (None when all have)."""
        return next((step for step in self.steps if step.status != RunStatus.SUCCEEDED), None)

    @property
    def progress(self) -> float:
        """0–1 over the whole chain, moving within the running step too."""
        if self.run.is_finished:
            return 1.0 if self.run.status == RunStatus.SUCCEEDED else self.run.progress
        done = sum(step.status == RunStatus.SUCCEEDED for step in self.steps)
        current = self.current_step
        within = current.run.progress if current and current.run is not None else 0.0
        return max(self.run.progress, (done + within) / len(self.steps))

    @property
    def message(self) -> str:
        current = self.current_step
        if not self.run.is_finished and current is not None and current.run is not None:
            return f"{current.label}: {current.run.progress_message or current.status_label}"
        if not self.run.is_finished and self.run.status == RunStatus.PENDING:
            return "Waiting for a worker"
        if self.run.progress_message.lower() == self.run.get_status_display().lower():
            return ""  # "Failed" next to the "Failed" badge says nothing new
        return self.run.progress_message

    @property
    def report(self) -> CleaningRun | None:
        cleaning = self.run.cleaning_run
        return cleaning if cleaning is not None and cleaning.status == RunStatus.SUCCEEDED else None

    def as_json(self) -> dict[str, Any]:
        report = self.report
        return {
            "id": self.run.pk,
            "status": self.run.status,
            "status_label": self.run.get_status_display(),
            "progress": round(self.progress, 4),
            "message": self.message,
            "finished": self.run.is_finished,
            "skipped": self.run.skipped,
            "error": self.run.error,
            "steps": [
                {
                    "step": step.name,
                    "label": step.label,
                    "status": step.status,
                    "status_label": step.status_label,
                    "progress": step.run.progress if step.run is not None else 0.0,
                    "message": step.run.progress_message if step.run is not None else "",
                    "seconds": step.seconds,
                    "error": step.error,
                }
                for step in self.steps
            ],
            "report_url": reverse("quality-detail", args=[report.pk]) if report else None,
            "url": reverse("pipeline-list"),
        }


def _row(run: PipelineRun, in_progress: PipelineRun | None) -> RunRow:
    return RunRow(
        run=run,
        steps=[StepState(name, label, getattr(run, field)) for name, label, field in STEPS],
        in_progress=in_progress is not None and in_progress.pk == run.pk,
    )


# -- pipeline runs ------------------------------------------------------------------------------


class PipelineRunListView(RoleRequiredMixin, ListView):
    """The runs, newest first; the latest one on top with a live progress bar while it runs; the
    results in use; a start button for editors."""

    template_name = "segments/pipelinerun_list.html"
    context_object_name = "runs"
    paginate_by = 20

    def get_queryset(self) -> QuerySet[PipelineRun]:
        return selectors.pipeline_runs()

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        in_progress = pipeline_in_progress()
        latest = selectors.pipeline_runs().first()
        context.update(
            rows=[_row(run, in_progress) for run in context["runs"]],
            latest=_row(latest, in_progress) if latest else None,
            in_progress=in_progress,
            in_use=pipeline_last_completed(),
            steps=STEPS,
        )
        return context


class PipelineRunStartView(RoleRequiredMixin, View):
    """POST: start an async pipeline run (editors). "force" runs it even without new events."""

    required_role = Role.EDITOR

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        force = request.POST.get("force") in ("1", "on", "true")
        try:
            run = pipeline_start(
                trigger=PipelineTrigger.UI,
                created_by=request.user,  # type: ignore[arg-type]
                force=force,
            )
        except PipelineBusy as exc:
            messages.error(request, str(exc))
            return redirect("pipeline-list")
        if run.skipped:
            messages.info(
                request,
                f"Pipeline #{run.pk} skipped: {run.progress_message.removeprefix('Skipped: ')}. "
                "Tick “even without new data” to run it anyway.",
            )
        else:
            messages.success(request, f"Pipeline #{run.pk} started; this page follows it.")
        return redirect("pipeline-list")


class PipelineRunProgressView(RoleRequiredMixin, SingleObjectMixin, View):
    """JSON polled by the pipeline page while a run is in progress."""

    def get_queryset(self) -> QuerySet[PipelineRun]:
        return selectors.pipeline_runs()

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
        run = self.get_object()
        return JsonResponse(_row(run, pipeline_in_progress()).as_json())


# -- data-quality reports -----------------------------------------------------------------------


class QualityReportListView(RoleRequiredMixin, ListView):
    template_name = "segments/quality_list.html"
    context_object_name = "cleaning_runs"
    paginate_by = 25

    def get_queryset(self) -> QuerySet[CleaningRun]:
        return cleaning_selectors.cleaning_run_list()


class QualityReportDetailView(RoleRequiredMixin, DetailView):
    template_name = "segments/quality_detail.html"
    context_object_name = "cleaning_run"

    def get_queryset(self) -> QuerySet[CleaningRun]:
        return cleaning_selectors.cleaning_run_list()

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        report = cleaning_selectors.cleaning_report(self.object)
        context.update(report=report, chart=report.chart() if report else None)
        return context


# -- schedules ----------------------------------------------------------------------------------


class PeriodicTaskListView(RoleRequiredMixin, TemplateView):
    required_role = Role.ADMIN
    template_name = "segments/schedule_list.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        return super().get_context_data(
            schedules=periodic_task_list(), beat_command=BEAT_COMMAND, **kwargs
        )


class PeriodicTaskEnableView(RoleRequiredMixin, View):
    """POST enabled=1|0: turn a periodic task on or off (admins)."""

    required_role = Role.ADMIN

    def post(self, request: HttpRequest, pk: int, *args: Any, **kwargs: Any) -> HttpResponse:
        task = get_object_or_404(PeriodicTask, pk=pk)
        enabled = request.POST.get("enabled") == "1"
        periodic_task_set_enabled(task=task, enabled=enabled)
        messages.success(request, f"“{task.name}” is {'enabled' if enabled else 'disabled'}.")
        return redirect("schedule-list")
