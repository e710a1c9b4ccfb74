"""The campaign builder, after oscar's offer wizard: one view per step (basics, audience,
content, control group and limits, schedule); a draft Campaign row carries the state between
steps and every step saves through campaign_update; the steps after the audience need one.
Beside the form, a live preview (CampaignPreviewView) of the audience with the step's unsaved
values: sizes after each step, overlap, profile, sample recipients with their products and the
control group's power."""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from django.contrib import messages
from django.db.models import QuerySet
from django.forms import Form
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.views import View
from django.views.generic import FormView
from django.views.generic.detail import SingleObjectMixin

from campaigns import selectors
from campaigns.forms import (
    CampaignAudienceForm,
    CampaignBasicsForm,
    CampaignContentForm,
    CampaignControlForm,
    CampaignScheduleForm,
    StepForm,
)
from campaigns.models import AudienceSource, Campaign, CampaignStatus
from campaigns.serializers import preview_as_dict
from campaigns.services.campaigns import (
    campaign_create,
    campaign_schedule,
    campaign_unschedule,
    campaign_update,
)
from ecomsite.exceptions import DomainError
from ecomsite.models import Product
from ecomsite.roles import Role
from ecomsite.selectors.catalog import product_categories
from ecomsite.views.base import RoleRequiredMixin
from segments import selectors as segment_selectors
from segments.models import Segment

PREVIEW_SAMPLES = 5


@dataclass(frozen=True)
class Step:
    name: str
    label: str
    url_name: str
    form_class: type[Form]
    needs_audience: bool


STEPS = (
    Step("basics", "Basics", "campaign-basics", CampaignBasicsForm, False),
    Step("audience", "Audience", "campaign-audience", CampaignAudienceForm, False),
    Step("content", "Content", "campaign-content", CampaignContentForm, True),
    Step("control", "Control group & limits", "campaign-control", CampaignControlForm, True),
    Step("schedule", "Schedule", "campaign-schedule", CampaignScheduleForm, True),
)
STEP_BY_NAME = {step.name: step for step in STEPS}


def audience_chosen(campaign: Campaign) -> bool:
    """Whether the audience step has been filled in: segments or conditions chosen, or the
    lookalike / propensity parameters given (the service refuses anything else at launch)."""
    params = campaign.audience_params or {}
    if campaign.audience_source == AudienceSource.LOOKALIKE:
        return bool(params.get("seed_segment") and params.get("size"))
    if campaign.audience_source == AudienceSource.PROPENSITY:
        return bool(params.get("products") or params.get("category"))
    return bool(campaign.conditions) or campaign.include_segments.exists()


def _segment_sizes() -> dict[int, int]:
    run = segment_selectors.segmentation_current()
    if run is None:
        return {}
    return {row.segment.pk: row.size for row in segment_selectors.segment_rows(run)}


def step_form_kwargs(step: Step) -> dict[str, Any]:
    """The choices a step's form offers beyond its fields' own (sizes, categories)."""
    if step.name == "audience":
        return {"segment_sizes": _segment_sizes(), "categories": product_categories()}
    if step.name == "content":
        return {"categories": product_categories()}
    return {}


def with_unsaved(campaign: Campaign, data: Mapping[str, Any]) -> Campaign:
    """An unsaved copy of the draft with a step's values, for the live preview (never saved:
    it keeps the draft's pk only so that its related managers work). Scalar fields are set on
    the copy; the segments and products it would have are put in the copy's prefetch cache,
    which `campaign.include_segments.all()` and friends read (the selectors read them so)."""
    draft = copy.copy(campaign)
    cache: dict[str, QuerySet[Any]] = {}
    for key, value in data.items():
        if key in ("include_segments", "exclude_segments"):
            cache[key] = Segment.objects.filter(pk__in=list(value))
        elif key == "content_products":
            cache[key] = Product.objects.filter(external_id__in=list(value))
        else:
            setattr(draft, key, value)
    draft._prefetched_objects_cache = cache  # type: ignore[attr-defined]
    return draft


