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

Training time at scale (``--synthetic 1m`` / ``--synthetic 10m``)
-----------------------------------------------------------------
Events come from the project's Django-free generator (``ecomsite.engine.synthetic``; seed 1,
sized as ``bench/bench_pipeline.py`` sizes them: 1m = 1,000,000 events of 20,000 customers and
3,000 products, 10m = 10,000,000 events of 200,000 customers and 20,000 products), are cleaned
with ``clean_events`` and become the interaction frame, the ``TrainingData`` and the "orders"
matrix, each step timed (data prep). Then every algorithm of ``registry.ALGORITHMS`` is fitted
once with its default parameters (what serving uses when nothing is tuned; no search) on that
matrix, each in its own forked child so a model that does not fit in time or memory cannot take
the benchmark down: the child is killed after ``--timeout`` seconds or when its RSS passes
``--max-rss-gib``, and the report says so, with how far the fit had got (its progress
callback). Per algorithm it prints the fit time, the child's peak RSS after the fit (it
includes the prepared data the child inherits; the base is printed too), and the time to rank
the top 50 of *every* customer the way ``precompute.model_run_precompute`` does (chunks of
1,000 customers, score blocks of ``base.SCORE_BUDGET`` cells, ``top_k`` with the popularity
tie-break; database writes and reasons not included). Thread pools are left as the training
service leaves them: ALS and BPR limit BLAS to one thread during their fit and ALS/BPR run one
solver thread (their default parameters); everything else uses numpy's default BLAS threads.
The load average is printed before and after each phase (the machine may be shared).

    python bench/bench_recommenders.py --synthetic 1m
    python bench/bench_recommenders.py --synthetic 10m --timeout 1200 --max-rss-gib 10
    python bench/bench_recommenders.py --synthetic 10m --algorithms user_knn

It prints a report and never asserts.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import resource
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
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
from ecomsite.engine.synthetic import SyntheticParams, generate_events  # noqa: E402
from recommendations.engine.base import batches, popularity_ranks, top_k  # noqa: E402
from recommendations.engine.data import (  # noqa: E402
    BINARY,
    ORDERS,
    TrainingData,
    purchase_interactions,
    training_data,
)
from recommendations.engine.evaluate import ALL_ITEMS, NEW_ITEMS, Evaluation  # noqa: E402
from recommendations.engine.registry import ALGORITHMS, create_recommender  # noqa: E402
from recommendations.engine.tuning import ExperimentResult, TunedModel, run_experiment  # noqa: E402

REAL_FILE = ROOT / "data" / "online_retail_2010-12_2011-08.csv.gz"
COLUMNS = ("ndcg", "recall", "precision", "map", "hit_rate", "coverage")
HEADERS = ("NDCG", "recall", "prec", "MAP", "hit", "cover")
MIB = 1024.0 * 1024.0
SEED = 1  # as bench_pipeline.py
# label: (events, customers, products), as bench_pipeline.py sizes them.
SYNTHETIC_SIZES = {
    "100k": (100_000, 2_000, 500),
    "1m": (1_000_000, 20_000, 3_000),
    "10m": (10_000_000, 200_000, 20_000),
}
TOP_N = 50  # settings.RECOMMENDATIONS_TOP_N
CHUNK_CUSTOMERS = 1_000  # precompute.CHUNK_CUSTOMERS


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


# --- Training time at scale (--synthetic) ------------------------------------------------------


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f}"


