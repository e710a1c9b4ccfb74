"""Recommendations in a real browser: a customer's page lists their recommendations with reasons,
a product's page its similar products; on the Models page an admin compares two model runs,
promotes one (the customer page follows at once) and rolls back. The shop is the small served
one of tests/integration/recommendations/serving_data.py."""

from __future__ import annotations

import re

import pytest

from recommendations.models import ModelPromotion
from tests.integration.recommendations.serving_data import build_shop

api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
expect = api.expect

pytestmark = pytest.mark.browser

TRAIN_TIMEOUT_MS = 120_000


@pytest.fixture
def shop(transactional_db):
    return build_shop()


def test_a_customer_page_shows_recommendations_with_reasons(page, log_in, shop_viewer, shop):
    log_in(page, shop_viewer)
    page.goto("/customers/C1/")
    card = page.locator("#recommendations")
    expect(card.get_by_role("heading")).to_have_text("Recommended for C1")
    expect(card).to_contain_text(f"blend #{shop.model.pk}")
    rows = card.locator("tbody tr")
    expect(rows).to_have_count(6)
    expect(rows.locator("[data-part=reason]")).to_have_text(
        [
            "you buy this about every 30 days",
            "often bought with Candle",
            "customers like you bought this",
            "popular in United Kingdom",
            "popular in United Kingdom",
            "trending now",
        ]
    )
    expect(rows.locator("[data-part=source]")).to_have_text(
        ["model", "model", "model", "fallback: country", "fallback: country", "fallback: trending"]
    )
    expect(card.locator("tbody")).not_to_contain_text("Old candle")  # inactive
    # a recommendation leads to its product, whose page lists similar products
    card.get_by_role("link", name="Candle", exact=True).click()
    expect(page).to_have_url(re.compile(r"/products/P1/$"))
    similar = page.locator("#similar")
    expect(similar.get_by_role("heading")).to_have_text("Similar products")
    expect(similar.locator("tbody tr td:nth-child(2)")).to_have_text(["Lantern", "Mug"])
    assert page.js_errors == []


def test_a_new_product_gets_popular_products_of_its_category(page, log_in, shop_viewer, shop):
    log_in(page, shop_viewer)
    page.goto("/products/P7/")
    similar = page.locator("#similar")
    expect(similar).to_contain_text("popular products of its category stand in")
    expect(similar.locator("tbody tr")).to_have_count(1)
    expect(similar.locator("tbody tr")).to_contain_text("Mug")
    expect(similar.locator("[data-part=source]")).to_have_text("fallback: category")


def test_an_admin_compares_two_runs_promotes_one_and_rolls_back(
    page, log_in, shop_admin, shop, charts_drawn
):
    log_in(page, shop_admin)
    page.get_by_label("Main").get_by_role("link", name="Models").click()
    expect(page.locator("h1")).to_have_text("Models")
    expect(page.locator("#serving-model")).to_contain_text(f"blend #{shop.model.pk}")
    runs = page.locator("table.model-runs tbody tr")
    expect(runs).to_have_count(3)
    blend = page.locator(f'tr[data-run="{shop.model.pk}"]')
    expect(blend.locator('[data-metric="ndcg-all"]')).to_have_text("0.2512")
    expect(blend.locator('[data-metric="recall-new"]')).to_have_text("0.0720")
    expect(blend.locator(".serving-cell")).to_have_text("Serving")
    assert [c["chart"] for c in charts_drawn(page)] == ["history"]

    # compare blend and als side by side
    page.get_by_label(f"Compare run #{shop.model.pk}").check()
    page.get_by_label(f"Compare run #{shop.other.pk}").check()
    page.get_by_role("button", name="Compare selected").click()
    expect(page).to_have_url(re.compile(r"/models/compare/\?run=\d+&run=\d+$"))
    expect(page.locator("h1")).to_have_text("Compare model runs")
    # columns in the table's order (newest first): als, then blend
    expect(page.locator("table.compare thead th[data-run]")).to_have_text(
        [f"#{shop.other.pk} als", f"#{shop.model.pk} blend Serving"]
    )
    ndcg_all = page.locator('tr[data-metric="ndcg-all_items"] td')
    expect(ndcg_all).to_have_count(2)
    expect(ndcg_all.nth(0)).to_contain_text("0.1800")
    expect(ndcg_all.nth(1).locator("strong")).to_have_text("0.2512")  # the best is marked
    ndcg_new = page.locator('tr[data-metric="ndcg-new_items"] td')
    expect(ndcg_new.nth(0).locator("strong")).to_have_text("0.0800")
    expect(page.locator('tr[data-metric="coverage-all_items"] strong')).to_have_count(0)  # a tie
    assert [c["chart"] for c in charts_drawn(page)] == ["compare"]

    # promote als from the comparison
    page.get_by_role("button", name=f"Promote #{shop.other.pk} als").click()
    expect(page.locator(".messages")).to_contain_text(
        f"als #{shop.other.pk} now serves recommendations."
    )
    expect(page.locator("#serving-model")).to_contain_text(f"als #{shop.other.pk}")
    expect(page.locator(f'tr[data-run="{shop.other.pk}"] .serving-cell')).to_have_text("Serving")
    assert ModelPromotion.objects.first().model_run_id == shop.other.pk
    # the customer page follows at once (no stale cache)
    page.goto("/customers/C1/")
    names = page.locator("#recommendations tbody tr td:nth-child(2)")
    expect(names.nth(0)).to_have_text("Vase")
    expect(names.nth(1)).to_have_text("Doormat")
    expect(page.locator("#recommendations")).to_contain_text(f"als #{shop.other.pk}")

    # and rolls back
    page.goto("/models/")
    page.get_by_role("button", name=f"Roll back to blend #{shop.model.pk}").click()
    expect(page.locator(".messages")).to_contain_text(
        f"Rolled back: blend #{shop.model.pk} serves recommendations again."
    )
    expect(page.locator("#serving-model")).to_contain_text(f"blend #{shop.model.pk}")
    promotions = page.locator("table[aria-labelledby=promotions-title] tbody tr")
    expect(promotions).to_have_count(3)
    expect(promotions.first).to_contain_text("by hand (anna-admin)")
    assert page.js_errors == []


