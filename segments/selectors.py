"""Reads behind the segment pages and the segments API: the runs in use, sizes and their trends,
members with their features, profiles against the population, the RFM grid, movements between
two runs and rule previews.

"In use" is always the newest *succeeded* run: a failed or running pipeline never hides the
previous results. Feature frames are read from the run's Parquet artifact and kept in a small
per-process cache (a run's artifact never changes once it succeeded)."""

from __future__ import annotations

import functools
import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from django.conf import settings
from django.core.cache import cache
from django.db.models import Count, QuerySet

from ecomsite.models import CleaningRun, Customer, RunStatus
from segments.engine import features as F
from segments.engine.rfm import GRID, SCORES, fm_score, rfm_scores
from segments.engine.rules import RuleError, describe_rule, evaluate_rule, validate_rule
from segments.models import (
    CustomerScore,
    FeatureRun,
    PipelineRun,
    PredictionRun,
    Segment,
    SegmentationRun,
    SegmentKind,
    SegmentMembership,
)
from segments.services.features import customer_features_load
from segments.services.predictions import with_scores
from segments.services.segmentation import purchases_frame

TREND_RUNS = 12
CACHE_SECONDS = 24 * 60 * 60
SAMPLE_SIZE = 10
EXPORT_CHUNK = 5_000
OUTSIDE = "(not a customer yet)"
GONE = "(no longer scored)"

_HORIZON = settings.PREDICTIVE_HORIZON_DAYS
# Numeric customer features as staff read them: column → (label, unit).
FEATURE_LABELS: dict[str, tuple[str, str]] = {
    F.RECENCY_DAYS: ("Days since last order", "days"),
    F.FREQUENCY: ("Orders", "orders"),
    F.MONETARY: ("Net revenue", "currency"),
    F.TENURE_DAYS: ("Tenure", "days"),
    F.AVG_ORDER_VALUE: ("Average order value", "currency"),
    F.BASKET_SIZE: ("Products per order", "products"),
    F.UNITS: ("Units kept", "units"),
    F.RETURN_RATE: ("Return rate", "share"),
    F.MEAN_INTERPURCHASE_DAYS: ("Days between orders", "days"),
    F.VIEWS: ("Product views", "events"),
    F.CARTS: ("Add-to-carts", "events"),
    F.PURCHASES: ("Order lines", "events"),
    F.VIEW_TO_CART: ("View → cart rate", "ratio"),
    F.CART_TO_PURCHASE: ("Cart → purchase rate", "ratio"),
    F.TOP_CATEGORY_SHARE: ("Top category's share of spend", "share"),
    # predictive scores (segments/services/predictions.py), over PREDICTIVE_HORIZON_DAYS
    "clv": (f"Predicted revenue, next {_HORIZON} days", "currency"),
    "clv_percentile": ("Predicted revenue percentile (90% = top 10%)", "share"),
    "expected_orders": (f"Predicted orders, next {_HORIZON} days", "orders"),
    "churn_risk": (f"Churn risk (no order in {_HORIZON} days)", "share"),
    "p_alive": ("Probability still active", "share"),
    "expected_order_value": ("Predicted order value", "currency"),
    "next_order_days": ("Predicted days to next order", "days"),
}
TEXT_FEATURES = (F.TOP_CATEGORY,)
PROFILE_FEATURES = (
    F.RECENCY_DAYS,
    F.FREQUENCY,
    F.MONETARY,
    F.AVG_ORDER_VALUE,
    F.BASKET_SIZE,
    F.RETURN_RATE,
    F.MEAN_INTERPURCHASE_DAYS,
    F.TENURE_DAYS,
)
MEMBER_COLUMNS = (F.RECENCY_DAYS, F.FREQUENCY, F.MONETARY, F.AVG_ORDER_VALUE, F.RETURN_RATE)


# -- runs ---------------------------------------------------------------------------------------


def segmentation_current() -> SegmentationRun | None:
    """The segmentation run in use: the newest that succeeded."""
    return (
        SegmentationRun.objects.filter(status=RunStatus.SUCCEEDED)
        .select_related("feature_run", "feature_run__cleaning_run", "prediction_run")
        .order_by("-finished_at", "-pk")
        .first()
    )


