"""Precomputed serving data of a model run, written completely before the run may serve.

For a model run (its fitted model and the purchases it was fitted on) ``model_run_precompute``
writes

* **Recommendation**: the top ``RECOMMENDATIONS_TOP_N`` products of every customer with purchase
  history, each with a reason staff understand;
* **SimilarProduct**: the ``SIMILAR_N`` products most similar to each product (cosine between
  the products' columns of the customer × product "bought" matrix);
* **PopularList**: cold-start lists, ``TOP_N`` long: "all" (all-time), "trending" (selling
  faster in the last ``TREND_WINDOW_DAYS`` than in the ``TREND_BASELINE_DAYS`` before),
  "country:<name>", "segment:<id>" (the RFM segments of the segmentation run in use) and
  "category:<name>". Products are ranked by how many of the group's customers bought them; the
  score is that share of the group's buying customers (for "trending": how far above its usual
  rate the product sells, in standard deviations).

Inactive products (``Product.is_active`` False) are never recommended, listed or shown as similar.
Then ``ModelRun.precomputed`` is set: only then may the run be promoted
(``registry.model_promote``).

**Reasons**, the first that applies to a (customer, product) row, computed per batch of
customers with sparse lookups:

1. ordered at least twice, on average N >= 1 days apart: "you buy this about every N days";
2. ordered before: "you bought this before";
3. the most similar product (item cosine) the customer bought: "often bought with <title>";
4. in the customer's RFM segment's list: "popular in your segment";
5. in the trending list: "trending now";
6. in the all-time list: "a best seller";
7. otherwise "customers like you bought this" (the model's own pattern, e.g. latent factors).

Customers who bought something but are outside the model (their only purchase lines were not
usable, e.g. postage) get their segment's list, else their country's, filled up from all-time
best sellers (``fallback_list``).

``recommendations_prune`` bounds the tables: it keeps the rows of the serving model and of the
one before it (roll back) and deletes those of every other run.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import scipy.sparse as sp
from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from ecomsite.engine import clean_columns as cc
from ecomsite.engine.columns import PURCHASE
from ecomsite.exceptions import ValidationFailed
from ecomsite.models import CleaningRun, Customer, Product, RunStatus
from ecomsite.services.artifacts import frame_load
from ecomsite.services.bulk import insert_ignoring_conflicts
from ecomsite.services.runs import ProgressReporter
from recommendations.engine.base import Recommender, batches, popularity_ranks, top_k
from recommendations.engine.data import (
    BINARY,
    TrainingData,
    purchase_interactions,
    training_data,
)
from recommendations.engine.knn import cosine_neighbours
from recommendations.engine.registry import load_recommender
from recommendations.models import (
    ModelPromotion,
    ModelRun,
    PopularList,
    Recommendation,
    SimilarProduct,
)
from recommendations.services.registry import model_promote
from segments.models import SegmentKind, SegmentMembership
from segments.selectors import segmentation_current

logger = logging.getLogger(__name__)

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

SIMILAR_N = 20
# Neighbours kept per product for the "often bought with" reasons and the similar products.
REASON_NEIGHBOURS = 100
# Customers ranked, explained and written per batch: ~50k rows, a few MB of sparse lookups.
CHUNK_CUSTOMERS = 1_000
TREND_WINDOW_DAYS = 28.0
TREND_BASELINE_DAYS = 84.0
# A product needs this many orders in the window to trend (two sales are not a trend).
TREND_MIN_ORDERS = 3
# A run whose rows are incomplete and untouched for this long is an abandoned precompute.
ABANDONED_AFTER = timedelta(hours=2)

REASON_INTERVAL = "you buy this about every {days} days"
REASON_BOUGHT = "you bought this before"
REASON_SIMILAR = "often bought with {title}"
REASON_SEGMENT = "popular in your segment"
REASON_TRENDING = "trending now"
REASON_BEST_SELLER = "a best seller"
REASON_LIKE_YOU = "customers like you bought this"
REASON_COUNTRY = "popular in {country}"
REASON_MAX_LENGTH = 200

ALL = "all"
TRENDING = "trending"

RECOMMENDATION_FIELDS = ("model_run", "customer", "rank", "product", "score", "reason")
RECOMMENDATION_KEY = ("model_run", "customer", "rank")
SIMILAR_FIELDS = ("model_run", "product", "rank", "similar", "score")
POPULAR_FIELDS = ("model_run", "scope", "rank", "product", "score")

# on_progress(fraction 0-1, message)
ProgressCallback = Callable[[float, str], None]


def scope_country(country: str) -> str:
    return f"country:{country}"


def scope_segment(segment_id: int) -> str:
    return f"segment:{segment_id}"


def scope_category(category: str) -> str:
    return f"category:{category}"


# -- inputs -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PurchaseHistory:
    """What a cleaning run says customers bought. interactions: the interaction frame of
    ``engine.data.purchase_interactions`` (usable purchases); buyers: int64 ascending ids of every
    customer with at least one purchase event, usable or not (postage-only buyers too)."""

    interactions: pd.DataFrame
    buyers: IntArray


def purchase_history_load(cleaning_run: CleaningRun) -> PurchaseHistory:
    clean = frame_load(
        cleaning_run.artifact,
        columns=[
            cc.CUSTOMER,
            cc.PRODUCT,
            cc.KIND,
            cc.NET_QUANTITY,
            cc.TIMESTAMP,
            cc.ORDER_ID,
            cc.USABLE,
        ],  # fmt: skip
    )
    customers = clean[cc.CUSTOMER].to_numpy(dtype=np.int64)
    bought = (clean[cc.KIND].to_numpy() == PURCHASE) & (customers != cc.ANONYMOUS)
    buyers = np.unique(customers[bought])
    return PurchaseHistory(interactions=purchase_interactions(clean), buyers=buyers)


@dataclass(frozen=True)
class Catalogue:
    """Products aligned with a model's columns: titles (str; the SKU when untitled), category
    (str) and active (bool; products no longer stored count as inactive)."""

    titles: npt.NDArray[np.object_]
    categories: npt.NDArray[np.object_]
    active: BoolArray


def _catalogue(products: IntArray) -> Catalogue:
    frame = pd.DataFrame.from_records(
        list(Product.objects.values_list("id", "external_id", "title", "category", "is_active")),
        columns=["id", "sku", "title", "category", "active"],
    ).set_index("id")
    frame = frame.reindex(products)
    titles = frame["title"].where(frame["title"].fillna("") != "", frame["sku"]).fillna("")
    return Catalogue(
        titles=titles.astype(str).to_numpy(dtype=object),
        categories=frame["category"].fillna("").astype(str).to_numpy(dtype=object),
        active=frame["active"].fillna(False).astype(bool).to_numpy(),
    )


@dataclass(frozen=True)
class People:
    """Every stored customer: country by id, and RFM segment id by id (current segmentation)."""

    country: dict[int, str]
    segment: dict[int, int]


def people_load() -> People:
    country = {pk: c or "" for pk, c in Customer.objects.values_list("id", "country")}
    segment: dict[int, int] = {}
    current = segmentation_current()
    if current is not None:
        segment = dict(
            SegmentMembership.objects.filter(
                run=current, segment__kind=SegmentKind.RFM
            ).values_list("customer_id", "segment_id")
        )
    return People(country=country, segment=segment)


# -- fallback lists ------------------------------------------------------------------------------


@dataclass
class PopularLists:
    """scope → (item indices best first, scores), over a model's columns."""

    lists: dict[str, tuple[IntArray, npt.NDArray[np.float64]]] = field(default_factory=dict)

    def keys(self, scope: str) -> IntArray:
        return self.lists.get(scope, (np.zeros(0, dtype=np.int64), None))[0]


