"""BG/NBD + Gamma-Gamma predictive scores on simulated data with known parameters (no database)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from segments.engine.predictive import (
    BgNbdParams,
    GammaGammaParams,
    PredictiveConfig,
    backtest,
    bgnbd_loglik,
    customer_summary,
    decile_calibration,
    error_metrics,
    expected_order_value,
    expected_orders,
    fit,
    fit_bgnbd,
    fit_gamma_gamma,
    p_alive,
    predict,
    predict_with_intervals,
)

TRUE_BG = BgNbdParams(r=0.8, alpha=20.0, a=1.5, b=4.0)
TRUE_GG = GammaGammaParams(p=6.0, q=4.0, gamma=15.0)
START = pd.Timestamp("2024-01-01", tz="UTC")
N = 3000
HOLDOUT = 90.0


def simulate(seed: int = 7, n: int = N) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Generative BG/NBD: each customer's first order at a birth time in the first year, then
    Poisson(λ) orders while alive, dropout with prob. p after each repeat order; order values
    Gamma(p, ν), ν ~ Gamma(q, γ). Returns (purchases frame, truth per customer: calibration
    summary fields and holdout orders)."""
    rng = np.random.default_rng(seed)
    lam = rng.gamma(TRUE_BG.r, 1.0 / TRUE_BG.alpha, n)
    drop = rng.beta(TRUE_BG.a, TRUE_BG.b, n)
    nu = rng.gamma(TRUE_GG.q, 1.0 / TRUE_GG.gamma, n)
    birth = rng.uniform(0.0, 270.0, n)
    cal = 365.0
    customers, times = [np.arange(n)], [birth.copy()]
    t = birth.copy()
    alive = np.ones(n, dtype=bool)
    while alive.any():
        t = t + rng.exponential(1.0 / lam)
        alive &= t < cal + HOLDOUT
        customers.append(np.flatnonzero(alive))
        times.append(t[alive])
        alive &= rng.random(n) >= drop
    cust = np.concatenate(customers)
    when = np.concatenate(times)
    value = rng.gamma(TRUE_GG.p, 1.0 / nu[cust])
    purchases = pd.DataFrame(
        {
            "customer": cust.astype(np.int64),
            "order_id": [f"o{i}" for i in range(cust.size)],
            "timestamp": START + pd.to_timedelta(when, unit="D"),
            "revenue": value,
        }
    )
    hold = np.bincount(cust[(when >= cal)], minlength=n)
    truth = pd.DataFrame({"holdout_orders": hold}, index=pd.Index(np.arange(n), name="customer"))
    return purchases, truth


@pytest.fixture(scope="module")
def sim() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    purchases, truth = simulate()
    summary = customer_summary(purchases, calibration_end=START + pd.Timedelta(days=365))
    return purchases, truth, summary


def arrays(summary: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    return (
        summary["frequency"].to_numpy(float),
        summary["recency"].to_numpy(float),
        summary["T"].to_numpy(float),
        summary["monetary"].to_numpy(float),
    )


def test_customer_summary_by_hand() -> None:
    ts = pd.Timestamp("2024-03-01", tz="UTC")
    purchases = pd.DataFrame(
        {
            "customer": [1, 1, 1, 1, 2, 3],
            "order_id": ["a", "a", "b", "c", "d", "e"],
            "timestamp": [ts, ts, ts + pd.Timedelta(days=2), ts + pd.Timedelta(days=5), ts, ts],
            "revenue": [10.0, 5.0, 20.0, 40.0, 7.0, 1.0],
        }
    )
    purchases.loc[5, "timestamp"] = ts + pd.Timedelta(days=20)  # after the calibration end
    s = customer_summary(purchases, calibration_end=ts + pd.Timedelta(days=10))
    assert list(s.index) == [1, 2]
    assert s.loc[1].to_dict() == {
        "frequency": 2,
        "recency": 5.0,
        "T": 10.0,
        "monetary": 30.0,  # mean of the repeat orders 20 and 40 (the first order, 15, excluded)
        "orders": 3,
        "revenue": 75.0,
    }
    assert s.loc[2, "frequency"] == 0 and s.loc[2, "monetary"] == 0.0


def test_loglik_matches_numeric_integration_for_one_customer() -> None:
    # integrate the BG/NBD likelihood over λ and p numerically for one (x, t_x, T)
    from scipy import integrate, stats

    prm = BgNbdParams(0.7, 5.0, 1.3, 2.2)
    x, tx, T = 3.0, 20.0, 40.0

    def lik(lam: float, p: float) -> float:
        own = (1 - p) ** x * lam**x * np.exp(-lam * T) + p * (1 - p) ** (x - 1) * lam**x * np.exp(
            -lam * tx
        )
        return (
            own * stats.gamma.pdf(lam, prm.r, scale=1 / prm.alpha) * stats.beta.pdf(p, prm.a, prm.b)
        )

    val, _ = integrate.dblquad(lik, 0, 1, 0, 5)
    ours = bgnbd_loglik(prm, np.array([x]), np.array([tx]), np.array([T]))[0]
    assert ours == pytest.approx(np.log(val), rel=1e-5)


def test_bgnbd_recovers_parameters(sim: tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]) -> None:
    _, _, summary = sim
    x, tx, T, _ = arrays(summary)
    est, ok = fit_bgnbd(x, tx, T)
    assert ok
    # 3,000 customers: r and alpha within 25%, a and b (dropout, weakly identified) within 50%
    assert est.r == pytest.approx(TRUE_BG.r, rel=0.25)
    assert est.alpha == pytest.approx(TRUE_BG.alpha, rel=0.25)
    assert est.a == pytest.approx(TRUE_BG.a, rel=0.5)
    assert est.b == pytest.approx(TRUE_BG.b, rel=0.5)


