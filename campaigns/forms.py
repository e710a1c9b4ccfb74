"""Forms of the campaign builder, one per step. Each validates its own fields and turns them into
the `data` campaign_create / campaign_update take (model field names; segments by id, products by
SKU); the services decide whether the campaign may have them."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from django import forms
from django.utils import timezone

from campaigns.models import AudienceSource, Campaign, Channel, RankBy
from segments.models import Segment

# Shares are typed as percentages: the control group may hold out at most half the audience
# (the model's check constraint), a propensity audience at most everyone.
MAX_CONTROL_PERCENT = 50
SKU_SEPARATORS = re.compile(r"[\s,;]+")


def percent(share: float | None) -> float | None:
    """0.1 → 10 for a percentage input (None stays None)."""
    return None if share is None else round(share * 100, 6)


def skus(raw: str) -> list[str]:
    """ "85123A, 22728 22727" → ["85123A", "22728", "22727"], first occurrence kept."""
    seen: dict[str, None] = {}
    for part in SKU_SEPARATORS.split(raw or ""):
        if part:
            seen.setdefault(part, None)
    return list(seen)


def _segment_label(segment: Segment, size: int | None) -> str:
    """ "Champions (RFM) · 1,234 customers"."""
    if size is None:
        return f"{segment.name} ({segment.get_kind_display()})"
    noun = "customer" if size == 1 else "customers"
    return f"{segment.name} ({segment.get_kind_display()}) · {size:,} {noun}"


class SegmentChoiceField(forms.ModelMultipleChoiceField):
    """Active segments, labelled with their kind (and size when the caller knows it)."""

    sizes: Mapping[int, int] = {}

    def label_from_instance(self, obj: Segment) -> str:  # type: ignore[override]
        return _segment_label(obj, self.sizes.get(obj.pk))


class SegmentSingleChoiceField(forms.ModelChoiceField):
    sizes: Mapping[int, int] = {}

    def label_from_instance(self, obj: Segment) -> str:  # type: ignore[override]
        return _segment_label(obj, self.sizes.get(obj.pk))


def _category_choices(form: forms.Form, name: str, categories: Sequence[str]) -> None:
    """The shop's categories (plus the saved one, should it have gone) and "any"."""
    choices = [("", "Any category")] + [(c, c) for c in categories]
    current = form.initial.get(name) or (form.data.get(name) or "")
    if current and current not in categories:
        choices.append((current, current))
    form.fields[name].choices = choices  # type: ignore[attr-defined]


def _segments() -> Any:
    return Segment.objects.filter(is_active=True).order_by("kind", "name")


class StepForm(forms.Form):
    """A builder step: `data_for_service()` is what the step changes on the campaign (for
    campaign_update); `initial_from()` the form's initial values from a saved campaign."""

    step = ""

    def data_for_service(self) -> dict[str, Any]:
        raise NotImplementedError

    @classmethod
    def initial_from(cls, campaign: Campaign) -> dict[str, Any]:
        raise NotImplementedError


class CampaignBasicsForm(StepForm):
    step = "basics"

    name = forms.CharField(max_length=120)
    goal = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="What the campaign should achieve, e.g. “bring lapsed candle buyers back”.",
    )
    channel = forms.ChoiceField(
        choices=Channel.choices,
        initial=Channel.EMAIL,
        widget=forms.RadioSelect,
        help_text="Only customers who consented to this channel are ever targeted.",
    )

    def data_for_service(self) -> dict[str, Any]:
        return {key: self.cleaned_data[key] for key in ("name", "goal", "channel")}

    @classmethod
    def initial_from(cls, campaign: Campaign) -> dict[str, Any]:
        return {"name": campaign.name, "goal": campaign.goal, "channel": campaign.channel}