def rss_now_mib() -> float:
    """This process's resident set now (MiB)."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / MIB


def rss_of_mib(pid: int) -> float:
    """Another process's resident set now (MiB); 0 once it is gone."""
    try:
        with open(f"/proc/{pid}/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / MIB
    except (FileNotFoundError, ProcessLookupError, IndexError, ValueError):
        return 0.0


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: kilobytes


def synthetic_raw_frame(params: SyntheticParams) -> pd.DataFrame:
    """The cleaning engine's raw frame (clean_columns.RAW_COLUMNS) of the synthetic events,
    without a database: event ids in row order; customers and products numbered by their
    external ids ("C000123" → 123, "SKU00045" → 45; anonymous → ANONYMOUS). Columns the
    cleaning does not read (titles, countries, idempotency keys) are dropped chunk by chunk."""
    parts: list[pd.DataFrame] = []
    for events in generate_events(params, chunk_size=500_000):
        customer = events[col.CUSTOMER_ID]
        known = customer.notna().to_numpy()
        customers = np.full(len(events), cc.ANONYMOUS, dtype=np.int64)
        customers[known] = customer[known].str.slice(1).astype(np.int64).to_numpy()
        products = events[col.PRODUCT_ID].str.slice(3).astype(np.int64).to_numpy()
        parts.append(
            pd.DataFrame(
                {
                    cc.EVENT_ID: events[col.ROW_NUMBER].to_numpy(dtype=np.int64),
                    cc.CUSTOMER: customers,
                    cc.PRODUCT: products,
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
        )
        del events
    frame = pd.concat(parts, ignore_index=True)
    frame[cc.TIMESTAMP] = pd.to_datetime(frame[cc.TIMESTAMP], utc=True)
    return frame


@dataclass
class Prepared:
    data: TrainingData
    ranks: np.ndarray  # popularity tie-break of precompute (binary matrix)
    steps: list[tuple[str, float, float]] = field(default_factory=list)  # (step, s, RSS MiB)


def prepare_synthetic(label: str) -> Prepared:
    """Generate, clean and shape the synthetic events of size `label`; every step timed."""
    events, customers, products = SYNTHETIC_SIZES[label]
    params = SyntheticParams(events=events, customers=customers, products=products, seed=SEED)
    steps: list[tuple[str, float, float]] = []

    def step(name: str, started: float) -> None:
        seconds = time.monotonic() - started
        steps.append((name, seconds, rss_now_mib()))
        say(f"  {name:<34} {seconds:7.1f} s   RSS {rss_now_mib():6,.0f} MiB")

    started = time.monotonic()
    raw = synthetic_raw_frame(params)
    step(f"generate {len(raw):,} events", started)
    started = time.monotonic()
    clean = clean_events(raw, CleaningParams()).events
    del raw
    step(f"clean_events ({len(clean):,} rows)", started)
    started = time.monotonic()
    interactions = purchase_interactions(clean)
    usable = int(clean[cc.USABLE].sum())
    del clean
    gc.collect()
    step(f"purchase_interactions ({len(interactions):,})", started)
    started = time.monotonic()
    data = training_data(interactions)
    del interactions
    gc.collect()
    step("training_data (index maps, log)", started)
    started = time.monotonic()
    matrix = data.matrix(ORDERS)
    step("interaction matrix (orders)", started)
    started = time.monotonic()
    ranks = popularity_ranks(data.matrix(BINARY))
    step("popularity tie-break (binary)", started)
    n_users, n_items = data.shape
    say(
        f"  usable clean rows {usable:,}; matrix {n_users:,} customers × {n_items:,} products, "
        f"{matrix.nnz:,} non-zero cells ({matrix.nnz / max(n_users * n_items, 1):.3%}), "
        f"{len(data.log):,} (customer, product, order) rows"
    )
    return Prepared(data=data, ranks=ranks, steps=steps)


def recommend_all(model: Any, data: TrainingData, ranks: np.ndarray, k: int) -> int:
    """Top-k of every customer as precompute ranks them (chunks of CHUNK_CUSTOMERS customers,
    score blocks of at most SCORE_BUDGET cells, top_k with the popularity tie-break); returns
    the number of (customer, product) rows it would write."""
    users = np.arange(data.shape[0], dtype=np.int64)
    rows = 0
    for start in range(0, len(users), CHUNK_CUSTOMERS):
        chunk = users[start : start + CHUNK_CUSTOMERS]
        for part in batches(len(chunk), model.n_items):
            block = model.scores(chunk[part])
            items, _ = top_k(block, k, ranks)
            rows += int((items >= 0).sum())
    return rows


def _child_fit(
    name: str, prepared: Prepared, k: int, report: Callable[[dict[str, Any]], None]
) -> None:
    """In the forked child: fit `name` with default parameters, then rank everyone."""
    data = prepared.data
    base = rss_now_mib()
    last = [0.0]

    def on_progress(done: int, total: int, **metrics: Any) -> None:
        now = time.monotonic()
        if now - last[0] >= 1.0 or done >= total:
            last[0] = now
            report({"progress": [int(done), int(total)], "at": now - started})

    matrix = data.matrix(ORDERS)
    started = time.monotonic()
    model = create_recommender(name, None)
    model.fit(matrix, on_progress=on_progress, **data.context())
    fit_seconds = time.monotonic() - started
    report(
        {
            "fitted": fit_seconds,
            "base_mib": base,
            "fit_peak_mib": peak_rss_mib(),
            "fit_rss_mib": rss_now_mib(),
            "params": model.get_params(),
        }
    )
    started = time.monotonic()
    rows = recommend_all(model, data, prepared.ranks, k)
    report(
        {
            "recommended": time.monotonic() - started,
            "rows": rows,
            "peak_mib": peak_rss_mib(),
        }
    )


@dataclass
class FitResult:
    algorithm: str
    status: str = ""  # "" = completed; else why it stopped
    fit_seconds: float | None = None
    recommend_seconds: float | None = None
    rows: int = 0
    base_mib: float = 0.0
    fit_peak_mib: float | None = None
    peak_mib: float = 0.0
    progress: tuple[int, int] | None = None
    progress_at: float = 0.0
    params: dict[str, Any] = field(default_factory=dict)
    wall_seconds: float = 0.0


def fit_in_child(
    name: str, prepared: Prepared, *, k: int, timeout: float, max_rss_mib: float
) -> FitResult:
    """Fork a child that fits and ranks `name`; kill it after `timeout` s (fit + ranking) or
    when its RSS passes `max_rss_mib`. The child reports JSON lines through a pipe."""
    result = FitResult(algorithm=name)
    read_fd, write_fd = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # the child
        os.close(read_fd)
        code = 0
        try:
            with os.fdopen(write_fd, "w", buffering=1) as out:

                def report(message: dict[str, Any]) -> None:
                    out.write(json.dumps(message) + "\n")

                try:
                    _child_fit(name, prepared, k, report)
                except BaseException as error:  # noqa: BLE001 - reported to the parent
                    report({"error": f"{type(error).__name__}: {error}"})
                    code = 1
        finally:
            os._exit(code)
    os.close(write_fd)
    os.set_blocking(read_fd, False)
    started = time.monotonic()
    buffer = b""
    usage = None
    status = 0

    def drain() -> None:
        nonlocal buffer
        while True:
            try:
                chunk = os.read(read_fd, 65536)
            except BlockingIOError:
                return
            if not chunk:
                return
            buffer += chunk
            *lines, buffer = buffer.split(b"\n")
            for line in lines:
                apply(json.loads(line))

    def apply(message: dict[str, Any]) -> None:
        if "progress" in message:
            result.progress = (message["progress"][0], message["progress"][1])
            result.progress_at = float(message["at"])
        if "fitted" in message:
            result.fit_seconds = float(message["fitted"])
            result.base_mib = float(message["base_mib"])
            result.fit_peak_mib = float(message["fit_peak_mib"])
            result.params = dict(message["params"])
        if "recommended" in message:
            result.recommend_seconds = float(message["recommended"])
            result.rows = int(message["rows"])
        if "error" in message:
            result.status = str(message["error"])[:200]

    try:
        while True:
            drain()
            done, status, usage = os.wait4(pid, os.WNOHANG)
            if done == pid:
                break
            rss = rss_of_mib(pid)
            result.peak_mib = max(result.peak_mib, rss)
            elapsed = time.monotonic() - started
            reason = ""
            if elapsed > timeout:
                stage = "fit" if result.fit_seconds is None else "top-50 ranking"
                reason = f"exceeded {timeout:.0f} s in {stage}"
            elif rss > max_rss_mib:
                reason = f"exceeded {max_rss_mib / 1024:.1f} GiB RSS"
            if reason:
                os.kill(pid, signal.SIGKILL)
                _, status, usage = os.wait4(pid, 0)
                result.status = reason
                break
            time.sleep(0.1)
        drain()
    finally:
        os.close(read_fd)
    result.wall_seconds = time.monotonic() - started
    if usage is not None:
        result.peak_mib = max(result.peak_mib, usage.ru_maxrss / 1024.0)
    if not result.status and os.waitstatus_to_exitcode(status) != 0:
        result.status = f"child exited with {os.waitstatus_to_exitcode(status)}"
    return result


def _secs(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.2f}" if value < 10 else f"{value:,.1f}"


def _mib(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def print_fit_table(results: list[FitResult], customers: int, k: int) -> None:
    say(
        f"{'algorithm':<11} | {'fit s':>8} | {'peak RSS MiB after fit':>22} | "
        f"{'top-' + str(k) + ' all s':>12} | {'customers/s':>11} | {'peak MiB':>8} | note"
    )
    say("-" * 12 + "+" + "-" * 10 + "+" + "-" * 24 + "+" + "-" * 14 + "+" + "-" * 13 + "+"
        + "-" * 10 + "+" + "-" * 30)  # fmt: skip
    for result in results:
        fit = _secs(result.fit_seconds)
        after = (
            "-"
            if result.fit_peak_mib is None
            else f"{result.fit_peak_mib:,.0f} (+{result.fit_peak_mib - result.base_mib:,.0f})"
        )
        rec = _secs(result.recommend_seconds)
        rate = (
            "-"
            if not result.recommend_seconds
            else f"{customers / result.recommend_seconds:11,.0f}"
        )
        note = result.status
        if result.status and result.fit_seconds is None and result.progress:
            done, total = result.progress
            note += f"; fit progress {done:,}/{total:,} after {result.progress_at:.1f} s"
            if done:
                projected = result.progress_at * total / done
                note += f" (whole fit ≈ {projected:,.0f} s at that rate)"
        say(
            f"{result.algorithm:<11} | {fit:>8} | {after:>22} | {rec:>12} | {rate:>11} | "
            f"{_mib(result.peak_mib):>8} | {note or 'ok'}"
        )


def run_synthetic(label: str, names: list[str], *, timeout: float, max_rss_mib: float) -> int:
    events, customers, products = SYNTHETIC_SIZES[label]
    say(
        f"synthetic {label}: {events:,} events, {customers:,} customers, {products:,} products, "
        f"seed {SEED}; {load_average()}"
    )
    say(f"threads: {_thread_pools()}")
    say("data prep:")
    started = time.monotonic()
    prepared = prepare_synthetic(label)
    prep_seconds = time.monotonic() - started
    gc.collect()
    base_mib = rss_now_mib()
    say(
        f"  data prep total {prep_seconds:.1f} s; parent RSS {base_mib:,.0f} MiB "
        f"(peak {peak_rss_mib():,.0f}); {load_average()}"
    )
    say()
    say(
        f"fitting each algorithm once with default parameters in its own child (timeout "
        f"{timeout:.0f} s, RSS limit {max_rss_mib / 1024:.1f} GiB), then ranking the top {TOP_N} "
        f"of all {prepared.data.shape[0]:,} customers:"
    )
    results = []
    for name in names:
        say(f"  {name}: {load_average()} before")
        result = fit_in_child(name, prepared, k=TOP_N, timeout=timeout, max_rss_mib=max_rss_mib)
        results.append(result)
        say(
            f"  {name}: fit {_secs(result.fit_seconds)} s, top-{TOP_N} for all "
            f"{_secs(result.recommend_seconds)} s, peak {result.peak_mib:,.0f} MiB"
            f"{'; ' + result.status if result.status else ''}; {load_average()} after"
        )
    say()
    print_fit_table(results, prepared.data.shape[0], TOP_N)
    say(
        "peak RSS after fit = the child's peak when the fit returned (it includes the "
        f"{base_mib:,.0f} MiB of prepared data it inherits; "
        "+ = above that); peak MiB = the child's peak over fit and ranking"
    )
    say("parameters (defaults):")
    for result in results:
        say(f"  {result.algorithm:<11} {_compact(result.params) if result.params else '-'}")
    say(f"data prep {prep_seconds:.1f} s; {load_average()}")
    return 0


def _thread_pools() -> str:
    from threadpoolctl import threadpool_info

    pools = [f"{p['internal_api']} {p['num_threads']}" for p in threadpool_info()]
    return ", ".join(pools) or "none loaded"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--file", type=Path, default=REAL_FILE)
    parser.add_argument("--cutoff", default="2011-06-01")
    parser.add_argument("--validation-days", type=float, default=42.0)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, help="also write the full result as JSON here")
    parser.add_argument(
        "--synthetic",
        choices=sorted(SYNTHETIC_SIZES),
        help="time every algorithm's fit and top-50 ranking on synthetic events of this size "
        "instead (no tuning, no evaluation)",
    )
    parser.add_argument(
        "--algorithms",
        default=",".join(ALGORITHMS),
        help="--synthetic: comma-separated algorithms (default: every one of the registry)",
    )
    parser.add_argument(
        "--timeout", type=float, default=1200.0, help="--synthetic: seconds per algorithm"
    )
    parser.add_argument(
        "--max-rss-gib", type=float, default=10.0, help="--synthetic: RSS limit per algorithm"
    )
    args = parser.parse_args()
    if args.synthetic:
        names = [name.strip() for name in args.algorithms.split(",") if name.strip()]
        unknown = sorted(set(names) - set(ALGORITHMS))
        if unknown:
            parser.error(f"unknown algorithms {unknown}; choose from {sorted(ALGORITHMS)}")
        say(f"bench_recommenders: {platform.python_version()}, {os.cpu_count()} CPUs")
        return run_synthetic(
            args.synthetic, names, timeout=args.timeout, max_rss_mib=args.max_rss_gib * 1024.0
        )

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
