"""Treatment versus control: differences with confidence intervals, and the power of a split.

Everything here is plain numpy/scipy on counts and per-recipient arrays; nothing knows about
campaigns or the database. All intervals are two-sided at ``confidence`` (default 0.95).

Conversion rate (share of recipients who bought at least once): ``compare_proportions``
---------------------------------------------------------------------------------------
* **Difference** p_t − p_c with **Newcombe's hybrid score interval** (Newcombe 1998, method 10):
  each rate gets its Wilson score interval [l, u], and

      lower = d − sqrt((p_t − l_t)² + (u_c − p_c)²)
      upper = d + sqrt((u_t − p_t)² + (p_c − l_c)²)

  Chosen over the Wald interval d ± z·sqrt(p_t(1−p_t)/n_t + p_c(1−p_c)/n_c) because conversion
  rates are small (a few percent) and control groups often small: Wald then under-covers, and
  collapses to zero width when a group has no buyer at all. Newcombe's interval keeps close to
  nominal coverage there and agrees with Wald for large counts.
* **Relative uplift** p_t / p_c − 1 with the **Katz log interval** for the risk ratio:
  exp(log RR ± z·sqrt(1/x_t − 1/n_t + 1/x_c − 1/n_c)) − 1. When a group has no buyer, 0.5 is
  added to each of the four cells for the interval (Haldane–Anscombe). Undefined (None) when the
  control group has no buyer.
* **p-value**: the pooled two-proportion z-test. "Significant" means the interval on the
  difference excludes 0 (the z-test can disagree at the very border).

Revenue and items per recipient: ``compare_means``
--------------------------------------------------
Every recipient counts, buyers or not (zeros included), so the mean is "per recipient".

* ``welch``: difference of means with the **Welch t interval** (unequal variances, Welch–
  Satterthwaite degrees of freedom); relative uplift mean_t / mean_c − 1 by the delta method on
  the log of the ratio: Var(log ratio) ≈ s_t²/(n_t·m_t²) + s_c²/(n_c·m_c²).
* ``bootstrap``: the **percentile bootstrap** (``resamples`` resamples of each group with
  replacement, a fixed ``seed``) of the difference and of the ratio − 1; the p-value is the
  two-sided percentile p, 2·min(share of resampled differences ≤ 0, share ≥ 0), so it is below
  1 − confidence exactly when the percentile interval excludes 0.

Revenue per recipient is zero-inflated and heavy-tailed (most recipients buy nothing, a few spend
a lot), so the sampling distribution of its mean is skewed at campaign sizes and Welch's
symmetric interval mis-states one side. The campaign results therefore *report the bootstrap
interval for revenue* (Welch is kept beside it) and Welch for items per recipient (unit counts
are far less skewed). For large groups the two agree. The bootstrap is exact but fast on sparse
data: in a resample of n values with k non-zero ones, the number of non-zero draws is
Binomial(n, k/n) and, given it, the draws are uniform over the non-zero values, so a resample
costs ~k draws rather than n.

Power and minimum detectable effect (two-proportion test)
---------------------------------------------------------
For baseline rate p_c, treated rate p_t = p_c + δ (δ > 0), group sizes n_t and n_c, a two-sided
test at level α (pooled variance under H0, unpooled under H1; the far tail is ignored):

    power = Φ( (δ − z_{1−α/2}·sqrt(p̄(1−p̄)(1/n_t + 1/n_c))) / sqrt(p_t(1−p_t)/n_t + p_c(1−p_c)/n_c) )

with p̄ = (n_t·p_t + n_c·p_c) / (n_t + n_c) (Fleiss' normal approximation). The **minimum
detectable effect** is the δ at which power reaches the target (0.8), solved by root finding; it
is close to (z_{1−α/2} + z_{power})·sqrt(p_c(1−p_c)(1/n_t + 1/n_c)) but exact under the model
above. ``control_size_needed`` is the smallest control group that reaches the target power for a
given relative uplift with the treatment group fixed; ``control_share_needed`` the smallest
control share of a fixed audience (at most 0.5, the campaign limit).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Final, Literal

import numpy as np
import numpy.typing as npt
from scipy import optimize, stats

CONFIDENCE = 0.95
ALPHA = 0.05
POWER = 0.8
# 2,000 resamples: the Monte-Carlo error of a 2.5% percentile is then ~0.35 percentage points
# of coverage, well below the interval's own uncertainty; more cost time for nothing.
RESAMPLES = 2_000
DRAWS_PER_CHUNK = 1_000_000
SEED = 20_240_601  # fixed: the same data always give the same bootstrap interval
MAX_CONTROL_SHARE = 0.5  # Campaign.control_share's upper bound

MeanMethod = Literal["welch", "bootstrap"]
FloatArray = npt.NDArray[np.float64]

NEWCOMBE: Final = "newcombe-wilson"
WELCH: Final = "welch"
BOOTSTRAP: Final = "bootstrap"


@dataclass(frozen=True)
class Comparison:
    """Treatment versus control on one metric.

    treatment, control: the rate (0–1) or the mean per recipient of each group.
    difference: treatment − control, with [ci_low, ci_high] at ``confidence``.
    relative: treatment / control − 1 (None when control is 0), with its interval (None when it
    cannot be estimated). p_value: two-sided test of "no difference" (None when undefined).
    method: NEWCOMBE, WELCH or BOOTSTRAP. n_treatment, n_control: group sizes.
    """

    treatment: float
    control: float
    difference: float
    ci_low: float
    ci_high: float
    relative: float | None
    relative_ci_low: float | None
    relative_ci_high: float | None
    p_value: float | None
    method: str
    confidence: float
    n_treatment: int
    n_control: int

    @property
    def significant(self) -> bool:
        """The interval on the difference excludes 0."""
        return self.ci_low > 0 or self.ci_high < 0

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "significant": self.significant}


# -- proportions ----------------------------------------------------------------------------------


def _z(confidence: float) -> float:
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    return float(stats.norm.ppf(0.5 + confidence / 2))


def _check_counts(successes: int, n: int, name: str) -> None:
    if n < 1:
        raise ValueError(f"{name}: need at least one recipient, got n={n}")
    if not 0 <= successes <= n:
        raise ValueError(f"{name}: successes must be in [0, n], got {successes} of {n}")


def wilson_interval(
    successes: int, n: int, *, confidence: float = CONFIDENCE
) -> tuple[float, float]:
    """Wilson score interval of a proportion successes / n:
    (p̂ + z²/2n ± z·sqrt(p̂(1−p̂)/n + z²/4n²)) / (1 + z²/n)."""
    _check_counts(successes, n, "wilson_interval")
    z = _z(confidence)
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z / denominator * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    # Exact ends at 0 and n (the formula gets there only up to rounding).
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == n else min(1.0, centre + half)
    return low, high


def compare_proportions(
    successes_treatment: int,
    n_treatment: int,
    successes_control: int,
    n_control: int,
    *,
    confidence: float = CONFIDENCE,
) -> Comparison:
    """Rates successes / n of the two groups: Newcombe hybrid score interval on the difference,
    Katz log interval on the relative uplift, pooled z-test p-value (module docstring)."""
    x_t, n_t, x_c, n_c = successes_treatment, n_treatment, successes_control, n_control
    _check_counts(x_t, n_t, "treatment")
    _check_counts(x_c, n_c, "control")
    z = _z(confidence)
    p_t, p_c = x_t / n_t, x_c / n_c
    low_t, high_t = wilson_interval(x_t, n_t, confidence=confidence)
    low_c, high_c = wilson_interval(x_c, n_c, confidence=confidence)
    difference = p_t - p_c
    ci_low = difference - math.sqrt((p_t - low_t) ** 2 + (high_c - p_c) ** 2)
    ci_high = difference + math.sqrt((high_t - p_t) ** 2 + (p_c - low_c) ** 2)

    relative = relative_low = relative_high = None
    if x_c > 0:
        relative = p_t / p_c - 1
        a, b, c, d = float(x_t), float(n_t), float(x_c), float(n_c)
        if x_t == 0 or x_t == n_t or x_c == n_c:
            a, b, c, d = a + 0.5, b + 1.0, c + 0.5, d + 1.0  # Haldane–Anscombe
        log_rr = math.log((a / b) / (c / d))
        se = math.sqrt(1 / a - 1 / b + 1 / c - 1 / d)
        relative_low = math.exp(log_rr - z * se) - 1
        relative_high = math.exp(log_rr + z * se) - 1

    pooled = (x_t + x_c) / (n_t + n_c)
    se0 = math.sqrt(pooled * (1 - pooled) * (1 / n_t + 1 / n_c))
    p_value = 1.0 if se0 == 0 else float(2 * stats.norm.sf(abs(difference) / se0))
    return Comparison(
        treatment=p_t,
        control=p_c,
        difference=difference,
        ci_low=ci_low,
        ci_high=ci_high,
        relative=relative,
        relative_ci_low=relative_low,
        relative_ci_high=relative_high,
        p_value=p_value,
        method=NEWCOMBE,
        confidence=confidence,
        n_treatment=n_t,
        n_control=n_c,
    )


# -- means ----------------------------------------------------------------------------------------


def _values(values: Sequence[float] | npt.ArrayLike, name: str) -> FloatArray:
    array = np.asarray(values, dtype=np.float64).ravel()
    if len(array) < 2:
        raise ValueError(f"{name}: need at least two recipients, got {len(array)}")
    if not np.isfinite(array).all():
        raise ValueError(f"{name}: values must be finite")
    return array


def compare_means(
    treatment: Sequence[float] | npt.ArrayLike,
    control: Sequence[float] | npt.ArrayLike,
    *,
    method: MeanMethod = WELCH,
    confidence: float = CONFIDENCE,
    resamples: int = RESAMPLES,
    seed: int = SEED,
) -> Comparison:
    """Mean per recipient of each group (one value per recipient, zeros included): Welch t
    interval or percentile bootstrap on the difference and the relative uplift."""
    t = _values(treatment, "treatment")
    c = _values(control, "control")
    if method == WELCH:
        return _welch(t, c, confidence)
    if method == BOOTSTRAP:
        return _bootstrap(t, c, confidence, resamples, seed)
    raise ValueError(f"unknown method {method!r}: use {WELCH!r} or {BOOTSTRAP!r}")


def _welch(t: FloatArray, c: FloatArray, confidence: float) -> Comparison:
    n_t, n_c = len(t), len(c)
    m_t, m_c = float(t.mean()), float(c.mean())
    v_t, v_c = float(t.var(ddof=1)) / n_t, float(c.var(ddof=1)) / n_c
    difference = m_t - m_c
    se = math.sqrt(v_t + v_c)
    if se == 0:
        ci_low = ci_high = difference
        p_value = 1.0 if difference == 0 else 0.0
    else:
        df = (v_t + v_c) ** 2 / (v_t**2 / (n_t - 1) + v_c**2 / (n_c - 1))
        q = float(stats.t.ppf(0.5 + confidence / 2, df))
        ci_low, ci_high = difference - q * se, difference + q * se
        p_value = float(2 * stats.t.sf(abs(difference) / se, df))

    relative = relative_low = relative_high = None
    if m_c > 0:
        relative = m_t / m_c - 1
        if m_t > 0:
            z = _z(confidence)
            se_log = math.sqrt(v_t / m_t**2 + v_c / m_c**2)
            log_ratio = math.log(m_t / m_c)
            relative_low = math.exp(log_ratio - z * se_log) - 1
            relative_high = math.exp(log_ratio + z * se_log) - 1
    return Comparison(
        treatment=m_t,
        control=m_c,
        difference=difference,
        ci_low=ci_low,
        ci_high=ci_high,
        relative=relative,
        relative_ci_low=relative_low,
        relative_ci_high=relative_high,
        p_value=p_value,
        method=WELCH,
        confidence=confidence,
        n_treatment=n_t,
        n_control=n_c,
    )


def bootstrap_means(values: FloatArray, *, resamples: int, rng: np.random.Generator) -> FloatArray:
    """Means of ``resamples`` bootstrap resamples (n draws with replacement) of ``values``.

    Exact, and cheap when most values are 0: the non-zero draws of a resample number
    Binomial(n, k/n) for k non-zero values, and are uniform over them. Returns (resamples,)."""
    if resamples < 1:
        raise ValueError(f"resamples must be >= 1, got {resamples}")
    n = len(values)
    nonzero = values[values != 0]
    k = len(nonzero)
    if k == 0:
        return np.zeros(resamples, dtype=np.float64)
    draws = rng.binomial(n, k / n, size=resamples)
    totals = np.empty(resamples, dtype=np.float64)
    # Resamples in chunks of about DRAWS_PER_CHUNK draws, so memory stays bounded (~16 MB).
    per_chunk = max(1, DRAWS_PER_CHUNK // max(k, 1))
    for start in range(0, resamples, per_chunk):
        counts = draws[start : start + per_chunk]
        picks = nonzero[rng.integers(0, k, size=int(counts.sum()))]
        owner = np.repeat(np.arange(len(counts)), counts)
        totals[start : start + len(counts)] = np.bincount(
            owner, weights=picks, minlength=len(counts)
        )
    return totals / n


def _bootstrap(
    t: FloatArray, c: FloatArray, confidence: float, resamples: int, seed: int
) -> Comparison:
    rng = np.random.default_rng(seed)
    means_t = bootstrap_means(t, resamples=resamples, rng=rng)
    means_c = bootstrap_means(c, resamples=resamples, rng=rng)
    tail = (1 - confidence) / 2
    differences = means_t - means_c
    ci_low, ci_high = (float(q) for q in np.quantile(differences, [tail, 1 - tail]))
    below, above = float(np.mean(differences <= 0)), float(np.mean(differences >= 0))
    p_value = min(1.0, 2 * min(below, above))
    m_t, m_c = float(t.mean()), float(c.mean())

    relative = relative_low = relative_high = None
    if m_c > 0:
        relative = m_t / m_c - 1
        positive = means_c > 0
        # Resamples whose control mean is 0 have no ratio; with rare buyers they are few, and
        # when they are not (under 95% usable) the interval is not estimable.
        if positive.mean() >= confidence:
            ratios = means_t[positive] / means_c[positive] - 1
            relative_low, relative_high = (float(q) for q in np.quantile(ratios, [tail, 1 - tail]))
    return Comparison(
        treatment=m_t,
        control=m_c,
        difference=m_t - m_c,
        ci_low=ci_low,
        ci_high=ci_high,
        relative=relative,
        relative_ci_low=relative_low,
        relative_ci_high=relative_high,
        p_value=p_value,
        method=BOOTSTRAP,
        confidence=confidence,
        n_treatment=len(t),
        n_control=len(c),
    )


# -- power ----------------------------------------------------------------------------------------


def _check_rate(rate: float, name: str) -> None:
    if not 0 < rate < 1:
        raise ValueError(f"{name} must be in (0, 1), got {rate}")


def power_two_proportions(
    control_rate: float,
    treatment_rate: float,
    n_treatment: float,
    n_control: float,
    *,
    alpha: float = ALPHA,
) -> float:
    """Probability that the two-sided pooled z-test at level ``alpha`` detects treatment_rate >
    control_rate with these group sizes (module docstring; sizes may be fractional)."""
    _check_rate(control_rate, "control_rate")
    if not 0 <= treatment_rate <= 1:
        raise ValueError(f"treatment_rate must be in [0, 1], got {treatment_rate}")
    if n_treatment <= 0 or n_control <= 0:
        return 0.0
    p_t, p_c = treatment_rate, control_rate
    pooled = (n_treatment * p_t + n_control * p_c) / (n_treatment + n_control)
    se0 = math.sqrt(pooled * (1 - pooled) * (1 / n_treatment + 1 / n_control))
    se1 = math.sqrt(p_t * (1 - p_t) / n_treatment + p_c * (1 - p_c) / n_control)
    z = float(stats.norm.ppf(1 - alpha / 2))
    if se1 == 0:
        return 1.0 if abs(p_t - p_c) > z * se0 else 0.0
    return float(stats.norm.cdf((abs(p_t - p_c) - z * se0) / se1))


@dataclass(frozen=True)
class DetectableEffect:
    """Smallest rise of the conversion rate detectable with the target power.
    absolute: in rate points (0.02 = +2 percentage points); relative: absolute / baseline."""

    absolute: float
    relative: float


def minimum_detectable_effect(
    n_treatment: int,
    n_control: int,
    baseline_rate: float,
    *,
    alpha: float = ALPHA,
    power: float = POWER,
) -> DetectableEffect | None:
    """The smallest δ with power(baseline, baseline + δ) ≥ ``power``; None when the groups are
    empty or even a rate of 1 would not be detected."""
    _check_rate(baseline_rate, "baseline_rate")
    if not 0 < power < 1:
        raise ValueError(f"power must be in (0, 1), got {power}")
    if n_treatment < 1 or n_control < 1:
        return None

    def shortfall(delta: float) -> float:
        rate = baseline_rate + delta
        return (
            power_two_proportions(baseline_rate, rate, n_treatment, n_control, alpha=alpha) - power
        )

    top = 1 - baseline_rate
    if shortfall(top) < 0:
        return None
    # power rises with δ on (0, 1 − p]: a single root.
    delta = float(optimize.brentq(shortfall, 1e-12, top, xtol=1e-10))
    return DetectableEffect(absolute=delta, relative=delta / baseline_rate)


def control_size_needed(
    n_treatment: int,
    baseline_rate: float,
    relative_uplift: float,
    *,
    alpha: float = ALPHA,
    power: float = POWER,
) -> int | None:
    """The smallest control group that detects a rise of ``relative_uplift`` (0.1 = +10%) over
    ``baseline_rate`` with the treatment group fixed at ``n_treatment``; None when no control
    size is enough (the treatment group alone is too small)."""
    _check_rate(baseline_rate, "baseline_rate")
    treated = _treated_rate(baseline_rate, relative_uplift)
    if n_treatment < 1:
        return None

    def reaches(n_control: float) -> float:
        return power_two_proportions(baseline_rate, treated, n_treatment, n_control, alpha=alpha)

    # Power rises with the control size towards its limit as n_control → ∞.
    ceiling = 1e12
    if reaches(ceiling) < power:
        return None
    size = float(optimize.brentq(lambda n: reaches(n) - power, 1e-6, ceiling, xtol=1e-6))
    needed = max(1, math.ceil(size - 1e-9))
    while reaches(needed) < power:  # guard against the root finder's tolerance
        needed += 1
    return needed


def control_share_needed(
    audience: int,
    baseline_rate: float,
    relative_uplift: float,
    *,
    alpha: float = ALPHA,
    power: float = POWER,
    max_share: float = MAX_CONTROL_SHARE,
) -> float | None:
    """The smallest control share of an ``audience`` of fixed size (the rest treated) that
    detects ``relative_uplift``; None when even ``max_share`` is not enough. Power rises with the
    control share up to an even split, so the search is a bisection over control sizes."""
    _check_rate(baseline_rate, "baseline_rate")
    treated = _treated_rate(baseline_rate, relative_uplift)
    largest = math.floor(audience * max_share)
    if largest < 1:
        return None

    def enough(n_control: int) -> bool:
        got = power_two_proportions(
            baseline_rate, treated, audience - n_control, n_control, alpha=alpha
        )
        return got >= power

    if not enough(largest):
        return None
    low, high = 0, largest  # enough(high) holds; enough(low) does not (no control at all)
    while high - low > 1:
        middle = (low + high) // 2
        if enough(middle):
            high = middle
        else:
            low = middle
    return high / audience


def _treated_rate(baseline_rate: float, relative_uplift: float) -> float:
    if relative_uplift <= 0:
        raise ValueError(f"relative_uplift must be > 0, got {relative_uplift}")
    treated = baseline_rate * (1 + relative_uplift)
    if treated >= 1:
        raise ValueError(
            f"a {relative_uplift:.0%} uplift on a {baseline_rate:.1%} baseline exceeds 100%"
        )
    return treated


@dataclass(frozen=True)
class ControlPower:
    """Whether a campaign's split can detect the uplift it hopes for (the builder's preview).

    n_treatment, n_control: group sizes; baseline_rate: expected control conversion rate over
    the attribution window (0–1); alpha, power: test level and target power.
    mde: the smallest detectable rise (None: a group is empty). target_uplift: the relative
    uplift staff hope to detect (0.1 = +10%); power_at_target: the chance of detecting it with
    this split; control_needed: the control size that would reach ``power`` with this treatment
    group (None: unreachable); control_share_needed: the smallest share of the same audience
    (≤ 0.5) that would (None: unreachable)."""

    n_treatment: int
    n_control: int
    baseline_rate: float
    alpha: float
    power: float
    mde: DetectableEffect | None
    target_uplift: float
    power_at_target: float
    control_needed: int | None
    control_share_needed: float | None

    @property
    def large_enough(self) -> bool:
        return self.power_at_target >= self.power

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "large_enough": self.large_enough}


def control_power(
    *,
    n_treatment: int,
    n_control: int,
    baseline_rate: float,
    target_uplift: float = 0.1,
    alpha: float = ALPHA,
    power: float = POWER,
) -> ControlPower:
    """Everything the preview says about the control group, for a split of n_treatment +
    n_control recipients whose control group is expected to convert at ``baseline_rate``.
    A baseline of 0 or 1 (no data, or everyone buys) is clipped to [0.001, 0.999] so the
    figures stay defined; callers should say the baseline is a guess then. A target that would
    take the rate to 100% or more has power 0 and no split that reaches it."""
    rate = min(max(baseline_rate, 0.001), 0.999)
    if target_uplift <= 0:
        raise ValueError(f"target_uplift must be > 0, got {target_uplift}")
    mde = minimum_detectable_effect(n_treatment, n_control, rate, alpha=alpha, power=power)
    audience = n_treatment + n_control
    if rate * (1 + target_uplift) >= 1:
        # The hoped-for rate would exceed 100%: nothing to detect, no split is enough.
        return ControlPower(
            n_treatment, n_control, rate, alpha, power, mde, target_uplift, 0.0, None, None
        )
    treated = rate * (1 + target_uplift)
    return ControlPower(
        n_treatment=n_treatment,
        n_control=n_control,
        baseline_rate=rate,
        alpha=alpha,
        power=power,
        mde=mde,
        target_uplift=target_uplift,
        power_at_target=power_two_proportions(rate, treated, n_treatment, n_control, alpha=alpha),
        control_needed=control_size_needed(
            n_treatment, rate, target_uplift, alpha=alpha, power=power
        ),
        control_share_needed=control_share_needed(
            audience, rate, target_uplift, alpha=alpha, power=power
        )
        if audience >= 2
        else None,
    )
