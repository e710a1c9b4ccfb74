"""Imports: the list, upload (admins), the report with live progress, rejected rows as CSV."""

from __future__ import annotations

import csv
from typing import Any

from django.contrib import messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.views import View
from django.views.generic import DetailView, FormView, ListView
from django.views.generic.detail import SingleObjectMixin

from ecomsite.exceptions import DomainError
from ecomsite.forms import ImportUploadForm
from ecomsite.models import ImportBatch
from ecomsite.roles import Role
from ecomsite.selectors import imports as selectors
from ecomsite.services.imports import import_upload_start

from .base import RoleRequiredMixin


class ImportBatchListView(RoleRequiredMixin, ListView):
    template_name = "ecomsite/importbatch_list.html"
    paginate_by = 25
    context_object_name = "batches"

    def get_queryset(self) -> QuerySet[ImportBatch]:
        return selectors.import_batch_list()


class ImportBatchCreateView(RoleRequiredMixin, FormView):
    required_role = Role.ADMIN
    template_name = "ecomsite/importbatch_form.html"
    form_class = ImportUploadForm

    def form_valid(self, form: ImportUploadForm) -> HttpResponse:
        try:
            batch = import_upload_start(
                upload=form.cleaned_data["file"],
                format=form.cleaned_data["format"],
                created_by=self.request.user,  # type: ignore[arg-type]
            )
        except DomainError as exc:
            form.add_error("file", str(exc))
            return self.form_invalid(form)
        messages.success(
            self.request, f"Import #{batch.pk} queued; this page follows its progress."
        )
        return redirect("import-detail", pk=batch.pk)


class ImportBatchDetailView(RoleRequiredMixin, DetailView):
    template_name = "ecomsite/importbatch_detail.html"
    context_object_name = "batch"

    def get_queryset(self) -> QuerySet[ImportBatch]:
        return selectors.import_batch_list()

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        batch = self.object
        context["quality_rows"] = selectors.import_quality_rows(batch=batch)
        context["rejection_counts"] = selectors.import_rejection_counts(batch=batch)
        context["rejection_sample"] = selectors.import_rejection_list(batch_id=batch.pk)[:20]
        return context


class ImportBatchProgressView(RoleRequiredMixin, SingleObjectMixin, View):
    """JSON polled by the detail page while the import runs."""

    def get_queryset(self) -> QuerySet[ImportBatch]:
        return ImportBatch.objects.all()

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
        batch = self.get_object()
        return JsonResponse(
            {
                "status": batch.status,
                "progress": batch.progress,
                "message": batch.progress_message,
                "rows_received": batch.rows_received,
                "rows_accepted": batch.rows_accepted,
                "rows_duplicate": batch.rows_duplicate,
                "rows_rejected": batch.rows_rejected,
                "finished": batch.is_finished,
                "url": reverse("import-detail", args=[batch.pk]),
            }
        )


class _Echo:
    def write(self, value: str) -> str:
        return value


class ImportRejectionCsvView(RoleRequiredMixin, SingleObjectMixin, View):
    """All rejected rows of a batch as CSV, streamed."""

    def get_queryset(self) -> QuerySet[ImportBatch]:
        return ImportBatch.objects.all()

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> StreamingHttpResponse:
        batch = self.get_object()
        writer = csv.writer(_Echo())
        rows = (writer.writerow(row) for row in selectors.import_rejections_csv_rows(batch=batch))
        response = StreamingHttpResponse(rows, content_type="text/csv")
        response["Content-Disposition"] = f'attachment; filename="import-{batch.pk}-rejected.csv"'
        return response
