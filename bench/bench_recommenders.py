"""Benchmark the recommenders offline on the demo data: tuned on validation, tested on later months.

What it measures
----------------
The demo file data/online_retail_2010-12_2011-08.csv.gz is parsed with the import parser
(``ecomsite.engine.parsing.parse_online_retail``; exact repeats of a line dropped by idempotency
key, as the importer does), customers and products get integer ids (CustomerID as a number;
stock codes numbered in sorted order), and ``ecomsite.engine.cleaning.clean_events`` cleans it.
No database is used. The usable purchases of known customers become the interaction frame
(``recommendations.engine.data.purchase_interactions``).

``recommendations.engine.tuning.run_experiment`` then holds out everything from the cutoff
(default 2011-06-01: the last three months, Jun–Aug 2011), tunes every algorithm on a validation
period carved from the *end of the training period* (default the last 6 weeks before the cutoff),
refits the chosen configuration on the whole training period and scores it on the held-out
months: on all items (re-buying allowed) and on new items (already-bought products excluded from
the lists and from the truth). All-time popularity is shown as the baseline. The held-out months
are never used for any choice: the promoted model is the best on validation.

Printed: the data sizes; per algorithm (tuned) NDCG, recall, precision, MAP, hit rate @k and
catalogue coverage, on all items and on new items; the final fit time (the refit on the whole
training period); the chosen weighting and parameters; the validation NDCG that chose them; and
the total run time. ``--json PATH`` also writes the full result (every trial) as JSON.

Run it
------
    . .venv/bin/activate
    python bench/bench_recommenders.py
    python bench/bench_recommenders.py --cutoff 2011-06-01 --validation-days 42 --json out.json

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

from ecomsite.engine import clean_columns as cc  # noqa: E402
from ecomsite.engine import columns as col  # noqa: E402
from ecomsite.engine.cleaning import CleaningParams, clean_events  # noqa: E402
from ecomsite.engine.parsing import parse_online_retail  # noqa: E402
from recommendations.engine.data import purchase_interactions  # noqa: E402
from recommendations.engine.evaluate import ALL_ITEMS, NEW_ITEMS, Evaluation  # noqa: E402
from recommendations.engine.tuning import ExperimentResult, TunedModel, run_experiment  # noqa: E402

REAL_FILE = ROOT / "data" / "online_retail_2010-12_2011-08.csv.gz"
COLUMNS = ("ndcg", "recall", "precision", "map", "hit_rate", "coverage")
HEADERS = ("NDCG", "recall", "prec", "MAP", "hit", "cover")


def say(text: str = "") -> None:
    """Write a line of the report to stdout at once (the report is this script's output)."""
    sys.stdout.write(f"{text}\n")
    sys.stdout.flush()


def load_clean_frame(path: Path) -> pd.DataFrame:
    """The cleaning engine's clean frame of an Online Retail file, without a database."""
    raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    raw[col.ROW_NUMBER] = np.arange(2, len(raw) + 2, dtype=np.int64)  # line 1 is the header
    events = parse_online_retail(raw).events
    events = events.drop_duplicates(col.IDEMPOTENCY_KEY).reset_index(drop=True)
    customers = pd.to_numeric(events[col.CUSTOMER_ID], errors="coerce")
    product_codes, _ = pd.factorize(events[col.PRODUCT_ID], sort=True)
    frame = pd.DataFrame(
        {
            cc.EVENT_ID: np.arange(1, len(events) + 1, dtype=np.int64),
            cc.CUSTOMER: customers.fillna(cc.ANONYMOUS).astype(np.int64).to_numpy(),
            cc.PRODUCT: product_codes.astype(np.int64) + 1,
            cc.SKU: events[col.PRODUCT_ID].to_numpy(),
            cc.CATEGORY: events[col.PRODUCT_CATEGORY].to_numpy(),
            cc.KIND: events[col.KIND].to_numpy(),
            cc.QUANTITY: events[col.QUANTITY].to_numpy(dtype=np.int64),
            cc.UNIT_PRICE: events[col.UNIT_PRICE].to_numpy(dtype=np.float64),
            cc.TIMESTAMP: events[col.TIMESTAMP].to_numpy(),
            cc.ORDER_ID: events[col.ORDER_ID].to_numpy(),
            cc.SESSION_ID: events[col.SESSION_ID].to_numpy(),
        }
    )
    return clean_events(frame, CleaningParams()).events


def _cells(evaluation: Evaluation, view: str) -> list[str]:
    metrics = evaluation.view(view)
    return [f"{getattr(metrics, name):.4f}" for name in COLUMNS]


def _params_text(model: TunedModel) -> str:
    params = dict(model.params)
    if model.algorithm != "blend":
        return _compact(params)
    text = (
        f"repeat weight={params['weight']:g}, trend weight={params['trend_weight']:g}, "
        f"cf weight={1 - params['weight'] - params['trend_weight']:g}, "
        f"{params['normalisation']}; cf={params['cf_algorithm']}"
    )
    return text


def _compact(params: dict[str, Any]) -> str:
    return ", ".join(f"{key}={value:g}" if isinstance(value, float) else f"{key}={value}"
                     for key, value in params.items()) or "-"  # fmt: skip


def print_report(result: ExperimentResult, load_seconds: float) -> None:
    data = result.data
    validation, test = data["validation"], data["test"]
    say(f"k = {result.k}; objective = validation {result.objective}@{result.k} on all items")
    say(
        f"test: cutoff {result.cutoff[:10]} (held out: everything from it on); "
        f"{test['train_rows']:,} training interactions, {test['train_customers']:,} customers, "
        f"{test['train_products']:,} products; evaluated {test['users']:,} customers "
        f"({test['users_with_new_items']:,} with new items), {test['cold_customers']:,} "
        f"cold-start customers not evaluated"
    )
    say(
        f"validation: cutoff {result.validation_cutoff[:10]} inside the training period; "
        f"{validation['train_rows']:,} interactions before it; evaluated {validation['users']:,} "
        f"customers"
    )
    say()
    rows = result.rows()
    width = max(len(row.label) for row in rows) + 2
    head = " ".join(f"{h:>6}" for h in HEADERS)
    rule = "-" * (width + 1) + "+" + "-" * (len(head) + 2) + "+" + "-" * (len(head) + 2)
    say(f"{'':{width}} | {'all items':{len(head)}} | {'new items':{len(head)}} |")
    say(f"{'algorithm':{width}} | {head} | {head} | fit s | val NDCG")
    say(rule + "+-------+---------")
    for row in rows:
        val = "-" if row.validation is None else f"{row.validation.all_items.ndcg:.4f}"
        label = row.label + (" *" if row.label == result.promoted else "")
        say(
            f"{label:{width}} | "
            + " ".join(f"{c:>6}" for c in _cells(row.test, ALL_ITEMS))
            + " | "
            + " ".join(f"{c:>6}" for c in _cells(row.test, NEW_ITEMS))
            + f" | {row.fit_seconds:5.1f} | {val:>8}"
        )
    say(
        f"metrics @{result.k} on the held-out period; * = promoted (best validation NDCG); "
        "fit s = refit on the whole training period; val NDCG = on the validation period"
    )
    say()
    diff = result.comparison
    say(
        f"promoted {result.promoted} vs the best single algorithm on validation "
        f"({result.runner_up}): held-out NDCG@{result.k} difference per customer "
        f"{diff.mean:+.4f}, {diff.level:.0%} bootstrap interval "
        f"[{diff.low:+.4f}, {diff.high:+.4f}] "
        f"({diff.users:,} customers, {diff.rounds:,} resamples)"
    )
    say()
    say("chosen configurations (weighting; parameters) and trials run:")
    for row in rows[1:]:
        tried = f"{len(row.trials)} trials" + (
            f", {row.skipped_trials} skipped (budget)" if row.skipped_trials else ""
        )
        say(f"  {row.label:{width}} {row.weighting or '-'}; {_params_text(row)}  ({tried})")
    say()
    say(
        f"data load + cleaning {load_seconds:.1f}s; "
        f"tuning + refits + evaluation {result.seconds:.1f}s"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--file", type=Path, default=REAL_FILE)
    parser.add_argument("--cutoff", default="2011-06-01")
    parser.add_argument("--validation-days", type=float, default=42.0)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, help="also write the full result as JSON here")
    args = parser.parse_args()

    say(
        f"bench_recommenders: {platform.python_version()}, {os.cpu_count()} CPUs, "
        f"file {args.file.relative_to(ROOT) if args.file.is_relative_to(ROOT) else args.file}"
    )
    started = time.monotonic()
    clean = load_clean_frame(args.file)
    interactions = purchase_interactions(clean)
    load_seconds = time.monotonic() - started
    say(
        f"clean frame {len(clean):,} rows → {len(interactions):,} interactions "
        f"(customer, product, order) of {interactions[cc.CUSTOMER].nunique():,} customers and "
        f"{interactions[cc.PRODUCT].nunique():,} products, "
        f"{interactions[cc.TIMESTAMP].min():%Y-%m-%d} – {interactions[cc.TIMESTAMP].max():%Y-%m-%d}"
    )

    def progress(done: int, total: int, step: str = "", algorithm: str = "") -> None:
        sys.stderr.write(f"\r  {done}/{total} {step} {algorithm}          ")
        sys.stderr.flush()

    result = run_experiment(
        interactions,
        cutoff=args.cutoff,
        validation_days=args.validation_days,
        k=args.k,
        seed=args.seed,
        on_progress=progress,
    )
    sys.stderr.write("\n")
    print_report(result, load_seconds)
    if args.json:
        args.json.write_text(json.dumps(result.to_dict(), indent=1))
        say(f"full result written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