def _group_tops(
    groups: IntArray,
    users: IntArray,
    items: IntArray,
    names: Sequence[str],
    active: BoolArray,
    ranks: IntArray,
    n: int,
) -> dict[str, tuple[IntArray, npt.NDArray[np.float64]]]:
    """For interaction rows with a group code (-1: none), a customer and an item: each group's
    `n` active items bought by the most customers of the group; score = the share of the
    group's buying customers who bought it. Ties: the global popularity rank."""
    keep = groups >= 0
    frame = pd.DataFrame({"g": groups[keep], "u": users[keep], "item": items[keep]})
    frame = frame.drop_duplicates()
    if frame.empty:
        return {}
    totals = frame.drop_duplicates(["g", "u"])["g"].value_counts()
    frame = frame[active[frame["item"].to_numpy()]]
    counts = frame.value_counts(["g", "item"]).rename("count").reset_index()
    counts["rank"] = ranks[counts["item"].to_numpy()]
    counts = counts.sort_values(["g", "count", "rank"], ascending=[True, False, True])
    counts = counts.groupby("g", sort=False).head(n)
    result = {}
    codes = counts["g"].to_numpy(dtype=np.int64)
    for code in np.unique(codes):
        part = counts[codes == code]
        result[names[int(code)]] = (
            part["item"].to_numpy(dtype=np.int64),
            part["count"].to_numpy(dtype=np.float64) / float(totals[code]),
        )
    return result