def test_a_deep_model_runs_training_curves(page, log_in, shop_viewer, shop, charts_drawn):
    history = [
        {"epoch": e, "loss": 6.0 - e, "val_ndcg": 0.2 + e / 100, "seconds": 2.0}
        for e in range(1, 6)
    ]
    shop.other.metrics = {**shop.other.metrics, "history": history}
    shop.other.save(update_fields=["metrics"])
    log_in(page, shop_viewer)
    page.goto("/models/")
    row = page.locator(f'tr[data-run="{shop.other.pk}"]')
    row.get_by_role("link", name="curves").click()
    expect(page.locator("h1")).to_have_text(f"Model run #{shop.other.pk}")
    assert [c["chart"] for c in charts_drawn(page)] == ["curves"]
    page.get_by_text("Figures per epoch").click()
    cells = page.locator(f'[data-curves="{shop.other.pk}"] tbody tr').nth(4).locator("th, td")
    expect(cells).to_have_text(["5", "1.0000", "0.2500"])
    assert page.js_errors == []


def test_a_viewer_sees_no_promote_or_roll_back_buttons(page, log_in, shop_viewer, shop):
    log_in(page, shop_viewer)
    page.goto("/models/")
    expect(page.locator("table.model-runs tbody tr")).to_have_count(3)
    expect(page.get_by_role("button", name=re.compile("Promote|Roll back"))).to_have_count(0)


@pytest.fixture
def trained(transactional_db, settings, tmp_path):
    """A small synthetic shop through the real pipeline: every algorithm trained, the chosen
    one promoted and precomputed (tests/integration/recommendations/training_shop.py)."""
    from tests.integration.recommendations.training_shop import (
        shop_events,
        small_training_settings,
        trained_pipeline,
    )

    small_training_settings(settings, tmp_path)
    shop_events()
    return trained_pipeline()


def test_an_admin_retrains_watching_the_progress_then_promotes_a_pruned_run(
    page, log_in, shop_admin, trained, celery_worker
):
    from recommendations.models import ModelRun, TrainingRun

    first = trained.training_run
    serving = ModelPromotion.objects.get().model_run
    log_in(page, shop_admin)
    page.goto("/models/")
    expect(page.locator("#serving-model")).to_contain_text(f"{serving.algorithm} #{serving.pk}")
    expect(page.locator("table.model-runs tbody tr")).to_have_count(first.model_runs.count())

    # retrain now: a worker runs the round while the page follows it, then shows the result
    page.get_by_role("button", name="Retrain now").click()
    expect(page.locator(".messages")).to_contain_text("started; this page follows it.")
    second = TrainingRun.objects.exclude(pk=first.pk).get()
    expect(page.locator("#training-live")).to_contain_text(f"Training #{second.pk}")
    expect(page.locator("#training-live")).to_have_attribute("data-live", "1")
    expect(page.locator("#training-status")).to_have_text("Succeeded", timeout=TRAIN_TIMEOUT_MS)
    expect(page.locator("#training-live")).to_have_attribute("data-live", "0")  # reloaded
    expect(page.locator("progress#training-bar")).to_have_js_property("value", 1)
    second.refresh_from_db()
    assert second.status == "succeeded", second.error
    assert second.task_id in celery_worker.task_ids and celery_worker.eager_task_ids == []
    expect(page.locator(f'tr[data-training="{second.pk}"]')).to_contain_text("Succeeded")

    # promote a run of the first round whose rows were never written: the worker precomputes
    # them, and the page reloads until it serves
    current = ModelPromotion.objects.first().model_run_id
    other = (
        ModelRun.objects.filter(training_run=first, precomputed=False)
        .exclude(pk=current)
        .order_by("pk")
        .first()
    )
    page.get_by_role("button", name=f"Promote run #{other.pk}", exact=True).click()
    expect(page.locator(".messages")).to_contain_text(
        f"Precomputing the recommendations of {other.algorithm} #{other.pk}"
    )
    expect(page.locator("#awaited")).to_have_text(
        f"{other.algorithm} #{other.pk} now serves recommendations.", timeout=TRAIN_TIMEOUT_MS
    )
    expect(page.locator("#serving-model")).to_contain_text(f"{other.algorithm} #{other.pk}")
    expect(page.locator(f'tr[data-run="{other.pk}"] .serving-cell')).to_have_text("Serving")
    # and a buyer's page shows that model's recommendations with their reasons
    from recommendations.models import Recommendation

    buyer = (
        Recommendation.objects.filter(model_run=other)
        .values_list("customer__external_id", flat=True)
        .first()
    )
    page.goto(f"/customers/{buyer}/")
    card = page.locator("#recommendations")
    expect(card).to_contain_text(f"{other.algorithm} #{other.pk}")
    reasons = card.locator("[data-part=reason]")
    expect(reasons.first).not_to_be_empty()
    assert page.js_errors == []
