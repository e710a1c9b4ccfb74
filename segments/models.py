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
    """RFM, clustering and rule segments evaluated on one feature run (and the predictive scores
    of ``prediction_run``, which rules may use); members stored per run."""

    feature_run = models.ForeignKey(FeatureRun, on_delete=models.PROTECT, related_name="+")
    prediction_run = models.ForeignKey(
        "PredictionRun", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta(BaseRun.Meta):
        pass

    def __str__(self) -> str:
        return f"Segmentation #{self.pk} ({self.status})"


class PredictionRun(BaseRun):
    """Predictive customer scores (segments/engine/predictive.py) fitted on one feature run's
    purchases up to its as_of: one CustomerScore per customer with an order, the scores as a
    Parquet artifact (joined to the features for rules), and in ``metrics`` the fitted
    parameters, the data-sufficiency verdict and a backtest (fit on an earlier cut, scored on
    the following ``horizon_days``)."""

    feature_run = models.ForeignKey(FeatureRun, on_delete=models.PROTECT, related_name="+")
    as_of = models.DateTimeField(null=True, blank=True, help_text="Predictions start here")
    horizon_days = models.PositiveIntegerField(default=90)
    customers = models.IntegerField(default=0)
    sufficient = models.BooleanField(
        default=False, help_text="Enough repeat buyers and history for the fit to be trusted"
    )
    artifact_dir = models.CharField(max_length=500, blank=True)

    class Meta(BaseRun.Meta):
        pass

    def __str__(self) -> str:
        return f"Predictions #{self.pk} ({self.status})"


class CustomerScore(models.Model):
    """One customer's predictions in one prediction run; ``_lo``/``_hi`` bound the 80% interval
    of the expected value (bootstrap over customers), ``orders_pred_*``/``revenue_pred_*`` the
    80% predictive interval of what the customer will actually do over the horizon. Null where
    the model cannot say (e.g. order value when the Gamma-Gamma fit is undefined)."""

    run = models.ForeignKey(PredictionRun, on_delete=models.CASCADE, related_name="scores")
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="scores")
    expected_orders = models.FloatField(
        null=True, blank=True, help_text="Expected orders over the horizon"
    )
    expected_orders_lo = models.FloatField(null=True, blank=True)
    expected_orders_hi = models.FloatField(null=True, blank=True)
    orders_pred_lo = models.IntegerField(null=True, blank=True)
    orders_pred_hi = models.IntegerField(null=True, blank=True)
    clv = models.FloatField(null=True, blank=True, help_text="Expected revenue over the horizon")
    clv_lo = models.FloatField(null=True, blank=True)
    clv_hi = models.FloatField(null=True, blank=True)
    revenue_pred_lo = models.FloatField(null=True, blank=True)
    revenue_pred_hi = models.FloatField(null=True, blank=True)
    expected_order_value = models.FloatField(
        null=True, blank=True, help_text="Expected value of an order"
    )
    expected_order_value_lo = models.FloatField(null=True, blank=True)
    expected_order_value_hi = models.FloatField(null=True, blank=True)
    p_alive = models.FloatField(
        null=True, blank=True, help_text="Probability the customer has not lapsed for good"
    )
    p_alive_lo = models.FloatField(null=True, blank=True)
    p_alive_hi = models.FloatField(null=True, blank=True)
    churn_risk = models.FloatField(
        null=True, blank=True, help_text="Probability of no order over the horizon"
    )
    churn_risk_lo = models.FloatField(null=True, blank=True)
    churn_risk_hi = models.FloatField(null=True, blank=True)
    next_order_days = models.FloatField(
        null=True, blank=True, help_text="Median days to the next order, if active"
    )
    next_order_days_lo = models.FloatField(null=True, blank=True)
    next_order_days_hi = models.FloatField(null=True, blank=True)
    next_order_date = models.DateTimeField(null=True, blank=True)
    no_repeat = models.BooleanField(default=False, help_text="No repeat order yet")
    short_history = models.BooleanField(default=False, help_text="First order very recent")
    sufficient = models.BooleanField(default=False)

    class Meta:
        ordering = ["run", "customer"]
        constraints = [
            models.UniqueConstraint(fields=["run", "customer"], name="score_run_customer")
        ]
        indexes = [
            models.Index(fields=["customer", "run"], name="score_customer_run"),
            models.Index(fields=["run", "-clv"], name="score_run_clv"),
            models.Index(fields=["run", "-churn_risk"], name="score_run_churn"),
        ]

    def __str__(self) -> str:
        return f"{self.customer_id} in predictions #{self.run_id}"


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
    """One clean → features → predict → segment → train chain; each step's run row is linked as
    it starts (the train step's TrainingRun also evaluates, precomputes and promotes)."""

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
    prediction_run = models.ForeignKey(
        PredictionRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
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
