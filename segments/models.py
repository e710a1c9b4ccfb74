"""Feature and segmentation runs; segments (RFM, clusters, staff rules) and members per run."""

from django.conf import settings
from django.db import models

from ecomsite.models import BaseRun, CleaningRun, Customer, TimeStampedModel


class FeatureRun(BaseRun):
    """Customer and product features computed from one cleaning run (Parquet artifacts)."""

    cleaning_run = models.ForeignKey(CleaningRun, on_delete=models.PROTECT, related_name="+")
    as_of = models.DateTimeField(null=True, blank=True, help_text="Recency is measured to here")
    customers = models.IntegerField(default=0)
    products = models.IntegerField(default=0)
    artifact_dir = models.CharField(max_length=500, blank=True)

    class Meta(BaseRun.Meta):
        pass

    def __str__(self) -> str:
        return f"Features #{self.pk} ({self.status})"


class SegmentationRun(BaseRun):
    """RFM, clustering and rule segments evaluated on one feature run; members stored per run."""

    feature_run = models.ForeignKey(FeatureRun, on_delete=models.PROTECT, related_name="+")

    class Meta(BaseRun.Meta):
        pass

    def __str__(self) -> str:
        return f"Segmentation #{self.pk} ({self.status})"


class SegmentKind(models.TextChoices):
    RFM = "rfm", "RFM"
    CLUSTER = "cluster", "Cluster"
    RULE = "rule", "Rule"


class Segment(TimeStampedModel):
    """A named group of customers. RFM and cluster segments are maintained by the pipeline;
    rule segments are defined by staff (`definition` is the rule tree, segments/engine/rules.py)."""

    kind = models.CharField(max_length=16, choices=SegmentKind.choices)
    name = models.CharField(max_length=120)
    description = models.TextField(blank=True)
    definition = models.JSONField(default=dict, blank=True)
    is_active = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["kind", "name"]
        constraints = [models.UniqueConstraint(fields=["kind", "name"], name="segment_kind_name")]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_kind_display()})"


class SegmentMembership(TimeStampedModel):
    run = models.ForeignKey(SegmentationRun, on_delete=models.CASCADE, related_name="memberships")
    segment = models.ForeignKey(Segment, on_delete=models.CASCADE, related_name="memberships")
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="+")

    class Meta:
        ordering = ["run", "segment", "customer"]
        constraints = [
            models.UniqueConstraint(
                fields=["run", "segment", "customer"], name="membership_run_segment_customer"
            )
        ]
        indexes = [models.Index(fields=["run", "customer"], name="membership_run_customer")]

    def __str__(self) -> str:
        return f"{self.customer_id} in {self.segment_id} (run {self.run_id})"


class PipelineTrigger(models.TextChoices):
    UI = "ui", "Web UI"
    API = "api", "API"
    CLI = "cli", "Command line"
    SCHEDULE = "schedule", "Schedule"


class PipelineRun(BaseRun):
    """One clean → features → segment → train chain; each step's run row is linked as it starts
    (the train step's TrainingRun also evaluates, precomputes and promotes)."""

    trigger = models.CharField(max_length=16, choices=PipelineTrigger.choices)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    skipped = models.BooleanField(default=False, help_text="No new data since the last run")
    cleaning_run = models.ForeignKey(
        CleaningRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    feature_run = models.ForeignKey(
        FeatureRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    segmentation_run = models.ForeignKey(
        SegmentationRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # By name: recommendations builds on segments (segment fallback lists), not the reverse.
    training_run = models.ForeignKey(
        "recommendations.TrainingRun",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta(BaseRun.Meta):
        pass

    def __str__(self) -> str:
        return f"Pipeline #{self.pk} ({self.status})"