class CampaignAudienceForm(StepForm):
    """Who: segments to include and exclude plus extra rule conditions, or a lookalike of a seed
    segment, or the most likely buyers of products or a category (the recommender's scores).
    The conditions are a rule tree written by the segments' condition builder (static/js/
    segments.js), which finds its hidden input by the id `id_definition`."""

    step = "audience"

    audience_source = forms.ChoiceField(
        label="Audience from",
        choices=AudienceSource.choices,
        initial=AudienceSource.SEGMENTS,
        widget=forms.RadioSelect,
    )
    include_segments = SegmentChoiceField(
        queryset=_segments(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Customers in any of these segments (in the segmentation run in use).",
    )
    exclude_segments = SegmentChoiceField(
        queryset=_segments(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Never customers in any of these, whatever else they match.",
    )
    conditions = forms.CharField(
        required=False,
        widget=forms.HiddenInput(attrs={"id": "id_definition"}),
    )
    seed_segment = SegmentSingleChoiceField(
        queryset=_segments(),
        required=False,
        label="Seed segment",
        help_text="The lookalike audience is the seed plus its most similar other customers.",
    )
    lookalike_size = forms.IntegerField(
        required=False,
        min_value=1,
        label="Similar customers to add",
    )
    propensity_products = forms.CharField(
        required=False,
        label="Products (SKUs)",
        help_text="Separated by commas or spaces, e.g. 85123A, 22728.",
    )
    propensity_category = forms.ChoiceField(required=False, label="And/or a category")
    top_share = forms.FloatField(
        required=False,
        min_value=0.01,
        max_value=100,
        initial=5,
        label="Most likely buyers (%)",
        help_text="The share of customers with the highest recommendation scores for them.",
    )
    rank_by = forms.ChoiceField(
        required=False,
        choices=RankBy.choices,
        initial=RankBy.NONE,
        label="Rank the audience by",
        help_text="When the recipient limit (control step) cuts the audience, keep the top "
        "customers by this predicted score instead of a random sample; the control group is "
        "then drawn at random among them, so the comparison stays fair.",
    )

    def __init__(
        self,
        *args: Any,
        segment_sizes: Mapping[int, int] | None = None,
        categories: Sequence[str] = (),
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        for name in ("include_segments", "exclude_segments", "seed_segment"):
            self.fields[name].sizes = segment_sizes or {}  # type: ignore[attr-defined]
        _category_choices(self, "propensity_category", categories)

    def clean_conditions(self) -> dict[str, Any]:
        raw = (self.cleaned_data.get("conditions") or "").strip()
        if not raw:
            return {}
        try:
            tree = json.loads(raw)
        except ValueError as exc:
            raise forms.ValidationError("The conditions could not be read (not JSON).") from exc
        if not isinstance(tree, dict):
            raise forms.ValidationError("The conditions could not be read (not a rule tree).")
        return tree

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        source = data.get("audience_source")
        if source == AudienceSource.SEGMENTS:
            if not data.get("include_segments") and not data.get("conditions"):
                self.add_error(
                    None,
                    "Choose segments to include or add conditions: a campaign never goes to "
                    "everyone by default.",
                )
        elif source == AudienceSource.LOOKALIKE:
            if not data.get("seed_segment"):
                self.add_error("seed_segment", "Choose the seed segment to grow.")
            if not data.get("lookalike_size"):
                self.add_error("lookalike_size", "How many similar customers to add?")
        elif source == AudienceSource.PROPENSITY:
            if (
                not skus(data.get("propensity_products") or "")
                and not (data.get("propensity_category") or "").strip()
            ):
                self.add_error("propensity_products", "Give products, a category, or both.")
            if not data.get("top_share"):
                self.add_error("top_share", "What share of customers to target?")
        return data

    def data_for_service(self) -> dict[str, Any]:
        data = self.cleaned_data
        source = data["audience_source"]
        params: dict[str, Any] = {}
        if source == AudienceSource.LOOKALIKE:
            params = {"seed_segment": data["seed_segment"].pk, "size": data["lookalike_size"]}
        elif source == AudienceSource.PROPENSITY:
            params = {
                "products": skus(data["propensity_products"] or ""),
                "category": (data["propensity_category"] or "").strip(),
                "top_share": round(data["top_share"] / 100, 6),
            }
        return {
            "audience_source": source,
            "audience_params": params,
            "include_segments": [s.pk for s in data["include_segments"]],
            "exclude_segments": [s.pk for s in data["exclude_segments"]],
            "conditions": data["conditions"],
            "rank_by": data.get("rank_by") or "",
        }

    @classmethod
    def initial_from(cls, campaign: Campaign) -> dict[str, Any]:
        params = campaign.audience_params or {}
        initial: dict[str, Any] = {
            "audience_source": campaign.audience_source,
            "rank_by": campaign.rank_by,
            "include_segments": [s.pk for s in campaign.include_segments.all()],
            "exclude_segments": [s.pk for s in campaign.exclude_segments.all()],
            "conditions": json.dumps(campaign.conditions) if campaign.conditions else "",
        }
        if campaign.audience_source == AudienceSource.LOOKALIKE:
            initial.update(
                seed_segment=params.get("seed_segment"), lookalike_size=params.get("size")
            )
        elif campaign.audience_source == AudienceSource.PROPENSITY:
            initial.update(
                propensity_products=", ".join(params.get("products") or []),
                propensity_category=params.get("category", ""),
                top_share=percent(params.get("top_share")),
            )
        return initial


class CampaignContentForm(StepForm):
    step = "content"

    content_k = forms.IntegerField(
        min_value=1,
        max_value=50,
        initial=4,
        label="Products per recipient",
        help_text="Each recipient's own top products from the serving recommender.",
    )
    content_category = forms.ChoiceField(
        required=False,
        label="Only from the category",
        help_text="Leave empty for any category.",
    )
    content_products = forms.CharField(
        required=False,
        label="Only these products (SKUs)",
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Separated by commas or spaces; leave empty for any product.",
    )
    subject = forms.CharField(required=False, max_length=200)
    message = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="The products follow the message, each with its reason.",
    )

    def __init__(self, *args: Any, categories: Sequence[str] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _category_choices(self, "content_category", categories)

    def data_for_service(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {
            "content_k": data["content_k"],
            "content_category": data["content_category"] or "",
            "content_products": skus(data["content_products"] or ""),
            "subject": data["subject"],
            "message": data["message"],
        }

    @classmethod
    def initial_from(cls, campaign: Campaign) -> dict[str, Any]:
        return {
            "content_k": campaign.content_k,
            "content_category": campaign.content_category,
            "content_products": ", ".join(p.external_id for p in campaign.content_products.all()),
            "subject": campaign.subject,
            "message": campaign.message,
        }


class CampaignControlForm(StepForm):
    step = "control"

    control_share = forms.FloatField(
        min_value=0,
        max_value=MAX_CONTROL_PERCENT,
        label="Control group (%)",
        help_text="Held out at random (with the campaign's stored seed) and never contacted, "
        f"to measure the uplift; 0–{MAX_CONTROL_PERCENT}%.",
    )
    frequency_cap = forms.IntegerField(
        required=False,
        min_value=1,
        label="At most this many campaigns per customer",
        help_text="Leave empty for no cap.",
    )
    frequency_cap_days = forms.IntegerField(min_value=1, label="…in this many days")
    recipient_limit = forms.IntegerField(
        required=False,
        min_value=1,
        label="Recipient limit",
        help_text="Leave empty to reach the whole audience. A random sample, or the top "
        "customers by the score chosen in the audience step's ranking.",
    )
    attribution_days = forms.IntegerField(
        min_value=1,
        max_value=365,
        label="Attribution window (days)",
        help_text="Purchases this many days after the launch count towards the results.",
    )

    def data_for_service(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {
            "control_share": round(data["control_share"] / 100, 6),
            "frequency_cap": data["frequency_cap"],
            "frequency_cap_days": data["frequency_cap_days"],
            "recipient_limit": data["recipient_limit"],
            "attribution_days": data["attribution_days"],
        }

    @classmethod
    def initial_from(cls, campaign: Campaign) -> dict[str, Any]:
        return {
            "control_share": percent(campaign.control_share),
            "frequency_cap": campaign.frequency_cap,
            "frequency_cap_days": campaign.frequency_cap_days,
            "recipient_limit": campaign.recipient_limit,
            "attribution_days": campaign.attribution_days,
        }


class CampaignScheduleForm(forms.Form):
    """The last step: keep the draft, schedule it, or go on to launch it now (confirmed on the
    next page)."""

    SAVE = "save"
    SCHEDULE = "schedule"
    LAUNCH = "launch"

    when = forms.ChoiceField(
        choices=[
            (SAVE, "Keep it as a draft"),
            (SCHEDULE, "Launch at a set time"),
            (LAUNCH, "Launch now"),
        ],
        initial=SAVE,
        widget=forms.RadioSelect,
    )
    scheduled_at = forms.DateTimeField(
        required=False,
        label="Launch at",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S"],
        help_text="In the site's time zone.",
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("when") == self.SCHEDULE:
            at = data.get("scheduled_at")
            if at is None:
                self.add_error("scheduled_at", "When should it launch?")
            elif at <= timezone.now():
                self.add_error("scheduled_at", "Choose a time in the future.")
        return data