def test_gamma_gamma_recovers_parameters() -> None:
    rng = np.random.default_rng(3)
    n = 3000
    x = rng.integers(1, 8, n).astype(float)
    nu = rng.gamma(TRUE_GG.q, 1.0 / TRUE_GG.gamma, n)
    # the mean of x Gamma(p, ν) order values is Gamma(p·x, ν·x)
    m = rng.gamma(TRUE_GG.p * x, 1.0 / (nu * x))
    est, ok = fit_gamma_gamma(x, m)
    assert ok
    assert est.p == pytest.approx(TRUE_GG.p, rel=0.2)
    assert est.q == pytest.approx(TRUE_GG.q, rel=0.25)
    assert est.gamma == pytest.approx(TRUE_GG.gamma, rel=0.35)
    # population mean spend p·γ/(q−1) is much better determined than the parameters
    pop = expected_order_value(est, np.array([0.0]), np.array([0.0]))[0]
    assert pop == pytest.approx(TRUE_GG.p * TRUE_GG.gamma / (TRUE_GG.q - 1), rel=0.05)


def test_p_alive_properties() -> None:
    prm = TRUE_BG
    T = np.full(5, 200.0)
    x = np.array([0.0, 3.0, 3.0, 3.0, 3.0])
    tx = np.array([0.0, 190.0, 150.0, 100.0, 20.0])
    pa = p_alive(prm, x, tx, T)
    assert pa[0] == 1.0  # BG/NBD: no repeat order ⇒ cannot have dropped out
    assert np.all(np.diff(pa[1:]) < 0)  # same frequency, longer gap since last order ⇒ lower
    assert np.all((pa[1:] > 0) & (pa[1:] < 1))
    # with the last order at T, more repeat orders ⇒ more likely alive (b + x − 1 grows)
    many = p_alive(prm, np.array([1.0, 10.0]), np.array([200.0, 200.0]), np.array([200.0, 200.0]))
    assert many[1] > many[0]


def test_expected_orders_matches_simulation_and_grows_with_t() -> None:
    prm = TRUE_BG
    x, tx, T = np.array([2.0]), np.array([50.0]), np.array([100.0])
    e = [expected_orders(prm, t, x, tx, T)[0] for t in (10.0, 30.0, 90.0)]
    assert 0 < e[0] < e[1] < e[2]
    # Monte Carlo from the posterior (alive, λ ~ Gamma(r+x, α+T), p ~ Beta(a, b+x))
    rng = np.random.default_rng(1)
    k = 200_000
    pa = p_alive(prm, x, tx, T)[0]
    lam = rng.gamma(prm.r + 2, 1 / (prm.alpha + 100), k)
    p = rng.beta(prm.a, prm.b + 2, k)
    n = np.minimum(rng.poisson(lam * 90), rng.geometric(p)) * (rng.random(k) < pa)
    assert e[2] == pytest.approx(n.mean(), rel=0.03)
    # a < 1 (the CDNOW estimate is a = 0.79) still gives positive, finite expectations
    low_a = expected_orders(BgNbdParams(0.24, 4.4, 0.79, 2.43), 39.0, x, tx, T)[0]
    assert np.isfinite(low_a) and low_a > 0


