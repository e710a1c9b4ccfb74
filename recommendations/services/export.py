"""The recommendations export (``manage.py export_recommendations``): a stable CSV interface.

Columns exactly ``customer_id,rank,product_id,score,model``; one row per customer and rank 1..k
for every customer with purchase history (at least one stored purchase event), with the ids as
imported (``Customer.external_id`` = CustomerID, ``Product.external_id`` = StockCode). Rows come
from the serving model's precomputed recommendations; a customer with fewer than k (one who first
bought after the model was trained, say) is filled up from the model's fallback lists: their RFM
segment's, then their country's, then all-time best sellers, never repeating a product. A filled
row's score is capped by the row before it, so scores never increase with rank. ``model`` is the
serving run's algorithm and id, e.g. ``blend+trend#12``. Sorted by customer id, then rank.
"""

from __future__ import annotations

import csv
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, TextIO

from django.db import connection

from ecomsite.engine.columns import PURCHASE
from ecomsite.exceptions import DomainError, ValidationFailed
from ecomsite.models import Customer, Event, Product
from recommendations.models import ModelRun, PopularList, Recommendation
from recommendations.services.precompute import (
    customer_fallback_scopes,
    fallback_list,
    people_load,
    serving_run,
)

EXPORT_COLUMNS = ("customer_id", "rank", "product_id", "score", "model")
FETCH_ROWS = 50_000


class NothingServing(DomainError):
    status_code = 409


@dataclass(frozen=True)
class ExportSummary:
    model: str
    customers: int
    rows: int
    filled_customers: int
    seconds: float


def model_label(run: ModelRun) -> str:
    return f"{run.algorithm}#{run.pk}"


def _fetch(sql: str, params: list[int | str]) -> Iterator[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        while rows := cursor.fetchmany(FETCH_ROWS):
            yield from rows


def _buyers() -> set[int]:
    q = connection.ops.quote_name
    sql = (
        f"SELECT DISTINCT customer_id FROM {q(Event._meta.db_table)} "
        "WHERE kind = %s AND customer_id IS NOT NULL"
    )
    return {int(row[0]) for row in _fetch(sql, [PURCHASE])}


def recommendations_export(*, k: int, output: TextIO) -> ExportSummary:
    """Write the CSV (module docstring) to `output`. NothingServing when no model serves;
    ValidationFailed when k is outside 1..the number of precomputed rows per customer."""
    started = time.monotonic()
    run = serving_run()
    if run is None:
        raise NothingServing(
            "No model is serving yet: run the pipeline (run_pipeline) or train_recommenders first."
        )
    top_n = int((run.metrics or {}).get("precompute", {}).get("top_n", 0)) or k
    if not 1 <= k <= top_n:
        raise ValidationFailed(f"k must be between 1 and {top_n} (the precomputed list length).")
    label = model_label(run)

    q = connection.ops.quote_name
    lists: dict[int, list[tuple[int, int, float]]] = defaultdict(list)
    sql = (
        f"SELECT customer_id, {q('rank')}, product_id, score FROM "
        f"{q(Recommendation._meta.db_table)} WHERE model_run_id = %s AND {q('rank')} <= %s"
    )
    for customer, rank, product, score in _fetch(sql, [run.pk, k]):
        lists[int(customer)].append((int(rank), int(product), float(score)))

    buyers = _buyers() | set(lists)
    short = [customer for customer in buyers if len(lists.get(customer, ())) < k]
    if short:
        _fill(run, lists, short, k)

    customer_ids = dict(Customer.objects.values_list("id", "external_id"))
    product_ids = dict(Product.objects.values_list("id", "external_id"))
    order = sorted((customer_ids[c], c) for c in buyers if c in customer_ids)
    writer = csv.writer(output, lineterminator="\n")
    writer.writerow(EXPORT_COLUMNS)
    rows = 0
    for external, customer in order:
        entries = sorted(lists.get(customer, ()))[:k]
        for position, (_, product, score) in enumerate(entries, start=1):
            writer.writerow((external, position, product_ids[product], f"{score:.6g}", label))
        rows += len(entries)
    return ExportSummary(
        model=label,
        customers=len(order),
        rows=rows,
        filled_customers=len(short),
        seconds=round(time.monotonic() - started, 2),
    )


def _fill(
    run: ModelRun, lists: dict[int, list[tuple[int, int, float]]], customers: list[int], k: int
) -> None:
    """Fill the customers' lists up to k from the run's fallback lists (module docstring)."""
    popular: dict[str, list[tuple[int, float]]] = defaultdict(list)
    for scope, product, score in (
        PopularList.objects.filter(model_run=run)
        .order_by("scope", "rank")
        .values_list("scope", "product_id", "score")
    ):
        popular[scope].append((product, score))
    people = people_load()
    for customer in customers:
        entries = sorted(lists.get(customer, ()))
        ceiling = entries[-1][2] if entries else None
        scopes = [scope for scope, _ in customer_fallback_scopes(customer, people)]
        extra = fallback_list(
            scopes,
            popular,
            k - len(entries),
            exclude={product for _, product, _ in entries},
            ceiling=ceiling,
        )
        start = len(entries)
        entries.extend(
            (start + offset, product, score)
            for offset, (product, score, _) in enumerate(extra, start=1)
        )
        lists[customer] = entries
