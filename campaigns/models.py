"""Campaigns: an audience built from segments (or lookalikes / the recommender), per-recipient
recommended products, a random control group held out with a stored seed, idempotent sending
through a pluggable delivery backend, and results measured against the control group.

Invariants the database enforces (so a retried task, a double click or two concurrent launches
can never create a second recipient or a second send):
* one CampaignRecipient per (campaign, customer);
* one OutboxMessage per recipient;
* one CampaignRun per (campaign, kind) for the launch.
"""

from __future__ import annotations

import secrets

from django.conf import settings
from django.db import models
from django.db.models import Q

from ecomsite.models import BaseRun, Customer, Product, TimeStampedModel
from recommendations.models import ModelRun
from segments.models import Segment, SegmentationRun


def new_control_seed() -> int:
    """A fresh seed for a campaign's control assignment (stored, so the split is reproducible)."""
    return secrets.randbelow(2**31)


class Channel(models.TextChoices):
    EMAIL = "email", "Email"
    PUSH = "push", "Push notification"
    SMS = "sms", "SMS"
    AD_AUDIENCE = "ad_audience", "Ad-audience export"


# The Customer field that must be true before a channel may reach the customer.
CONSENT_FIELD = {
    Channel.EMAIL: "email_consent",
    Channel.PUSH: "push_consent",
    Channel.SMS: "sms_consent",
    Channel.AD_AUDIENCE: "ads_consent",
}


class CampaignStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    SCHEDULED = "scheduled", "Scheduled"
    RUNNING = "running", "Running"
    COMPLETED = "completed", "Completed"
    CANCELLED = "cancelled", "Cancelled"


class AudienceSource(models.TextChoices):
    SEGMENTS = "segments", "Segments"
    LOOKALIKE = "lookalike", "Lookalike of a seed segment"
    PROPENSITY = "propensity", "Most likely buyers of products or a category"


class RankBy(models.TextChoices):
    """The predictive score a recipient limit keeps the top customers by (segments/engine/
    predictive.py, over the prediction run of the campaign's segmentation run)."""

    NONE = "", "No ranking (the limit keeps a random sample)"
    CLV = "clv", "Predicted revenue (highest first)"
    CHURN_RISK = "churn_risk", "Churn risk (highest first)"
    EXPECTED_ORDERS = "expected_orders", "Predicted orders (highest first)"
    P_ALIVE = "p_alive", "Probability still active (lowest first: most at risk)"


# How each ranking reads in the audience steps ("ranked by predicted revenue").
RANK_PHRASE = {
    RankBy.CLV: "predicted revenue",
    RankBy.CHURN_RISK: "churn risk",
    RankBy.EXPECTED_ORDERS: "predicted orders",
    RankBy.P_ALIVE: "lowest probability still active",
}
# Rankings that keep the lowest scores first.
RANK_LOWEST_FIRST = frozenset({RankBy.P_ALIVE})