def _popular_lists(
    data: TrainingData, catalogue: Catalogue, people: People, ranks: IntArray, n: int
) -> PopularLists:
    log = data.log
    users, items = log.users, log.items
    active = catalogue.active
    lists = PopularLists()
    everyone = np.zeros(len(items), np.int64)
    lists.lists.update(_group_tops(everyone, users, items, [ALL], active, ranks, n))
    lists.lists.update(_trending(data, active, ranks, n))

    def by_customer(values: Mapping[int, Any], scope: Callable[[Any], str]) -> None:
        keys = [values.get(int(c)) or None for c in data.customers]
        codes, uniques = pd.factorize(pd.Series(keys, dtype=object))
        names = [scope(value) for value in uniques]
        codes = np.asarray(codes, dtype=np.int64)
        lists.lists.update(_group_tops(codes[users], users, items, names, active, ranks, n))

    by_customer(people.country, scope_country)
    by_customer(people.segment, scope_segment)
    categories = [c or None for c in catalogue.categories]
    codes, uniques = pd.factorize(pd.Series(categories, dtype=object))
    names = [scope_category(str(value)) for value in uniques]
    codes = np.asarray(codes, dtype=np.int64)
    lists.lists.update(_group_tops(codes[items], users, items, names, active, ranks, n))
    return lists


def _trending(
    data: TrainingData, active: BoolArray, ranks: IntArray, n: int
) -> dict[str, tuple[IntArray, npt.NDArray[np.float64]]]:
    """Products selling faster in the last TREND_WINDOW_DAYS than at their rate in the
    TREND_BASELINE_DAYS before: score (recent - expected) / sqrt(expected + 1) in order lines,
    expected = the baseline rate over the window. Needs TREND_MIN_ORDERS recent lines."""
    age, items = data.log.age_days, data.log.items
    m = data.shape[1]
    recent = np.bincount(items[age < TREND_WINDOW_DAYS], minlength=m).astype(np.float64)
    before = (age >= TREND_WINDOW_DAYS) & (age < TREND_WINDOW_DAYS + TREND_BASELINE_DAYS)
    baseline = np.bincount(items[before], minlength=m).astype(np.float64)
    expected = baseline * (TREND_WINDOW_DAYS / TREND_BASELINE_DAYS)
    score = (recent - expected) / np.sqrt(expected + 1.0)
    candidates = np.flatnonzero(active & (recent >= TREND_MIN_ORDERS) & (score > 0))
    order = np.lexsort((ranks[candidates], -score[candidates]))[:n]
    chosen = candidates[order]
    return {TRENDING: (chosen.astype(np.int64), score[chosen])} if len(chosen) else {}


def fallback_list(
    scopes: Sequence[str],
    lists: Mapping[str, Sequence[tuple[int, float]]],
    k: int,
    *,
    exclude: Iterable[int] = (),
    ceiling: float | None = None,
) -> list[tuple[int, float, str]]:
    """Up to k (product, score, scope) from the lists of `scopes` in order, each product once and
    none of `exclude`. Scores never increase down the list (each is capped by the one before,
    starting from `ceiling`), so a filled-up list still reads best first."""
    seen = set(exclude)
    result: list[tuple[int, float, str]] = []
    cap = np.inf if ceiling is None else ceiling
    for scope in scopes:
        for product, score in lists.get(scope, ()):
            if len(result) >= k:
                return result
            if product in seen:
                continue
            seen.add(product)
            cap = min(cap, score)
            result.append((product, float(cap), scope))
    return result


