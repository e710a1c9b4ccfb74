"""Training rounds through the pipeline on a small synthetic shop: model runs with metrics for
every algorithm, the promotion rule, precomputed rows with reasons, hand promotion, roll back,
pruning, and failures that leave the serving model alone."""

from __future__ import annotations

from io import StringIO
from pathlib import Path

import numpy as np
import pytest
from django.core.management import call_command
from django.db.models import Count

from ecomsite.exceptions import ValidationFailed
from ecomsite.models import CleaningRun, Product, RunStatus
from recommendations.engine.registry import load_recommender
from recommendations.models import (
    ModelPromotion,
    ModelRun,
    PopularList,
    Recommendation,
    SimilarProduct,
    TrainingRun,
)
from recommendations.services.precompute import (
    REASON_BOUGHT,
    model_run_promote_by_hand,
    model_run_promote_start,
    recommendations_prune,
    serving_run,
)
from recommendations.services.registry import model_roll_back
from recommendations.services.training import training_run_create, training_run_execute
from segments.models import PipelineRun, PipelineTrigger, SegmentMembership
from segments.services.pipeline import pipeline_start
from tests.integration.recommendations.training_shop import (
    EVERY_ALGORITHM,
    TOP_N,
    shop_events,
    small_training_settings,
    trained_pipeline,
)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _small(settings, tmp_path: Path) -> None:
    small_training_settings(settings, tmp_path)


@pytest.fixture
def first() -> TrainingRun:
    shop_events()
    pipeline = trained_pipeline()
    assert pipeline.training_run is not None
    return pipeline.training_run


def _round(cleaning: CleaningRun, **params: object) -> TrainingRun:
    run = training_run_create(cleaning, params=params)
    training_run_execute(run.pk)
    run.refresh_from_db()
    return run


def test_the_pipeline_trains_every_algorithm_and_promotes_the_first(first):
    # given a shop with a year of purchases and no serving model, when the pipeline runs
    assert first.status == RunStatus.SUCCEEDED, first.error
    runs = {run.algorithm: run for run in first.model_runs.all()}
    # then every algorithm and both blends are recorded, held-out figures beside popularity
    assert set(runs) == EVERY_ALGORITHM
    for run in runs.values():
        assert run.status == RunStatus.SUCCEEDED
        assert run.cutoff is not None and run.train_seconds is not None
        for view in ("all", "new"):
            assert set(run.metrics[view]) == {
                "k", "users", "precision", "recall", "ndcg", "map", "hit_rate", "coverage"
            }  # fmt: skip
            assert run.metrics[view]["k"] == 10
            assert run.metrics["popularity"][view]["users"] == run.metrics[view]["users"]
        assert run.metrics["validation"]["objective"] == "ndcg@10"
        assert run.metrics["validation"]["value"] >= 0
        assert len(run.tuning) >= 1
        # refitted on all data and saved with its index maps: promotable later
        model = load_recommender(run.artifact)
        assert model.customer_ids is not None and model.product_ids is not None
        assert len(model.customer_ids) == first.metrics["customers"]
        assert len(model.product_ids) == run.products == first.metrics["products"]
    assert runs["item_knn"].params["weighting"] in ("binary", "log_units")
    assert "weighting" not in runs["repeat"].params
    assert runs["blend+trend"].params["trend_weight"] >= 0
    # the experiment's choice (best on validation) serves, promoted automatically and precomputed
    chosen = runs[first.metrics["chosen"]]
    assert chosen.metrics["chosen"] is True
    assert serving_run() == chosen
    promotion = ModelPromotion.objects.get()
    assert (promotion.automatic, promotion.previous) == (True, None)
    assert promotion.reason.startswith(f"First model: {chosen.algorithm} #{chosen.pk}")
    assert first.metrics["promotion"]["decision"] == "promoted"
    assert chosen.precomputed
    assert [run.algorithm for run in runs.values() if run.precomputed] == [chosen.algorithm]
    assert first.metrics["seconds"] > 0
    assert first.metrics["cutoff"] < first.metrics["newest"]


