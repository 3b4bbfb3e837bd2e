"""Is a difference real? Paired tests over users, bootstrap intervals, and intervals over seeds.

Pure NumPy and SciPy on plain vectors; :func:`handson.evaluation.paired_test` and
:func:`handson.evaluation.compare` apply them to evaluation results.

- Two models evaluated on the same users give two paired vectors ``a`` and ``b`` (one value
  per user): :func:`paired_p_value` runs the Wilcoxon signed-rank test or the paired t-test on
  them, :func:`bootstrap_mean_ci` gives a percentile bootstrap interval for the mean of
  ``a - b`` (resampling users).
- Several runs of one model (different split and model seeds) give one value per seed:
  :func:`seed_interval` gives mean, standard deviation and a Student-t interval.

References: Efron & Tibshirani, *An Introduction to the Bootstrap* (1993); Sakai, "Statistical
significance, power, and sample sizes" (SIGIR 2014 tutorial); Dror et al., "The Hitchhiker's
guide to testing statistical significance in NLP" (ACL 2018).
"""
from __future__ import annotations

import numpy as np
from scipy import stats

__all__ = ["paired_p_value", "bootstrap_mean_ci", "seed_interval", "TESTS"]

#: the paired tests :func:`paired_p_value` knows
TESTS: tuple[str, ...] = ("wilcoxon", "ttest")


def _check_confidence(confidence: float) -> float:
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie in (0, 1), e.g. 0.95; got {confidence}.")
    return float(confidence)


def paired_p_value(a: np.ndarray, b: np.ndarray, test: str = "wilcoxon") -> float:
    """Two-sided p-value of a paired test of ``a`` against ``b`` (``(n,)`` each, same users, same order).

    ``test="wilcoxon"``: ``scipy.stats.wilcoxon(a, b)`` (signed ranks of the non-zero
    differences, no normality assumption; the usual choice for per-user metrics, which are
    skewed and often 0). ``test="ttest"``: ``scipy.stats.ttest_rel(a, b)``. When every
    difference is zero there is no evidence of a difference and the p-value is 1.
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"a and b must be 1-D and of the same length, got {a.shape} and {b.shape}.")
    if test not in TESTS:
        raise ValueError(f"test must be one of {TESTS}, got {test!r}.")
    if len(a) < 2:
        raise ValueError(f"A paired test needs at least 2 users, got {len(a)}.")
    if np.all(a == b):
        return 1.0
    result = stats.wilcoxon(a, b) if test == "wilcoxon" else stats.ttest_rel(a, b)
    return float(result.pvalue)


def bootstrap_mean_ci(diff: np.ndarray, n_boot: int = 2000, confidence: float = 0.95,
                      seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval ``(low, high)`` for the mean of ``diff`` ``(n,)``.

    ``n_boot`` resamples of ``n`` values drawn with replacement (seeded, so the interval is
    reproducible); the interval holds the central ``confidence`` share of their means.
    Resamples are drawn in blocks, vectorized, so memory stays bounded for many users.
    """
    diff = np.asarray(diff, dtype=np.float64)
    confidence = _check_confidence(confidence)
    if diff.ndim != 1 or len(diff) == 0:
        raise ValueError(f"diff must be a non-empty 1-D array, got shape {diff.shape}.")
    if int(n_boot) < 1:
        raise ValueError(f"n_boot must be positive, got {n_boot}.")
    rng = np.random.default_rng(seed)
    n, means = len(diff), np.empty(int(n_boot))
    block = max(1, 2_000_000 // n)
    for s in range(0, int(n_boot), block):
        m = min(block, int(n_boot) - s)
        means[s:s + m] = diff[rng.integers(0, n, size=(m, n))].mean(axis=1)
    alpha = (1 - confidence) / 2
    low, high = np.quantile(means, [alpha, 1 - alpha])
    return float(low), float(high)


def seed_interval(values: np.ndarray, confidence: float = 0.95) -> dict[str, float]:
    """``{"mean", "std", "low", "high"}`` of one metric over seeds (``(n_seeds,)``).

    ``std`` is the sample standard deviation (``ddof=1``); the interval is Student's t,
    ``mean -/+ t_{(1 + confidence) / 2, n - 1} * std / sqrt(n)``. With one seed ``std``,
    ``low`` and ``high`` are NaN: one run says nothing about the spread.
    """
    v = np.asarray(values, dtype=np.float64)
    confidence = _check_confidence(confidence)
    if v.ndim != 1 or len(v) == 0:
        raise ValueError(f"values must be a non-empty 1-D array, got shape {v.shape}.")
    mean = float(v.mean())
    if len(v) < 2:
        return {"mean": mean, "std": float("nan"), "low": float("nan"), "high": float("nan")}
    std = float(v.std(ddof=1))
    half = float(stats.t.ppf((1 + confidence) / 2, len(v) - 1)) * std / np.sqrt(len(v))
    return {"mean": mean, "std": std, "low": mean - half, "high": mean + half}
