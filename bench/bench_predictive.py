"""Backtest the predictive customer scores (segments/engine/predictive.py) on the demo data.

The demo file is cleaned as bench/bench_recommenders.py does it (no database); the usable
purchases of known customers with positive revenue are the purchases frame (as the pipeline's
predict step reads them). The model is fitted on everything before the calibration end (default
2011-06-01) and its predictions for the next ``--holdout-days`` (default 91: June–August 2011)
are compared with what each calibration customer actually did, beside the naive baseline "the
next period at the calibration period's rate":

* orders and revenue per customer: MAE, RMSE, Spearman rank correlation, totals, and mean
  predicted vs mean actual by decile of prediction;
* churn risk (probability of no order in the holdout): ROC AUC, Brier score, mean predicted vs
  actual share, by decile (the baseline: Poisson chance of no order at the calibration rate);
* the 80% intervals: the share of customers whose actual holdout orders / revenue fall inside
  their predictive interval (and below / above it).

Every model variant is run (MBG/NBD and BG/NBD, with and without merging a customer's orders of
one day, order values of all orders or of repeat orders only), the pipeline's default first.
It prints a report and never asserts.

    python bench/bench_predictive.py [--calibration-end 2011-06-01] [--holdout-days 91]
        [--bootstrap 200]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench_recommenders import REAL_FILE, load_clean_frame, say  # noqa: E402

from ecomsite.engine import clean_columns as cc  # noqa: E402
from segments.engine import predictive as P  # noqa: E402

KINDS = ("predicted", "baseline", "actual")
VARIANTS = (
    ("mbgnbd", True, "all"),
    ("mbgnbd", True, "repeat"),
    ("mbgnbd", False, "all"),
    ("bgnbd", True, "all"),
    ("bgnbd", False, "all"),
)


def report_backtest(result: P.Backtest, holdout_days: float, end: str) -> None:
    for target in ("orders", "revenue"):
        say(f"\n{target} in the {holdout_days:g} days after {end}:")
        say(f"  {'':<9} {'MAE':>10} {'RMSE':>10} {'Spearman':>9}")
        for who in ("model", "baseline"):
            m = result.metrics[who][target]
            say(f"  {who:<9} {m['mae']:10.3f} {m['rmse']:10.3f} {m['spearman']:9.3f}")
        totals = {kind: result.customers[f"{kind}_{target}"].sum() for kind in KINDS}
        say(
            f"  totals: predicted {totals['predicted']:,.1f}, baseline {totals['baseline']:,.1f}, "
            f"actual {totals['actual']:,.1f}"
        )
        _deciles(result.deciles[target])
    say(f"\nchurn risk (no order in the {holdout_days:g} days):")
    say(f"  {'':<9} {'AUC':>7} {'Brier':>7} {'mean p':>7} {'actual':>7}")
    for who in ("model", "baseline"):
        m = result.metrics[who]["churn"]
        say(
            f"  {who:<9} {m['auc']:7.3f} {m['brier']:7.4f} {m['mean_predicted']:7.3f} "
            f"{m['share_actual']:7.3f}"
        )
    _deciles(result.deciles["churn"])


def _deciles(deciles: pd.DataFrame) -> None:
    say("  by decile of prediction (mean predicted vs mean actual):")
    for row in deciles.itertuples(index=False):
        say(
            f"    {int(row.decile):>2}: {int(row.customers):>5} customers, predicted "
            f"{row.mean_predicted:10.3f}, actual {row.mean_actual:10.3f}"
        )


def report_intervals(
    purchases: pd.DataFrame, end: pd.Timestamp, holdout_days: float, cfg: P.PredictiveConfig
) -> None:
    """Coverage of the predictive intervals of holdout orders and revenue on the real data."""
    started = time.monotonic()
    frame = P.by_day(purchases) if cfg.merge_same_day else purchases
    summary = P.customer_summary(frame, calibration_end=end)
    _, scores = P.predict_with_intervals(summary, calibration_end=end, config=cfg)
    holdout = frame.loc[
        (frame[cc.TIMESTAMP] >= end) & (frame[cc.TIMESTAMP] < end + pd.Timedelta(days=holdout_days))
    ]
    orders = holdout.groupby(cc.CUSTOMER)[cc.ORDER_ID].nunique()
    revenue = holdout.groupby(cc.CUSTOMER)[cc.REVENUE].sum()
    say(
        f"\n{cfg.level:.0%} predictive intervals ({cfg.n_boot} bootstrap replicates, "
        f"{time.monotonic() - started:.1f} s):"
    )
    for name, actual in (("orders", orders), ("revenue", revenue)):
        act = actual.reindex(scores.index, fill_value=0).to_numpy(dtype=np.float64)
        lo = scores[f"{name}_pred_lo"].to_numpy(dtype=np.float64)
        hi = scores[f"{name}_pred_hi"].to_numpy(dtype=np.float64)
        below, above = float(np.mean(act < lo)), float(np.mean(act > hi))
        say(
            f"  {name:<8} inside {1 - below - above:6.1%}   below {below:6.1%}   above "
            f"{above:6.1%}   median width {np.median(hi - lo):,.2f}"
        )
    width = scores["clv_hi"] - scores["clv_lo"]
    say(
        f"  parameter interval of predicted revenue: median width {width.median():,.2f} "
        f"({(width / scores['clv']).median():.1%} of the estimate)"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--file", type=Path, default=REAL_FILE)
    parser.add_argument("--calibration-end", default="2011-06-01")
    parser.add_argument("--holdout-days", type=float, default=91.0)
    parser.add_argument("--bootstrap", type=int, default=200)
    args = parser.parse_args()
    say(f"bench_predictive: load average {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    purchases = P.purchases_from_clean(load_clean_frame(args.file))
    say(f"{len(purchases):,} purchase lines of {purchases[cc.CUSTOMER].nunique():,} customers")
    end = pd.Timestamp(args.calibration_end, tz="UTC")
    summary_rows = []
    for model, merge, values in VARIANTS:
        cfg = P.PredictiveConfig(
            model=model, merge_same_day=merge, order_values=values, n_boot=args.bootstrap
        )
        started = time.monotonic()
        result = P.backtest(
            purchases, calibration_end=end, holdout_days=args.holdout_days, config=cfg
        )
        seconds = time.monotonic() - started
        label = f"{model}{' + one order per day' if merge else ''}, {values} orders' values"
        summary_rows.append((label, result, seconds))
        if (model, merge, values) != VARIANTS[0]:
            continue
        say(f"\n== {label} (the pipeline's default) ==")
        say(f"fit: {result.report}")
        say(f"calibration customers {len(result.customers):,}; fit + backtest {seconds:.1f} s")
        report_backtest(result, args.holdout_days, args.calibration_end)
        report_intervals(purchases, end, args.holdout_days, cfg)
    say("\n== variants (model / baseline) ==")
    say(
        f"  {'variant':<50} {'orders MAE':>17} {'orders Spearman':>17} {'revenue MAE':>19} "
        f"{'revenue Spearman':>17} {'churn AUC':>15} {'a':>9}"
    )
    for label, result, _ in summary_rows:
        m, b = result.metrics["model"], result.metrics["baseline"]
        say(
            f"  {label:<50} {m['orders']['mae']:7.3f} / {b['orders']['mae']:7.3f} "
            f"{m['orders']['spearman']:7.3f} / {b['orders']['spearman']:7.3f} "
            f"{m['revenue']['mae']:8.1f} / {b['revenue']['mae']:8.1f} "
            f"{m['revenue']['spearman']:7.3f} / {b['revenue']['spearman']:7.3f} "
            f"{m['churn']['auc']:6.3f} / {b['churn']['auc']:6.3f} {result.report.bgnbd.a:9.2e}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