def test_predict_columns_flags_and_discount(
    sim: tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame],
) -> None:
    _, _, summary = sim
    end = START + pd.Timedelta(days=365)
    report = fit(summary)
    assert report.sufficient, report.reasons
    out = predict(summary, report, calibration_end=end)
    assert out.index.equals(summary.index)
    # no order in the horizon: dropped out, or alive and silent for 90 days
    assert (out["churn_risk"] >= 1 - out["p_alive"] - 1e-12).all()
    x, T = summary["frequency"].to_numpy(), summary["T"].to_numpy()
    bg = report.bgnbd
    silent = ((bg.alpha + T) / (bg.alpha + T + 90.0)) ** (bg.r + x)
    np.testing.assert_allclose(
        out["churn_risk"], 1 - out["p_alive"] + out["p_alive"] * silent, rtol=1e-9
    )
    np.testing.assert_allclose(out["clv"], out["expected_orders"] * out["expected_order_value"])
    assert out["no_repeat"].equals(summary["frequency"] == 0)
    assert (out["next_order_date"] > end).all()
    disc = predict(
        summary, report, calibration_end=end, config=PredictiveConfig(daily_discount=0.001)
    )
    assert (disc["clv"] < out["clv"]).all() and (disc["clv"] > 0.9 * out["clv"]).all()
    # too little data: flagged, not silently confident
    small = summary.iloc[:40]
    rep = fit(small, PredictiveConfig(min_repeat_buyers=30, min_calibration_days=400))
    assert not rep.sufficient
    assert any("calibration shorter" in r for r in rep.reasons)
    assert not predict(small, rep, calibration_end=end)["sufficient"].any()


def test_bootstrap_intervals_cover_holdout_orders(
    sim: tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame],
) -> None:
    _, truth, summary = sim
    end = START + pd.Timedelta(days=365)
    cfg = PredictiveConfig(horizon_days=HOLDOUT, n_boot=40, seed=5)
    report, out = predict_with_intervals(summary, calibration_end=end, config=cfg)
    for c in ("expected_orders", "p_alive", "clv", "expected_order_value"):
        assert (out[f"{c}_lo"] <= out[c] + 1e-9).all() and (out[c] <= out[f"{c}_hi"] + 1e-9).all()
    actual = truth.loc[summary.index, "holdout_orders"].to_numpy()
    lo, hi = out["orders_pred_lo"].to_numpy(), out["orders_pred_hi"].to_numpy()
    assert np.array_equal(lo, np.round(lo)) and np.array_equal(hi, np.round(hi))
    inside = (actual >= lo) & (actual <= hi)
    # 80% predictive intervals of counts: most are [0, 0] or [0, 1], so the closed interval
    # over-covers; what must hold is that each tail is at most about 10%
    assert 0.75 <= inside.mean() <= 0.99
    assert (actual < lo).mean() <= 0.13 and (actual > hi).mean() <= 0.13
    # customers with a wide interval (active buyers), where discreteness matters little
    wide = hi - lo >= 3
    assert wide.sum() > 200
    assert 0.65 <= inside[wide].mean() <= 0.95
    # the total is predicted well too
    assert out["expected_orders"].sum() == pytest.approx(actual.sum(), rel=0.15)
    # repeat buyers' spend is better determined than the prior-only no-repeat customers'
    width = out["expected_order_value_hi"] - out["expected_order_value_lo"]
    rel = width / out["expected_order_value"]
    assert rel[out["no_repeat"]].median() > rel[~out["no_repeat"]].median()


def test_bootstrap_is_seeded(sim: tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]) -> None:
    _, _, summary = sim
    end = START + pd.Timedelta(days=365)
    small = summary.iloc[:500]
    cfg = PredictiveConfig(n_boot=5, seed=11)
    _, a = predict_with_intervals(small, calibration_end=end, config=cfg)
    _, b = predict_with_intervals(small, calibration_end=end, config=cfg)
    pd.testing.assert_frame_equal(a, b)


def test_error_metrics_and_deciles_by_hand() -> None:
    m = error_metrics(np.array([1.0, 2.0, 3.0, 4.0]), np.array([1.0, 3.0, 2.0, 6.0]))
    assert m["mae"] == pytest.approx(1.0)  # |0|+|1|+|1|+|2| / 4
    assert m["rmse"] == pytest.approx(np.sqrt(6 / 4))
    assert m["spearman"] == pytest.approx(0.8)
    d = decile_calibration(np.array([4.0, 1.0, 3.0, 2.0]), np.array([8.0, 2.0, 6.0, 4.0]), groups=2)
    assert d["customers"].tolist() == [2, 2]
    assert d["mean_predicted"].tolist() == [1.5, 3.5]
    assert d["mean_actual"].tolist() == [3.0, 7.0]


