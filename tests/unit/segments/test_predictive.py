"""BG/NBD, MBG/NBD and Gamma-Gamma predictive scores on simulated data with known parameters
(no database)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from segments.engine.predictive import (
    BgNbdParams,
    GammaGammaParams,
    PredictiveConfig,
    backtest,
    bgnbd_loglik,
    by_day,
    customer_summary,
    decile_calibration,
    error_metrics,
    expected_order_value,
    expected_orders,
    fit,
    fit_bgnbd,
    fit_gamma_gamma,
    no_order_probability,
    p_alive,
    predict,
    predict_with_intervals,
)

TRUE_BG = BgNbdParams(r=0.8, alpha=20.0, a=1.5, b=4.0)
TRUE_MBG = BgNbdParams(r=0.8, alpha=20.0, a=1.5, b=6.0, modified=True)
TRUE_GG = GammaGammaParams(p=6.0, q=4.0, gamma=15.0)
START = pd.Timestamp("2024-01-01", tz="UTC")
N = 3000
N_MBG = 4000
HOLDOUT = 90.0


def simulate(
    seed: int = 7, n: int = N, bg: BgNbdParams = TRUE_BG
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Generative BG/NBD: each customer's first order at a birth time in the first year, then
    Poisson(λ) orders while alive, dropout with prob. p after each repeat order (with
    ``bg.modified``, the MBG/NBD, also right after the first order); order values Gamma(p, ν),
    ν ~ Gamma(q, γ). Returns (purchases frame, truth per customer: holdout orders)."""
    rng = np.random.default_rng(seed)
    lam = rng.gamma(bg.r, 1.0 / bg.alpha, n)
    drop = rng.beta(bg.a, bg.b, n)
    nu = rng.gamma(TRUE_GG.q, 1.0 / TRUE_GG.gamma, n)
    birth = rng.uniform(0.0, 270.0, n)
    cal = 365.0
    customers, times = [np.arange(n)], [birth.copy()]
    t = birth.copy()
    alive = np.ones(n, dtype=bool)
    if bg.modified:  # MBG/NBD: the first purchase is a dropout opportunity too
        alive &= rng.random(n) >= drop
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


@pytest.fixture(scope="module")
def sim_mbg() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """MBG/NBD data, N_MBG customers (about a third of them one-time buyers by the year end)."""
    purchases, truth = simulate(seed=11, n=N_MBG, bg=TRUE_MBG)
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
    for c in ("expected_orders", "p_alive", "churn_risk", "clv", "expected_order_value"):
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


# --------------------------------------------------------------------------- MBG/NBD


def test_mbgnbd_recovers_parameters(
    sim_mbg: tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame],
) -> None:
    _, _, summary = sim_mbg
    x, tx, T, _ = arrays(summary)
    est, ok = fit_bgnbd(x, tx, T, modified=True)
    assert ok and est.modified
    # Tolerances from 60 replicate simulations of this design (4,000 customers, births over
    # 270 days, one year): the estimates are unbiased with relative SDs r 6%, α 6%, a 11%,
    # b 17%, mean dropout a/(a+b) 5%; a and b move together, so each alone is loose. Bounds
    # are about 3.5 SD.
    assert est.r == pytest.approx(TRUE_MBG.r, rel=0.2)
    assert est.alpha == pytest.approx(TRUE_MBG.alpha, rel=0.2)
    assert est.a == pytest.approx(TRUE_MBG.a, rel=0.4)
    assert est.b == pytest.approx(TRUE_MBG.b, rel=0.6)
    assert est.a / (est.a + est.b) == pytest.approx(TRUE_MBG.a / (TRUE_MBG.a + TRUE_MBG.b), rel=0.2)
    # the BG/NBD (no dropout at the first order) fits these data clearly worse
    plain, _ = fit_bgnbd(x, tx, T)
    gain = bgnbd_loglik(est, x, tx, T).sum() - bgnbd_loglik(plain, x, tx, T).sum()
    assert gain > 10.0


