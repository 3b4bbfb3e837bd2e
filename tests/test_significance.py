"""handson.significance: p-values equal scipy's, the bootstrap covers the mean, t intervals."""
import numpy as np
import pytest
from scipy import stats

from handson import significance as S


@pytest.mark.parametrize("seed", [0, 1])
def test_p_values_equal_scipy(seed):
    rng = np.random.default_rng(seed)
    a = rng.random(200)
    b = np.clip(a + rng.normal(0.02, 0.1, 200), 0, 1)
    b[:30] = a[:30]                                             # zero differences, as with many 0 recalls
    assert S.paired_p_value(a, b, "wilcoxon") == pytest.approx(stats.wilcoxon(a, b).pvalue, rel=1e-12)
    assert S.paired_p_value(a, b, "ttest") == pytest.approx(stats.ttest_rel(a, b).pvalue, rel=1e-12)
    assert S.paired_p_value(a, a.copy(), "wilcoxon") == 1.0


def test_bootstrap_interval():
    rng = np.random.default_rng(0)
    diff = rng.normal(0.05, 0.2, 500)
    low, high = S.bootstrap_mean_ci(diff, n_boot=2000, seed=1)
    se = diff.std(ddof=1) / np.sqrt(len(diff))
    assert low < diff.mean() < high
    assert high - low == pytest.approx(2 * 1.96 * se, rel=0.1)        # the normal-theory width
    assert (low, high) == S.bootstrap_mean_ci(diff, n_boot=2000, seed=1)      # seeded
    # blocks: the same draws however they are grouped
    many = S.bootstrap_mean_ci(np.repeat(diff, 10), n_boot=600, seed=2)
    assert many[0] < diff.mean() < many[1]


def test_seed_interval():
    v = np.array([0.30, 0.32, 0.31, 0.35])
    out = S.seed_interval(v)
    half = stats.t.ppf(0.975, 3) * v.std(ddof=1) / 2
    assert out["mean"] == pytest.approx(v.mean()) and out["std"] == pytest.approx(v.std(ddof=1))
    assert (out["low"], out["high"]) == pytest.approx((v.mean() - half, v.mean() + half))
    one = S.seed_interval([0.3])
    assert one["mean"] == 0.3 and np.isnan(one["std"]) and np.isnan(one["low"])


def test_bad_input():
    with pytest.raises(ValueError, match="same length"):
        S.paired_p_value([1, 2], [1, 2, 3])
    with pytest.raises(ValueError, match="test must be"):
        S.paired_p_value([1, 2], [2, 1], test="sign")
    with pytest.raises(ValueError, match="at least 2"):
        S.paired_p_value([1], [2])
    with pytest.raises(ValueError, match="confidence"):
        S.bootstrap_mean_ci([1.0, 2.0], confidence=95)
    with pytest.raises(ValueError, match="n_boot"):
        S.bootstrap_mean_ci([1.0, 2.0], n_boot=0)
    with pytest.raises(ValueError, match="non-empty"):
        S.seed_interval([])
