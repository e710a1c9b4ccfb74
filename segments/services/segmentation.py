"""Segmentation runs: RFM segments, clusters and staff rule segments, members stored per run."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd
from django.db import transaction
from django.utils import timezone

from ecomsite.engine import clean_columns as cc
from ecomsite.services.artifacts import frame_load
from ecomsite.services.bulk import db_now, insert_ignoring_conflicts
from ecomsite.services.runs import ProgressReporter, run_claim, run_fail, run_succeed
from segments.engine.clustering import ClusteringParams, cluster_customers
from segments.engine.rfm import SEGMENTS, rfm_scores
from segments.engine.rules import RuleError, evaluate_rule
from segments.models import (
    FeatureRun,
    PredictionRun,
    Segment,
    SegmentationRun,
    SegmentKind,
    SegmentMembership,
)

from .features import customer_features_load
from .predictions import with_scores

MEMBERSHIP_FIELDS = ("run", "segment", "customer", "created_at", "updated_at")


def segmentation_run_create(
    *, feature_run: FeatureRun, prediction_run: PredictionRun | None = None
) -> SegmentationRun:
    return SegmentationRun.objects.create(feature_run=feature_run, prediction_run=prediction_run)


def purchases_frame(*, feature_run: FeatureRun) -> pd.DataFrame:
    """Usable purchases (customer, sku, category, timestamp) of the run's clean table, for rules."""
    clean = frame_load(
        feature_run.cleaning_run.artifact,
        columns=[cc.CUSTOMER, cc.SKU, cc.CATEGORY, cc.TIMESTAMP, cc.KIND, cc.USABLE],
    )
    usable = clean[clean[cc.USABLE] & (clean[cc.KIND] == "purchase")]
    return usable[[cc.CUSTOMER, cc.SKU, cc.CATEGORY, cc.TIMESTAMP]].reset_index(drop=True)


def _segment(kind: str, name: str, description: str) -> Segment:
    segment, created = Segment.objects.get_or_create(
        kind=kind, name=name, defaults={"description": description}
    )
    if not created and description and segment.description != description:
        segment.description = description
        segment.save(update_fields=["description", "updated_at"])
    return segment


def segmentation_run_execute(*, run_id: int, task_id: str = "") -> SegmentationRun | None:
    """Evaluate every segment on the run's features and store the members of each.
    Idempotent: a redo replaces the run's memberships."""
    run = run_claim(SegmentationRun, run_id=run_id, task_id=task_id)
    if run is None:
        return None
    report = ProgressReporter(run)
    started = timezone.now()
    try:
        feature_run = run.feature_run
        features = customer_features_load(feature_run)
        members: dict[Segment, pd.Index] = {}

        report(0.1, "RFM", force=True)
        rfm = rfm_scores(features)
        definitions = dict(SEGMENTS)
        for name, ids in rfm.groupby("segment").groups.items():
            segment = _segment(SegmentKind.RFM, str(name), definitions.get(str(name), ""))
            members[segment] = pd.Index(ids)

        report(0.3, "Clustering", force=True)
        clustering = cluster_customers(
            features, ClusteringParams(), category=features.get("top_category")
        )
        used: set[str] = set()
        for cluster in clustering.clusters:
            name = cluster.name
            while name in used:
                name = f"{name} ({cluster.label + 1})"
            used.add(name)
            ids = clustering.labels.index[clustering.labels == cluster.label]
            members[_segment(SegmentKind.CLUSTER, name, cluster.description)] = ids

        report(0.6, "Rule segments", force=True)
        scored = with_scores(features, run.prediction_run)
        rule_errors = _rule_segments(run, scored, feature_run, members)

        report(0.8, "Storing members", force=True)
        memberships_store(run=run, members=members)
    except Exception as exc:
        run_fail(run, error=exc)
        raise
    run_succeed(
        run,
        message=f"{len(members)} segments",
        metrics={
            "seconds": round((timezone.now() - started).total_seconds(), 2),
            "customers": len(features),
            "k": clustering.k,
            "silhouette_by_k": {str(k): round(v, 4) for k, v in clustering.silhouette_by_k.items()},
            "sizes": {segment.name: len(ids) for segment, ids in members.items()},
            "rule_errors": rule_errors,
        },
    )
    return run


def _rule_segments(
    run: SegmentationRun,
    features: pd.DataFrame,
    feature_run: FeatureRun,
    members: dict[Segment, pd.Index],
) -> dict[str, str]:
    rules = list(Segment.objects.filter(kind=SegmentKind.RULE, is_active=True))
    if not rules:
        return {}
    purchases = purchases_frame(feature_run=feature_run)
    known: Mapping[str, pd.Index] = {segment.name: ids for segment, ids in members.items()}
    errors = {}
    for segment in rules:
        try:
            members[segment] = evaluate_rule(
                segment.definition,
                features=features,
                purchases=purchases,
                segments=known,
                as_of=pd.Timestamp(feature_run.as_of) if feature_run.as_of else None,
            )
        except RuleError as exc:  # a broken rule must not stop the others
            errors[segment.name] = str(exc)
    return errors


@transaction.atomic
def memberships_store(*, run: SegmentationRun, members: Mapping[Segment, pd.Index]) -> int:
    SegmentMembership.objects.filter(run=run).delete()
    now = db_now()
    rows = [
        (run.pk, segment.pk, int(customer), now, now)
        for segment, ids in members.items()
        for customer in ids
    ]
    return insert_ignoring_conflicts(
        SegmentMembership, MEMBERSHIP_FIELDS, rows, conflict=("run", "segment", "customer")
    )