# -- reasons -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReasonTables:
    """Sparse (n_customers, n_products) lookups over a model's indices: orders (number of orders
    with the product), interval (mean days between them + 1, so that 0 means "no value"), bought
    (1.0 where bought) and similarity (item × item cosine, REASON_NEIGHBOURS per row); segment
    list membership as keys segment_code * n_products + item; trending / best seller flags per
    item; segment code per customer index (-1: none)."""

    orders: sp.csr_matrix
    interval: sp.csr_matrix
    bought: sp.csr_matrix
    similarity: sp.csr_matrix
    titles: npt.NDArray[np.object_]
    segment_code: IntArray
    segment_keys: IntArray
    trending: BoolArray
    best_seller: BoolArray


def _reason_tables(
    data: TrainingData,
    catalogue: Catalogue,
    people: People,
    lists: PopularLists,
    similarity: sp.csr_matrix,
) -> ReasonTables:
    n, m = data.shape
    log = data.log
    frame = pd.DataFrame({"u": log.users, "i": log.items, "age": log.age_days})
    stats = frame.groupby(["u", "i"], sort=False)["age"].agg(["count", "min", "max"])
    u = stats.index.get_level_values(0).to_numpy(dtype=np.int64)
    i = stats.index.get_level_values(1).to_numpy(dtype=np.int64)
    count = stats["count"].to_numpy(dtype=np.float64)
    spread = (stats["max"] - stats["min"]).to_numpy(dtype=np.float64)
    mean_interval = np.where(count > 1, spread / np.maximum(count - 1, 1), 0.0)
    orders = sp.csr_matrix((count, (u, i)), shape=(n, m))
    interval = sp.csr_matrix((mean_interval + 1.0, (u, i)), shape=(n, m))
    segment_ids = sorted(set(people.segment.values()))
    code_of = {segment: code for code, segment in enumerate(segment_ids)}
    segment_code = np.array(
        [code_of.get(people.segment.get(int(c), -1), -1) for c in data.customers], dtype=np.int64
    )
    keys = [
        code * m + lists.keys(scope_segment(segment))
        for segment, code in code_of.items()
        if scope_segment(segment) in lists.lists
    ]
    trending = np.zeros(m, dtype=np.bool_)
    trending[lists.keys(TRENDING)] = True
    best_seller = np.zeros(m, dtype=np.bool_)
    best_seller[lists.keys(ALL)] = True
    return ReasonTables(
        orders=orders,
        interval=interval,
        bought=data.matrix(BINARY),
        similarity=similarity,
        titles=catalogue.titles,
        segment_code=segment_code,
        segment_keys=np.concatenate(keys) if keys else np.zeros(0, dtype=np.int64),
        trending=trending,
        best_seller=best_seller,
    )


def _lookup(matrix: sp.csr_matrix, rows: IntArray, cols: IntArray) -> npt.NDArray[np.float64]:
    if len(rows) == 0:
        return np.zeros(0, dtype=np.float64)
    return np.asarray(matrix[rows, cols], dtype=np.float64).ravel()


def recommendation_reasons(
    users: IntArray, items: IntArray, tables: ReasonTables
) -> tuple[list[str], IntArray]:
    """The reason of each (users[r], items[r]) pair (module docstring) and its kind (1-7, the
    rule that gave it)."""
    count = len(users)
    reasons = np.full(count, REASON_LIKE_YOU, dtype=object)
    kind = np.full(count, 7, dtype=np.int64)
    orders = _lookup(tables.orders, users, items)
    days = np.rint(_lookup(tables.interval, users, items) - 1.0)
    regular = (orders >= 2) & (days >= 1)
    for r in np.flatnonzero(regular):
        reasons[r] = REASON_INTERVAL.format(days=int(days[r]))
    kind[regular] = 1
    before = (orders >= 1) & ~regular
    reasons[before] = REASON_BOUGHT
    kind[before] = 2
    rest = np.flatnonzero(orders < 1)
    if len(rest):
        overlap = sp.csr_matrix(tables.similarity[items[rest]].multiply(tables.bought[users[rest]]))
        best = np.asarray(overlap.max(axis=1).toarray(), dtype=np.float64).ravel()
        which = np.asarray(overlap.argmax(axis=1), dtype=np.int64).ravel()
        similar = best > 0
        for r, j in zip(rest[similar], which[similar], strict=True):
            reasons[r] = REASON_SIMILAR.format(title=tables.titles[j])[:REASON_MAX_LENGTH]
        kind[rest[similar]] = 3
        rest = rest[~similar]
    m = len(tables.trending)
    codes = tables.segment_code[users[rest]]
    in_segment = (codes >= 0) & np.isin(codes * m + items[rest], tables.segment_keys)
    reasons[rest[in_segment]] = REASON_SEGMENT
    kind[rest[in_segment]] = 4
    rest = rest[~in_segment]
    trending = tables.trending[items[rest]]
    reasons[rest[trending]] = REASON_TRENDING
    kind[rest[trending]] = 5
    rest = rest[~trending]
    best_seller = tables.best_seller[items[rest]]
    reasons[rest[best_seller]] = REASON_BEST_SELLER
    kind[rest[best_seller]] = 6
    return reasons.tolist(), kind


