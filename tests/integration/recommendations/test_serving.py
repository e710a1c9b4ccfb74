"""Serving reads (recommendations/selectors.py) on the small served shop of serving_data.py:
model rows first, filters, fallbacks in order, inactive products never, cache per serving model."""

from __future__ import annotations

import pytest
from django.utils import timezone

from ecomsite.models import Event, EventKind
from recommendations import selectors
from recommendations.selectors import (
    FALLBACK_CATEGORY,
    FALLBACK_COUNTRY,
    FALLBACK_POPULAR,
    FALLBACK_SEGMENT,
    FALLBACK_TRENDING,
    MODEL,
    NoServingModel,
    UnknownProduct,
    customer_recommendations,
    similar_products,
)
from recommendations.services.registry import model_promote, model_roll_back
from tests.integration.recommendations.serving_data import build_shop

pytestmark = pytest.mark.django_db


@pytest.fixture
def shop():
    return build_shop()


def _listed(result) -> list[tuple[str, str]]:
    return [(item.product_id, item.source) for item in result.items]


def test_a_known_customer_gets_the_model_rows_in_rank_order_without_inactive_products(shop):
    # when C1's four rows are asked for (PX, rank 2, is inactive)
    result = customer_recommendations("C1", k=3)
    # then the active ones come in rank order, with their reasons and the product's details
    assert _listed(result) == [("P1", MODEL), ("P2", MODEL), ("P3", MODEL)]
    first = result.items[0]
    assert (first.title, first.category, first.price) == ("Candle", "Candles", 2.5)
    assert first.reason == "you buy this about every 30 days"
    assert first.score == pytest.approx(0.9)
    assert (result.customer_known, result.basis) == (True, selectors.KNOWN)
    assert (result.model_run_id, result.algorithm) == (shop.model.pk, "blend")


def test_a_short_list_is_filled_from_country_then_trending_then_all_time(shop):
    result = customer_recommendations("C1", k=10)
    # C1 has no segment: United Kingdom (P5, P4), trending (P6; P5 taken), all (all taken or
    # inactive: P4, P1, PX, P5)
    assert _listed(result) == [
        ("P1", MODEL),
        ("P2", MODEL),
        ("P3", MODEL),
        ("P5", FALLBACK_COUNTRY),
        ("P4", FALLBACK_COUNTRY),
        ("P6", FALLBACK_TRENDING),
    ]
    reasons = {item.product_id: item.reason for item in result.items}
    assert reasons["P5"] == "popular in United Kingdom"
    assert reasons["P6"] == "trending now"


def test_a_customer_new_to_the_model_gets_their_segment_then_country_lists(shop):
    result = customer_recommendations("C2", k=6)
    # segment Champions (P3; PX inactive; P4), France (P6, P2), trending (P5)
    assert _listed(result) == [
        ("P3", FALLBACK_SEGMENT),
        ("P4", FALLBACK_SEGMENT),
        ("P6", FALLBACK_COUNTRY),
        ("P2", FALLBACK_COUNTRY),
        ("P5", FALLBACK_TRENDING),
        ("P1", FALLBACK_POPULAR),
    ]
    assert result.items[0].reason == "popular in your segment (Champions)"
    assert result.items[2].reason == "popular in France"
    assert result.items[5].reason == "a best seller"
    assert (result.customer_known, result.basis, result.new_to_model) == (
        True,
        selectors.NEW,
        True,
    )


def test_an_unknown_customer_gets_trending_and_best_sellers_and_is_told_so(shop):
    result = customer_recommendations("NOBODY", k=10)
    assert (result.customer_known, result.basis) == (False, selectors.UNKNOWN)
    assert _listed(result) == [
        ("P6", FALLBACK_TRENDING),
        ("P5", FALLBACK_TRENDING),
        ("P4", FALLBACK_POPULAR),
        ("P1", FALLBACK_POPULAR),
    ]
    assert "PX" not in {item.product_id for item in result.items}