def test_mbgnbd_p_alive_and_loglik_by_hand() -> None:
    prm = TRUE_MBG
    r, al, a, b = prm.r, prm.alpha, prm.a, prm.b
    x = np.array([0.0, 0.0, 3.0, 10.0])
    tx = np.array([0.0, 0.0, 50.0, 200.0])
    T = np.array([30.0, 100.0, 100.0, 250.0])
    pa = p_alive(prm, x, tx, T)
    # 1 / (1 + a/(b+x) · ((α+T)/(α+t_x))^(r+x)), written out per point
    by_hand = [
        1.0 / (1.0 + a / b * ((al + 30.0) / al) ** r),
        1.0 / (1.0 + a / b * ((al + 100.0) / al) ** r),
        1.0 / (1.0 + a / (b + 3.0) * ((al + 100.0) / (al + 50.0)) ** (r + 3.0)),
        1.0 / (1.0 + a / (b + 10.0) * ((al + 250.0) / (al + 200.0)) ** (r + 10.0)),
    ]
    np.testing.assert_allclose(pa, by_hand, rtol=1e-12)
    assert pa[1] == pytest.approx(0.4883, abs=1e-4)  # 1 / (1 + 0.25 · 6^0.8)
    # one-time buyers can be gone, the more likely the longer ago their only order
    assert 0.0 < pa[1] < pa[0] < 1.0
    # the same customers under the BG/NBD: one-time buyers are alive for sure
    plain = BgNbdParams(r, al, a, b)
    assert (p_alive(plain, x[:2], tx[:2], T[:2]) == 1.0).all()

    # likelihood (Batislam et al. 2007): B(a, b+x+1)/B(a, b) · Γ(r+x) α^r / Γ(r)
    #   · [(α+T)^−(r+x) + a/(b+x) · (α+t_x)^−(r+x)]
    def beta(u: float, v: float) -> float:
        return math.gamma(u) * math.gamma(v) / math.gamma(u + v)

    def lik(xv: float, txv: float, Tv: float) -> float:
        head = beta(a, b + xv + 1) / beta(a, b) * math.gamma(r + xv) * al**r / math.gamma(r)
        return head * ((al + Tv) ** -(r + xv) + a / (b + xv) * (al + txv) ** -(r + xv))

    ours = bgnbd_loglik(prm, x, tx, T)
    np.testing.assert_allclose(
        ours, [math.log(lik(*pt)) for pt in zip(x, tx, T, strict=True)], rtol=1e-10
    )
    # x = 0 from first principles: dropped at the first order (E[p] = a/(a+b)), or stayed and
    # made no purchase in T (E[1 − p] · (α/(α+T))^r)
    no_repeat = a / (a + b) + b / (a + b) * (al / (al + 100.0)) ** r
    assert math.exp(ours[1]) == pytest.approx(no_repeat, rel=1e-12)


def test_mbgnbd_expected_orders_matches_quadrature_and_simulation() -> None:
    from segments.engine.predictive import _expected_given_alive_quadrature

    x = np.array([0.0, 1.0, 2.0, 10.0])
    tx = np.array([0.0, 30.0, 50.0, 90.0])
    T = np.array([60.0, 100.0, 100.0, 100.0])
    for prm in (TRUE_MBG, BgNbdParams(0.24, 4.4, 0.79, 2.43, modified=True)):
        for t in (30.0, 90.0):
            ours = expected_orders(prm, t, x, tx, T)
            quad = _expected_given_alive_quadrature(prm, np.full(4, t), x, T) * p_alive(
                prm, x, tx, T
            )
            np.testing.assert_allclose(ours, quad, rtol=1e-8)
    # Monte Carlo from the MBG/NBD posterior: alive ~ Bernoulli(p_alive), λ ~ Gamma(r+x, α+T),
    # p ~ Beta(a, b+x+1) (the survived first order counts as one more "no dropout")
    prm, xv, txv, Tv = TRUE_MBG, 2.0, 50.0, 100.0
    rng = np.random.default_rng(2)
    k = 200_000
    pa = p_alive(prm, np.array([xv]), np.array([txv]), np.array([Tv]))[0]
    lam = rng.gamma(prm.r + xv, 1 / (prm.alpha + Tv), k)
    p = rng.beta(prm.a, prm.b + xv + 1, k)
    n = np.minimum(rng.poisson(lam * 90), rng.geometric(p)) * (rng.random(k) < pa)
    ours = expected_orders(prm, 90.0, np.array([xv]), np.array([txv]), np.array([Tv]))[0]
    assert ours == pytest.approx(n.mean(), rel=0.03)


# --------------------------------------------------------------------------- churn risk