REASON_KINDS = {
    1: "buys regularly",
    2: "bought before",
    3: "often bought with",
    4: "popular in segment",
    5: "trending",
    6: "best seller",
    7: "customers like you",
    8: "cold-start list",
}


def serving_run() -> ModelRun | None:
    """The serving model run read from the database (registry.serving_model caches it for the
    web processes; decisions here must see the latest promotion, even one not yet committed)."""
    promotion = ModelPromotion.objects.select_related("model_run").first()
    return promotion.model_run if promotion is not None else None


# -- the precompute -----------------------------------------------------------------------------


def model_run_precompute(
    run: ModelRun,
    *,
    model: Recommender | None = None,
    data: TrainingData | None = None,
    history: PurchaseHistory | None = None,
    on_progress: ProgressCallback | None = None,
    force: bool = False,
) -> dict[str, Any]:
    """Write the run's recommendations, similar products and fallback lists (module docstring)
    and mark it precomputed. model / data: the fitted model and the TrainingData it was fitted on
    (default: loaded from the run's artifact and its cleaning run's clean frame); history: the
    cleaning run's purchases (loaded when None). A run that is already precomputed is left as it
    is unless `force`. Returns figures (also stored as metrics["precompute"])."""
    if run.status != RunStatus.SUCCEEDED or not run.artifact:
        raise ValidationFailed(f"{run} has no fitted model to precompute from.")
    if run.precomputed and not force:
        return dict((run.metrics or {}).get("precompute", {}))
    serving = serving_run()
    if serving is not None and serving.pk == run.pk:
        raise ValidationFailed(f"{run} is serving; its rows cannot be rewritten.")
    started = time.monotonic()
    reporter = ProgressReporter(run)

    def progress(fraction: float, message: str) -> None:
        reporter(fraction, f"Precomputing: {message}")
        if on_progress is not None:
            on_progress(fraction, message)

    progress(0.0, "loading")
    top_n = int(settings.RECOMMENDATIONS_TOP_N)
    if history is None:
        history = purchase_history_load(run.cleaning_run)
    if model is None:
        model = load_recommender(run.artifact)
    if data is None:
        data = training_data(
            history.interactions, customers=model.customer_ids, products=model.product_ids
        )
    if data.shape != (model.n_users, model.n_items):
        raise ValidationFailed(f"{run}: the model does not fit its purchase data.")
    catalogue = _catalogue(data.products)
    people = people_load()
    ranks = popularity_ranks(data.matrix(BINARY))

    progress(0.05, "similar products")
    similarity = cosine_neighbours(data.matrix(BINARY).T.tocsr(), REASON_NEIGHBOURS)
    lists = _popular_lists(data, catalogue, people, ranks, top_n)
    tables = _reason_tables(data, catalogue, people, lists, similarity)

    _rows_delete([run.pk])
    ModelRun.objects.filter(pk=run.pk).update(precomputed=False)
    popular_rows = _write_popular(run, data, lists)
    similar_rows = _write_similar(run, data, similarity, catalogue.active)

    known = np.fromiter(people.country.keys(), dtype=np.int64, count=len(people.country))
    users = np.flatnonzero(np.isin(data.customers, known)).astype(np.int64)
    inactive = np.flatnonzero(~catalogue.active)
    reason_counts = np.zeros(len(REASON_KINDS) + 1, dtype=np.int64)
    rows = 0
    for start in range(0, len(users), CHUNK_CUSTOMERS):
        chunk = users[start : start + CHUNK_CUSTOMERS]
        items, scores = _top_items(model, chunk, top_n, inactive, ranks)
        valid = items >= 0
        pair_users = np.repeat(chunk, valid.sum(axis=1))
        pair_items = items[valid]
        pair_ranks = np.nonzero(valid)[1] + 1
        pair_scores = scores[valid]
        reasons, kinds = recommendation_reasons(pair_users, pair_items, tables)
        reason_counts += np.bincount(kinds, minlength=len(reason_counts))
        batch = list(
            zip(
                [run.pk] * len(pair_users),
                data.customers[pair_users].tolist(),
                pair_ranks.tolist(),
                data.products[pair_items].tolist(),
                pair_scores.astype(np.float64).tolist(),
                reasons,
                strict=True,
            )
        )
        rows += _insert(Recommendation, RECOMMENDATION_FIELDS, batch, RECOMMENDATION_KEY)
        progress(0.1 + 0.85 * (start + len(chunk)) / max(len(users), 1), "recommendations")

    fallback_customers = [
        int(c) for c in np.setdiff1d(history.buyers, data.customers) if int(c) in people.country
    ]
    fallback_rows = _write_fallbacks(run, fallback_customers, people, lists, data, top_n)
    reason_counts[8] += fallback_rows
    rows += fallback_rows

    figures = {
        "seconds": round(time.monotonic() - started, 2),
        "top_n": top_n,
        "rows": rows,
        "customers": len(users) + len(fallback_customers),
        "model_customers": len(users),
        "fallback_customers": len(fallback_customers),
        "similar_rows": similar_rows,
        "popular_rows": popular_rows,
        "scopes": len(lists.lists),
        "inactive_products": int(len(inactive)),
        "reasons": {
            REASON_KINDS[kind]: int(reason_counts[kind])
            for kind in REASON_KINDS
            if reason_counts[kind]
        },
    }
    run.metrics = {**(run.metrics or {}), "precompute": figures}
    run.precomputed = True
    run.customers = len(users) + len(fallback_customers)
    run.progress = 1.0
    run.progress_message = f"Precomputed {rows:,} recommendations"
    run.save(
        update_fields=[
            "metrics",
            "precomputed",
            "customers",
            "progress",
            "progress_message",
            "updated_at",
        ]  # fmt: skip
    )
    return figures