def test_exclude_purchased_drops_bought_products_from_model_rows_and_fallbacks(shop):
    # given C1 bought P1 and P5 (P5 heads the United Kingdom list)
    for sku in ("P1", "P5"):
        Event.objects.create(
            customer=shop.customers["C1"],
            product=shop.products[sku],
            kind=EventKind.PURCHASE,
            occurred_at=timezone.now(),
            idempotency_key=f"bought-{sku}",
        )
    Event.objects.create(  # a view is not a purchase
        customer=shop.customers["C1"],
        product=shop.products["P2"],
        kind=EventKind.VIEW,
        occurred_at=timezone.now(),
        idempotency_key="viewed-P2",
    )
    result = customer_recommendations("C1", k=5, exclude_purchased=True)
    assert _listed(result) == [
        ("P2", MODEL),
        ("P3", MODEL),
        ("P4", FALLBACK_COUNTRY),
        ("P6", FALLBACK_TRENDING),
    ]
    # without the flag they are back
    assert [i.product_id for i in customer_recommendations("C1", k=2).items] == ["P1", "P2"]


def test_a_category_filter_keeps_model_rows_of_it_then_the_category_list_with_new_products(shop):
    result = customer_recommendations("C1", k=5, category="Mugs")
    # the model's Mug (P2) first, then the category's list: the new P7 (no model rows anywhere)
    assert _listed(result) == [("P2", MODEL), ("P7", FALLBACK_CATEGORY)]
    assert result.items[1].reason == "popular in Mugs"
    candles = customer_recommendations("C1", k=5, category="Candles")
    assert _listed(candles) == [("P1", MODEL), ("P3", MODEL)]  # never PX
    assert customer_recommendations("C1", k=5, category="Garden").items == []


def test_k_must_be_between_1_and_100(shop):
    for k in (0, 101):
        with pytest.raises(ValueError, match="k must be between 1 and 100"):
            customer_recommendations("C1", k=k)
        with pytest.raises(ValueError):
            similar_products("P1", k=k)


def test_nothing_serves_before_a_promotion():
    build_shop(promote=False)
    with pytest.raises(NoServingModel, match="No recommendation model serves yet"):
        customer_recommendations("C1")
    with pytest.raises(NoServingModel):
        similar_products("P1")


def test_similar_products_come_from_the_model_without_inactive_ones(shop):
    result = similar_products("P1", k=10)
    # PX (rank 1) is inactive; P3, P2 from the model; then Candles has no list: nothing more
    assert _listed(result) == [("P3", MODEL), ("P2", MODEL)]
    assert [item.score for item in result.items] == [pytest.approx(0.7), pytest.approx(0.4)]
    assert result.items[0].reason == selectors.SIMILAR_REASON
    assert (result.product_id, result.title, result.from_model) == ("P1", "Candle", 2)


def test_a_product_without_rows_gets_popular_products_of_its_category(shop):
    result = similar_products("P7", k=5)
    assert _listed(result) == [("P2", FALLBACK_CATEGORY)]  # never itself
    assert result.items[0].reason == "popular in Mugs"
    assert result.from_model == 0


def test_an_unknown_product_is_an_error(shop):
    with pytest.raises(UnknownProduct, match="No product with the id 'NOPE'"):
        similar_products("NOPE")


def test_a_repeated_request_reads_no_table_and_a_miss_costs_two_queries(
    shop, django_assert_num_queries
):
    customer_recommendations("C3", k=2)  # warms the serving model id and its algorithm name
    with django_assert_num_queries(2):  # the customer, their rows
        customer_recommendations("C1", k=3)
    with django_assert_num_queries(0):
        again = customer_recommendations("C1", k=3)
    assert [item.product_id for item in again.items] == ["P1", "P2", "P3"]
    similar_products("P1", k=3)
    with django_assert_num_queries(0):
        similar_products("P1", k=3)


def test_a_promotion_and_a_roll_back_switch_cached_answers(
    shop, django_capture_on_commit_callbacks
):
    assert [i.product_id for i in customer_recommendations("C1", k=2).items] == ["P1", "P2"]
    # when another model is promoted (its cache switch runs on commit)
    with django_capture_on_commit_callbacks(execute=True):
        model_promote(shop.other, reason="test")
    # then the next answer comes from it, not from the cache of the old one
    result = customer_recommendations("C1", k=2)
    assert (result.model_run_id, result.algorithm) == (shop.other.pk, "als")
    assert _listed(result) == [("P6", MODEL), ("P5", MODEL)]
    with django_capture_on_commit_callbacks(execute=True):
        model_roll_back()
    assert [i.product_id for i in customer_recommendations("C1", k=2).items] == ["P1", "P2"]