def prediction_current() -> PredictionRun | None:
    """The prediction run in use: the current segmentation's, else the newest that succeeded
    (rule segments and scores shown to staff then come from the same run)."""
    segmentation = segmentation_current()
    if segmentation is not None and segmentation.prediction_run_id is not None:
        run = segmentation.prediction_run
        if run is not None and run.status == RunStatus.SUCCEEDED:
            return run
    return (
        PredictionRun.objects.filter(status=RunStatus.SUCCEEDED)
        .order_by("-finished_at", "-pk")
        .first()
    )


def customer_score(
    customer: Customer | int, run: PredictionRun | None = None
) -> CustomerScore | None:
    """The customer's scores in the prediction run in use (None: not scored — no purchase)."""
    run = run or prediction_current()
    if run is None:
        return None
    return CustomerScore.objects.filter(run=run, customer=customer).first()


def segmentation_recent(limit: int = TREND_RUNS) -> list[SegmentationRun]:
    """The newest `limit` succeeded segmentation runs, oldest first."""
    runs = SegmentationRun.objects.filter(status=RunStatus.SUCCEEDED).order_by(
        "-finished_at", "-pk"
    )[:limit]
    return list(reversed(runs))


def segmentation_previous(run: SegmentationRun) -> SegmentationRun | None:
    return (
        SegmentationRun.objects.filter(status=RunStatus.SUCCEEDED, finished_at__lt=run.finished_at)
        .order_by("-finished_at", "-pk")
        .first()
    )


def pipeline_runs() -> QuerySet[PipelineRun]:
    return PipelineRun.objects.select_related(
        "created_by",
        "cleaning_run",
        "feature_run",
        "prediction_run",
        "segmentation_run",
        "training_run",
    ).order_by("-created_at", "-pk")


def pipeline_active() -> PipelineRun | None:
    return pipeline_runs().filter(status__in=[RunStatus.PENDING, RunStatus.RUNNING]).first()


def cleaning_runs() -> QuerySet[CleaningRun]:
    return CleaningRun.objects.order_by("-created_at", "-pk")


# -- frames -------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=4)
def _features(run_id: int, artifact_dir: str, scores_dir: str = "") -> pd.DataFrame:
    features = customer_features_load(FeatureRun(pk=run_id, artifact_dir=artifact_dir))
    if not scores_dir:
        return features
    return with_scores(features, PredictionRun(artifact_dir=scores_dir))


def features_frame(run: SegmentationRun) -> pd.DataFrame:
    """The customer features the run was computed on, with the predictive scores of its
    prediction run joined (shared: do not modify)."""
    feature_run = run.feature_run
    predictions = run.prediction_run if run.prediction_run_id else None
    scores = predictions.artifact_dir if predictions is not None else ""
    return _features(feature_run.pk, feature_run.artifact_dir, scores)


@functools.lru_cache(maxsize=1)
def _purchases(run_id: int, clean_artifact: str) -> pd.DataFrame:
    """Keyed by the artifact too: run ids are reused by test databases, artifact paths are not."""
    return purchases_frame(
        feature_run=FeatureRun.objects.select_related("cleaning_run").get(pk=run_id)
    )


def _member_ids(run: SegmentationRun, segment: Segment) -> pd.Index:
    ids = SegmentMembership.objects.filter(run=run, segment=segment).values_list(
        "customer_id", flat=True
    )
    return pd.Index(np.fromiter(ids, dtype=np.int64), dtype=np.int64)


def members_by_segment_name(run: SegmentationRun) -> dict[str, pd.Index]:
    """Every segment's members in the run, by segment name (for in_segment rule nodes)."""
    rows = SegmentMembership.objects.filter(run=run).values_list("segment__name", "customer_id")
    frame = pd.DataFrame.from_records(list(rows), columns=["segment", "customer"])
    return {
        str(name): pd.Index(group["customer"].to_numpy(dtype=np.int64))
        for name, group in frame.groupby("segment")
    }


