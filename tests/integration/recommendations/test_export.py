"""export_recommendations: the CSV interface quality checks use (columns, ranks, external ids),
from the serving model's rows, filled up from fallback lists for customers newer than the model."""

from __future__ import annotations

import csv
import datetime as dt
from decimal import Decimal
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from ecomsite.models import Customer, Event, EventKind, Product
from recommendations.models import PopularList, Recommendation
from recommendations.services.precompute import serving_run
from tests.integration.recommendations.training_shop import (
    TOP_N,
    shop_events,
    small_training_settings,
    trained_pipeline,
)

pytestmark = pytest.mark.django_db

HEADER = ["customer_id", "rank", "product_id", "score", "model"]


@pytest.fixture(autouse=True)
def _small(settings, tmp_path: Path) -> None:
    small_training_settings(settings, tmp_path)


@pytest.fixture
def served():
    shop_events()
    trained_pipeline()
    return serving_run()


def _export(tmp_path: Path, k: int) -> list[dict[str, str]]:
    path = tmp_path / "recs.csv"
    call_command("export_recommendations", "--k", str(k), "--output", str(path), stderr=StringIO())
    with path.open(newline="") as handle:
        reader = csv.reader(handle)
        assert next(reader) == HEADER
        return [dict(zip(HEADER, row, strict=True)) for row in reader]


def _buyers() -> set[str]:
    return set(
        Event.objects.filter(kind=EventKind.PURCHASE, customer__isnull=False).values_list(
            "customer__external_id", flat=True
        )
    )


def test_nothing_serving_is_a_clear_error(tmp_path):
    with pytest.raises(CommandError, match="No model is serving yet"):
        call_command("export_recommendations", "--output", str(tmp_path / "x.csv"))


def test_every_buyer_gets_k_ranked_rows_with_external_ids(served, tmp_path):
    rows = _export(tmp_path, k=5)
    by_customer: dict[str, list[dict[str, str]]] = {}
    for row in rows:
        by_customer.setdefault(row["customer_id"], []).append(row)
    # every customer with a purchase event, by the id they were imported with, ranks 1..5
    assert set(by_customer) == _buyers()
    skus = set(Product.objects.filter(is_active=True).values_list("external_id", flat=True))
    for customer, entries in by_customer.items():
        assert [int(e["rank"]) for e in entries] == [1, 2, 3, 4, 5], customer
        assert {e["product_id"] for e in entries} <= skus
        assert len({e["product_id"] for e in entries}) == 5
        scores = [float(e["score"]) for e in entries]
        assert scores == sorted(scores, reverse=True)
    assert {row["model"] for row in rows} == {f"{served.algorithm}#{served.pk}"}
    # a model customer's rows are its precomputed top 5
    first = Recommendation.objects.filter(model_run=served, rank=1).select_related("customer")[0]
    mine = [row["product_id"] for row in by_customer[first.customer.external_id]]  # in rank order
    expected = list(
        Recommendation.objects.filter(model_run=served, customer=first.customer, rank__lte=5)
        .order_by("rank")
        .values_list("product__external_id", flat=True)
    )
    assert mine == expected


def test_a_customer_newer_than_the_model_is_filled_from_fallback_lists(served, tmp_path):
    # given a customer whose first purchase arrived after the model was trained
    product = Product.objects.filter(is_active=True).first()
    newcomer = Customer.objects.create(external_id="NEW-1", country="United Kingdom")
    Event.objects.create(
        customer=newcomer,
        product=product,
        kind=EventKind.PURCHASE,
        quantity=1,
        unit_price=Decimal("2.50"),
        occurred_at=dt.datetime(2025, 1, 5, tzinfo=dt.UTC),
        idempotency_key="new-1",
    )
    rows = [row for row in _export(tmp_path, k=TOP_N) if row["customer_id"] == "NEW-1"]
    # then they get the country's best sellers, filled from all-time ones if needed
    country = list(
        PopularList.objects.filter(model_run=served, scope="country:United Kingdom")
        .order_by("rank")
        .values_list("product__external_id", flat=True)
    )
    assert [int(row["rank"]) for row in rows] == list(range(1, TOP_N + 1))
    assert [row["product_id"] for row in rows][: len(country)] == country[:TOP_N]


def test_k_beyond_the_precomputed_lists_is_refused(served, tmp_path):
    with pytest.raises(CommandError, match=f"k must be between 1 and {TOP_N}"):
        call_command(
            "export_recommendations", "--k", str(TOP_N + 1), "--output", str(tmp_path / "x.csv")
        )


def test_export_to_stdout(served, capsys):
    call_command("export_recommendations", "--k", "1", "--output", "-", stderr=StringIO())
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == ",".join(HEADER)
    assert len(lines) == 1 + len(_buyers())
