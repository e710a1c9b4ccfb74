"""Benchmark the deep recommenders (issue 7) on the demo data beside popularity and the CF models.

What it measures
----------------
The demo file is loaded exactly as ``bench/bench_recommenders.py`` loads it (its
``load_clean_frame``: import parser, idempotency-key de-duplication, ``clean_events``; no
database) and becomes the interaction frame. Everything from the cutoff (default 2011-06-01:
June–August 2011) is held out.

1. **CF reference** (skip with ``--skip-cf``): ``tuning.run_experiment`` with ``DEFAULT_SPACES``
   — what the nightly training does: popularity (all-time, the baseline), every CF algorithm
   tuned on the validation period, the blends; refitted on the whole training period and
   scored on the held-out months.
2. **Deep models**, tuned the same honest way: the validation period is the last
   ``--validation-days`` (42) before the cutoff (``run_experiment``'s inner split); every
   configuration of ``tuning.DEEP_SPACES`` (or its first ``--trials``) is fitted on the data
   before it and scored there (NDCG@10, all items); the best is refitted on the whole training
   period (ages relative to the cutoff, as ``run_experiment`` refits) and scored on the held-out
   months. Inside each fit the models also keep their own early-stopping validation (a share of
   customers' last orders *within* the data they are given). The held-out months play no part
   in any choice.

   * ``sequence``: the SASRec/GRU next-order model (``deep.sequence``);
   * ``ncf + features``: NeuMF with customer features (country from the file's Country column,
     the customer's most frequent; RFM ``recency_days`` / ``frequency`` / ``monetary`` from
     ``segments.engine.features.customer_features`` and the RFM ``segment`` from
     ``segments.engine.rfm``, all measured on the data before the fit's reference time) and
     product features (``category`` from the clean data, ``price_band``: the quintile of the
     product's median unit price before that time);
   * ``ncf (ids only)``: the same parameters as the tuned ``ncf + features``, without features.

Printed per model: NDCG@10 and recall@10 on all items and on new items (bought before excluded
from lists and truth), the final fit time (the refit on the whole training period; the target is
at most 10 minutes on 2 cores), the epochs run and the best epoch, the chosen parameters and the
validation NDCG that chose them. The load average is printed before and after each phase (the
machine may be shared; times are wall clock). ``--json PATH`` writes every figure as JSON.

Run it
------
    . .venv/bin/activate
    python bench/bench_deep.py                      # CF reference + deep models (~25 min)
    python bench/bench_deep.py --skip-cf --trials 1 # deep models, default-ish configs only

It prints a report and never asserts.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_recommenders import REAL_FILE, load_average, load_clean_frame, say  # noqa: E402

from ecomsite.engine import clean_columns as cc  # noqa: E402
from ecomsite.engine.columns import PURCHASE  # noqa: E402
from recommendations.engine.data import (  # noqa: E402
    Holdout,
    TrainingData,
    holdout,
    purchase_interactions,
    temporal_split,
    training_data,
    utc_timestamp,
)
from recommendations.engine.evaluate import Evaluation, evaluate  # noqa: E402
from recommendations.engine.registry import create_recommender  # noqa: E402
from recommendations.engine.tuning import DEEP_SPACES, run_experiment  # noqa: E402
from segments.engine.features import customer_features  # noqa: E402
from segments.engine.rfm import rfm_scores  # noqa: E402

RFM_COLUMNS = ("recency_days", "frequency", "monetary")


def countries(path: Path) -> pd.Series:
    """Each CustomerID's most frequent Country in the raw file (ties: alphabetical)."""
    raw = pd.read_csv(path, usecols=["CustomerID", "Country"], dtype=str, keep_default_na=False)
    raw = raw[raw["CustomerID"] != ""]
    ids = pd.to_numeric(raw["CustomerID"], errors="coerce")
    raw = raw.assign(customer=ids).dropna(subset=["customer"])
    counts = raw.groupby(["customer", "Country"]).size().reset_index(name="n")
    counts = counts.sort_values(["customer", "n", "Country"], ascending=[True, False, True])
    first = counts.drop_duplicates("customer")
    return pd.Series(first["Country"].to_numpy(), index=first["customer"].astype(np.int64))