def test_precomputed_rows_have_reasons_lists_and_similar_products(first):
    serving = serving_run()
    rows = Recommendation.objects.filter(model_run=serving)
    customers = rows.values("customer").distinct().count()
    # every customer with purchases has exactly TOP_N ranked rows (80 products, all active)
    assert customers == serving.customers == first.metrics["precompute"]["customers"]
    assert rows.count() == customers * TOP_N
    assert sorted(set(rows.values_list("rank", flat=True))) == list(range(1, TOP_N + 1))
    reasons = list(rows.values_list("reason", flat=True))
    assert all(reasons)
    assert any(reason.startswith("often bought with ") for reason in reasons)
    assert REASON_BOUGHT in reasons or any("about every" in reason for reason in reasons)
    # a repeat buyer's reason names their own mean interval
    regular = rows.filter(reason__startswith="you buy this about every").first()
    if regular is not None:
        assert regular.reason.endswith(" days")
    # fallback lists of every kind, and similar products
    scopes = set(PopularList.objects.filter(model_run=serving).values_list("scope", flat=True))
    assert {"all", "country:United Kingdom"} <= scopes
    assert any(scope.startswith("segment:") for scope in scopes)
    assert any(scope.startswith("category:") for scope in scopes)
    segment_ids = set(SegmentMembership.objects.values_list("segment_id", flat=True))
    assert {int(s.split(":")[1]) for s in scopes if s.startswith("segment:")} <= segment_ids
    similar = SimilarProduct.objects.filter(model_run=serving)
    assert similar.exists()
    assert not similar.filter(rank__gt=20).exists()


def test_inactive_products_are_never_recommended(settings, tmp_path):
    # given the three best sellers are withdrawn before the pipeline runs
    shop_events()
    top = list(
        Product.objects.filter(events__kind="purchase")
        .annotate(n=Count("events"))
        .order_by("-n")
        .values_list("pk", flat=True)[:3]
    )
    Product.objects.filter(pk__in=top).update(is_active=False)
    # when the pipeline trains and precomputes
    trained_pipeline()
    serving = serving_run()
    # then they appear in no recommendation, similar list or fallback list
    assert Recommendation.objects.filter(model_run=serving).exists()
    assert not Recommendation.objects.filter(product__in=top).exists()
    assert not SimilarProduct.objects.filter(similar__in=top).exists()
    assert not PopularList.objects.filter(product__in=top).exists()


def test_a_round_that_does_not_beat_the_serving_model_does_not_promote(first):
    serving = serving_run()
    # when a round can only offer popularity (weaker than the served choice on the same period)
    second = _round(first.cleaning_run, algorithms=["popularity"])
    # then it succeeds, records its model run, and keeps the serving model
    assert second.status == RunStatus.SUCCEEDED, second.error
    decision = second.metrics["promotion"]
    assert decision["decision"] == "kept serving model" and decision["promote"] is False
    assert decision["serving"]["model_run"] == serving.pk
    assert decision["candidate"]["ndcg@10"] < decision["serving"]["ndcg@10"]
    assert "does not beat the serving" in decision["reason"]
    assert serving_run() == serving
    assert ModelPromotion.objects.count() == 1
    newcomer = second.model_runs.get()
    assert newcomer.status == RunStatus.SUCCEEDED and not newcomer.precomputed
    assert not Recommendation.objects.filter(model_run=newcomer).exists()


def test_the_same_configuration_on_the_same_data_is_not_promoted_again(first):
    serving = serving_run()
    again = _round(first.cleaning_run)
    decision = again.metrics["promotion"]
    # the serving configuration is this round's chosen one: equal figures, no newer data
    assert decision["serving"]["ndcg@10"] == pytest.approx(decision["candidate"]["ndcg@10"])
    assert decision["promote"] is False
    assert serving_run() == serving


