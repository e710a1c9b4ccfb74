"""Serializers of the campaigns API: plain reads of campaigns and their runs, the input of
create/update/schedule (types only: the services decide), audience rows, preview and results.
Serializers never enqueue tasks or make decisions."""

from __future__ import annotations

import csv
from collections.abc import Iterator, Mapping
from typing import Any

from django.utils.text import slugify
from rest_framework import serializers

from campaigns.models import (
    AudienceSource,
    Campaign,
    CampaignAuditEntry,
    CampaignRun,
    Channel,
    RankBy,
    RecipientGroup,
)

EXPORT_COLUMNS = ("external_id", "group", "hashed_email", "products")


class SegmentRefSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="pk")
    name = serializers.CharField()
    kind = serializers.CharField()


class CampaignRunSerializer(serializers.ModelSerializer):
    url = serializers.HyperlinkedIdentityField(view_name="api:campaign-run-detail")
    campaign = serializers.IntegerField(source="campaign_id")

    class Meta:
        model = CampaignRun
        fields = [
            "id",
            "url",
            "campaign",
            "kind",
            "status",
            "progress",
            "progress_message",
            "params",
            "metrics",
            "error",
            "created_at",
            "started_at",
            "finished_at",
        ]


class CampaignSerializer(serializers.ModelSerializer):
    """A campaign's whole configuration and where it stands."""

    url = serializers.HyperlinkedIdentityField(view_name="api:campaign-detail")
    created_by = serializers.CharField(source="created_by.get_username", default=None)
    include_segments = SegmentRefSerializer(many=True)
    exclude_segments = SegmentRefSerializer(many=True)
    content_products = serializers.SlugRelatedField(
        many=True, read_only=True, slug_field="external_id", help_text="SKUs"
    )
    control_share = serializers.FloatField(help_text="0–0.5 of the audience held out")
    recipients = serializers.SerializerMethodField(
        help_text="Recipients materialised by the launch, per group (empty before it)"
    )
    launch_run = serializers.SerializerMethodField()

    class Meta:
        model = Campaign
        fields = [
            "id",
            "url",
            "name",
            "goal",
            "channel",
            "status",
            "created_by",
            "created_at",
            "updated_at",
            "scheduled_at",
            "launched_at",
            "completed_at",
            "cancelled_at",
            "audience_source",
            "audience_params",
            "include_segments",
            "exclude_segments",
            "conditions",
            "frequency_cap",
            "frequency_cap_days",
            "recipient_limit",
            "rank_by",
            "control_share",
            "control_seed",
            "content_k",
            "content_category",
            "content_products",
            "subject",
            "message",
            "attribution_days",
            "recipients",
            "launch_run",
            "results_computed_at",
        ]

    def get_recipients(self, campaign: Campaign) -> dict[str, int]:
        counts = getattr(campaign, "recipient_counts", None)
        if counts is not None:
            return dict(counts)
        return {
            group: campaign.recipients.filter(group=group).count()
            for group in RecipientGroup.values
        }

    def get_launch_run(self, campaign: Campaign) -> dict[str, Any] | None:
        run = next((r for r in campaign.runs.all() if r.kind == "launch"), None)
        if run is None:
            return None
        return CampaignRunSerializer(run, context=self.context).data  # type: ignore[return-value]


class CampaignInputSerializer(serializers.Serializer):
    """What staff may set on a draft (or scheduled) campaign; PATCH sends only what changes."""

    name = serializers.CharField(max_length=120)
    goal = serializers.CharField(required=False, allow_blank=True)
    channel = serializers.ChoiceField(choices=Channel.choices, required=False)
    audience_source = serializers.ChoiceField(choices=AudienceSource.choices, required=False)
    audience_params = serializers.JSONField(
        required=False,
        help_text='lookalike: {"seed_segment": id, "size": n}; propensity: {"products": [SKUs], '
        '"category": "...", "top_share": 0.05}; segments: {}',
    )
    include_segments = serializers.ListField(
        child=serializers.IntegerField(), required=False, help_text="Segment ids"
    )
    exclude_segments = serializers.ListField(
        child=serializers.IntegerField(), required=False, help_text="Segment ids"
    )
    conditions = serializers.JSONField(
        required=False, help_text="A rule tree as rule segments take it; {} for none"
    )
    frequency_cap = serializers.IntegerField(min_value=1, required=False, allow_null=True)
    frequency_cap_days = serializers.IntegerField(min_value=1, required=False)
    recipient_limit = serializers.IntegerField(min_value=1, required=False, allow_null=True)
    rank_by = serializers.ChoiceField(
        choices=RankBy.choices,
        required=False,
        allow_blank=True,
        help_text="With a recipient limit, keep the top customers by this predictive score "
        '(p_alive: the lowest first); "" for a random sample. The control group is drawn at '
        "random among the kept customers.",
    )
    control_share = serializers.FloatField(min_value=0, max_value=0.5, required=False)
    content_k = serializers.IntegerField(min_value=1, max_value=50, required=False)
    content_category = serializers.CharField(required=False, allow_blank=True, max_length=120)
    content_products = serializers.ListField(
        child=serializers.CharField(), required=False, help_text="SKUs"
    )
    subject = serializers.CharField(required=False, allow_blank=True, max_length=200)
    message = serializers.CharField(required=False, allow_blank=True)
    attribution_days = serializers.IntegerField(min_value=1, max_value=365, required=False)


class CampaignScheduleInputSerializer(serializers.Serializer):
    at = serializers.DateTimeField(help_text="When to launch (ISO 8601; without offset, UTC)")