def customer_frame(
    clean: pd.DataFrame, data: TrainingData, as_of: pd.Timestamp, country: pd.Series
) -> pd.DataFrame:
    """Customer features by row index of `data` (the ncf ``customer_features`` context)."""
    before = clean[pd.to_datetime(clean[cc.TIMESTAMP], utc=True) < as_of]
    features = customer_features(before, as_of=as_of)
    frame = features.reindex(data.customers)[list(RFM_COLUMNS)]
    segment = rfm_scores(features)["segment"].reindex(data.customers)
    result = pd.DataFrame(
        {
            "country": country.reindex(data.customers).to_numpy(dtype=object),
            "segment": segment.to_numpy(dtype=object),
            **{name: frame[name].to_numpy(dtype=np.float64) for name in RFM_COLUMNS},
        }
    )
    return result.set_index(pd.RangeIndex(len(result)))


def product_frame(clean: pd.DataFrame, data: TrainingData, as_of: pd.Timestamp) -> pd.DataFrame:
    """Product features by column index of `data` (the ncf ``product_features`` context)."""
    stamps = pd.to_datetime(clean[cc.TIMESTAMP], utc=True)
    sales = clean[(stamps < as_of) & (clean[cc.KIND] == PURCHASE) & clean[cc.USABLE]]
    grouped = sales.groupby(cc.PRODUCT)
    category = grouped[cc.CATEGORY].agg(lambda values: values.mode().iloc[0])
    price = grouped[cc.UNIT_PRICE].median().reindex(data.products)
    ranks = price.rank(method="first")
    band = pd.qcut(ranks, 5, labels=[f"p{i}" for i in range(1, 6)]).astype(object)
    return pd.DataFrame(
        {
            "category": category.reindex(data.products).to_numpy(dtype=object),
            "price_band": band.to_numpy(dtype=object),
        },
        index=pd.RangeIndex(len(data.products)),
    )


def fmt(value: float) -> str:
    return f"{value:.4f}"


def row_cells(evaluation: Evaluation) -> list[str]:
    a, n = evaluation.all_items, evaluation.new_items
    return [fmt(a.ndcg), fmt(a.recall), fmt(n.ndcg), fmt(n.recall)]


