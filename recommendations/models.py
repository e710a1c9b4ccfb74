"""Model registry and serving: training runs, the promotion history, precomputed recommendations.

Serving reads only rows of the *serving* model run, which is the model run of the newest
ModelPromotion. A new model's rows are written completely before its promotion row is inserted,
so switching models is one INSERT: serving never sees a half-written model."""

from django.conf import settings
from django.db import models

from ecomsite.models import BaseRun, CleaningRun, Customer, Product, TimeStampedModel


class TrainingRun(BaseRun):
    """One training round (from the pipeline, "retrain now" or the CLI): tunes and fits every
    algorithm on a temporal split, records a ModelRun each, and promotes the best if it wins."""

    cleaning_run = models.ForeignKey(CleaningRun, on_delete=models.PROTECT, related_name="+")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta(BaseRun.Meta):
        pass

    def __str__(self) -> str:
        return f"Training #{self.pk} ({self.status})"


class ModelRun(BaseRun):
    """One algorithm with its hyperparameters: validation metrics from the temporal split (fit on
    the data before the cutoff), then refitted on all data for serving (`artifact`).

    metrics: {"all": {metric: value at k}, "new": {...}, "coverage": ..., "popularity": {...}}
    (recommendations/services/training.py model_run_metrics: metric names as RankingMetrics).
    params: the hyperparameters plus "weighting"; `tuning` the search that chose them."""

    training_run = models.ForeignKey(
        TrainingRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="model_runs"
    )
    cleaning_run = models.ForeignKey(CleaningRun, on_delete=models.PROTECT, related_name="+")
    algorithm = models.CharField(max_length=40, db_index=True)
    cutoff = models.DateTimeField(null=True, blank=True, help_text="Validation starts here")
    tuning = models.JSONField(default=list, blank=True)
    train_seconds = models.FloatField(null=True, blank=True)
    artifact = models.CharField(max_length=500, blank=True)
    customers = models.IntegerField(default=0, help_text="Customers with recommendations")
    products = models.IntegerField(default=0)
    precomputed = models.BooleanField(default=False, help_text="Recommendation rows are complete")

    class Meta(BaseRun.Meta):
        pass

    def __str__(self) -> str:
        return f"{self.algorithm} #{self.pk} ({self.status})"

    def metric(self, name: str, items: str = "all") -> float | None:
        value = (self.metrics or {}).get(items, {}).get(name)
        return None if value is None else float(value)


class ModelPromotion(TimeStampedModel):
    """The serving model is the newest promotion's model run. Rows are never edited."""

    model_run = models.ForeignKey(ModelRun, on_delete=models.PROTECT, related_name="promotions")
    previous = models.ForeignKey(
        ModelRun, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    automatic = models.BooleanField(default=False)
    reason = models.CharField(max_length=300, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.model_run} promoted {self.created_at:%Y-%m-%d %H:%M}"


class Recommendation(models.Model):
    """Top-N products per customer of one model run, with the reason shown to staff/partners."""

    model_run = models.ForeignKey(ModelRun, on_delete=models.CASCADE, related_name="+")
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="+")
    rank = models.PositiveSmallIntegerField()
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="+")
    score = models.FloatField()
    reason = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["model_run", "customer", "rank"]
        constraints = [
            models.UniqueConstraint(
                fields=["model_run", "customer", "rank"], name="recommendation_run_customer_rank"
            )
        ]

    def __str__(self) -> str:
        return f"{self.customer_id} #{self.rank}: {self.product_id}"


class SimilarProduct(models.Model):
    """Top-N similar products per product of one model run."""

    model_run = models.ForeignKey(ModelRun, on_delete=models.CASCADE, related_name="+")
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="+")
    rank = models.PositiveSmallIntegerField()
    similar = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="+")
    score = models.FloatField()

    class Meta:
        ordering = ["model_run", "product", "rank"]
        constraints = [
            models.UniqueConstraint(
                fields=["model_run", "product", "rank"], name="similar_run_product_rank"
            )
        ]

    def __str__(self) -> str:
        return f"{self.product_id} ~ {self.similar_id} (#{self.rank})"


class PopularList(models.Model):
    """Fallback lists of one model run for cold start: `scope` is "all", "trending",
    "country:<name>", "segment:<id>" or "category:<name>"."""

    model_run = models.ForeignKey(ModelRun, on_delete=models.CASCADE, related_name="+")
    scope = models.CharField(max_length=200)
    rank = models.PositiveSmallIntegerField()
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="+")
    score = models.FloatField()

    class Meta:
        ordering = ["model_run", "scope", "rank"]
        constraints = [
            models.UniqueConstraint(
                fields=["model_run", "scope", "rank"], name="popular_run_scope_rank"
            )
        ]

    def __str__(self) -> str:
        return f"{self.scope} #{self.rank}: {self.product_id}"
