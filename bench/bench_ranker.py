"""Benchmark the learned two-stage ranker on the demo data beside popularity, repeat and the blends.

What it measures
----------------
The demo file is loaded and cleaned exactly as ``bench/bench_recommenders.py`` does (its
``load_clean_frame``), and its purchases become the interaction frame. Cutoff 2011-06-01 by
default: everything from it on (June–August 2011) is held out.

1. ``tuning.run_experiment`` with the default search spaces (as bench_recommenders runs it):
   every CF algorithm tuned on the validation window (the 6 weeks before the cutoff), refitted
   on the whole training period and scored on the held-out months; this gives the rows for
   all-time popularity, repeat purchase and the tuned blends (repeat + CF, + trend).
2. The ranker (``recommendations.engine.deep.ranker.Ranker``, default parameters, seed 0) is
   fitted on the same training period (before the cutoff; inside its fit it trains on a label
   window at the end of that period) with product features (median unit price and category per
   product from the training rows) and customer features (the customer's most frequent
   country, read from the file's Country column). Printed: fit time split into preparation,
   training and scoring, the epochs run and the per-epoch history, candidates per customer,
   **candidate recall** (the share of held-out purchases of the evaluated customers that are
   among their candidates; all items and new items), and NDCG/recall@10 on all items and on
   new items from the same ``evaluate.evaluate`` as every other row.
3. Unless ``--skip-validation``: the ranker is also fitted on the validation split (rows before
   cutoff - 42 days) and scored on the validation window, beside the blends' validation NDCG,
   so a promotion decision can be made without the held-out months.

No choice is made on the held-out period: the ranker's parameters are its defaults. The load
average is printed before and after (the machine may be shared).

Run it
------
    . .venv/bin/activate
    python bench/bench_ranker.py
    python bench/bench_ranker.py --cutoff 2011-06-01 --skip-validation

It prints a report and never asserts.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from bench_recommenders import REAL_FILE, load_average, load_clean_frame, say  # noqa: E402

from ecomsite.engine import clean_columns as cc  # noqa: E402
from recommendations.engine.data import (  # noqa: E402
    ORDERS,
    Holdout,
    TrainingData,
    holdout,
    purchase_interactions,
    temporal_split,
    training_data,
)
from recommendations.engine.evaluate import Evaluation, evaluate  # noqa: E402
from recommendations.engine.tuning import TunedModel, run_experiment  # noqa: E402


def product_features(clean: pd.DataFrame, data: TrainingData) -> pd.DataFrame:
    """Median unit price and category per product column, from usable rows before data.now."""
    rows = clean.loc[
        clean[cc.USABLE].to_numpy(dtype=bool)
        & (pd.to_datetime(clean[cc.TIMESTAMP], utc=True) < data.now).to_numpy()
    ]
    grouped = rows.groupby(cc.PRODUCT).agg(
        price=(cc.UNIT_PRICE, "median"), category=(cc.CATEGORY, "first")
    )
    frame = grouped.reindex(data.products)
    frame.index = pd.RangeIndex(len(data.products))
    return frame


def customer_countries(path: Path) -> pd.Series:
    """Most frequent Country per CustomerID (int) in the file."""
    raw = pd.read_csv(path, usecols=["CustomerID", "Country"], dtype=str, keep_default_na=False)
    raw = raw[raw["CustomerID"] != ""]
    ids = pd.to_numeric(raw["CustomerID"], errors="coerce")
    raw = raw.assign(customer=ids).dropna(subset=["customer"])
    raw["customer"] = raw["customer"].astype(np.int64)
    counts = raw.groupby(["customer", "Country"]).size().reset_index(name="n")
    counts = counts.sort_values(["customer", "n", "Country"], ascending=[True, False, True])
    return counts.drop_duplicates("customer").set_index("customer")["Country"]


def customer_features(countries: pd.Series, data: TrainingData) -> pd.DataFrame:
    values = countries.reindex(data.customers).to_numpy(dtype=object)
    return pd.DataFrame({"country": values}, index=pd.RangeIndex(len(data.customers)))


def candidate_recall(model: Any, target: Holdout) -> tuple[float, float]:
    """Share of the evaluated customers' held-out purchases (all items; new items) that are
    among their candidates; purchases outside the catalogue count as missed."""
    chosen = model.candidate_scores[target.users]
    chosen.data[:] = 1.0
    inside = float(target.truth.multiply(chosen).sum())
    new_inside = float(target.new_truth.multiply(chosen).sum())
    return inside / max(target.relevant.sum(), 1), new_inside / max(target.new_relevant.sum(), 1)


def fit_ranker(
    data: TrainingData,
    clean: pd.DataFrame,
    countries: pd.Series,
    seed: int,
    overrides: dict[str, Any] | None = None,
) -> Any:
    from recommendations.engine.deep.ranker import Ranker

    def progress(epoch: int, epochs: int, **metrics: float) -> None:
        sys.stderr.write(
            f"\r  epoch {epoch}/{epochs} loss {metrics['loss']:.4f} "
            f"val_ndcg {metrics['val_ndcg']:.4f}   "
        )
        sys.stderr.flush()

    model = Ranker(**{"seed": seed, **(overrides or {})})
    model.fit(
        data.matrix(ORDERS),
        on_progress=progress,
        product_features=product_features(clean, data),
        customer_features=customer_features(countries, data),
        **data.context(),
    )
    sys.stderr.write("\n")
    return model


def row(label: str, evaluation: Evaluation, seconds: float, width: int) -> str:
    a, n = evaluation.all_items, evaluation.new_items
    return (
        f"{label:{width}} | {a.ndcg:.4f} {a.recall:.4f} | {n.ndcg:.4f} {n.recall:.4f} | "
        f"{seconds:6.1f}"
    )


def validate(
    args: argparse.Namespace,
    interactions: pd.DataFrame,
    clean: pd.DataFrame,
    countries: pd.Series,
    tuned: list[TunedModel] | None,
    width: int,
) -> None:
    """Fit the ranker on the rows before the validation window and score that window."""
    cutoff = pd.Timestamp(args.cutoff, tz="UTC")
    split = temporal_split(interactions, cutoff)
    validation_start = cutoff - pd.Timedelta(days=args.validation_days)
    inner = temporal_split(split.train, validation_start)
    inner_data = training_data(inner.train, now=validation_start)
    inner_target = holdout(inner, inner_data)
    started = time.monotonic()
    model = fit_ranker(inner_data, clean, countries, args.seed, args.ranker_params)
    seconds = time.monotonic() - started
    evaluation = evaluate(model, inner_target, k=10)
    recall_all, recall_new = candidate_recall(model, inner_target)
    say()
    say(
        f"validation window {validation_start:%Y-%m-%d} – {cutoff:%Y-%m-%d} @10 "
        f"(ranker: {len(model.history)} epochs; candidate recall all {recall_all:.4f}, "
        f"new {recall_new:.4f}):"
    )
    for model_row in tuned or []:
        if model_row.validation is not None:
            say(row(model_row.label, model_row.validation, model_row.fit_seconds, width))
    say(row("ranker", evaluation, seconds, width))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--file", type=Path, default=REAL_FILE)
    parser.add_argument("--cutoff", default="2011-06-01")
    parser.add_argument("--validation-days", type=float, default=42.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-validation", action="store_true")
    parser.add_argument(
        "--validation-only",
        action="store_true",
        help="only fit the ranker on the validation split and score the validation window "
        "(for choosing its parameters without the held-out months)",
    )
    parser.add_argument(
        "--ranker-params",
        type=json.loads,
        default={},
        help="JSON object of RankerParams overrides, e.g. '{\"label_days\": 42}'",
    )
    args = parser.parse_args()
    say(f"bench_ranker: {platform.python_version()}, {os.cpu_count()} CPUs; {load_average()}")
    started = time.monotonic()
    clean = load_clean_frame(args.file)
    interactions = purchase_interactions(clean)
    countries = customer_countries(args.file)
    say(f"loaded {len(interactions):,} interactions in {time.monotonic() - started:.1f}s")

    if args.validation_only:
        validate(args, interactions, clean, countries, None, 40)
        say(load_average())
        return 0

    def progress(done: int, total: int, step: str = "", algorithm: str = "") -> None:
        sys.stderr.write(f"\r  {done}/{total} {step} {algorithm}          ")
        sys.stderr.flush()

    started = time.monotonic()
    result = run_experiment(
        interactions,
        cutoff=args.cutoff,
        validation_days=args.validation_days,
        seed=args.seed,
        on_progress=progress,
    )
    sys.stderr.write("\n")
    say(f"run_experiment (CF tuning, refits, evaluation): {time.monotonic() - started:.1f}s")

    split = temporal_split(interactions, args.cutoff)
    data = training_data(split.train, now=split.cutoff)
    target = holdout(split, data)
    say(f"{load_average()} before the ranker fit")
    started = time.monotonic()
    model = fit_ranker(data, clean, countries, args.seed, args.ranker_params)
    fit_seconds = time.monotonic() - started
    say(f"{load_average()} after the ranker fit")
    test = evaluate(model, target, k=10)
    recall_all, recall_new = candidate_recall(model, target)
    summary = model.train_summary

    say()
    say(f"ranker fit {fit_seconds:.1f}s on the training period (limit 600 s): "
        f"prepare {summary['prepare_seconds']:.1f}s, train {summary['train_seconds']:.1f}s, "
        f"score {summary['score_seconds']:.1f}s")  # fmt: skip
    say(
        f"generators used: {', '.join(model.generators_used)}; "
        f"{len(model.feature_names)} features; "
        f"{summary['candidates_per_customer']:.1f} candidates per customer"
    )
    say(
        f"training lists {summary['training_lists']:.0f}, validation lists "
        f"{summary['validation_lists']:.0f}; label purchases among candidates "
        f"{summary['label_positives_in_candidates']:.0f} of {summary['label_positives']:.0f}"
    )
    say(f"epochs run: {len(model.history)} (best val_ndcg "
        f"{max(h['val_ndcg'] for h in model.history):.4f})")  # fmt: skip
    for entry in model.history:
        say(
            f"  epoch {entry['epoch']:.0f}: loss {entry['loss']:.4f} val_loss "
            f"{entry['val_loss']:.4f} val_ndcg@10 {entry['val_ndcg']:.4f} "
            f"({entry['seconds']:.1f}s)"
        )
    say(
        f"candidate recall on the held-out period: all items {recall_all:.4f}, "
        f"new items {recall_new:.4f}"
    )
    say()
    rows: list[tuple[str, Evaluation, float]] = []
    picked: list[TunedModel] = [result.baseline] + [m for m in result.models if m.label == "repeat"]
    picked += result.blends
    for tuned in picked:
        rows.append((tuned.label, tuned.test, tuned.fit_seconds))
    rows.append(("ranker", test, fit_seconds))
    width = max(len(label) for label, _, _ in rows) + 2
    say(f"{'held-out @10':{width}} | all: NDCG recall | new: NDCG recall | fit s")
    for label, evaluation, seconds in rows:
        say(row(label, evaluation, seconds, width))
    say(f"promoted by run_experiment (validation): {result.promoted}")

    if not args.skip_validation:
        validate(args, interactions, clean, countries, picked[1:], width)
    say(load_average())
    return 0


if __name__ == "__main__":
    sys.exit(main())