def print_table(rows: list[dict[str, Any]]) -> None:
    header = ("model", "NDCG all", "recall all", "NDCG new", "recall new", "fit s", "epochs")
    widths = (34, 9, 10, 9, 10, 7, 12)
    say("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    for row in rows:
        cells = [row["label"], *row["cells"], f"{row['fit_seconds']:.1f}", row.get("epochs", "")]
        say("  ".join(str(c).ljust(w) for c, w in zip(cells, widths, strict=True)))


def fit_deep(
    name: str, params: dict[str, Any], data: TrainingData, extra: dict[str, Any]
) -> tuple[Any, float]:
    started = time.monotonic()
    model = create_recommender(name, params)
    model.fit(data.matrix(), **data.context(), **extra)
    return model, time.monotonic() - started


def tune_deep(
    label: str,
    name: str,
    candidates: list[dict[str, Any]],
    inner: tuple[TrainingData, Holdout, dict[str, Any]],
    full: tuple[TrainingData, Holdout, dict[str, Any]],
) -> dict[str, Any]:
    """Fit every candidate on the inner split, keep the best validation NDCG@10 (all items),
    refit it on the full training period and score it on the held-out months."""
    inner_data, inner_holdout, inner_extra = inner
    trials = []
    best: tuple[float, dict[str, Any]] | None = None
    for params in candidates:
        model, seconds = fit_deep(name, params, inner_data, inner_extra)
        result = evaluate(model, inner_holdout)
        value = result.all_items.ndcg
        trials.append({"params": params, "validation_ndcg": value, "fit_seconds": seconds,
                       "epochs": len(model.history), "best_epoch": model.best_epoch})  # fmt: skip
        say(
            f"    {label} trial {params}: validation NDCG@10 {value:.4f}, fit {seconds:.1f} s, "
            f"epochs {len(model.history)} (best {model.best_epoch})  [{load_average()}]"
        )
        if best is None or value > best[0]:
            best = (value, params)
    assert best is not None
    full_data, full_holdout, full_extra = full
    model, seconds = fit_deep(name, best[1], full_data, full_extra)
    test = evaluate(model, full_holdout)
    say(f"    {label} refit {best[1]}: {seconds:.1f} s  [{load_average()}]")
    return {
        "label": label,
        "algorithm": name,
        "params": model.get_params(),
        "validation_ndcg": best[0],
        "cells": row_cells(test),
        "test": test.to_dict(),
        "fit_seconds": seconds,
        "epochs": f"{len(model.history)} (best {model.best_epoch})",
        "history": model.history,
        "trials": trials,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cutoff", default="2011-06-01")
    parser.add_argument("--validation-days", type=float, default=42.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--trials", type=int, default=None, help="at most this many per model")
    parser.add_argument("--skip-cf", action="store_true", help="no CF reference run")
    parser.add_argument("--models", default="sequence,ncf", help="deep algorithms to run")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    say(f"bench_deep: {REAL_FILE.name}, cutoff {args.cutoff}  [{load_average()}]")
    started = time.monotonic()
    clean = load_clean_frame(REAL_FILE)
    interactions = purchase_interactions(clean)
    country = countries(REAL_FILE)
    say(f"loaded {len(interactions):,} interaction rows in {time.monotonic() - started:.1f} s")

    report: dict[str, Any] = {"cutoff": args.cutoff, "rows": []}
    rows: list[dict[str, Any]] = []
    if not args.skip_cf:
        say(f"\nCF reference: run_experiment(DEFAULT_SPACES)  [{load_average()}]")
        result = run_experiment(
            interactions, cutoff=args.cutoff, validation_days=args.validation_days, seed=args.seed
        )
        for cf in result.rows():
            rows.append(
                {
                    "label": cf.label + (" (promoted)" if cf.label == result.promoted else ""),
                    "cells": row_cells(cf.test),
                    "fit_seconds": cf.fit_seconds,
                    "validation_ndcg": None
                    if cf.validation is None
                    else cf.validation.all_items.ndcg,
                }
            )
        say(f"  done in {result.seconds:.1f} s  [{load_average()}]")

    test_start = utc_timestamp(args.cutoff)
    validation_start = test_start - pd.Timedelta(days=args.validation_days)
    split = temporal_split(interactions, test_start)
    inner_split = temporal_split(split.train, validation_start)
    inner_data = training_data(inner_split.train, now=validation_start)
    full_data = training_data(split.train, now=test_start)
    inner_holdout, full_holdout = holdout(inner_split, inner_data), holdout(split, full_data)
    say(
        f"\nDeep models: validation cutoff {validation_start.date()} "
        f"({len(inner_holdout.users):,} customers), test {len(full_holdout.users):,} customers"
    )

    def features(data: TrainingData, as_of: pd.Timestamp) -> dict[str, Any]:
        return {
            "customer_features": customer_frame(clean, data, as_of, country),
            "product_features": product_frame(clean, data, as_of),
        }

    inner_features = features(inner_data, validation_start)
    full_features = features(full_data, test_start)
    names = [name.strip() for name in args.models.split(",") if name.strip()]
    for name in names:
        space = DEEP_SPACES[name]
        candidates = [params for _, params in space.candidates(args.seed)]
        if args.trials is not None:
            candidates = candidates[: args.trials]
        say(f"\n  {name}: {len(candidates)} configuration(s)  [{load_average()}]")
        if name == "ncf":
            tuned = tune_deep(
                "ncf + features",
                name,
                candidates,
                (inner_data, inner_holdout, inner_features),
                (full_data, full_holdout, full_features),
            )
            rows.append(tuned)
            plain = tune_deep(
                "ncf (ids only)",
                name,
                [tuned["params"]],
                (inner_data, inner_holdout, {}),
                (full_data, full_holdout, {}),
            )
            rows.append(plain)
        else:
            rows.append(
                tune_deep(
                    name,
                    name,
                    candidates,
                    (inner_data, inner_holdout, {}),
                    (full_data, full_holdout, {}),
                )
            )

    say(f"\nHeld-out months from {args.cutoff} (k = 10)  [{load_average()}]")
    print_table(rows)
    for row in rows:
        if "params" in row:
            say(f"  {row['label']}: validation NDCG@10 {row['validation_ndcg']:.4f}, "
                f"params {row['params']}")  # fmt: skip
    say(f"total {time.monotonic() - started:.1f} s")
    if args.json is not None:
        report["rows"] = rows
        args.json.write_text(json.dumps(report, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