class Campaign(TimeStampedModel):
    """A campaign and its whole configuration; the draft row carries the builder's state.

    audience_params by audience_source:
    * segments: {} (include_segments / exclude_segments / conditions say it all);
    * lookalike: {"seed_segment": id, "size": n} — the seed plus its n most similar customers;
    * propensity: {"products": [external ids], "category": "...", "top_share": 0.05} — the
      customers whose recommendation scores for them are highest.
    conditions: extra rule conditions in the rule-segment definition format
    (segments/services/rules.py), {} for none.
    rank_by: with a recipient limit, keep the top customers by this predictive score instead of
    a random sample (the control group is then drawn at random among them)."""

    name = models.CharField(max_length=120)
    goal = models.TextField(blank=True)
    channel = models.CharField(max_length=16, choices=Channel.choices, default=Channel.EMAIL)
    status = models.CharField(
        max_length=16, choices=CampaignStatus.choices, default=CampaignStatus.DRAFT, db_index=True
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    scheduled_at = models.DateTimeField(null=True, blank=True, db_index=True)
    launched_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)

    # Audience
    audience_source = models.CharField(
        max_length=16, choices=AudienceSource.choices, default=AudienceSource.SEGMENTS
    )
    audience_params = models.JSONField(default=dict, blank=True)
    include_segments = models.ManyToManyField(Segment, blank=True, related_name="+")
    exclude_segments = models.ManyToManyField(Segment, blank=True, related_name="+")
    conditions = models.JSONField(default=dict, blank=True)
    frequency_cap = models.PositiveIntegerField(
        null=True, blank=True, help_text="At most this many campaigns per customer in the window"
    )
    frequency_cap_days = models.PositiveIntegerField(default=7)
    recipient_limit = models.PositiveIntegerField(null=True, blank=True)
    rank_by = models.CharField(
        max_length=20,
        choices=RankBy.choices,
        default=RankBy.NONE,
        blank=True,
        help_text="With a recipient limit, keep the top customers by this predictive score",
    )
    control_share = models.FloatField(default=0.1, help_text="0–0.5 of the audience held out")
    control_seed = models.BigIntegerField(
        default=new_control_seed, help_text="Seeds the random control assignment"
    )

    # Content
    content_k = models.PositiveSmallIntegerField(default=4, help_text="Products per recipient")
    content_category = models.CharField(max_length=120, blank=True)
    content_products = models.ManyToManyField(Product, blank=True, related_name="+")
    subject = models.CharField(max_length=200, blank=True)
    message = models.TextField(blank=True)

    # Results
    attribution_days = models.PositiveIntegerField(default=14)
    results = models.JSONField(default=dict, blank=True)
    results_computed_at = models.DateTimeField(null=True, blank=True)

    # What the launch used (kept so results and recipients stay explainable)
    segmentation_run = models.ForeignKey(
        SegmentationRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    model_run = models.ForeignKey(
        ModelRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(control_share__gte=0) & Q(control_share__lte=0.5),
                name="campaign_control_share_range",
            ),
            models.CheckConstraint(
                condition=Q(content_k__gte=1) & Q(content_k__lte=50),
                name="campaign_content_k_range",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def consent_field(self) -> str:
        return CONSENT_FIELD[Channel(self.channel)]

    @property
    def is_editable(self) -> bool:
        return self.status in (CampaignStatus.DRAFT, CampaignStatus.SCHEDULED)


class RecipientGroup(models.TextChoices):
    TREATMENT = "treatment", "Treatment"
    CONTROL = "control", "Control"


class CampaignRecipient(TimeStampedModel):
    """A customer in a launched campaign's audience: treated (sent a message) or held out as
    control (never sent anything, measured the same way). products: the recommended items at
    launch, [{"product": external id, "title", "score", "reason"}] in rank order."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="recipients")
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="+")
    group = models.CharField(max_length=16, choices=RecipientGroup.choices)
    products = models.JSONField(default=list, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True, db_index=True)

    class Meta:
        ordering = ["campaign", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["campaign", "customer"], name="campaign_recipient_unique"
            ),
        ]
        indexes = [models.Index(fields=["customer", "sent_at"], name="recipient_customer_sent")]

    def __str__(self) -> str:
        return f"{self.campaign} → {self.customer} ({self.group})"


class OutboxStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"


class OutboxMessage(TimeStampedModel):
    """One message handed to the delivery backend; at most one per recipient."""

    recipient = models.OneToOneField(
        CampaignRecipient, on_delete=models.CASCADE, related_name="message"
    )
    channel = models.CharField(max_length=16, choices=Channel.choices)
    backend = models.CharField(max_length=60)
    address = models.CharField(max_length=254, blank=True)
    subject = models.CharField(max_length=200, blank=True)
    body = models.TextField(blank=True)
    status = models.CharField(
        max_length=16, choices=OutboxStatus.choices, default=OutboxStatus.QUEUED, db_index=True
    )
    sent_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.channel} to {self.recipient.customer} ({self.status})"


class CampaignRunKind(models.TextChoices):
    LAUNCH = "launch", "Launch"
    RESULTS = "results", "Results"


class CampaignRun(BaseRun):
    """A launch (materialise recipients in batches, hand messages to the backend) or a results
    computation. One launch run per campaign: a relaunch resumes it, never duplicates it."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="runs")
    kind = models.CharField(max_length=16, choices=CampaignRunKind.choices)
    artifact = models.CharField(max_length=500, blank=True, help_text="Ad-audience CSV")

    class Meta(BaseRun.Meta):
        constraints = [
            models.UniqueConstraint(
                fields=["campaign"],
                condition=Q(kind="launch"),
                name="campaign_one_launch_run",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} of {self.campaign} ({self.status})"


class AuditAction(models.TextChoices):
    CREATED = "created", "Created"
    CHANGED = "changed", "Changed"
    SCHEDULED = "scheduled", "Scheduled"
    LAUNCHED = "launched", "Launched"
    CANCELLED = "cancelled", "Cancelled"
    COMPLETED = "completed", "Completed"
    EXPORTED = "exported", "Audience exported"


class CampaignAuditEntry(TimeStampedModel):
    """Who did what to a campaign, and when. Rows are only ever inserted.
    changes: {field: [old, new]} for CHANGED; free details otherwise."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="audit")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_label = models.CharField(
        max_length=150, blank=True, help_text="Username or partner token name at the time"
    )
    action = models.CharField(max_length=16, choices=AuditAction.choices)
    changes = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name_plural = "campaign audit entries"

    def __str__(self) -> str:
        return f"{self.actor_label or 'system'} {self.action} {self.campaign} at {self.created_at}"
