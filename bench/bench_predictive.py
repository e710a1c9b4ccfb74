"""Backtest the predictive customer scores (segments/engine/predictive.py) on the demo data.

The demo file is cleaned as bench/bench_recommenders.py does it (no database); the usable
purchases of known customers with positive revenue are the purchases frame. BG/NBD + Gamma-Gamma
are fitted on everything before the calibration end (default 2011-06-01) and their predicted
orders and revenue for the next ``--holdout-days`` (default 91: June–August 2011) are compared
with what each calibration customer actually did, beside the naive baseline "the next period at
the calibration period's rate": MAE, RMSE and Spearman rank correlation, and mean predicted vs
mean actual by decile of prediction. It prints a report and never asserts.

    python bench/bench_predictive.py [--calibration-end 2011-06-01] [--holdout-days 91]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench_recommenders import REAL_FILE, load_clean_frame, say  # noqa: E402

from ecomsite.engine import clean_columns as cc  # noqa: E402
from segments.engine.predictive import PredictiveConfig, backtest  # noqa: E402

KINDS = ("predicted", "baseline", "actual")


def purchases_frame(clean: pd.DataFrame) -> pd.DataFrame:
    """Usable purchase lines of known customers with positive revenue."""
    keep = (
        clean[cc.USABLE]
        & (clean[cc.KIND] == "purchase")
        & (clean[cc.CUSTOMER] != cc.ANONYMOUS)
        & (clean[cc.REVENUE] > 0)
    )
    rows = clean.loc[keep, [cc.CUSTOMER, cc.ORDER_ID, cc.TIMESTAMP, cc.REVENUE]]
    return rows.reset_index(drop=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--file", type=Path, default=REAL_FILE)
    parser.add_argument("--calibration-end", default="2011-06-01")
    parser.add_argument("--holdout-days", type=float, default=91.0)
    args = parser.parse_args()
    say(f"bench_predictive: load average {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    started = time.monotonic()
    purchases = purchases_frame(load_clean_frame(args.file))
    say(f"{len(purchases):,} purchase lines of {purchases[cc.CUSTOMER].nunique():,} customers")
    end = pd.Timestamp(args.calibration_end, tz="UTC")
    result = backtest(
        purchases, calibration_end=end, holdout_days=args.holdout_days, config=PredictiveConfig()
    )
    report = result.report
    say(f"fit: {report}")
    say(f"calibration customers {len(result.customers):,}; {time.monotonic() - started:.1f} s")
    for target in ("orders", "revenue"):
        say(f"\n{target} in the {args.holdout_days:g} days after {args.calibration_end}:")
        say(f"  {'':<9} {'MAE':>10} {'RMSE':>10} {'Spearman':>9}")
        for who in ("model", "baseline"):
            m = result.metrics[who][target]
            say(f"  {who:<9} {m['mae']:10.3f} {m['rmse']:10.3f} {m['spearman']:9.3f}")
        totals = {kind: result.customers[f"{kind}_{target}"].sum() for kind in KINDS}
        say(
            f"  totals: predicted {totals['predicted']:,.1f}, baseline {totals['baseline']:,.1f}, "
            f"actual {totals['actual']:,.1f}"
        )
        say("  by decile of prediction (mean predicted vs mean actual):")
        deciles = result.deciles[target]
        for row in deciles.itertuples(index=False):
            say(
                f"    {int(row.decile):>2}: {int(row.customers):>5} customers, predicted "
                f"{row.mean_predicted:10.2f}, actual {row.mean_actual:10.2f}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