def test_the_serving_configuration_on_newer_data_is_a_refresh(settings):
    # given rounds that can only choose repeat purchase (one configuration: a tie every time)
    settings.RECOMMENDER_ALGORITHMS = ["repeat"]
    shop_events()
    trained_pipeline()
    served = serving_run()
    # when new purchases arrive and the pipeline trains again
    shop_events(seed=2, events=1_500)
    pipeline = trained_pipeline()
    # then the same configuration, refitted on the newer data, replaces the serving one
    decision = pipeline.training_run.metrics["promotion"]
    assert decision["serving"]["ndcg@10"] == pytest.approx(decision["candidate"]["ndcg@10"])
    assert decision["promote"] is True
    assert "is the serving configuration" in decision["reason"]
    assert "on newer data" in decision["reason"]
    assert serving_run() != served
    assert serving_run().algorithm == "repeat"


def test_a_failed_training_keeps_the_serving_model(first, monkeypatch):
    serving = serving_run()
    shop_events(seed=3, events=1_000)

    def broken(*args, **kwargs):
        raise RuntimeError("out of memory")

    monkeypatch.setattr("recommendations.services.training.run_experiment", broken)
    with pytest.raises(RuntimeError, match="out of memory"):
        pipeline_start(trigger=PipelineTrigger.CLI, sync=True)
    pipeline = PipelineRun.objects.latest("pk")
    assert pipeline.status == RunStatus.FAILED
    assert "train step failed: out of memory" in pipeline.error
    assert pipeline.training_run.status == RunStatus.FAILED
    assert serving_run() == serving
    assert Recommendation.objects.filter(model_run=serving).exists()


