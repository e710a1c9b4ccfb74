"""Treatment-versus-control statistics on hand-computed examples (no database).

z = Φ⁻¹(0.975) = 1.959964, z² = 3.841459 throughout."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as scipy_stats

from campaigns.engine.stats import (
    BOOTSTRAP,
    NEWCOMBE,
    WELCH,
    bootstrap_means,
    compare_means,
    compare_proportions,
    control_power,
    control_share_needed,
    control_size_needed,
    minimum_detectable_effect,
    power_two_proportions,
    wilson_interval,
)

# -- proportions -----------------------------------------------------------------------------------


def test_wilson_interval_by_hand():
    # 56 of 70: p̂ = 0.8; denominator 1 + z²/70 = 1.054878;
    # centre = (0.8 + z²/140) / 1.054878 = 0.827439 / 1.054878 = 0.784393;
    # half = (z / 1.054878) · sqrt(0.8·0.2/70 + z²/(4·70²)) = 1.858000 · 0.0498168 = 0.092560
    low, high = wilson_interval(56, 70)
    assert low == pytest.approx(0.691834, abs=2e-6)
    assert high == pytest.approx(0.876953, abs=2e-6)


def test_wilson_interval_of_zero_successes_starts_at_zero():
    # 0 of 100: centre = half = (z²/200) / (1 + z²/100) → [0, z² / (100 + z²)] = [0, 0.036994]
    low, high = wilson_interval(0, 100)
    assert low == 0.0
    assert high == pytest.approx(3.841459 / 103.841459, abs=1e-6)


def test_compare_proportions_matches_newcombes_worked_example():
    # Newcombe (1998), Statistics in Medicine 17:873, example (a): 56/70 versus 48/80.
    # Wilson: treatment [0.691834, 0.876953] (above), control 48/80 → [0.490455, 0.700382].
    # d = 0.8 − 0.6 = 0.2
    # lower = 0.2 − sqrt((0.8 − 0.691834)² + (0.700382 − 0.6)²) = 0.2 − sqrt(0.021777) = 0.052431
    # upper = 0.2 + sqrt((0.876953 − 0.8)² + (0.6 − 0.490455)²) = 0.2 + sqrt(0.017922) = 0.333873
    # (the paper's method 10: 0.0524 to 0.3339)
    result = compare_proportions(56, 70, 48, 80)
    assert result.method == NEWCOMBE
    assert (result.treatment, result.control) == (pytest.approx(0.8), pytest.approx(0.6))
    assert result.difference == pytest.approx(0.2)
    assert result.ci_low == pytest.approx(0.052431, abs=2e-6)
    assert result.ci_high == pytest.approx(0.333873, abs=2e-6)
    # Relative: RR = 0.8 / 0.6 = 1.333333, log RR = 0.287682;
    # se = sqrt(1/56 − 1/70 + 1/48 − 1/80) = sqrt(0.011905) = 0.109109; z·se = 0.213850
    # → exp(0.073832) − 1 = 0.076626, exp(0.501532) − 1 = 0.651248
    assert result.relative == pytest.approx(1 / 3)
    assert result.relative_ci_low == pytest.approx(0.076626, abs=2e-6)
    assert result.relative_ci_high == pytest.approx(0.651248, abs=2e-6)
    # Pooled z-test: p̄ = 104/150 = 0.693333; se0 = sqrt(p̄(1 − p̄)(1/70 + 1/80)) = 0.0754666;
    # z = 0.2 / 0.0754666 = 2.65017 → p = 2·(1 − Φ(2.65017)) = 0.008045
    assert result.p_value == pytest.approx(0.008045, abs=1e-6)
    assert result.significant


def test_compare_proportions_second_newcombe_example():
    # Newcombe (1998) example (b): 9/10 versus 3/10 → method 10 gives 0.1705 to 0.8090.
    result = compare_proportions(9, 10, 3, 10)
    assert result.ci_low == pytest.approx(0.1705, abs=5e-5)
    assert result.ci_high == pytest.approx(0.8090, abs=5e-5)


def test_no_buyer_in_control_has_an_interval_but_no_relative_uplift():
    # Wald would give the control group a zero-width interval; Wilson gives [0, 0.036994].
    result = compare_proportions(5, 100, 0, 100)
    assert result.difference == pytest.approx(0.05)
    assert result.ci_low < 0.05 < result.ci_high
    assert result.relative is None and result.relative_ci_low is None


def test_no_buyer_in_treatment_uses_the_haldane_correction():
    # cells + 0.5: RR = (0.5/101) / (5.5/101) = 1/11; se = sqrt(1/0.5 − 1/101 + 1/5.5 − 1/101)
    # = sqrt(2.162001) = 1.470375 → exp(log(1/11) ± z·se) − 1
    result = compare_proportions(0, 100, 5, 100)
    assert result.relative == pytest.approx(-1.0)
    se = math.sqrt(1 / 0.5 - 1 / 101 + 1 / 5.5 - 1 / 101)
    assert result.relative_ci_low == pytest.approx(math.exp(math.log(1 / 11) - 1.959964 * se) - 1)
    assert result.relative_ci_high == pytest.approx(math.exp(math.log(1 / 11) + 1.959964 * se) - 1)


def test_identical_groups_are_not_significant():
    result = compare_proportions(10, 100, 10, 100)
    assert result.difference == 0.0
    assert result.ci_low < 0 < result.ci_high
    assert result.p_value == pytest.approx(1.0)
    assert not result.significant


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((1, 0, 1, 10), "at least one"),
        ((11, 10, 1, 10), "successes"),
        ((1, 10, -1, 10), "successes"),
    ],
)
def test_compare_proportions_rejects_impossible_counts(args, message):
    with pytest.raises(ValueError, match=message):
        compare_proportions(*args)


# -- means -----------------------------------------------------------------------------------------


def test_welch_interval_by_hand_and_against_scipy():
    # treatment 1..5: mean 3, s² = 2.5; control 1, 1, 2, 2: mean 1.5, s² = 1/3
    # se² = 2.5/5 + (1/3)/4 = 0.5 + 0.083333 = 0.583333, se = 0.763763
    # df = 0.583333² / (0.5²/4 + 0.083333²/3) = 0.340278 / 0.064815 = 5.25
    # t(0.975, 5.25) = 2.534197 → 1.5 ± 2.534197·0.763763 = 1.5 ± 1.935525 = [−0.435525, 3.435525]
    treatment, control = [1, 2, 3, 4, 5], [1, 1, 2, 2]
    result = compare_means(treatment, control, method=WELCH)
    q = scipy_stats.t.ppf(0.975, 5.25)
    assert result.difference == pytest.approx(1.5)
    assert (result.ci_low, result.ci_high) == (
        pytest.approx(-0.435525, abs=1e-6),
        pytest.approx(3.435525, abs=1e-6),
    )
    assert result.ci_low == pytest.approx(1.5 - q * math.sqrt(7 / 12), rel=1e-9)
    assert result.ci_high == pytest.approx(1.5 + q * math.sqrt(7 / 12), rel=1e-9)
    reference = scipy_stats.ttest_ind(treatment, control, equal_var=False)
    interval = reference.confidence_interval(0.95)
    assert (result.ci_low, result.ci_high) == (
        pytest.approx(interval.low),
        pytest.approx(interval.high),
    )
    assert result.p_value == pytest.approx(reference.pvalue)
    # Relative: 3/1.5 − 1 = 1; Var(log ratio) = 0.5/3² + 0.083333/1.5² = 0.055556 + 0.037037
    # = 0.092593 → exp(log 2 ± z·0.304290) − 1 = [0.101584, 2.631135]
    assert result.relative == pytest.approx(1.0)
    assert result.relative_ci_low == pytest.approx(0.101584, abs=2e-6)
    assert result.relative_ci_high == pytest.approx(2.631135, abs=2e-6)


def test_welch_with_no_variance_is_a_point():
    result = compare_means([0, 0, 0], [0, 0], method=WELCH)
    assert (result.difference, result.ci_low, result.ci_high, result.p_value) == (0, 0, 0, 1.0)
    assert result.relative is None


def test_bootstrap_of_constant_groups_is_exact():
    # Every resample of [2, 2, 2, 2] has mean 2 and of [1, 1, 1] mean 1: difference exactly 1.
    result = compare_means([2, 2, 2, 2], [1, 1, 1], method=BOOTSTRAP)
    assert (result.difference, result.ci_low, result.ci_high) == (1.0, 1.0, 1.0)
    assert result.relative == result.relative_ci_low == result.relative_ci_high == 1.0
    assert result.p_value == 0.0


def test_sparse_bootstrap_has_the_plain_bootstraps_distribution():
    # 10 values, 3 non-zero: the means of 200,000 resamples drawn the sparse way and the plain way
    # (n indices with replacement) agree in mean (1.6 = the sample mean) and spread
    # (sd = sqrt(population variance / n) = sqrt(10.04 / 10) = 1.002).
    values = np.array([0, 0, 0, 5.0, 10, 0, 0, 1, 0, 0])
    rng = np.random.default_rng(0)
    sparse = bootstrap_means(values, resamples=200_000, rng=rng)
    plain = values[rng.integers(0, 10, size=(200_000, 10))].mean(axis=1)
    assert sparse.mean() == pytest.approx(1.6, abs=0.01)
    assert plain.mean() == pytest.approx(1.6, abs=0.01)
    assert sparse.std() == pytest.approx(math.sqrt(10.04 / 10), abs=0.01)
    assert plain.std() == pytest.approx(math.sqrt(10.04 / 10), abs=0.01)


def test_bootstrap_is_reproducible_and_close_to_welch_on_large_groups():
    rng = np.random.default_rng(7)
    # zero-inflated revenue: 10% buy, lognormal spend
    treatment = np.where(rng.random(20_000) < 0.12, rng.lognormal(3, 1, 20_000), 0.0)
    control = np.where(rng.random(5_000) < 0.10, rng.lognormal(3, 1, 5_000), 0.0)
    first = compare_means(treatment, control, method=BOOTSTRAP)
    again = compare_means(treatment, control, method=BOOTSTRAP)
    welch = compare_means(treatment, control, method=WELCH)
    assert first == again
    assert first.difference == pytest.approx(welch.difference)
    width = welch.ci_high - welch.ci_low
    assert first.ci_low == pytest.approx(welch.ci_low, abs=0.1 * width)
    assert first.ci_high == pytest.approx(welch.ci_high, abs=0.1 * width)


def test_compare_means_needs_two_values_per_group():
    with pytest.raises(ValueError, match="at least two"):
        compare_means([1.0], [1.0, 2.0])
    with pytest.raises(ValueError, match="unknown method"):
        compare_means([1.0, 2.0], [1.0, 2.0], method="median")  # type: ignore[arg-type]


# -- power -----------------------------------------------------------------------------------------


def test_power_by_hand():
    # p_c = 0.10, p_t = 0.13, 2,000 each: p̄ = 0.115;
    # se0 = sqrt(0.115·0.885·(2/2000)) = 0.0100884;
    # se1 = sqrt((0.13·0.87 + 0.1·0.9)/2000) = 0.0100772
    # z = (0.03 − 1.959964·0.0100884) / 0.0100772 = 1.014877 → Φ = 0.84492
    assert power_two_proportions(0.10, 0.13, 2000, 2000) == pytest.approx(0.84492, abs=1e-5)


def test_minimum_detectable_effect_reaches_the_target_power():
    # 1,000 + 1,000 at a 10% baseline. The equal-variance shortcut
    # (1.959964 + 0.841621)·sqrt(0.1·0.9·(2/1000)) = 2.801585 · 0.0134164 = 0.037588 understates
    # it: the treated rate's variance p_t(1 − p_t) is larger. The exact root is 0.040745.
    mde = minimum_detectable_effect(1000, 1000, 0.10)
    assert mde is not None
    assert mde.absolute == pytest.approx(0.040745, abs=1e-6)
    assert mde.relative == pytest.approx(mde.absolute / 0.10)
    assert power_two_proportions(0.10, 0.10 + mde.absolute, 1000, 1000) == pytest.approx(0.8)
    assert 0.037588 < mde.absolute < 1.1 * 0.037588


def test_minimum_detectable_effect_shrinks_with_the_control_group():
    small = minimum_detectable_effect(9000, 1000, 0.05)
    large = minimum_detectable_effect(5000, 5000, 0.05)
    assert small is not None and large is not None
    assert large.absolute < small.absolute
    assert minimum_detectable_effect(1000, 0, 0.05) is None


def test_control_size_needed_is_the_smallest_that_reaches_the_power():
    needed = control_size_needed(2000, 0.10, 0.30)
    assert needed == 1608
    assert power_two_proportions(0.10, 0.13, 2000, 1608) >= 0.8
    assert power_two_proportions(0.10, 0.13, 2000, 1607) < 0.8
    # 100 treated can never show +10% on 10%, however large the control group
    assert control_size_needed(100, 0.10, 0.10) is None


def test_control_share_needed_for_a_fixed_audience():
    share = control_share_needed(4000, 0.10, 0.30)
    assert share == pytest.approx(1366 / 4000)
    assert power_two_proportions(0.10, 0.13, 4000 - 1366, 1366) >= 0.8
    assert power_two_proportions(0.10, 0.13, 4000 - 1365, 1365) < 0.8
    assert control_share_needed(400, 0.10, 0.30) is None  # even 50/50 is too small


def test_control_power_for_the_preview():
    power = control_power(n_treatment=3600, n_control=400, baseline_rate=0.10, target_uplift=0.30)
    assert not power.large_enough
    assert power.power_at_target == pytest.approx(power_two_proportions(0.10, 0.13, 3600, 400))
    assert power.mde is not None and power.mde.relative > 0.30
    assert power.control_needed == control_size_needed(3600, 0.10, 0.30)
    assert power.control_share_needed == pytest.approx(0.3415)
    assert power.to_dict()["large_enough"] is False
    balanced = control_power(
        n_treatment=2000, n_control=2000, baseline_rate=0.10, target_uplift=0.3
    )
    assert balanced.large_enough
    # no data yet: a 0 baseline is clipped so the figures stay defined
    assert control_power(n_treatment=10, n_control=10, baseline_rate=0.0).baseline_rate == 0.001
    # everyone buys already: +10% is impossible, not an error
    saturated = control_power(n_treatment=500, n_control=500, baseline_rate=0.95)
    assert (saturated.power_at_target, saturated.control_needed) == (0.0, None)
    assert not saturated.large_enough and saturated.mde is not None
    # an empty audience (the preview before any segment is chosen)
    empty = control_power(n_treatment=0, n_control=0, baseline_rate=0.1)
    assert (empty.mde, empty.power_at_target, empty.control_needed) == (None, 0.0, None)
    assert empty.control_share_needed is None