def _top_items(
    model: Recommender, users: IntArray, k: int, inactive: IntArray, ranks: IntArray
) -> tuple[IntArray, npt.NDArray[np.float32]]:
    """model.recommend(users, k) with the inactive columns never chosen."""
    items = np.full((len(users), k), -1, dtype=np.int64)
    scores = np.full((len(users), k), -np.inf, dtype=np.float32)
    for part in batches(len(users), model.n_items):
        block = model.scores(users[part])
        block[:, inactive] = -np.inf
        items[part], scores[part] = top_k(block, k, ranks)
    return items, scores


def _insert(model: Any, fields: Sequence[str], rows: list[Any], conflict: Sequence[str]) -> int:
    with transaction.atomic():
        return insert_ignoring_conflicts(model, fields, rows, conflict=conflict)


def _write_popular(run: ModelRun, data: TrainingData, lists: PopularLists) -> int:
    rows = [
        (run.pk, scope, rank + 1, int(data.products[item]), float(score))
        for scope, (items, scores) in lists.lists.items()
        for rank, (item, score) in enumerate(zip(items, scores, strict=True))
    ]
    return _insert(PopularList, POPULAR_FIELDS, rows, ("model_run", "scope", "rank"))


def _write_similar(
    run: ModelRun, data: TrainingData, similarity: sp.csr_matrix, active: BoolArray
) -> int:
    coo = similarity.tocoo()
    keep = active[coo.col] & (coo.data > 0)
    rows, cols, values = coo.row[keep], coo.col[keep], coo.data[keep]
    order = np.lexsort((cols, -values, rows))
    rows, cols, values = rows[order], cols[order], values[order]
    starts = np.searchsorted(rows, rows, side="left")
    rank = np.arange(len(rows)) - starts + 1
    top = rank <= SIMILAR_N
    batch = list(
        zip(
            [run.pk] * int(top.sum()),
            data.products[rows[top]].tolist(),
            rank[top].tolist(),
            data.products[cols[top]].tolist(),
            values[top].astype(np.float64).tolist(),
            strict=True,
        )
    )
    return _insert(SimilarProduct, SIMILAR_FIELDS, batch, ("model_run", "product", "rank"))