def test_churn_risk_bounds_and_frequency() -> None:
    prm = TRUE_MBG
    x = np.arange(1.0, 30.0)
    T = np.full_like(x, 200.0)

    def churn(recency: float, params: BgNbdParams = prm) -> np.ndarray:
        tx = np.full_like(x, recency)
        return no_order_probability(params, 90.0, p_alive(params, x, tx, T), x, T)

    for params in (prm, TRUE_BG):
        # last order at T: more repeat orders ⇒ more likely to order again within 90 days
        assert np.all(np.diff(churn(200.0, params)) < 0)
    # (not for every recency: a frequent buyer silent for 100 days has probably dropped out, so
    # with the last order long ago the risk *rises* with frequency, as 1 − P(alive) does)
    old = churn(100.0)
    assert old[9] > old[1] + 0.2  # x = 10 vs x = 2: 0.985 vs 0.695
    # a probability everywhere, including extreme histories and horizons
    rng = np.random.default_rng(4)
    xs = rng.integers(0, 200, 2000).astype(float)
    Ts = rng.uniform(0.0, 2000.0, 2000)
    txs = np.where(xs > 0, rng.uniform(0.0, 1.0, 2000) * Ts, 0.0)
    for params in (prm, TRUE_BG, BgNbdParams(0.24, 4.4, 0.79, 2.43, modified=True)):
        # the BG/NBD p_alive computes 1/(1 + exp(log_ratio)), which overflows to the correct
        # limit 0 for x ≈ 200 silent for years (a RuntimeWarning; the MBG/NBD path uses expit)
        with np.errstate(over="ignore"):
            alive = p_alive(params, xs, txs, Ts)
        for h in (1.0, 90.0, 3650.0):
            c = no_order_probability(params, h, alive, xs, Ts)
            assert np.isfinite(c).all() and (c >= 0.0).all() and (c <= 1.0).all()


@pytest.mark.parametrize("model", ["bgnbd", "mbgnbd"])
def test_churn_risk_is_calibrated_on_simulated_holdout(
    model: str, request: pytest.FixtureRequest
) -> None:
    # each model on data simulated from it (holdout simulated too), fitted by the backtest;
    # continuous times, so no same-day merge
    purchases, truth, summary = request.getfixturevalue("sim" if model == "bgnbd" else "sim_mbg")
    cfg = PredictiveConfig(model=model, merge_same_day=False)
    bt = backtest(
        purchases,
        calibration_end=START + pd.Timedelta(days=365),
        holdout_days=HOLDOUT,
        config=cfg,
    )
    assert bt.report.bgnbd.modified == (model == "mbgnbd")
    c = bt.customers
    assert c.index.equals(summary.index)
    np.testing.assert_array_equal(
        c["actual_churn"], (truth.loc[summary.index, "holdout_orders"] == 0).astype(float)
    )
    d = bt.deciles["churn"]
    assert d["customers"].sum() == len(summary)
    # per decile (300-400 customers) the share without an order is binomial around the
    # predicted mean: allow 4 SD plus 0.01 for the fitted parameters' error (replicates with the
    # true parameters show a largest deviation over the ten deciles of 1.8 SD on average, 3.2 SD
    # at most in 40 runs)
    sd = np.sqrt(d["mean_predicted"] * (1 - d["mean_predicted"]) / d["customers"])
    dev = (d["mean_predicted"] - d["mean_actual"]).abs()
    assert (dev <= 4 * sd + 0.01).all(), d
    assert d["mean_actual"].iloc[-1] > d["mean_actual"].iloc[0] + 0.5
    m = bt.metrics["model"]["churn"]
    assert m["mean_predicted"] == pytest.approx(m["share_actual"], abs=0.025)
    assert m["auc"] > 0.8
    assert m["brier"] < bt.metrics["baseline"]["churn"]["brier"]


# --------------------------------------------------------------------------- same-day merge