# -- sizes and trends ---------------------------------------------------------------------------


@dataclass(frozen=True)
class SegmentRow:
    segment: Segment
    size: int
    share: float  # of the customers scored in the run
    previous: int | None  # size in the run before (None: no earlier run)
    trend: list[int]  # sizes over the recent runs, oldest first

    @property
    def change(self) -> int | None:
        return None if self.previous is None else self.size - self.previous


def sizes_by_run(runs: Sequence[SegmentationRun]) -> dict[int, dict[int, int]]:
    """run id → segment id → members, in one grouped query."""
    sizes: dict[int, dict[int, int]] = {run.pk: {} for run in runs}
    rows = (
        SegmentMembership.objects.filter(run__in=[run.pk for run in runs])
        .values_list("run_id", "segment_id")
        .annotate(n=Count("id"))
        .order_by()
    )
    for run_id, segment_id, n in rows:
        sizes[run_id][segment_id] = n
    return sizes


def segment_rows(
    run: SegmentationRun | None, *, kind: str = "", include_inactive: bool = False
) -> list[SegmentRow]:
    """Segments with their size in `run`, the change since the run before and the trend over the
    recent runs; RFM first, then clusters, then rules, larger segments first within a kind."""
    segments = Segment.objects.all()
    if kind:
        segments = segments.filter(kind=kind)
    if not include_inactive:
        segments = segments.filter(is_active=True)
    if run is None:
        return [SegmentRow(s, 0, 0.0, None, []) for s in segments]
    finished = run.finished_at
    recent = [
        r for r in segmentation_recent() if finished and r.finished_at and r.finished_at <= finished
    ]
    if run.pk not in {r.pk for r in recent}:
        recent.append(run)
    sizes = sizes_by_run(recent)
    population = int(run.metrics.get("customers") or 0) or len(features_frame(run))
    position = [r.pk for r in recent].index(run.pk)
    before = recent[position - 1].pk if position else None
    rows = []
    for segment in segments:
        size = sizes[run.pk].get(segment.pk, 0)
        rows.append(
            SegmentRow(
                segment=segment,
                size=size,
                share=size / population if population else 0.0,
                previous=sizes[before].get(segment.pk, 0) if before else None,
                trend=[sizes[r.pk].get(segment.pk, 0) for r in recent],
            )
        )
    order: dict[str, int] = {SegmentKind.RFM: 0, SegmentKind.CLUSTER: 1, SegmentKind.RULE: 2}
    rows.sort(key=lambda row: (order.get(row.segment.kind, 3), -row.size, row.segment.name))
    return rows


def segment_history(segment: Segment, limit: int = TREND_RUNS) -> list[dict[str, Any]]:
    """The segment's size in each of the recent runs: [{run, finished_at, size}], oldest first."""
    runs = segmentation_recent(limit)
    sizes = sizes_by_run(runs)
    return [
        {"run": run.pk, "finished_at": run.finished_at, "size": sizes[run.pk].get(segment.pk, 0)}
        for run in runs
    ]


# -- members ------------------------------------------------------------------------------------


def segment_members(segment: Segment, run: SegmentationRun) -> QuerySet[Customer]:
    member_ids = SegmentMembership.objects.filter(run=run, segment=segment).values("customer_id")
    return Customer.objects.filter(pk__in=member_ids).order_by("external_id")


def member_features(
    run: SegmentationRun, customer_ids: Iterable[int], columns: Sequence[str] = MEMBER_COLUMNS
) -> dict[int, dict[str, Any]]:
    """Feature values per customer (None where unknown), for a page of members."""
    features = features_frame(run)
    ids = [i for i in customer_ids if i in features.index]
    rows = features.loc[ids, list(columns)].astype(object).where(lambda f: f.notna(), None)
    records: list[dict[str, Any]] = rows.to_dict("records")  # type: ignore[assignment]
    return {int(i): row for i, row in zip(ids, records, strict=True)}