def test_a_failed_precompute_promotes_nothing(settings, tmp_path, monkeypatch):
    shop_events()

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr("recommendations.services.training.model_run_precompute", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        pipeline_start(trigger=PipelineTrigger.CLI, sync=True)
    training = TrainingRun.objects.get()
    assert training.status == RunStatus.FAILED
    assert serving_run() is None
    # the model runs were fitted and saved before the failure: promotable by hand
    assert training.model_runs.filter(status=RunStatus.SUCCEEDED).count() == len(EVERY_ALGORITHM)


def test_hand_promotion_precomputes_then_switches_and_roll_back_returns(
    first, staff_user, django_capture_on_commit_callbacks
):
    serving = serving_run()
    other = first.model_runs.exclude(pk=serving.pk).get(algorithm="item_knn")
    assert not other.precomputed
    # when staff promote a run without rows (queued task, run inline here)
    with django_capture_on_commit_callbacks(execute=True):
        assert model_run_promote_start(other, created_by=staff_user) is None
    other.refresh_from_db()
    # then it was precomputed first and serves now, promoted by hand
    assert other.precomputed
    assert serving_run() == other
    promotion = ModelPromotion.objects.first()
    assert (promotion.automatic, promotion.previous, promotion.created_by) == (
        False,
        serving,
        staff_user,
    )
    assert Recommendation.objects.filter(model_run=other).count() == other.customers * TOP_N
    # the previous model keeps its rows, so a roll back is instant
    assert Recommendation.objects.filter(model_run=serving).exists()
    model_roll_back(created_by=staff_user)
    assert serving_run() == serving
    # promoting the serving run again changes nothing
    assert model_run_promote_by_hand(serving) == ModelPromotion.objects.first()
    assert ModelPromotion.objects.count() == 3


def test_older_runs_rows_are_pruned_and_recomputed_on_demand(first):
    serving = serving_run()
    a, b = first.model_runs.exclude(pk=serving.pk).filter(algorithm__in=["ease", "als"])
    model_run_promote_by_hand(a)  # serving a, previous the first model
    model_run_promote_by_hand(b)  # serving b, previous a: the first model's rows go
    serving.refresh_from_db()
    assert not serving.precomputed
    assert not Recommendation.objects.filter(model_run=serving).exists()
    assert not PopularList.objects.filter(model_run=serving).exists()
    assert Recommendation.objects.filter(model_run=a).exists()
    assert recommendations_prune() == []
    # a hand promotion of the pruned run recomputes its rows
    model_run_promote_by_hand(serving)
    serving.refresh_from_db()
    assert serving.precomputed and serving_run() == serving
    assert Recommendation.objects.filter(model_run=serving).count() == serving.customers * TOP_N


def test_a_serving_run_cannot_be_precomputed_again(first):
    from recommendations.services.precompute import model_run_precompute

    with pytest.raises(ValidationFailed, match="is serving"):
        model_run_precompute(serving_run(), force=True)


def test_a_redelivered_round_replaces_its_model_runs(first):
    run = training_run_create(first.cleaning_run, params={"algorithms": ["popularity", "repeat"]})
    TrainingRun.objects.filter(pk=run.pk).update(status=RunStatus.RUNNING, task_id="t-1")
    ModelRun.objects.create(training_run=run, cleaning_run=first.cleaning_run, algorithm="stale")
    training_run_execute(run.pk, task_id="t-1")
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED
    assert sorted(run.model_runs.values_list("algorithm", flat=True)) == ["popularity", "repeat"]
    # a finished run returns at once
    assert training_run_execute(run.pk, task_id="t-1") is None


def test_too_little_history_skips_training(sample_path):
    from ecomsite.services.imports import import_file

    import_file(path=sample_path, format="online-retail")
    pipeline = trained_pipeline()
    training = pipeline.training_run
    assert training.status == RunStatus.SUCCEEDED
    assert training.progress_message.startswith("Skipped:")
    assert not training.model_runs.exists()
    assert serving_run() is None


def test_train_recommenders_command(first):
    out = StringIO()
    call_command("train_recommenders", "--sync", stdout=out)
    text = out.getvalue()
    assert "held-out NDCG@10" in text
    assert "kept serving model" in text
    assert TrainingRun.objects.count() == 2


def test_run_pipeline_prints_the_train_step(settings, tmp_path):
    shop_events()
    out = StringIO()
    call_command("run_pipeline", "--sync", stdout=out)
    text = out.getvalue()
    assert "Training #" in text
    assert "recommenders: promoted: First model:" in text


def test_the_async_pipeline_runs_the_train_step(django_capture_on_commit_callbacks):
    shop_events()
    with django_capture_on_commit_callbacks(execute=True):
        run = pipeline_start(trigger=PipelineTrigger.API)
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert run.training_run.status == RunStatus.SUCCEEDED
    assert serving_run() is not None
    assert np.isclose(run.progress, 1.0)


def test_model_files_of_old_rounds_are_deleted(first, settings):
    # given only the newest round's model files are kept
    settings.RECOMMENDER_KEEP_TRAININGS = 1
    serving = serving_run()
    old = first.model_runs.exclude(pk=serving.pk).first()
    old_file = Path(old.artifact)
    # when another round runs
    second = _round(first.cleaning_run, algorithms=["popularity"])
    # then the first round's files are gone, except the serving model's
    old.refresh_from_db()
    serving.refresh_from_db()
    assert old.artifact == "" and not old_file.exists()
    assert old.pk in second.metrics["pruned_artifacts"]
    assert Path(serving.artifact).exists()
    assert Path(second.model_runs.get().artifact).exists()
    with pytest.raises(ValidationFailed, match="no fitted model"):
        model_run_promote_start(old)


def test_a_refit_writes_its_epochs_to_the_model_run_while_it_trains(first, monkeypatch):
    """Deep models report (epoch, epochs, loss=..., val_ndcg=...) per epoch: the model run's
    message and metrics["history"] follow the fit; the finished fit's history is kept."""
    from recommendations.engine.baselines import Popularity
    from recommendations.engine.registry import ALGORITHMS
    from recommendations.services.training import _fit_reporting

    seen: list[tuple[str, list[dict]]] = []

    class Epochs(Popularity):
        name = "epochs"

        def _fit(self, train, context, on_progress):
            super()._fit(train, context, on_progress)
            self.history = []
            for epoch in (1, 2, 3):
                figures = {"loss": 4.0 - epoch, "val_ndcg": 0.1 * epoch}
                self.history.append({"epoch": epoch, **figures, "seconds": 0.5})
                on_progress(epoch, 3, **figures)
                run = ModelRun.objects.get(pk=model_run.pk)
                seen.append((run.progress_message, run.metrics.get("history", [])))

    monkeypatch.setitem(ALGORITHMS, "epochs", Epochs)
    model_run = ModelRun.objects.filter(training_run=first).first()
    from recommendations.engine.data import training_data
    from recommendations.services.precompute import purchase_history_load

    data = training_data(purchase_history_load(first.cleaning_run).interactions)
    model, seconds = _fit_reporting("epochs", {}, None, data, model_run)
    assert seconds >= 0 and model.history[-1]["epoch"] == 3
    assert seen[1][0] == "Refitting on all data: epoch 2/3 · loss 2 · val ndcg 0.2"
    assert seen[2][1] == [
        {"epoch": 1, "loss": 3.0, "val_ndcg": pytest.approx(0.1)},
        {"epoch": 2, "loss": 2.0, "val_ndcg": pytest.approx(0.2)},
        {"epoch": 3, "loss": 1.0, "val_ndcg": pytest.approx(0.3)},
    ]


def test_the_weekly_beat_entry_starts_a_deep_round(first, django_capture_on_commit_callbacks):
    from django_celery_beat.models import PeriodicTask

    from recommendations.tasks import deep_training_scheduled_task

    entry = PeriodicTask.objects.get(task="recommendations.tasks.deep_training_scheduled_task")
    assert entry.enabled and entry.crontab.day_of_week == "0" and entry.crontab.hour == "4"
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        deep_training_scheduled_task()
    run = TrainingRun.objects.order_by("-pk").first()
    assert run.params["deep"] is True and len(callbacks) == 1
    # while it is pending, the next week's entry skips (one round at a time)
    deep_training_scheduled_task()
    assert TrainingRun.objects.filter(params__deep=True).count() == 1


def test_a_deep_round_fits_with_the_static_side_attributes(first, monkeypatch):
    """The deep models get each customer's country and each product's category and price,
    aligned to the matrix, plus recency/orders/units from the training log."""
    from recommendations.engine.baselines import Popularity
    from recommendations.engine.registry import ALGORITHMS
    from recommendations.engine.tuning import DEEP_SPACES, SearchSpace

    contexts: list[dict] = []

    class Sees(Popularity):
        name = "sees"

        def _fit(self, train, context, on_progress):
            contexts.append(dict(context))
            super()._fit(train, context, on_progress)

    monkeypatch.setitem(ALGORITHMS, "sees", Sees)
    monkeypatch.setitem(DEEP_SPACES, "sees", SearchSpace("sees", {}))
    from recommendations.services import training

    monkeypatch.setitem(training.SPACES, "sees", DEEP_SPACES["sees"])
    run = training_run_create(first.cleaning_run, params={"deep": True, "algorithms": ["sees"]})
    training_run_execute(run.pk)
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED, run.error
    # validation fit, held-out refit, refit on all data (and the serving comparison refits the
    # serving CF model, which gets no attributes)
    assert len(contexts) >= 3
    for context in contexts:
        customers, products = context["customer_features"], context["product_features"]
        assert {"country", "recency_days", "orders", "units"} <= set(customers.columns)
        assert {"category", "price"} <= set(products.columns)
        assert customers["country"].notna().all() and products["category"].notna().all()
    last = contexts[-1]
    assert len(last["customer_features"]) == last["log"].users.max() + 1