def customer_fallback_scopes(customer: int, people: People) -> list[tuple[str, str]]:
    """(scope, reason) to fill a customer's list from, in order: RFM segment, country, all."""
    scopes = []
    segment = people.segment.get(customer)
    if segment is not None:
        scopes.append((scope_segment(segment), REASON_SEGMENT))
    country = people.country.get(customer, "")
    if country:
        scopes.append((scope_country(country), REASON_COUNTRY.format(country=country)))
    scopes.append((ALL, REASON_BEST_SELLER))
    return scopes


def _write_fallbacks(
    run: ModelRun,
    customers: Sequence[int],
    people: People,
    lists: PopularLists,
    data: TrainingData,
    k: int,
) -> int:
    by_scope = {
        scope: list(zip(data.products[items].tolist(), scores.tolist(), strict=True))
        for scope, (items, scores) in lists.lists.items()
    }
    batch = []
    for customer in customers:
        scopes = customer_fallback_scopes(customer, people)
        reason_of = dict(scopes)
        filled = fallback_list([scope for scope, _ in scopes], by_scope, k)
        for rank, (product, score, scope) in enumerate(filled, start=1):
            batch.append((run.pk, customer, rank, product, score, reason_of[scope]))
    return _insert(Recommendation, RECOMMENDATION_FIELDS, batch, RECOMMENDATION_KEY)


# -- keeping the tables bounded -----------------------------------------------------------------


def _rows_delete(run_ids: Sequence[int]) -> None:
    for model in (Recommendation, SimilarProduct, PopularList):
        with transaction.atomic():
            model.objects.filter(model_run_id__in=run_ids).delete()


def recommendations_prune() -> list[int]:
    """Delete the precomputed rows of every model run except the serving one and the one that
    served before it (so a roll back needs no recompute), and of runs whose precompute may still
    be in progress. Their `precomputed` flag is cleared; a hand promotion recomputes them.
    Returns the pruned run ids."""
    promotion = ModelPromotion.objects.first()
    keep = set()
    if promotion is not None:
        keep = {promotion.model_run_id, promotion.previous_id}
    with_rows = (
        set(Recommendation.objects.values_list("model_run_id", flat=True).distinct())
        | set(SimilarProduct.objects.values_list("model_run_id", flat=True).distinct())
        | set(PopularList.objects.values_list("model_run_id", flat=True).distinct())
        | set(ModelRun.objects.filter(precomputed=True).values_list("pk", flat=True))
    ) - keep
    if not with_rows:
        return []
    # A run still being precomputed (not flagged yet, touched recently) is left alone.
    busy = set(
        ModelRun.objects.filter(
            pk__in=with_rows,
            precomputed=False,
            updated_at__gte=timezone.now() - ABANDONED_AFTER,
        ).values_list("pk", flat=True)
    )
    pruned = sorted(with_rows - busy)
    if pruned:
        ModelRun.objects.filter(pk__in=pruned).update(precomputed=False)
        _rows_delete(pruned)
    return pruned


def model_run_promote_by_hand(
    run: ModelRun, *, created_by: User | None = None, reason: str = ""
) -> ModelPromotion:
    """Staff promotion: precompute the run if its rows are gone, then switch to it, then prune.
    A run that already serves is left serving (a repeated request does nothing)."""
    current = ModelPromotion.objects.select_related("model_run").first()
    if current is not None and current.model_run_id == run.pk:
        return current
    model_run_precompute(run)
    run.refresh_from_db()
    who = created_by.get_username() if created_by is not None else "staff"
    promotion = model_promote(
        run,
        reason=reason or f"Promoted by hand by {who}",
        created_by=created_by,
        automatic=False,
    )
    recommendations_prune_quietly()
    return promotion


def model_run_promote_start(
    run: ModelRun, *, created_by: User | None = None
) -> ModelPromotion | None:
    """Promote now when the run's rows are ready; otherwise queue a task that precomputes and
    then promotes (after the transaction commits) and return None."""
    if run.status != RunStatus.SUCCEEDED or not run.artifact:
        raise ValidationFailed(f"{run} cannot serve: it has no fitted model.")
    if run.precomputed:
        return model_run_promote_by_hand(run, created_by=created_by)
    from recommendations.tasks import model_run_promote_task

    model_run_promote_task.delay_on_commit(
        run.pk, created_by.pk if created_by is not None else None
    )
    return None


def recommendations_prune_quietly() -> list[int]:
    """Pruning only saves space: a failure is logged, never undoes a promotion."""
    try:
        return recommendations_prune()
    except Exception:
        logger.exception("pruning old recommendation rows failed")
        return []
