"""Reads behind the predictive-score pages: the prediction run in use shaped for staff (the fit,
its data-sufficiency verdict, the backtest beside the naive baseline, the score histograms) and
one customer's scores with the warnings that qualify them.

Everything comes from a PredictionRun's ``metrics`` (segments/services/predictions.py) and its
CustomerScore rows; the meaning of each score is the engine's (segments/engine/predictive.py)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.utils.dateparse import parse_datetime

from ecomsite.models import Customer
from segments.engine.predictive import PredictiveConfig
from segments.models import CustomerScore, PredictionRun
from segments.selectors import customer_score, prediction_current

MODEL_NAMES = {"mbgnbd": "MBG/NBD", "bgnbd": "BG/NBD"}
# Scores whose histogram is cut at the 99th percentile (the last bar holds the tail too);
# probabilities are binned over 0–1 exactly (services.predictions.score_distributions).
OPEN_ENDED = ("clv", "expected_orders", "expected_order_value", "next_order_days")
# A first order this recent (days before the prediction date) is a short history; the engine's
# default, which the pipeline does not override.
SHORT_HISTORY_DAYS = PredictiveConfig().min_customer_days


@dataclass(frozen=True)
class ScoreInfo:
    """A score as staff read it: label, unit (currency, orders, share, days) and meaning."""

    name: str
    label: str
    unit: str
    meaning: str


def score_infos(horizon_days: int) -> list[ScoreInfo]:
    """The six scores in display order, worded for a horizon of ``horizon_days`` (the
    definitions of the engine's module docstring)."""
    h = horizon_days
    return [
        ScoreInfo(
            "clv",
            f"Predicted revenue, next {h} days",
            "currency",
            f"Expected revenue from the customer over the next {h} days: expected orders × "
            "expected order value (not discounted). A value over the horizon, not a lifetime.",
        ),
        ScoreInfo(
            "expected_orders",
            f"Predicted orders, next {h} days",
            "orders",
            f"Expected number of orders in the next {h} days, from the customer's number of "
            "repeat orders, the time of the last one and their age as a customer (BG/NBD family).",
        ),
        ScoreInfo(
            "churn_risk",
            f"Churn risk (no order in {h} days)",
            "share",
            f"Probability that the customer places no order within the next {h} days, whether "
            "they have dropped out for good or merely buy slowly. This is what “likely to churn "
            f"in the next {h} days” asks, and what the backtest scores.",
        ),
        ScoreInfo(
            "p_alive",
            "Probability still active",
            "share",
            "Probability that the customer has not dropped out for good. On a short history the "
            "fitted dropout probability can be close to 0, and then P(active) ≈ 1 for everyone: "
            "read churn risk instead, which carries the signal.",
        ),
        ScoreInfo(
            "expected_order_value",
            "Predicted order value",
            "currency",
            "Expected value of one order (Gamma-Gamma): a weighted average of the population's "
            "mean order value and the customer's own orders, the more orders the more their "
            "own (a one-time buyer's single order counts, shrunk towards the mean).",
        ),
        ScoreInfo(
            "next_order_days",
            "Predicted days to next order",
            "days",
            "Median number of days until the next order if the customer is still active; read "
            "it together with P(active). The next order date is the prediction date plus this.",
        ),
    ]


def model_name(model: str) -> str:
    """The model's display name: MBG/NBD + Gamma-Gamma for "mbgnbd"."""
    return f"{MODEL_NAMES.get(model, model)} + Gamma-Gamma"


# -- the fit ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Parameter:
    model: str
    name: str
    value: float | None
    meaning: str


@dataclass(frozen=True)
class FitSummary:
    """The fitted parameters and what follows from them, and the fit's verdict."""

    parameters: list[Parameter]
    customers: int
    repeat_buyers: int
    calibration_days: float | None
    converged: bool
    sufficient: bool
    reasons: list[str]
    mean_orders_per_horizon: float | None  # r / α × horizon: the population's mean rate
    mean_dropout: float | None  # a / (a + b): mean dropout probability at a purchase
    mean_order_value: float | None  # p·γ / (q − 1): the population's mean order value


def _number(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def prediction_fit(run: PredictionRun) -> FitSummary:
    metrics = run.metrics or {}
    fit: Mapping[str, Any] = metrics.get("fit") or {}
    counting = MODEL_NAMES.get(metrics.get("model", ""), "BG/NBD")
    bg = {k: _number(v) for k, v in (fit.get("bgnbd") or {}).items()}
    gg = {k: _number(v) for k, v in (fit.get("gamma_gamma") or {}).items()}
    parameters = [
        Parameter(counting, "r", bg.get("r"), "shape of the purchase rates across customers"),
        Parameter(
            counting, "α", bg.get("alpha"), "scale of the purchase rates (days): mean rate r/α"
        ),
        Parameter(counting, "a", bg.get("a"), "dropout at a purchase ~ Beta(a, b)"),
        Parameter(counting, "b", bg.get("b"), "mean dropout probability a/(a + b)"),
        Parameter("Gamma-Gamma", "p", gg.get("p"), "shape of one customer's order values"),
        Parameter("Gamma-Gamma", "q", gg.get("q"), "shape of mean order values across customers"),
        Parameter(
            "Gamma-Gamma", "γ", gg.get("gamma"), "scale: population mean order value p·γ/(q − 1)"
        ),
    ]
    r, alpha, a, b = (bg.get(k) for k in ("r", "alpha", "a", "b"))
    p, q, gamma = (gg.get(k) for k in ("p", "q", "gamma"))
    return FitSummary(
        parameters=parameters,
        customers=int(fit.get("customers") or 0),
        repeat_buyers=int(fit.get("repeat_buyers") or 0),
        calibration_days=_number(fit.get("calibration_days")),
        converged=bool(fit.get("converged")),
        sufficient=bool(fit.get("sufficient", run.sufficient)),
        reasons=[str(reason) for reason in fit.get("reasons") or []],
        mean_orders_per_horizon=(r / alpha * run.horizon_days if r is not None and alpha else None),
        mean_dropout=a / (a + b) if a is not None and b is not None and a + b > 0 else None,
        mean_order_value=(
            p * gamma / (q - 1) if p is not None and gamma is not None and q and q > 1 else None
        ),
    )


# -- the backtest -------------------------------------------------------------------------------


@dataclass(frozen=True)
class MetricRow:
    """One backtest measure: the model's and the baseline's value and which is better
    ("model", "baseline" or "" when tied or undefined)."""

    group: str
    label: str
    meaning: str
    unit: str
    model: float | None
    baseline: float | None
    better: str

    @property
    def values(self) -> tuple[float | None, float | None]:
        return self.model, self.baseline


# What each backtest measure says, and which value is better: lower, higher, or closest to the
# share of customers who actually did not order.
_MEANINGS = {
    "mae": "the average miss per customer",
    "rmse": "like MAE, but big misses weigh more",
    "spearman": "are customers in the right order? 1 = perfect ranking, 0 = none",
    "auc": "chance that a customer who did not order had been given a higher risk than one who "
    "did (0.5 = a coin toss, 1 = perfect)",
    "brier": "mean squared error of the probability (0 = perfect; always saying 50% scores 0.25)",
    "mean_predicted": "should be close to the share of customers who actually did not order",
}
# (group, measure, label, unit, what is better)
_MEASURES = (
    ("orders", "mae", "Mean absolute error", "orders", "lower"),
    ("orders", "rmse", "Root mean squared error", "orders", "lower"),
    ("orders", "spearman", "Spearman rank correlation", "ratio", "higher"),
    ("revenue", "mae", "Mean absolute error", "currency", "lower"),
    ("revenue", "rmse", "Root mean squared error", "currency", "lower"),
    ("revenue", "spearman", "Spearman rank correlation", "ratio", "higher"),
    ("churn", "auc", "AUC", "ratio", "higher"),
    ("churn", "brier", "Brier score", "ratio", "lower"),
    ("churn", "mean_predicted", "Mean predicted churn risk", "share", "closest"),
)
GROUP_LABELS = {"orders": "Orders", "revenue": "Revenue", "churn": "Churn risk"}


@dataclass(frozen=True)
class BacktestSummary:
    """The backtest of a prediction run, or why it was skipped (``skipped`` non-empty)."""

    skipped: str = ""
    calibration_end: datetime | None = None
    holdout_days: float = 0.0
    customers: int = 0
    sufficient: bool = False
    reasons: list[str] = field(default_factory=list)
    rows: list[MetricRow] = field(default_factory=list)
    churn_share_actual: float | None = None
    model_wins: int = 0
    baseline_wins: int = 0
    totals: dict[str, float | None] = field(default_factory=dict)
    deciles: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    @property
    def compared(self) -> int:
        return sum(1 for row in self.rows if row.model is not None and row.baseline is not None)


def _better(model: float | None, baseline: float | None, rule: str, target: float | None) -> str:
    if model is None or baseline is None:
        return ""
    if rule == "closest":
        if target is None:
            return ""
        model, baseline = -abs(model - target), -abs(baseline - target)
    elif rule == "lower":
        model, baseline = -model, -baseline
    if math.isclose(model, baseline, rel_tol=1e-9, abs_tol=1e-12):
        return ""
    return "model" if model > baseline else "baseline"


def prediction_backtest(run: PredictionRun) -> BacktestSummary | None:
    """None when the run has no backtest at all (an older run)."""
    backtest = (run.metrics or {}).get("backtest")
    if not backtest:
        return None
    if backtest.get("skipped"):
        return BacktestSummary(skipped=str(backtest["skipped"]))
    metrics = backtest.get("metrics") or {}
    share = _number(((metrics.get("model") or {}).get("churn") or {}).get("share_actual"))
    rows = []
    for group, key, label, unit, rule in _MEASURES:
        model = _number(((metrics.get("model") or {}).get(group) or {}).get(key))
        baseline = _number(((metrics.get("baseline") or {}).get(group) or {}).get(key))
        rows.append(
            MetricRow(
                group=GROUP_LABELS[group],
                label=label,
                meaning=_MEANINGS[key],
                unit=unit,
                model=model,
                baseline=baseline,
                better=_better(model, baseline, rule, share),
            )
        )
    end = backtest.get("calibration_end")
    return BacktestSummary(
        calibration_end=parse_datetime(end) if isinstance(end, str) else None,
        holdout_days=float(backtest.get("holdout_days") or 0.0),
        customers=int(backtest.get("customers") or 0),
        sufficient=bool(backtest.get("sufficient")),
        reasons=[str(reason) for reason in backtest.get("reasons") or []],
        rows=rows,
        churn_share_actual=share,
        model_wins=sum(1 for row in rows if row.better == "model"),
        baseline_wins=sum(1 for row in rows if row.better == "baseline"),
        totals={k: _number(v) for k, v in (backtest.get("totals") or {}).items()},
        deciles={
            what: [
                {key: _number(value) for key, value in row.items()}
                for row in (backtest.get("deciles") or {}).get(what) or []
            ]
            for what in ("orders", "revenue", "churn")
        },
    )


# -- score distributions (histograms) -----------------------------------------------------------


@dataclass(frozen=True)
class ScoreDistribution:
    """One score's histogram over the run's customers: ``chart`` is what the page's script
    draws (edges, counts, median, unit, open_ended); empty counts: no finite value."""

    info: ScoreInfo
    median: float | None
    mean: float | None
    chart: dict[str, Any]

    @property
    def drawable(self) -> bool:
        return bool(self.chart["counts"]) and sum(self.chart["counts"]) > 0


def prediction_distributions(run: PredictionRun) -> list[ScoreDistribution]:
    stored: Mapping[str, Any] = (run.metrics or {}).get("distributions") or {}
    out = []
    for info in score_infos(run.horizon_days):
        dist = stored.get(info.name) or {}
        edges = [float(e) for e in dist.get("edges") or []]
        counts = [int(c) for c in dist.get("counts") or []]
        if len(edges) != len(counts) + 1:
            edges, counts = [], []
        median = _number(dist.get("median"))
        out.append(
            ScoreDistribution(
                info=info,
                median=median,
                mean=_number(dist.get("mean")),
                chart={
                    "edges": edges,
                    "counts": counts,
                    "median": median,
                    "unit": info.unit,
                    "open_ended": info.name in OPEN_ENDED,
                },
            )
        )
    return out


def distribution_charts(distributions: Sequence[ScoreDistribution]) -> dict[str, Any]:
    """The histograms for json_script, keyed by score name (drawable ones only)."""
    return {d.info.name: d.chart for d in distributions if d.drawable}


@dataclass(frozen=True)
class PredictionsAtGlance:
    """The run in use with its score histograms, for the dashboard."""

    run: PredictionRun
    distributions: list[ScoreDistribution]

    @property
    def charts(self) -> dict[str, Any]:
        return distribution_charts(self.distributions)


def prediction_glance() -> PredictionsAtGlance | None:
    run = prediction_current()
    if run is None:
        return None
    return PredictionsAtGlance(run=run, distributions=prediction_distributions(run))


# -- one customer -------------------------------------------------------------------------------


@dataclass(frozen=True)
class CustomerPrediction:
    """A customer's scores in the run in use. ``score`` None: not scored (no run yet, or no
    purchase before the run's prediction date). ``warnings`` qualify the figures."""

    run: PredictionRun | None
    score: CustomerScore | None
    warnings: list[str]
    distributions: list[ScoreDistribution]

    @property
    def level(self) -> float:
        """The intervals' coverage (0.8)."""
        stored = (self.run.metrics or {}).get("level") if self.run is not None else None
        return _number(stored) or 0.8

    @property
    def charts(self) -> dict[str, Any]:
        return distribution_charts(self.distributions)


def customer_prediction(customer: Customer) -> CustomerPrediction:
    run = prediction_current()
    if run is None:
        return CustomerPrediction(run=None, score=None, warnings=[], distributions=[])
    score = customer_score(customer, run=run)
    warnings: list[str] = []
    if score is not None:
        if score.no_repeat:
            warnings.append(
                "No repeat order yet: the purchase rate leans on the population, and the order "
                "value rests on a single order, shrunk towards the population average."
            )
        if score.short_history:
            warnings.append(
                f"Short history: the first order was less than {SHORT_HISTORY_DAYS:g} days "
                "before the prediction date, too soon to say much about this customer."
            )
        if not run.sufficient:
            reasons = prediction_fit(run).reasons
            warnings.append(
                "The model's fit is not sufficient, so none of these scores should be trusted"
                + (f": {'; '.join(reasons)}." if reasons else ".")
            )
    distributions = [
        d for d in prediction_distributions(run) if d.info.name in ("clv", "churn_risk")
    ]
    return CustomerPrediction(run=run, score=score, warnings=warnings, distributions=distributions)