class AudienceRowSerializer(serializers.Serializer):
    external_id = serializers.CharField(help_text="The customer's id as imported")
    group = serializers.ChoiceField(
        choices=RecipientGroup.choices, help_text="control: held out, never to be contacted"
    )
    hashed_email = serializers.CharField(
        allow_blank=True, help_text="SHA-256 of the normalised email, when known"
    )
    products = serializers.ListField(
        child=serializers.CharField(), help_text="Recommended SKUs in rank order"
    )


class AuditEntrySerializer(serializers.ModelSerializer):
    actor = serializers.CharField(source="actor_label")

    class Meta:
        model = CampaignAuditEntry
        fields = ["id", "action", "actor", "changes", "created_at"]


class AudienceStepSerializer(serializers.Serializer):
    label = serializers.CharField()
    size = serializers.IntegerField()
    removed = serializers.IntegerField()


class OverlapSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    status = serializers.CharField()
    shared = serializers.IntegerField(help_text="Customers in both audiences")


class ProfileFeatureSerializer(serializers.Serializer):
    feature = serializers.CharField()
    label = serializers.CharField()
    unit = serializers.CharField()
    members_median = serializers.FloatField(allow_null=True, help_text="Of the audience")
    population_median = serializers.FloatField(allow_null=True, help_text="Of everyone scored")
    members_mean = serializers.FloatField(allow_null=True)
    population_mean = serializers.FloatField(allow_null=True)
    ratio = serializers.FloatField(allow_null=True, help_text="Audience mean ÷ everyone's")


class SampleProductSerializer(serializers.Serializer):
    product_id = serializers.CharField(help_text="SKU")
    title = serializers.CharField()
    category = serializers.CharField()
    price = serializers.FloatField(allow_null=True)
    score = serializers.FloatField()
    reason = serializers.CharField()
    source = serializers.CharField()


class SampleRecipientSerializer(serializers.Serializer):
    customer_id = serializers.CharField()
    country = serializers.CharField()
    products = SampleProductSerializer(many=True)


class CampaignPreviewSerializer(serializers.Serializer):
    """The preview before launch (campaigns.selectors.campaign_preview)."""

    run = serializers.IntegerField(allow_null=True, help_text="Segmentation run used")
    steps = AudienceStepSerializer(many=True, help_text="Size after each step of the audience")
    size = serializers.IntegerField(help_text="Treatment plus control")
    treatment = serializers.IntegerField()
    control = serializers.IntegerField()
    overlap = OverlapSerializer(many=True, help_text="Other scheduled or running campaigns")
    profile = ProfileFeatureSerializer(many=True, allow_null=True)
    samples = SampleRecipientSerializer(many=True)
    baseline_rate = serializers.FloatField(
        allow_null=True, help_text="Expected control conversion over the attribution window"
    )
    control_power = serializers.DictField(
        help_text="n_treatment, n_control, baseline_rate, alpha, power, mde {absolute, relative},"
        " target_uplift, power_at_target, control_needed, control_share_needed, large_enough"
    )
    content_error = serializers.CharField(allow_blank=True)
    notes = serializers.ListField(child=serializers.CharField())


def _feature(row: Any) -> dict[str, Any]:
    return {
        "feature": row.feature,
        "label": row.label,
        "unit": row.unit,
        "members_median": row.members_median,
        "population_median": row.population_median,
        "members_mean": row.members_mean,
        "population_mean": row.population_mean,
        "ratio": row.ratio,
    }


def preview_as_dict(preview: Any, *, links: bool = False) -> dict[str, Any]:
    """A CampaignPreview in CampaignPreviewSerializer's shape; `links` adds the staff pages of
    the sample customers and overlapping campaigns (for the builder)."""
    from django.urls import reverse

    audience = preview.audience
    overlap = []
    for other, shared in preview.overlap:
        row = {"id": other.pk, "name": other.name, "status": other.status, "shared": shared}
        if links:
            row["url"] = reverse("campaign-detail", args=[other.pk])
        overlap.append(row)
    samples = []
    for customer, items in preview.samples:
        sample: dict[str, Any] = {
            "customer_id": customer.external_id,
            "country": customer.country,
            "products": [vars(item) for item in items],
        }
        if links:
            sample["url"] = reverse("customer-detail", args=[customer.external_id])
        samples.append(sample)
    return {
        "run": audience.run.pk if audience.run is not None else None,
        "steps": [{"label": s.label, "size": s.size, "removed": s.removed} for s in audience.steps],
        "size": audience.size,
        "treatment": len(audience.treatment_ids),
        "control": len(audience.control_ids),
        "overlap": overlap,
        "profile": None if preview.profile is None else [_feature(f) for f in preview.profile],
        "samples": samples,
        "baseline_rate": preview.baseline_rate,
        "control_power": preview.control.to_dict(),
        "content_error": preview.content_error,
        "notes": list(preview.notes),
    }


# -- the audience export as CSV (the staff page and the API stream the same file) ----------------


class _Echo:
    def write(self, value: str) -> str:
        return value


def export_csv_lines(rows: Iterator[Mapping[str, Any]]) -> Iterator[str]:
    """The audience export as CSV lines: a header, then one line per recipient (products as
    space-separated SKUs)."""
    writer = csv.writer(_Echo())
    yield writer.writerow(EXPORT_COLUMNS)
    for row in rows:
        yield writer.writerow(
            [row["external_id"], row["group"], row["hashed_email"], " ".join(row["products"])]
        )


def export_filename(campaign: Campaign) -> str:
    return f"campaign-{campaign.pk}-{slugify(campaign.name) or 'audience'}-audience.csv"