def test_backtest_tiny_example() -> None:
    t0 = pd.Timestamp("2024-01-01", tz="UTC")

    def at(day: float) -> pd.Timestamp:
        return t0 + pd.Timedelta(days=day)

    rows = [
        # customer, order, day, value
        (1, "a", 0, 10.0),
        (1, "b", 40, 20.0),
        (1, "c", 80, 30.0),
        (1, "d", 110, 25.0),  # holdout
        (2, "e", 50, 100.0),
        (3, "f", 10, 5.0),
        (3, "g", 20, 5.0),
        (3, "h", 105, 7.0),  # holdout
        (3, "i", 115, 8.0),  # holdout
        (4, "j", 130, 50.0),  # after the holdout: ignored
        (5, "k", 101, 9.0),  # new in the holdout: not scored
    ]
    purchases = pd.DataFrame(rows, columns=["customer", "order_id", "day", "revenue"])
    purchases["timestamp"] = purchases["day"].map(at)
    bt = backtest(purchases, calibration_end=at(100), holdout_days=20)
    c = bt.customers
    assert list(c.index) == [1, 2, 3]
    assert c["actual_orders"].tolist() == [1, 0, 2]
    assert c["actual_revenue"].tolist() == [25.0, 0.0, 15.0]
    # baseline: calibration orders / 100 days × 20 days
    np.testing.assert_allclose(c["baseline_orders"], [0.6, 0.2, 0.4])
    np.testing.assert_allclose(c["baseline_revenue"], [12.0, 20.0, 2.0])
    b = bt.metrics["baseline"]["orders"]
    assert b["mae"] == pytest.approx((0.4 + 0.2 + 1.6) / 3)
    assert b["rmse"] == pytest.approx(np.sqrt((0.16 + 0.04 + 2.56) / 3))
    assert b["spearman"] == pytest.approx(0.5)
    assert bt.metrics["baseline"]["revenue"]["mae"] == pytest.approx((13 + 20 + 13) / 3)
    assert not bt.report.sufficient  # 2 repeat buyers over 100 days: flagged
    assert set(bt.deciles) == {"orders", "revenue", "churn"}
    assert bt.deciles["orders"]["customers"].sum() == 3
    assert c["actual_churn"].tolist() == [0.0, 1.0, 0.0]
    np.testing.assert_allclose(c["baseline_churn"], np.exp(-np.array([0.6, 0.2, 0.4])))
    # baseline no-order probabilities 0.549, 0.819, 0.670: the one customer without an order
    # has the highest → AUC 1; Brier by hand
    churn = bt.metrics["baseline"]["churn"]
    assert churn["auc"] == pytest.approx(1.0)
    p = np.exp(-np.array([0.6, 0.2, 0.4]))
    assert churn["brier"] == pytest.approx(np.mean((p - [0, 1, 0]) ** 2))
    assert churn["share_actual"] == pytest.approx(1 / 3)


def test_backtest_on_simulated_data_beats_naive_baseline(
    sim: tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame],
) -> None:
    purchases, _, _ = sim
    bt = backtest(purchases, calibration_end=START + pd.Timedelta(days=365), holdout_days=HOLDOUT)
    assert bt.report.sufficient
    model, base = bt.metrics["model"]["orders"], bt.metrics["baseline"]["orders"]
    assert model["mae"] < base["mae"]
    assert model["spearman"] > 0.4
    top = bt.deciles["orders"].iloc[-1]
    assert top["mean_predicted"] == pytest.approx(top["mean_actual"], rel=0.25)


def test_quadrature_fallback_matches_closed_form() -> None:
    from segments.engine.predictive import _expected_given_alive_quadrature

    x, tx, T = np.array([0.0, 2.0, 10.0]), np.array([0.0, 50.0, 90.0]), np.full(3, 100.0)
    for prm in (TRUE_BG, BgNbdParams(0.24, 4.4, 0.79, 2.43)):
        closed = expected_orders(prm, 90.0, x, tx, T) / p_alive(prm, x, tx, T)
        quad = _expected_given_alive_quadrature(prm, np.full(3, 90.0), x, T)
        np.testing.assert_allclose(quad, closed, rtol=1e-8)
    # extreme parameters (hyp2f1 gives NaN) still give finite predictions
    huge = BgNbdParams(2.5e4, 1.4e6, 10.9, 15.6)
    assert np.isfinite(expected_orders(huge, 20.0, x, tx, T)).all()