class CampaignCreateView(RoleRequiredMixin, FormView):
    """Step 1 of a new campaign: name, goal, channel. Saving creates the draft."""

    required_role = Role.EDITOR
    template_name = "campaigns/campaign_form.html"
    form_class = CampaignBasicsForm

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context.update(
            step="basics",
            step_label="Basics",
            step_template="campaigns/_step_basics.html",
            steps=[
                {"name": s.name, "label": s.label, "url": "", "current": s.name == "basics"}
                for s in STEPS
            ],
        )
        return context

    def form_valid(self, form: CampaignBasicsForm) -> HttpResponse:
        try:
            campaign = campaign_create(
                user=self.request.user,  # type: ignore[arg-type]
                data=form.data_for_service(),
            )
        except DomainError as exc:
            form.add_error(None, str(exc))
            return self.form_invalid(form)
        messages.success(self.request, f"Created the draft “{campaign.name}”.")
        if self.request.POST.get("then") == "done":
            return redirect("campaign-detail", pk=campaign.pk)
        return redirect("campaign-audience", pk=campaign.pk)


class CampaignStepView(RoleRequiredMixin, FormView):
    """One step of an existing draft (or scheduled) campaign. A campaign that can no longer
    change sends staff to its page; a step after the audience sends them to the audience step
    until one is chosen."""

    required_role = Role.EDITOR
    template_name = "campaigns/campaign_form.html"
    step_name = ""

    @cached_property
    def step(self) -> Step:
        return STEP_BY_NAME[self.step_name]

    @cached_property
    def campaign(self) -> Campaign:
        return get_object_or_404(selectors.campaign_list(), pk=self.kwargs["pk"])

    def get_form_class(self) -> type[Form]:
        return self.step.form_class

    def refusal(self) -> HttpResponse | None:
        campaign = self.campaign
        if not campaign.is_editable:
            messages.error(
                self.request,
                f"“{campaign.name}” is {campaign.get_status_display().lower()}: "
                "it can no longer be changed.",
            )
            return redirect("campaign-detail", pk=campaign.pk)
        if self.step.needs_audience and not audience_chosen(campaign):
            messages.error(self.request, "Choose the audience first.")
            return redirect("campaign-audience", pk=campaign.pk)
        return None

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        return self.refusal() or super().get(request, *args, **kwargs)

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        return self.refusal() or super().post(request, *args, **kwargs)

    def get_initial(self) -> dict[str, Any]:
        form_class = self.step.form_class
        if issubclass(form_class, StepForm):
            return form_class.initial_from(self.campaign)
        return {}

    def get_form_kwargs(self) -> dict[str, Any]:
        return {**super().get_form_kwargs(), **step_form_kwargs(self.step)}

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        campaign = self.campaign
        chosen = audience_chosen(campaign)
        context.update(
            campaign=campaign,
            step=self.step.name,
            step_label=self.step.label,
            step_template=f"campaigns/_step_{self.step.name}.html",
            steps=[
                {
                    "name": s.name,
                    "label": s.label,
                    "url": reverse(s.url_name, args=[campaign.pk])
                    if chosen or not s.needs_audience
                    else "",
                    "current": s.name == self.step.name,
                    "done": s.name == "basics" or (chosen and s.name == "audience"),
                }
                for s in STEPS
            ],
            preview_config={
                "url": reverse("campaign-preview", args=[campaign.pk]),
                "step": self.step.name,
            },
        )
        return context

    def next_url(self) -> str:
        if self.request.POST.get("then") == "done":
            return reverse("campaign-detail", args=[self.campaign.pk])
        index = STEPS.index(self.step)
        return reverse(STEPS[index + 1].url_name, args=[self.campaign.pk])

    def form_valid(self, form: Form) -> HttpResponse:
        assert isinstance(form, StepForm)
        try:
            campaign_update(
                campaign=self.campaign,
                user=self.request.user,  # type: ignore[arg-type]
                data=form.data_for_service(),
            )
        except DomainError as exc:
            form.add_error(None, str(exc))
            return self.form_invalid(form)
        if self.request.POST.get("then") == "done":
            messages.success(self.request, f"Saved “{self.campaign.name}”.")
        return redirect(self.next_url())