def segment_members_export(segment: Segment, run: SegmentationRun) -> Iterable[list[Any]]:
    """Rows for the member CSV: a header, then customer id, country and every numeric feature."""
    features = features_frame(run)
    columns = [c for c in FEATURE_LABELS if c in features.columns]
    header = ["customer_id", "country", *columns, F.TOP_CATEGORY]
    yield header
    rows = segment_members(segment, run).values_list("pk", "external_id", "country")
    iterator = rows.iterator(chunk_size=EXPORT_CHUNK)
    while chunk := list(itertools.islice(iterator, EXPORT_CHUNK)):
        known = features.reindex([pk for pk, _, _ in chunk])
        values = known[[*columns, F.TOP_CATEGORY]].to_numpy(dtype=object)
        for (_, external_id, country), row in zip(chunk, values, strict=True):
            yield [external_id, country, *("" if _missing(v) else _round(v) for v in row)]


def _missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value))


def _round(value: object) -> object:
    return round(value, 4) if isinstance(value, float) else value


# -- profiles -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class FeatureComparison:
    feature: str
    label: str
    unit: str
    members_median: float | None
    population_median: float | None
    members_mean: float | None
    population_mean: float | None

    @property
    def ratio(self) -> float | None:
        """Members' mean over the population's (1 = typical)."""
        if not self.members_mean or not self.population_mean:
            return None
        return self.members_mean / self.population_mean


