"""Campaign pages: the list, a campaign's page (status, launch progress, results with charts,
recipients, audit log), the audience as CSV, and the launch / cancel confirmations."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.shortcuts import redirect
from django.views import View
from django.views.generic import DetailView, ListView, TemplateView
from django.views.generic.detail import SingleObjectMixin

from campaigns import selectors
from campaigns.models import (
    AudienceSource,
    AuditAction,
    Campaign,
    CampaignAuditEntry,
    CampaignRun,
    CampaignStatus,
    Channel,
)
from campaigns.selectors_results import CampaignResults, campaign_results, results_from_dict
from campaigns.serializers import export_csv_lines, export_filename
from campaigns.services.campaigns import (
    campaign_cancel,
    campaign_export_record,
    campaign_launch,
)
from ecomsite.exceptions import DomainError
from ecomsite.roles import Role
from ecomsite.views.base import RoleRequiredMixin
from segments.engine.rules import describe_rule
from segments.models import Segment

CAMPAIGNS_PAGE = 25
RECIPIENTS_PAGE = 25
AUDIT_SHOWN = 200
SEGMENT_KEYS = ("include_segments", "exclude_segments")
CANCELLABLE = (CampaignStatus.DRAFT, CampaignStatus.SCHEDULED, CampaignStatus.RUNNING)


# -- how a campaign reads -----------------------------------------------------------------------


def _names(segments: list[Segment]) -> str:
    return ", ".join(s.name for s in segments)


def audience_text(campaign: Campaign) -> str:
    """The audience in words, from the configuration (sizes are the preview's business)."""
    params = campaign.audience_params or {}
    if campaign.audience_source == AudienceSource.LOOKALIKE:
        seed = Segment.objects.filter(pk=params.get("seed_segment") or 0).first()
        text = (
            f"Lookalike of {seed.name if seed else 'a removed segment'}: the seed and its "
            f"{params.get('size', 0):,} most similar customers"
        )
    elif campaign.audience_source == AudienceSource.PROPENSITY:
        what = " and ".join(
            filter(
                None,
                [
                    ", ".join(params.get("products") or []),
                    f"the category {params['category']}" if params.get("category") else "",
                ],
            )
        )
        text = f"The top {float(params.get('top_share') or 0):.0%} most likely buyers of {what}"
    else:
        include = list(campaign.include_segments.all())
        text = f"In {_names(include)}" if include else "No segment chosen"
    exclude = list(campaign.exclude_segments.all())
    if exclude:
        text += f"; not in {_names(exclude)}"
    if campaign.conditions:
        try:
            text += f"; matching {describe_rule(campaign.conditions)}"
        except Exception:  # a stored rule that no longer reads is still shown as stored
            text += "; with extra conditions"
    return text


def content_text(campaign: Campaign) -> str:
    if campaign.channel == Channel.AD_AUDIENCE:
        return "None: an ad audience carries hashed ids and emails only"
    text = f"Each recipient's top {campaign.content_k} recommended products"
    if campaign.content_category:
        text += f" in {campaign.content_category}"
    products = [p.external_id for p in campaign.content_products.all()]
    if products:
        text += f", among {', '.join(products[:10])}{'…' if len(products) > 10 else ''}"
    return text


def _audit_lines(entry: CampaignAuditEntry, segment_names: Mapping[int, str]) -> list[str]:
    """An audit entry's changes as short lines: "field: old → new" for changes (segments by
    name where they still exist)."""
    changes = {
        key: [_segment_names(v, segment_names) for v in value]
        if key in SEGMENT_KEYS and isinstance(value, list) and len(value) == 2
        else value
        for key, value in (entry.changes or {}).items()
    }
    lines = []
    for key, value in changes.items():
        if (
            entry.action in (AuditAction.CHANGED, AuditAction.CREATED)
            and isinstance(value, list)
            and len(value) == 2
        ):
            old, new = value
            lines.append(
                f"{key}: {_short(new)}" if old is None else f"{key}: {_short(old)} → {_short(new)}"
            )
        elif isinstance(value, list) and len(value) == 2 and key == "status":
            lines.append(f"status: {value[0]} → {value[1]}")
        else:
            lines.append(f"{key}: {_short(value)}")
    return lines


def _segment_names(ids: Any, names: Mapping[int, str]) -> Any:
    if not isinstance(ids, list):
        return ids
    return ", ".join(names.get(i, f"#{i}") for i in ids) if ids else None


def _short(value: Any, limit: int = 80) -> str:
    text = "–" if value in (None, "", [], {}) else str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _launch_run(campaign: Campaign) -> CampaignRun | None:
    return next((r for r in campaign.runs.all() if r.kind == "launch"), None)


def _stored_results(campaign: Campaign) -> CampaignResults | None:
    """The results the list shows: those stored on the campaign (measuring every launched
    campaign of a page live would read all their events)."""
    if not campaign.results or "window" not in campaign.results:
        return None
    return results_from_dict(campaign.pk, campaign.results, stored=True)


# -- list ---------------------------------------------------------------------------------------


class CampaignListView(RoleRequiredMixin, ListView):
    """Every campaign with its status, channel, audience, recipients and results summary;
    ?status= filters."""

    template_name = "campaigns/campaign_list.html"
    paginate_by = CAMPAIGNS_PAGE

    def status(self) -> str:
        status = self.request.GET.get("status", "")
        return status if status in CampaignStatus.values else ""

    def get_queryset(self) -> QuerySet[Campaign]:
        campaigns = selectors.campaign_list()
        if self.status():
            campaigns = campaigns.filter(status=self.status())
        return campaigns

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        counts = selectors.campaign_status_counts()
        rows = []
        for campaign in context["object_list"]:
            run = _launch_run(campaign)
            params = run.params if run is not None else {}
            rows.append(
                {
                    "campaign": campaign,
                    "audience": audience_text(campaign),
                    "treatment": params.get("treatment"),
                    "control": params.get("control"),
                    "results": _stored_results(campaign),
                    "window_end": campaign.launched_at + timedelta(days=campaign.attribution_days)
                    if campaign.launched_at and campaign.status == CampaignStatus.RUNNING
                    else None,
                }
            )
        context.update(
            rows=rows,
            status=self.status(),
            total=sum(counts.values()),
            status_tabs=[(s.value, s.label, counts.get(s.value, 0)) for s in CampaignStatus],
            search={"status": self.status()},
        )
        return context


# -- detail -------------------------------------------------------------------------------------


def results_charts(results: CampaignResults) -> dict[str, Any]:
    """What the result charts draw: each metric for treatment and control, and every uplift
    (relative, with its interval)."""
    groups = {"treatment": results.treatment, "control": results.control}
    return {
        "confidence": results.confidence,
        "provisional": results.provisional,
        "conversion": {k: g.conversion_rate for k, g in groups.items()},
        "revenue": {k: g.revenue_per_recipient for k, g in groups.items()},
        "items": {k: g.items_per_recipient for k, g in groups.items()},
        "has_uplift": any(c.relative is not None for _, _, c in results.uplifts),
        "uplifts": [
            {
                "metric": key,
                "label": label,
                "relative": c.relative,
                "low": c.relative_ci_low,
                "high": c.relative_ci_high,
                "difference": c.difference,
                "ci_low": c.ci_low,
                "ci_high": c.ci_high,
            }
            for key, label, c in results.uplifts
        ],
    }


class CampaignDetailView(RoleRequiredMixin, DetailView):
    """A campaign: configuration, launch progress (live while it runs), results with charts,
    recipients (paginated) and the audit log."""

    template_name = "campaigns/campaign_detail.html"
    context_object_name = "campaign"

    def get_queryset(self) -> QuerySet[Campaign]:
        return selectors.campaign_list()

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        campaign: Campaign = self.object
        run = _launch_run(campaign)
        counts = selectors.campaign_recipient_counts(campaign)
        counts["total"] = counts.get("treatment", 0) + counts.get("control", 0)
        results = campaign_results(campaign)
        page = None
        if counts["total"]:
            page = Paginator(selectors.campaign_recipients(campaign), RECIPIENTS_PAGE).get_page(
                self.request.GET.get("page")
            )
        audit = list(selectors.campaign_audit(campaign)[:AUDIT_SHOWN])
        segment_names = dict(Segment.objects.values_list("pk", "name"))
        for entry in audit:
            entry.lines = _audit_lines(entry, segment_names)  # type: ignore[attr-defined]
        context.update(
            launch_run=run,
            launch_live=run is not None and not run.is_finished,
            counts=counts,
            results=results,
            charts=results_charts(results) if results else None,
            page_obj=page,
            search={},
            audit=audit,
            audience_text=audience_text(campaign),
            content_text=content_text(campaign),
            can_cancel=campaign.status in CANCELLABLE,
        )
        return context


class CampaignProgressView(RoleRequiredMixin, SingleObjectMixin, View):
    """JSON polled by a campaign's page while its launch runs."""

    def get_queryset(self) -> QuerySet[Campaign]:
        return Campaign.objects.all()

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
        campaign = self.get_object()
        run = selectors.campaign_launch_run(campaign)
        data: dict[str, Any] = {
            "campaign_status": campaign.status,
            "campaign_status_label": campaign.get_status_display(),
            "run": None,
            "finished": True,
        }
        if run is not None:
            data.update(
                run=run.pk,
                status=run.status,
                status_label=run.get_status_display(),
                progress=run.progress,
                message=run.progress_message,
                error=run.error,
                finished=run.is_finished,
            )
        return JsonResponse(data)


class CampaignAudienceCsvView(RoleRequiredMixin, SingleObjectMixin, View):
    """The launched audience (treatment and control, with hashed emails and products) as CSV."""

    def get_queryset(self) -> QuerySet[Campaign]:
        return Campaign.objects.all()

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> StreamingHttpResponse:
        campaign = self.get_object()
        campaign_export_record(campaign=campaign, user=request.user, fmt="csv")
        response = StreamingHttpResponse(
            export_csv_lines(selectors.audience_export_rows(campaign)), content_type="text/csv"
        )
        response["Content-Disposition"] = f'attachment; filename="{export_filename(campaign)}"'
        return response


# -- launch and cancel --------------------------------------------------------------------------


class _ConfirmView(RoleRequiredMixin, SingleObjectMixin, TemplateView):
    """GET: what will happen, with a button; POST: do it (CSRF-protected), back to the page."""

    required_role = Role.EDITOR
    template_name = "campaigns/campaign_confirm.html"
    context_object_name = "campaign"

    def get_queryset(self) -> QuerySet[Campaign]:
        return selectors.campaign_list()

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        self.object = self.get_object()
        return super().get(request, *args, **kwargs)

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        self.object = self.get_object()
        try:
            self.act(self.object)
        except DomainError as exc:
            messages.error(request, str(exc))
        return redirect("campaign-detail", pk=self.object.pk)

    def act(self, campaign: Campaign) -> None:
        raise NotImplementedError


class CampaignLaunchView(_ConfirmView):
    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        campaign: Campaign = self.object
        lines: list[str] = []
        if campaign.status == CampaignStatus.RUNNING:
            lines.append("This campaign is already running: launching again resumes its launch.")
        elif campaign.is_editable:
            try:
                audience = selectors.campaign_audience(campaign)
            except DomainError as exc:
                lines.append(f"The audience cannot be computed: {exc}")
            else:
                lines.append(
                    f"“{campaign.name}” goes to {len(audience.treatment_ids):,} customer"
                    f"{'s' if len(audience.treatment_ids) != 1 else ''} by "
                    f"{campaign.get_channel_display().lower()} now; "
                    f"{len(audience.control_ids):,} are held out as the control group."
                )
            lines.append(
                "Messages go out in batches in the background; a launch cannot be undone "
                "(cancelling stops the batches not yet sent)."
            )
        else:
            lines.append(f"A {campaign.get_status_display().lower()} campaign cannot be launched.")
        context.update(title="Launch the campaign", button="Launch now", lines=lines)
        return context

    def act(self, campaign: Campaign) -> None:
        run = campaign_launch(campaign=campaign, user=self.request.user)  # type: ignore[arg-type]
        messages.success(
            self.request,
            f"Launching “{campaign.name}”: launch run #{run.pk} "
            f"({run.get_status_display().lower()}).",
        )


class CampaignCancelView(_ConfirmView):
    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        campaign: Campaign = self.object
        if campaign.status == CampaignStatus.RUNNING:
            lines = [
                f"“{campaign.name}” is running: cancelling stops its launch at the next batch. "
                "Messages already sent stay sent, and their recipients are still measured."
            ]
        elif campaign.status in CANCELLABLE:
            lines = [f"“{campaign.name}” will never launch. This cannot be undone."]
        else:
            lines = [f"A {campaign.get_status_display().lower()} campaign cannot be cancelled."]
        context.update(
            title="Cancel the campaign", button="Cancel campaign", lines=lines, danger=True
        )
        return context

    def act(self, campaign: Campaign) -> None:
        campaign_cancel(campaign=campaign, user=self.request.user)  # type: ignore[arg-type]
        messages.success(self.request, f"Cancelled “{campaign.name}”.")