class CampaignBasicsView(CampaignStepView):
    step_name = "basics"


class CampaignAudienceView(CampaignStepView):
    step_name = "audience"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        form = context["form"]
        run = segment_selectors.segmentation_current()
        definition: Any = self.campaign.conditions or None
        if form.is_bound:
            try:
                definition = json.loads(form.data.get("conditions") or "null")
            except ValueError:
                definition = None
        errors = [str(e) for e in form.errors.get("conditions", [])]
        context.update(
            has_run=run is not None,
            # the segments' condition builder (static/js/segments.js) reads this config
            rule_builder={
                "vocabulary": segment_selectors.rule_vocabulary(run),
                "definition": definition,
                "previewUrl": reverse("segment-preview"),
                "excludeSegment": "",
                "hasRun": run is not None,
                "error": errors[0] if errors else "",
            },
        )
        return context


class CampaignContentView(CampaignStepView):
    step_name = "content"


class CampaignControlView(CampaignStepView):
    step_name = "control"


class CampaignScheduleView(CampaignStepView):
    """The last step: keep the draft, schedule the launch, or go on to launch it now."""

    step_name = "schedule"

    def get_initial(self) -> dict[str, Any]:
        campaign = self.campaign
        if campaign.status == CampaignStatus.SCHEDULED and campaign.scheduled_at:
            return {"when": CampaignScheduleForm.SCHEDULE, "scheduled_at": campaign.scheduled_at}
        return {"when": CampaignScheduleForm.SAVE}

    def form_valid(self, form: Form) -> HttpResponse:
        when = form.cleaned_data["when"]
        campaign = self.campaign
        if when == CampaignScheduleForm.LAUNCH:
            return redirect("campaign-launch", pk=campaign.pk)
        if when == CampaignScheduleForm.SCHEDULE:
            try:
                campaign_schedule(
                    campaign=campaign,
                    user=self.request.user,  # type: ignore[arg-type]
                    at=form.cleaned_data["scheduled_at"],
                )
            except DomainError as exc:
                form.add_error(None, str(exc))
                return self.form_invalid(form)
            messages.success(
                self.request,
                f"Scheduled “{campaign.name}” for "
                f"{form.cleaned_data['scheduled_at']:%d %b %Y %H:%M}.",
            )
        elif campaign.status == CampaignStatus.SCHEDULED:
            campaign_unschedule(campaign=campaign, user=self.request.user)  # type: ignore[arg-type]
            messages.success(self.request, f"“{campaign.name}” is a draft again: not scheduled.")
        else:
            messages.success(self.request, f"Saved “{campaign.name}” as a draft.")
        return redirect("campaign-detail", pk=campaign.pk)


class CampaignPreviewView(RoleRequiredMixin, SingleObjectMixin, View):
    """The builder's live preview as JSON. GET: the saved campaign. POST: the campaign with a
    step's unsaved values (the step's form fields plus `step`), so the panel follows the form as
    staff change it; 400 {"errors"} for values the form refuses, 409 {"error"} when the audience
    cannot be computed (no segmentation yet, conditions that cannot run)."""

    required_role = Role.EDITOR

    def get_queryset(self) -> QuerySet[Campaign]:
        return selectors.campaign_list()

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
        return self._preview(self.get_object())

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
        campaign = self.get_object()
        step = STEP_BY_NAME.get(request.POST.get("step", ""))
        if step is None or not issubclass(step.form_class, StepForm):
            return self._preview(campaign)
        form = step.form_class(request.POST, **step_form_kwargs(step))
        if not form.is_valid():
            return JsonResponse({"errors": form.errors.get_json_data()}, status=400)
        assert isinstance(form, StepForm)
        return self._preview(with_unsaved(campaign, form.data_for_service()))

    def _preview(self, campaign: Campaign) -> JsonResponse:
        try:
            preview = selectors.campaign_preview(campaign, samples=PREVIEW_SAMPLES)
        except DomainError as exc:
            return JsonResponse({"error": str(exc)}, status=409)
        return JsonResponse(preview_as_dict(preview, links=True))
