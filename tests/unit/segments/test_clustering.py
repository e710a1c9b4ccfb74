"""Clustering: planted groups are found and described; same seed, same answer; NaN/constant safe."""

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest

from segments.engine.clustering import ClusteringParams, ClusteringResult, cluster_customers

FEATURES = ClusteringParams().features


def planted(sizes: dict[str, int], seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """Customers from well-separated groups: returns (feature frame, group name per row).

    "regular": ~4 orders of ~50, bought ~30 days ago; "whale": same habits, 5× the spend;
    "lapsed": one order of ~40 about a year ago (no interpurchase gap: NaN);
    "returner": regular habits but returns half of what they buy; "bulk": huge baskets.
    """
    rng = np.random.default_rng(seed)
    centres = {  # recency, frequency, monetary/order, basket, return rate, gap days
        "regular": (30, 4, 50, 3, 0.02, 40),
        "whale": (30, 4, 250, 3, 0.02, 40),
        "lapsed": (365, 1, 40, 3, 0.02, np.nan),
        "returner": (30, 4, 50, 3, 0.5, 40),
        "bulk": (30, 4, 50, 40, 0.02, 40),
    }
    frames, groups = [], []
    for name, size in sizes.items():
        recency, frequency, per_order, basket, returns, gap = centres[name]
        noise = rng.normal(1.0, 0.05, size=(size, 5))
        orders = np.full(size, float(frequency))
        aov = per_order * noise[:, 0]
        frames.append(
            pd.DataFrame(
                {
                    "recency_days": recency * noise[:, 1],
                    "frequency": orders,
                    "monetary": aov * orders,
                    "avg_order_value": aov,
                    "basket_size": basket * noise[:, 2],
                    "return_rate": returns * noise[:, 3],
                    "mean_interpurchase_days": gap * noise[:, 4],
                }
            )
        )
        groups += [name] * size
    frame = pd.concat(frames, ignore_index=True)
    frame.index = pd.Index(np.arange(len(frame), dtype=np.int64) * 7 + 100, name="customer")
    return frame, np.array(groups)


def group_of_cluster(result: ClusteringResult, groups: np.ndarray) -> dict[int, str]:
    """cluster label → the planted group it holds; asserts each cluster is exactly one group."""
    table = pd.crosstab(result.labels.to_numpy(), groups)
    assert ((table > 0).sum(axis=1) == 1).all(), f"clusters mix groups:\n{table}"
    assert ((table > 0).sum(axis=0) == 1).all(), f"groups split over clusters:\n{table}"
    return {int(label): str(row.idxmax()) for label, row in table.iterrows()}


SIZES3 = {"regular": 300, "whale": 150, "lapsed": 100}


def test_finds_three_planted_groups():
    # given: three well-separated groups, when: clustering with k in [3, 8]
    features, groups = planted(SIZES3)
    result = cluster_customers(features)
    # then: k = 3, each cluster is one group, and label 0 is the largest
    assert result.k == 3
    assert sorted(result.silhouette_by_k) == list(range(3, 9))
    assert max(result.silhouette_by_k, key=result.silhouette_by_k.__getitem__) == 3
    assert group_of_cluster(result, groups) == {0: "regular", 1: "whale", 2: "lapsed"}
    assert [c.size for c in result.clusters] == [300, 150, 100]
    assert [c.label for c in result.clusters] == [0, 1, 2]


@pytest.mark.parametrize("k_min", [2, 3])
def test_finds_five_planted_groups(k_min):
    sizes = {"regular": 250, "whale": 200, "lapsed": 150, "returner": 100, "bulk": 80}
    features, groups = planted(sizes, seed=3)
    result = cluster_customers(features, ClusteringParams(k_min=k_min, k_max=8))
    assert result.k == 5
    assert group_of_cluster(result, groups) == {
        0: "regular",
        1: "whale",
        2: "lapsed",
        3: "returner",
        4: "bulk",
    }


def test_k_is_chosen_on_a_sample_and_the_fit_covers_everyone():
    # given: more customers than the silhouette sample
    features, groups = planted({"regular": 1500, "whale": 900, "lapsed": 600})
    result = cluster_customers(features, ClusteringParams(sample_size=400))
    assert result.k == 3
    assert group_of_cluster(result, groups) == {0: "regular", 1: "whale", 2: "lapsed"}
    assert len(result.labels) == 3000


def test_same_seed_same_result_whatever_the_row_order():
    features, _ = planted({"regular": 500, "whale": 300, "lapsed": 200}, seed=1)
    params = ClusteringParams(sample_size=300, seed=7)
    first = cluster_customers(features, params)
    again = cluster_customers(features, params)
    shuffled = cluster_customers(features.sample(frac=1.0, random_state=5), params)
    for other in (again, shuffled):
        pd.testing.assert_series_equal(first.labels, other.labels)
        assert first.silhouette_by_k == other.silhouette_by_k
        assert first.clusters == other.clusters


def test_labels_are_a_series_over_sorted_customer_ids():
    features, _ = planted(SIZES3)
    result = cluster_customers(features.iloc[::-1])
    assert result.labels.index.equals(features.index)  # ascending ids
    assert result.labels.index.name == "customer"
    assert result.labels.dtype == np.int64
    assert set(result.labels.unique()) == {0, 1, 2}


def test_descriptions_name_the_planted_differences():
    # given: whales spend 5× as much; lapsed customers bought once, a year ago
    features, groups = planted(SIZES3)
    category = pd.Series(
        np.where(groups == "whale", "Candles & lighting", "Christmas"), index=features.index
    )
    category.iloc[:100] = "Home decor"  # the regulars are a mix: no category note for them
    result = cluster_customers(features, category=category)
    regular, whale, lapsed = result.clusters

    # then: the spend phrase, with its ratio, and the dominant category
    # ratios compare medians: the typical whale vs the typical customer (a regular)
    assert whale.ratios["monetary"] == pytest.approx(
        features.loc[groups == "whale", "monetary"].median() / features["monetary"].median()
    )
    assert whale.ratios["monetary"] == pytest.approx(5.0, rel=0.05)
    ratio = f"{whale.ratios['monetary']:.1f}×"
    assert f"big spenders ({ratio} spend)" in whale.description
    assert whale.description.endswith("; mostly Candles & lighting (100% vs 27% overall)")
    assert "spend" in whale.name.lower()
    # the lapsed one-timers: recency up, one order; all Christmas vs 300 of 550 overall
    assert "lapsed (" in lapsed.description
    assert "one-time buyers (" in lapsed.description
    assert lapsed.description.endswith("; mostly Christmas (100% vs 55% overall)")
    assert lapsed.name == "Lapsed low spenders"
    assert "mean_interpurchase_days" not in lapsed.centroid  # nobody in it came back
    # features that do not differ are not mentioned; the regulars are the typical customer
    assert "basket" not in whale.description and "return" not in whale.description
    assert regular.name == "Typical customers"
    assert regular.description == "close to the typical customer on every feature"
    # (regulars: Christmas 200 of 300 = 67% vs 55% overall is not notable, < 1.5×)
    # centroids are cluster means in raw units
    assert regular.centroid["frequency"] == pytest.approx(4.0)
    assert regular.centroid["monetary"] == pytest.approx(
        features.loc[groups == "regular", "monetary"].mean()
    )


def test_names_are_unique_and_clusters_are_json_ready():
    sizes = {"regular": 250, "whale": 200, "lapsed": 150, "returner": 100, "bulk": 80}
    features, _ = planted(sizes, seed=3)
    result = cluster_customers(features)
    names = [c.name for c in result.clusters]
    assert len(set(names)) == len(names)
    assert all(c.name and c.description for c in result.clusters)
    json.dumps([dataclasses.asdict(c) for c in result.clusters], allow_nan=False)
    returner = result.clusters[3]
    assert "returns a lot (" in returner.description
    assert "the typical return rate)" in returner.description
    assert [c.name for c in result.clusters] == [
        "Typical customers",
        "High-spending big-ticket buyers",
        "Lapsed low spenders",
        "Serial returners",
        "Bulk buyers",
    ]


def test_handles_nan_inf_and_constant_columns():
    # given: NaN gaps for one-timers, a few missing recencies and an inf, a constant basket
    # size and an all-missing return rate
    features, groups = planted(SIZES3)
    features["basket_size"] = 2.0
    features["return_rate"] = np.nan
    features.loc[features.index[::50], "recency_days"] = np.nan
    features.loc[features.index[1], "avg_order_value"] = np.inf
    result = cluster_customers(features)
    assert result.k == 3
    assert result.labels.notna().all() and len(result.labels) == len(features)
    # the constant and empty columns are never described; the constant one has ratio 1
    for cluster in result.clusters:
        assert "basket" not in cluster.description and "return" not in cluster.description
        assert cluster.ratios["basket_size"] == pytest.approx(1.0)
        assert "return_rate" not in cluster.ratios and "return_rate" not in cluster.centroid
    assert "basket_size" not in result.log_features


def test_any_numeric_columns_by_name():
    features, _ = planted(SIZES3)
    features = features.assign(views=features["frequency"] * 10.0, top_category="x")
    params = ClusteringParams(features=("views", "monetary", "recency_days"))
    result = cluster_customers(features, params)
    assert result.k == 3
    assert set(result.clusters[0].centroid) == {"views", "monetary", "recency_days"}


def test_progress_is_reported_per_k_and_at_the_end():
    features, _ = planted(SIZES3)
    calls: list[tuple[int, int, dict]] = []
    cluster_customers(
        features,
        ClusteringParams(k_min=3, k_max=5),
        on_progress=lambda done, total, **metrics: calls.append((done, total, metrics)),
    )
    assert [(done, total) for done, total, _ in calls] == [(1, 4), (2, 4), (3, 4), (4, 4)]
    assert [metrics["k"] for _, _, metrics in calls] == [3, 4, 5, 3]
    assert all(-1 <= metrics["silhouette"] <= 1 for _, _, metrics in calls)
    assert calls[-1][2]["silhouette"] == max(m["silhouette"] for _, _, m in calls[:3])


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (pd.DataFrame({"monetary": [1.0, 2.0]}), "feature frame lacks columns"),
        (
            pd.DataFrame({name: ["a", "b"] for name in FEATURES}),
            "feature columns must be numeric",
        ),
        (
            pd.DataFrame({name: [1.0, 2.0] for name in FEATURES}, index=[3, 3]),
            "index (customer id) has duplicates",
        ),
        (pd.DataFrame({name: [1.0] * 50 for name in FEATURES}), "need at least 4 distinct"),
        (pd.DataFrame({name: [] for name in FEATURES}, dtype=float), "feature frame is empty"),
    ],
)
def test_bad_input(frame, message):
    with pytest.raises(ValueError) as excinfo:
        cluster_customers(frame)
    assert message in str(excinfo.value)


@pytest.mark.parametrize(
    "kwargs",
    [{"k_min": 1}, {"k_min": 5, "k_max": 4}, {"features": ()}, {"notable_ratio": 1.0}],
)
def test_bad_params(kwargs):
    with pytest.raises(ValueError):
        ClusteringParams(**kwargs)