def test_same_day_invoices_are_one_order() -> None:
    day = pd.Timestamp("2024-03-01 09:00", tz="UTC")
    rows = [
        # customer, order, timestamp, value
        (1, "a", day, 10.0),
        (1, "b", day + pd.Timedelta(minutes=7), 5.0),  # same day, second invoice
        (1, "c", day + pd.Timedelta(days=3), 20.0),
        (1, "d", day + pd.Timedelta(days=3, hours=2), 4.0),  # same day, second invoice
        (1, "d", day + pd.Timedelta(days=3, hours=2), 1.0),  # another line of d
        (2, "e", day + pd.Timedelta(days=1), 8.0),
        (2, "f", day + pd.Timedelta(days=2), 2.0),
        # the calendar day is the UTC one: 23:30 and 00:30 Berlin time are both 1 March UTC
        (3, "g", pd.Timestamp("2024-03-01 23:30", tz="Europe/Berlin").tz_convert("UTC"), 3.0),
        (3, "h", pd.Timestamp("2024-03-02 00:30", tz="Europe/Berlin").tz_convert("UTC"), 4.0),
    ]
    purchases = pd.DataFrame(rows, columns=["customer", "order_id", "timestamp", "revenue"])
    end = day + pd.Timedelta(days=10)
    merged = customer_summary(purchases, calibration_end=end, merge_same_day=True)
    split = customer_summary(purchases, calibration_end=end)
    assert split["orders"].tolist() == [4, 2, 2]
    assert merged["orders"].tolist() == [2, 2, 1]
    assert merged.loc[1].to_dict() == {
        "frequency": 1,
        "recency": 3.0,
        "T": 10.0,
        "monetary": 25.0,  # the second day's invoices 20 + 4 + 1
        "orders": 2,
        "revenue": 40.0,
    }
    assert merged.loc[3, "frequency"] == 0 and merged.loc[3, "revenue"] == 7.0
    pd.testing.assert_frame_equal(customer_summary(by_day(purchases), calibration_end=end), merged)
    keys = by_day(purchases).groupby("customer")["order_id"].nunique()
    assert keys.tolist() == [2, 2, 1]
    # naive timestamps: the calendar day as given
    naive = purchases.assign(timestamp=purchases["timestamp"].dt.tz_localize(None))
    assert by_day(naive)["order_id"].tolist() == by_day(purchases)["order_id"].tolist()

    # the backtest's actuals: default config merges, merge_same_day=False does not
    hold = pd.DataFrame(
        [
            (1, "x", end + pd.Timedelta(days=1), 6.0),
            (1, "y", end + pd.Timedelta(days=1, minutes=30), 7.0),
            (2, "z", end + pd.Timedelta(days=2), 9.0),
        ],
        columns=purchases.columns,
    )
    both = pd.concat([purchases, hold], ignore_index=True)
    bt = backtest(both, calibration_end=end, holdout_days=30)
    assert bt.customers["actual_orders"].tolist() == [1, 1, 0]
    assert bt.customers["actual_revenue"].tolist() == [13.0, 9.0, 0.0]
    # calibration: customer 1's two days, not four invoices (the naive rate shows it)
    np.testing.assert_allclose(bt.customers["baseline_orders"], np.array([2, 2, 1]) / 10 * 30)
    raw = backtest(
        both, calibration_end=end, holdout_days=30, config=PredictiveConfig(merge_same_day=False)
    )
    assert raw.customers["actual_orders"].tolist() == [2, 1, 0]
    np.testing.assert_allclose(raw.customers["baseline_orders"], np.array([4, 2, 2]) / 10 * 30)


def test_order_values_all_or_repeat(sim: tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]) -> None:
    _, _, summary = sim
    end = START + pd.Timedelta(days=365)
    one_timers = summary.index[summary["frequency"] == 0]
    # a one-time buyer with a basket ten times the usual
    big = one_timers[0]
    summary = summary.copy()
    summary.loc[big, "revenue"] = 10 * summary["revenue"].median()
    every = PredictiveConfig(order_values="all", n_boot=0)
    repeat = PredictiveConfig(order_values="repeat", n_boot=0)
    out_all = predict(summary, fit(summary, every), calibration_end=end, config=every)
    report = fit(summary, repeat)
    out_repeat = predict(summary, report, calibration_end=end, config=repeat)
    # "repeat": every one-time buyer gets the population mean p·γ/(q − 1)
    gg = report.gamma_gamma
    np.testing.assert_allclose(
        out_repeat.loc[one_timers, "expected_order_value"], gg.p * gg.gamma / (gg.q - 1)
    )
    # "all": the first basket counts, shrunk towards the mean — by hand for the big one
    gg_all = fit(summary, every).gamma_gamma
    m = summary.loc[big, "revenue"]
    by_hand = gg_all.p * (gg_all.gamma + m) / (gg_all.p + gg_all.q - 1)
    assert out_all.loc[big, "expected_order_value"] == pytest.approx(by_hand)
    others = out_all.loc[one_timers[1:], "expected_order_value"]
    assert out_all.loc[big, "expected_order_value"] > others.max()
    # repeat buyers: a mean over x + 1 orders (first included) instead of x
    buyer = summary.index[summary["frequency"] == 3][0]
    n, mean = 4.0, summary.loc[buyer, "revenue"] / 4.0
    expected = gg_all.p * (gg_all.gamma + mean * n) / (gg_all.p * n + gg_all.q - 1)
    assert out_all.loc[buyer, "expected_order_value"] == pytest.approx(expected)
