"""Customer clustering: k-means on behaviour features, k chosen by silhouette, plain-words clusters.

Input is a *customer feature frame*: one row per customer, index = customer id (int64, named
"customer"), numeric columns such as ``recency_days`` (days), ``frequency`` (orders), ``monetary``
(shop currency), ``avg_order_value`` (currency per order), ``basket_size`` (items per order),
``return_rate`` (0–1) and ``mean_interpurchase_days`` (days; NaN for one-time buyers). Only the
columns named in ``ClusteringParams.features`` are used; any numeric column works.

Pipeline (``cluster_customers``):

1. **Order.** Rows are sorted by customer id first, so the result never depends on row order.
2. **Missing values.** ±inf counts as missing. In the columns of ``FILL_WITH_MAX``
   (``mean_interpurchase_days``, ``recency_days``) a missing value means "never happened" (a
   one-time buyer has no gap between orders), which is best modelled as the longest value observed,
   so NaN → column max. Elsewhere NaN → column median. An all-missing column becomes 0 (constant).
3. **Skew.** Non-negative columns with sample skewness > ``SKEW_THRESHOLD`` (counts and money are
   heavy-tailed) go through ``log1p`` so a few whales do not become clusters of their own.
4. **Scale.** ``StandardScaler``; constant columns become all-zero and so carry no weight.
5. **Choose k.** For each k in [k_min, k_max], ``KMeans(n_init=10, random_state=seed)`` is fitted
   on a fixed-seed sample of at most ``sample_size`` customers and scored by the silhouette on that
   same sample (exact silhouette is O(n²), so the sample keeps it fast). The highest score wins;
   ties go to the smaller k.
6. **Final fit** with the chosen k on all customers (``KMeans``; ``MiniBatchKMeans`` above
   ``minibatch_above`` customers). Labels are renumbered by cluster size, largest first
   (ties: the model's own order), so label 0 is always the biggest cluster.
7. **Describe.** Each cluster's median of every feature (raw units, missing values ignored, so
   the interpurchase gap is over customers who came back) is divided by the population median;
   where the population median is 0 (sparse features like ``return_rate``) means are compared
   instead. Medians describe the typical customer, so a few whales do not make every other
   cluster read as "low spenders". Features with ratio ≥ ``notable_ratio`` or ≤ 1 /
   ``notable_ratio`` are put into words from a fixed vocabulary (``FEATURE_WORDS``), strongest
   first, and the most common category is added when it is notably over-represented. A short
   name is built from the two strongest differences.

Everything is deterministic for a given input and seed.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import pandas as pd
from sklearn.cluster import KMeans, MiniBatchKMeans
from sklearn.metrics import silhouette_score
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

# Missing means "never happened": the longest observed value is the honest stand-in.
FILL_WITH_MAX = frozenset({"recency_days", "mean_interpurchase_days"})
# Sample skewness above which a non-negative feature is log1p-transformed (1 = "highly skewed").
SKEW_THRESHOLD = 1.0
# A category is mentioned only if at least this share of the cluster's customers has it on top.
MIN_CATEGORY_SHARE = 0.25
# At or above this share the description says "mostly <category>", below it "often <category>".
MOSTLY_SHARE = 0.5
# Relative tolerance under which a population mean counts as zero (no meaningful ratio).
_EPS = 1e-12

# Threads for k-means, silhouette and BLAS. The matrices are small (a 5,000-customer sample per
# candidate k; customers x 7 features for the final fit), so OpenMP/BLAS threads mostly spin and
# wait: on a 2-core machine the clustering of 181,629 customers took 2.2-2.9 s on one thread and
# 2.8-3.5 s on two when idle, 14-18 s on two while another process kept one core busy
# (bench/bench_pipeline.py). scikit-learn's results do not depend on the number of threads.
FIT_THREADS = 1

# on_progress(done, total, k=..., silhouette=...): see cluster_customers.
ProgressCallback = Callable[..., None]


@dataclass(frozen=True)
class ClusteringParams:
    """Hyper-parameters of ``cluster_customers``.

    features: feature-frame columns to cluster on (all must exist and be numeric).
    k_min, k_max: inclusive range of cluster counts tried (2 ≤ k_min ≤ k_max).
    sample_size: customers (at most) on which each candidate k is fitted and scored.
    seed: seeds the sample and every k-means initialisation.
    n_init: k-means restarts per fit (best inertia kept).
    minibatch_above: above this many customers the final fit uses MiniBatchKMeans.
    notable_ratio: a feature is described when cluster/population ≥ this or ≤ its inverse.
    max_phrases: at most this many feature phrases per description (strongest first).
    """

    features: tuple[str, ...] = (
        "recency_days",
        "frequency",
        "monetary",
        "avg_order_value",
        "basket_size",
        "return_rate",
        "mean_interpurchase_days",
    )
    k_min: int = 3
    k_max: int = 8
    sample_size: int = 5000
    seed: int = 0
    n_init: int = 10
    minibatch_above: int = 1_000_000
    notable_ratio: float = 1.5
    max_phrases: int = 5

    def __post_init__(self) -> None:
        if not self.features:
            raise ValueError("ClusteringParams.features is empty")
        if len(set(self.features)) != len(self.features):
            raise ValueError(f"ClusteringParams.features has duplicates: {self.features}")
        if not 2 <= self.k_min <= self.k_max:
            raise ValueError(f"need 2 <= k_min <= k_max, got k_min={self.k_min} k_max={self.k_max}")
        if self.sample_size < self.k_max + 1:
            raise ValueError(f"sample_size must exceed k_max, got {self.sample_size}")
        if self.n_init < 1 or self.minibatch_above < 1 or self.max_phrases < 0:
            raise ValueError("n_init and minibatch_above must be >= 1, max_phrases >= 0")
        if self.notable_ratio <= 1.0:
            raise ValueError(f"notable_ratio must be > 1, got {self.notable_ratio}")


@dataclass(frozen=True)
class Cluster:
    """One cluster, described against the whole population.

    label: cluster number (0 = largest). size: customers in it.
    name: short title ("Frequent big spenders"). description: plain-words differences.
    centroid: feature → cluster mean in the feature's own units (missing values ignored; features
        with no value in the cluster are left out).
    ratios: feature → cluster median / population median, or the ratio of means where the
        population median is 0 (left out where undefined: population level ≈ 0, negative values
        in the column, or no values in the cluster).
    """

    label: int
    size: int
    name: str
    description: str
    centroid: dict[str, float]
    ratios: dict[str, float]


@dataclass(frozen=True)
class ClusteringResult:
    """labels: customer id → cluster label (int64, index sorted ascending, same ids as the input).
    k: chosen number of clusters. silhouette_by_k: k → silhouette on the sample (k tried only).
    clusters: one per label, in label order. log_features: features that were log1p-transformed.
    """

    labels: pd.Series
    k: int
    silhouette_by_k: dict[int, float]
    clusters: list[Cluster]
    log_features: tuple[str, ...] = field(default=())


class Words(NamedTuple):
    """Fixed vocabulary for one feature: phrases for the description, words for the name."""

    high: str  # description phrase when the cluster is notably above the population
    low: str  # ... notably below
    unit: str  # what the ratio counts: "(3.1× orders)"
    high_adj: str  # name adjective: "Frequent" + noun of the next feature
    low_adj: str
    high_noun: str  # name noun: adjective of the previous feature + "big spenders"
    low_noun: str


FEATURE_WORDS: dict[str, Words] = {
    "recency_days": Words(
        "lapsed", "recent", "days since last order",
        "Lapsed", "Recent", "lapsed customers", "recent buyers",
    ),
    "frequency": Words(
        "buys often", "buys rarely", "orders",
        "Frequent", "Occasional", "regulars", "occasional buyers",
    ),
    "monetary": Words(
        "big spenders", "low spenders", "spend",
        "High-spending", "Low-spending", "big spenders", "low spenders",
    ),
    "avg_order_value": Words(
        "large orders", "small orders", "order value",
        "Big-ticket", "Budget", "big-ticket buyers", "bargain hunters",
    ),
    "basket_size": Words(
        "big baskets", "small baskets", "items per order",
        "Bulk", "Single-item", "bulk buyers", "single-item buyers",
    ),
    "units": Words(
        "buys many units", "buys few units", "units",
        "Bulk", "Light", "bulk buyers", "light buyers",
    ),
    "return_rate": Words(
        "returns a lot", "rarely returns", "the typical return rate",
        "Return-prone", "Low-return", "serial returners", "keepers",
    ),
    "mean_interpurchase_days": Words(
        "long gaps between orders", "short gaps between orders", "days between orders",
        "Slow-repeat", "Quick-repeat", "slow repeaters", "quick repeaters",
    ),
    "tenure_days": Words(
        "long-standing", "new", "days as a customer",
        "Long-standing", "New", "loyalists", "newcomers",
    ),
    "views": Words(
        "browses a lot", "browses little", "product views",
        "Heavy-browsing", "Light-browsing", "browsers", "light browsers",
    ),
    "carts": Words(
        "adds to cart often", "rarely adds to cart", "cart adds",
        "Cart-filling", "Low-cart", "cart fillers", "light carters",
    ),
    "purchases": Words(
        "many purchases", "few purchases", "purchases",
        "Frequent", "Occasional", "regulars", "occasional buyers",
    ),
    "view_to_cart": Words(
        "carts much of what they view", "views without carting", "view-to-cart rate",
        "Decisive", "Window-shopping", "decisive shoppers", "window shoppers",
    ),
    "cart_to_purchase": Words(
        "completes carts", "abandons carts", "cart-to-purchase rate",
        "Cart-completing", "Cart-abandoning", "cart completers", "cart abandoners",
    ),
    "top_category_share": Words(
        "sticks to one category", "buys across categories", "top-category share",
        "Focused", "Varied", "category loyalists", "explorers",
    ),
}  # fmt: skip


def _words(feature: str) -> Words:
    if feature in FEATURE_WORDS:
        return FEATURE_WORDS[feature]
    plain = feature.replace("_", " ")
    return Words(
        f"high {plain}", f"low {plain}", plain,
        f"High-{plain}", f"Low-{plain}", f"high-{plain} customers", f"low-{plain} customers",
    )  # fmt: skip


def cluster_customers(
    features: pd.DataFrame,
    params: ClusteringParams = ClusteringParams(),  # noqa: B008 - frozen, so a safe default
    *,
    category: pd.Series | None = None,
    on_progress: ProgressCallback | None = None,
) -> ClusteringResult:
    """Cluster customers on ``params.features`` and describe each cluster in plain words.

    features: customer feature frame, one row per customer (unique index = customer id); the
        columns in ``params.features`` must exist and be numeric (NaN/inf allowed). Other columns
        are ignored.
    category: optional customer id → top category (str); used only for descriptions. Customers
        missing from it, or with "" / NaN, count as having no category.
    on_progress: called as ``on_progress(done, total, k=k, silhouette=score)`` after each
        candidate k (NaN if that k collapsed to one cluster) and ``on_progress(total, total,
        k=chosen, silhouette=its score)`` after the final fit; total = candidate ks + 1.

    Raises ValueError for missing or non-numeric columns, duplicate ids, or fewer than
    ``k_min + 1`` distinct customers (silhouette needs k < number of points).
    """
    with threadpool_limits(limits=FIT_THREADS):
        return _cluster_customers(features, params, category=category, on_progress=on_progress)


def _cluster_customers(
    features: pd.DataFrame,
    params: ClusteringParams,
    *,
    category: pd.Series | None,
    on_progress: ProgressCallback | None,
) -> ClusteringResult:
    x_raw = _feature_matrix(features, params.features)
    index = x_raw.index
    filled = _fill_missing(x_raw)
    skew = filled.skew()  # NaN for constant columns, which then stay as they are
    log_features = tuple(
        name
        for name in params.features
        if filled[name].min() >= 0 and bool(skew[name] > SKEW_THRESHOLD)
    )
    transformed = filled.copy()
    for name in log_features:
        transformed[name] = np.log1p(transformed[name])
    x = StandardScaler().fit_transform(transformed.to_numpy(dtype=np.float64))

    n = len(x)
    rng = np.random.default_rng(params.seed)
    sample = (
        np.sort(rng.choice(n, size=params.sample_size, replace=False))
        if (n > params.sample_size)
        else np.arange(n)
    )
    x_sample = x[sample]
    distinct = len(np.unique(x_sample, axis=0))
    k_top = min(params.k_max, distinct - 1)
    if k_top < params.k_min:
        raise ValueError(
            f"need at least {params.k_min + 1} distinct customers to try k in "
            f"[{params.k_min}, {params.k_max}], got {distinct}"
        )
    candidates = range(params.k_min, k_top + 1)
    total = len(candidates) + 1
    silhouette_by_k: dict[int, float] = {}
    for done, k in enumerate(candidates, start=1):
        model = KMeans(n_clusters=k, n_init=params.n_init, random_state=params.seed)
        sample_labels = model.fit_predict(x_sample)
        if len(np.unique(sample_labels)) >= 2:
            score = float(silhouette_score(x_sample, sample_labels))
            silhouette_by_k[k] = score
        if on_progress is not None:
            on_progress(done, total, k=k, silhouette=silhouette_by_k.get(k, math.nan))
    if not silhouette_by_k:
        raise ValueError("no candidate k gave two or more distinct clusters")
    best_k = max(silhouette_by_k, key=lambda k: (silhouette_by_k[k], -k))

    final: KMeans | MiniBatchKMeans
    if n > params.minibatch_above:
        final = MiniBatchKMeans(
            n_clusters=best_k, n_init=3, batch_size=4096, random_state=params.seed
        )
    else:
        final = KMeans(n_clusters=best_k, n_init=params.n_init, random_state=params.seed)
    raw_labels = final.fit_predict(x).astype(np.int64)
    counts = np.bincount(raw_labels, minlength=best_k)
    # Largest first; a stable sort keeps the model's order between equal sizes.
    order = np.argsort(-counts, kind="stable")
    relabel = np.empty(best_k, dtype=np.int64)
    relabel[order] = np.arange(best_k)
    labels = pd.Series(relabel[raw_labels], index=index, name="cluster", dtype=np.int64)
    if on_progress is not None:
        on_progress(total, total, k=best_k, silhouette=silhouette_by_k[best_k])

    clusters = _describe_clusters(
        x_raw, labels, best_k, params, category=_align_category(category, index)
    )
    return ClusteringResult(
        labels=labels,
        k=best_k,
        silhouette_by_k=silhouette_by_k,
        clusters=clusters,
        log_features=log_features,
    )


def _feature_matrix(features: pd.DataFrame, names: tuple[str, ...]) -> pd.DataFrame:
    """The chosen columns as float64, rows sorted by customer id, ±inf → NaN."""
    missing = [name for name in names if name not in features.columns]
    if missing:
        raise ValueError(f"feature frame lacks columns {missing}; it has {list(features.columns)}")
    not_numeric = [
        name for name in names if not pd.api.types.is_numeric_dtype(features[name].dtype)
    ]
    if not_numeric:
        raise ValueError(f"feature columns must be numeric: {not_numeric}")
    if features.index.has_duplicates:
        raise ValueError("feature frame index (customer id) has duplicates")
    if len(features) == 0:
        raise ValueError("feature frame is empty")
    frame = features.loc[:, list(names)].astype(np.float64).sort_index()
    return frame.replace([np.inf, -np.inf], np.nan)


def _fill_missing(frame: pd.DataFrame) -> pd.DataFrame:
    """NaN → column max for FILL_WITH_MAX columns, else column median; all-NaN columns → 0."""
    fill: dict[str, float] = {}
    for name in frame.columns:
        column = frame[name]
        if column.isna().all():
            fill[str(name)] = 0.0
        else:
            fill[str(name)] = float(column.max() if name in FILL_WITH_MAX else column.median())
    return frame.fillna(fill)


def _align_category(category: pd.Series | None, index: pd.Index) -> pd.Series | None:
    """Category per customer in ``index`` order, object dtype, "" and missing → NaN."""
    if category is None:
        return None
    aligned = category.reindex(index).astype(object)
    aligned = aligned.where(aligned.notna() & (aligned.astype(str).str.strip() != ""))
    return aligned if aligned.notna().any() else None


def _format_ratio(ratio: float) -> str:
    return f"{ratio:.1f}×" if ratio >= 0.1 else f"{ratio:.2g}×"


def _describe_clusters(
    raw: pd.DataFrame,
    labels: pd.Series,
    k: int,
    params: ClusteringParams,
    *,
    category: pd.Series | None,
) -> list[Cluster]:
    """Medians (or means) per cluster vs the population, turned into phrases and a name."""
    grouped = raw.groupby(labels.to_numpy())
    means = grouped.mean().reindex(range(k))
    medians = grouped.median().reindex(range(k))
    sizes = np.bincount(labels.to_numpy(), minlength=k)
    population_mean = raw.mean()
    population_median = raw.median()
    # Ratios only make sense for non-negative quantities with a non-zero population level.
    # Medians describe the typical customer and ignore whales; where the population median is
    # 0 (sparse features such as return_rate) the means are compared instead.
    by_median = [
        str(name)
        for name in raw.columns
        if raw[name].min() >= 0 and float(population_median[name]) > _EPS
    ]
    by_mean = [
        str(name)
        for name in raw.columns
        if raw[name].min() >= 0
        and str(name) not in by_median
        and float(population_mean[name]) > _EPS
    ]
    ratios = pd.concat(
        [
            medians.loc[:, by_median].div(population_median[by_median], axis=1),
            means.loc[:, by_mean].div(population_mean[by_mean], axis=1),
        ],
        axis=1,
    )
    ratio_ok = [str(name) for name in raw.columns if name in ratios.columns]
    ratios = ratios.loc[:, ratio_ok]

    category_notes = _category_notes(labels, category, params.notable_ratio)
    high = params.notable_ratio
    low = 1.0 / params.notable_ratio
    used_names: set[str] = set()
    clusters = []
    ratio_values = ratios.to_numpy(dtype=np.float64)
    frequency_median = (
        medians["frequency"].to_numpy(dtype=np.float64) if "frequency" in medians else None
    )
    for label in range(k):
        row = {
            name: float(value)
            for name, value in zip(ratio_ok, ratio_values[label], strict=True)
            if np.isfinite(value) and (value >= high or value <= low)
        }
        # Strongest difference first (|log ratio|); ties keep the order of params.features.
        ordered = sorted(row, key=lambda name: -abs(math.log(max(row[name], 1e-9))))
        mentions: list[tuple[Words, bool, float]] = []
        for name in ordered:
            words = _words(name)
            is_high = row[name] >= high
            if (
                name == "frequency"
                and not is_high
                and frequency_median is not None
                and frequency_median[label] <= 1
            ):
                # The cluster's median customer ordered once: "one-time" is the honest word.
                words = words._replace(
                    low="one-time buyers", low_adj="One-time", low_noun="one-timers"
                )
            mentions.append((words, is_high, row[name]))
        phrases = [
            f"{w.high if is_high else w.low} ({_format_ratio(r)} {w.unit})"
            for w, is_high, r in mentions[: params.max_phrases]
        ]
        note = category_notes.get(label)
        description = ", ".join(phrases)
        if note is not None:
            description = f"{description}; {note[0]}" if description else note[0]
        if not description:
            description = "close to the typical customer on every feature"
        name = _cluster_name(mentions, None if note is None else note[1], used_names)
        used_names.add(name)
        clusters.append(
            Cluster(
                label=label,
                size=int(sizes[label]),
                name=name,
                description=description,
                centroid={str(f): float(v) for f, v in means.loc[label].items() if np.isfinite(v)},
                ratios={str(f): float(v) for f, v in ratios.loc[label].items() if np.isfinite(v)},
            )
        )
    return clusters


def _category_notes(
    labels: pd.Series, category: pd.Series | None, notable_ratio: float
) -> dict[int, tuple[str, str]]:
    """label → (description clause, category) for clusters whose top category is over-represented.

    The cluster's most common category (ties: alphabetical) is mentioned when its share among the
    cluster's customers with a category is ≥ MIN_CATEGORY_SHARE and ≥ notable_ratio × its share
    in the whole population.
    """
    if category is None:
        return {}
    known = category.notna()
    table = pd.crosstab(labels[known], category[known])
    table = table.reindex(columns=sorted(table.columns, key=str))
    population_share = table.sum() / table.to_numpy().sum()
    notes: dict[int, tuple[str, str]] = {}
    for label in table.index:
        counts = table.loc[label]
        total = counts.sum()
        if total == 0:
            continue
        top = str(counts.idxmax())  # first maximum = alphabetical among ties
        share = counts[top] / total
        overall = population_share[top]
        if share >= MIN_CATEGORY_SHARE and share >= notable_ratio * overall:
            word = "mostly" if share >= MOSTLY_SHARE else "often"
            clause = f"{word} {top} ({share:.0%} vs {overall:.0%} overall)"
            notes[int(label)] = (clause, top)
    return notes


def _cluster_name(
    mentions: list[tuple[Words, bool, float]], top_category: str | None, used: set[str]
) -> str:
    """ "<adjective of the strongest difference> <noun of the next>", first unused candidate wins.

    One difference: "<noun>" capitalised; none: "<category> shoppers" or "Typical customers".
    A name already taken by a larger cluster gets the next combination, then a number.
    """
    adjectives = [w.high_adj if is_high else w.low_adj for w, is_high, _ in mentions]
    nouns = [w.high_noun if is_high else w.low_noun for w, is_high, _ in mentions]
    pairs = sorted(
        ((i, j) for i in range(len(mentions)) for j in range(len(mentions)) if i != j),
        key=lambda pair: (pair[0] + pair[1], pair[0]),
    )
    # Strongest pairs first: (0, 1), (1, 0), (0, 2), (2, 0), (0, 3), (1, 2), ...; pairs that
    # repeat a word ("Bulk bulk buyers") are skipped.
    candidates = [
        f"{adjectives[i]} {nouns[j]}"
        for i, j in pairs
        if adjectives[i].lower() not in nouns[j].lower()
    ]
    if nouns:
        candidates.append(nouns[0][0].upper() + nouns[0][1:])
    if top_category:
        candidates.append(f"{top_category} shoppers")
    candidates.append("Typical customers")
    for candidate in candidates:
        if candidate not in used:
            return candidate
    base = candidates[0]
    number = 2
    while f"{base} {number}" in used:
        number += 1
    return f"{base} {number}"