@dataclass(frozen=True)
class SegmentProfile:
    size: int
    population: int
    features: list[FeatureComparison]
    # [(name, members share, population share)], most typical of the segment first
    categories: list[tuple[str, float, float]] = field(default_factory=list)
    countries: list[tuple[str, float, float]] = field(default_factory=list)
    rfm_mix: list[tuple[str, float, float]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        def shares(rows: list[tuple[str, float, float]]) -> list[dict[str, Any]]:
            return [{"name": n, "members": m, "population": p} for n, m, p in rows]

        return {
            "size": self.size,
            "population": self.population,
            "features": [
                {
                    "feature": c.feature,
                    "label": c.label,
                    "unit": c.unit,
                    "members_median": c.members_median,
                    "population_median": c.population_median,
                    "members_mean": c.members_mean,
                    "population_mean": c.population_mean,
                    "ratio": c.ratio,
                }
                for c in self.features
            ],
            "categories": shares(self.categories),
            "countries": shares(self.countries),
            "rfm_mix": shares(self.rfm_mix),
        }


def segment_profile(segment: Segment, run: SegmentationRun) -> SegmentProfile:
    """How the segment's members differ from everyone scored in the run: feature medians and
    means, top-category and country mix, and (for clusters and rules) the RFM segment mix."""
    key = f"segments:profile:{run.pk}:{segment.pk}:{segment.updated_at.timestamp()}"
    return cache.get_or_set(key, lambda: _profile(segment, run), CACHE_SECONDS)  # type: ignore[return-value]


def _profile(segment: Segment, run: SegmentationRun) -> SegmentProfile:
    return _profile_of(_member_ids(run, segment), run, rfm_mix=segment.kind != SegmentKind.RFM)


def customers_profile(
    customer_ids: Iterable[int], run: SegmentationRun, *, rfm_mix: bool = True
) -> SegmentProfile:
    """The profile of any set of customers (a campaign audience, a lookalike) against everyone
    scored in `run`, as segment_profile computes it for a segment's members. Ids the run did not
    score count in `size` but not in the feature figures. Not cached: callers' sets vary."""
    ids = pd.Index(np.fromiter((int(i) for i in customer_ids), dtype=np.int64)).unique()
    return _profile_of(ids, run, rfm_mix=rfm_mix)


def _profile_of(ids: pd.Index, run: SegmentationRun, *, rfm_mix: bool) -> SegmentProfile:
    features = features_frame(run)
    members = features.loc[features.index.intersection(ids)]
    comparisons = [
        FeatureComparison(
            feature=name,
            label=FEATURE_LABELS[name][0],
            unit=FEATURE_LABELS[name][1],
            members_median=_statistic(members[name], "median"),
            population_median=_statistic(features[name], "median"),
            members_mean=_statistic(members[name], "mean"),
            population_mean=_statistic(features[name], "mean"),
        )
        for name in PROFILE_FEATURES
        if name in features.columns
    ]
    countries = pd.Series(dict(Customer.objects.values_list("pk", "country")), dtype=object)
    countries = countries[countries != ""].reindex(features.index)
    mix: list[tuple[str, float, float]] = []
    if rfm_mix:
        rfm = _rfm_names(run)
        mix = _mix(rfm.reindex(members.index), rfm)
    return SegmentProfile(
        size=len(ids),
        population=len(features),
        features=comparisons,
        categories=_mix(members[F.TOP_CATEGORY], features[F.TOP_CATEGORY], top=8),
        countries=_mix(countries.reindex(members.index), countries, top=6),
        rfm_mix=mix,
    )


def _rfm_names(run: SegmentationRun) -> pd.Series:
    rows = SegmentMembership.objects.filter(run=run, segment__kind=SegmentKind.RFM).values_list(
        "customer_id", "segment__name"
    )
    return pd.Series(dict(rows), dtype=object)


def _mix(
    members: pd.Series, population: pd.Series, top: int = 12
) -> list[tuple[str, float, float]]:
    """Share of each value among members and in the population, the values members have most of
    first (missing values are left out of both shares)."""
    member_shares = members.dropna().value_counts(normalize=True)
    population_shares = population.dropna().value_counts(normalize=True)
    names = list(member_shares.index[:top])
    return [
        (str(n), float(member_shares.get(n, 0.0)), float(population_shares.get(n, 0.0)))
        for n in names
    ]


def _statistic(values: pd.Series, how: str) -> float | None:
    """Median or mean of the known values; None when there are none (one-time buyers have no
    days between orders)."""
    known = values.dropna()
    return None if known.empty else _number(getattr(known, how)())


def _number(value: Any) -> float | None:
    return None if pd.isna(value) else float(value)


# -- RFM grid -----------------------------------------------------------------------------------


def rfm_grid(run: SegmentationRun) -> dict[str, Any]:
    """The 5 x 5 grid of recency score (rows, 5 = most recent first) by FM score
    (FM = (F + M) / 2 rounded half up): customers, mean revenue and the named segment per cell;
    and the R x F counts."""
    key = f"segments:rfm-grid:{run.pk}"
    return cache.get_or_set(key, lambda: _rfm_grid(run), CACHE_SECONDS)  # type: ignore[return-value]


def _rfm_grid(run: SegmentationRun) -> dict[str, Any]:
    features = features_frame(run)
    scores = rfm_scores(features).join(features[[F.MONETARY]])
    scores["fm"] = fm_score(scores["f"], scores["m"])  # type: ignore[arg-type]
    cells = []
    for r in reversed(SCORES):
        for fm in SCORES:
            cell = scores[(scores["r"] == r) & (scores["fm"] == fm)]
            cells.append(
                {
                    "r": r,
                    "fm": fm,
                    "customers": len(cell),
                    "monetary_mean": _number(cell[F.MONETARY].mean()),
                    "segment": str(GRID[r - 1, fm - 1]),
                }
            )
    by_rf = scores.groupby(["r", "f"]).size()
    return {
        "scored": len(scores),
        "cells": cells,
        "r_by_f": [
            {"r": r, "f": f, "customers": int(by_rf.get((r, f), 0))}
            for r in reversed(SCORES)
            for f in SCORES
        ],
    }


# -- movements ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Movements:
    source: SegmentationRun
    target: SegmentationRun
    kind: str
    segments: list[str]  # row/column order, with OUTSIDE and GONE where they occur
    flows: list[tuple[str, str, int]]  # (from, to, customers), largest first; includes stayers

    def as_dict(self) -> dict[str, Any]:
        return {
            "from_run": self.source.pk,
            "to_run": self.target.pk,
            "kind": self.kind,
            "segments": self.segments,
            "flows": [{"from": a, "to": b, "customers": n} for a, b, n in self.flows],
        }

    @property
    def moved(self) -> list[tuple[str, str, int]]:
        return [flow for flow in self.flows if flow[0] != flow[1]]


def segment_movements(
    source: SegmentationRun, target: SegmentationRun, *, kind: str = SegmentKind.RFM
) -> Movements:
    """Customers per (segment in `source`, segment in `target`) for an exclusive kind (RFM or
    clusters: every scored customer is in exactly one). Customers scored only in the target came
    from OUTSIDE; those scored only in the source went to GONE."""
    if kind not in (SegmentKind.RFM, SegmentKind.CLUSTER):
        raise ValueError("movements are defined for RFM and cluster segments only")

    def frame(run: SegmentationRun) -> pd.Series:
        rows = SegmentMembership.objects.filter(run=run, segment__kind=kind).values_list(
            "customer_id", "segment__name"
        )
        return pd.Series(dict(rows), dtype=object)

    before, after = frame(source), frame(target)
    joined = pd.DataFrame({"from": before, "to": after})
    joined["from"] = joined["from"].fillna(OUTSIDE)
    joined["to"] = joined["to"].fillna(GONE)
    counts = joined.groupby(["from", "to"]).size().sort_values(ascending=False)
    flows = [(str(pair[0]), str(pair[1]), int(n)) for pair, n in counts.items()]  # type: ignore[index]
    order = list(pd.concat([before, after]).value_counts().index.astype(str))
    segments = order + [n for n in (OUTSIDE, GONE) if n in set(joined["from"]) | set(joined["to"])]
    return Movements(source=source, target=target, kind=kind, segments=segments, flows=flows)


# -- rule segments ------------------------------------------------------------------------------


@dataclass(frozen=True)
class RulePreview:
    description: str
    size: int
    population: int
    sample: list[Customer]

    @property
    def share(self) -> float:
        return self.size / self.population if self.population else 0.0


def rule_vocabulary(run: SegmentationRun | None) -> dict[str, Any]:
    """What a rule may refer to in this run: features (with labels), categories, segments."""
    categories: list[str] = []
    segments: list[str] = []
    if run is not None:
        features = features_frame(run)
        categories = sorted(str(c) for c in features[F.TOP_CATEGORY].dropna().unique())
        segments = sorted(
            Segment.objects.filter(memberships__run=run).values_list("name", flat=True).distinct()
        )
    return {
        "features": [
            {"name": name, "label": label, "unit": unit}
            for name, (label, unit) in FEATURE_LABELS.items()
        ]
        + [{"name": F.TOP_CATEGORY, "label": "Top category", "unit": "text"}],
        "categories": categories,
        "segments": segments,
        "comparisons": [">", ">=", "<", "<=", "==", "!="],
    }


def rule_members(
    tree: Mapping[str, Any], run: SegmentationRun, *, exclude_segment: str = ""
) -> pd.Index:
    """The customers of `run` who match the rule (RuleError if it is malformed or refers to
    something unknown). `exclude_segment` drops a segment from the names a rule may refer to (a
    rule segment may not refer to itself)."""
    features = features_frame(run)
    known = members_by_segment_name(run)
    known.pop(exclude_segment, None)
    validate_rule(tree, features=list(features.columns), segments=list(known))
    feature_run = run.feature_run
    needs_purchases = "bought_" in str(tree)
    return evaluate_rule(
        dict(tree),
        features=features,
        purchases=_purchases(feature_run.pk, feature_run.cleaning_run.artifact)
        if needs_purchases
        else None,
        segments=known,
        as_of=pd.Timestamp(feature_run.as_of) if feature_run.as_of else None,
    )


def rule_preview(
    tree: Mapping[str, Any], run: SegmentationRun, *, exclude_segment: str = ""
) -> RulePreview:
    ids = rule_members(tree, run, exclude_segment=exclude_segment)
    sample_ids = [int(i) for i in ids[:SAMPLE_SIZE]]
    sample = sorted(Customer.objects.filter(pk__in=sample_ids), key=lambda c: c.external_id)
    return RulePreview(
        description=describe_rule(tree),
        size=len(ids),
        population=len(features_frame(run)),
        sample=sample,
    )


__all__ = ["RuleError"]
