"""handson.metrics: hand-computed toy cases, a slow independent implementation, bad input."""
import math

import numpy as np
import pytest
import scipy.sparse as sp

from handson import metrics as M

PER_USER = ["Precision", "Recall", "nDCG", "HR", "MRR", "MAP", "F1"]


def reference_metrics(ranked: list[int], relevant: set[int], k: int) -> dict[str, float]:
    """Slow, independent definitions: one user, plain Python lists and sets."""
    top = ranked[:k]
    n_hit = sum(1 for i in top if i in relevant)
    precision, recall = n_hit / k, n_hit / len(relevant)
    dcg = sum(1 / math.log2(r + 2) for r, i in enumerate(top) if i in relevant)
    idcg = sum(1 / math.log2(r + 2) for r in range(min(len(relevant), k)))
    first = next((r for r, i in enumerate(top) if i in relevant), None)
    ap, seen_hits = 0.0, 0
    for r, i in enumerate(top):
        if i in relevant:
            seen_hits += 1
            ap += seen_hits / (r + 1)
    return {
        "Precision": precision, "Recall": recall, "nDCG": dcg / idcg,
        "HR": float(n_hit > 0), "MRR": 0.0 if first is None else 1 / (first + 1),
        "MAP": ap / min(len(relevant), k),
        "F1": 0.0 if n_hit == 0 else 2 * precision * recall / (precision + recall),
    }


# three users ranked 5 items deep; True marks a relevant item at that rank (rank 1 first)
TOY_HITS = np.array([[1, 0, 1, 0, 0],     # user A: hits at ranks 1 and 3, 3 relevant items
                     [0, 0, 0, 0, 1],     # user B: hit at rank 5, 1 relevant item
                     [0, 0, 0, 0, 0]],    # user C: no hit, 2 relevant items
                    dtype=bool)
TOY_NREL = np.array([3, 1, 2])

# hand computations at k = 5 (A, B, C)
TOY_AT_5 = {
    # 2/5, 1/5, 0/5
    "Precision": [0.4, 0.2, 0.0],
    # 2/3, 1/1, 0/2
    "Recall": [2 / 3, 1.0, 0.0],
    # A: DCG = 1/log2(2) + 1/log2(4) = 1.5; IDCG (min(3, 5) = 3 items) = 1 + 1/log2(3) + 1/2
    #    = 2.1309298; nDCG = 1.5 / 2.1309298 = 0.7039180
    # B: DCG = 1/log2(6) = 0.3868528; IDCG = 1; C: 0
    "nDCG": [1.5 / (1 + 1 / math.log2(3) + 0.5), 1 / math.log2(6), 0.0],
    "HR": [1.0, 1.0, 0.0],
    # first hit at rank 1 -> 1; rank 5 -> 1/5; none -> 0
    "MRR": [1.0, 0.2, 0.0],
    # A: (P@1 + P@3) / min(3, 5) = (1 + 2/3) / 3 = 5/9; B: P@5 / 1 = 1/5; C: 0
    "MAP": [5 / 9, 0.2, 0.0],
    # A: 2 * 0.4 * 2/3 / (0.4 + 2/3) = 0.5; B: 2 * 0.2 * 1 / 1.2 = 1/3; C: 0
    "F1": [0.5, 1 / 3, 0.0],
}
# hand computations at k = 2: A sees [hit, miss], B and C nothing
TOY_AT_2 = {
    "Precision": [0.5, 0.0, 0.0],                  # 1/2
    "Recall": [1 / 3, 0.0, 0.0],                   # 1/3
    "nDCG": [1 / (1 + 1 / math.log2(3)), 0, 0],    # DCG 1; IDCG over min(3, 2) = 2 ranks
    "HR": [1.0, 0.0, 0.0],
    "MRR": [1.0, 0.0, 0.0],
    "MAP": [0.5, 0.0, 0.0],                        # P@1 / min(3, 2) = 1/2
    "F1": [0.4, 0.0, 0.0],                         # 2 * 1/2 * 1/3 / (1/2 + 1/3)
}


@pytest.mark.parametrize("name", PER_USER)
def test_toy_values_by_hand(name):
    fn = M.METRICS[name]
    np.testing.assert_allclose(fn(TOY_HITS, TOY_NREL, 5), TOY_AT_5[name], rtol=1e-12)
    np.testing.assert_allclose(fn(TOY_HITS, TOY_NREL, 2), TOY_AT_2[name], rtol=1e-12)


def test_named_functions_match_registry():
    assert M.METRICS["Recall"] is M.recall_at_k and M.METRICS["nDCG"] is M.ndcg_at_k
    assert M.METRICS["HR"] is M.hit_rate_at_k and M.METRICS["MAP"] is M.map_at_k


def test_ndcg_is_one_for_a_perfect_ranking():
    # 3 relevant items ranked first, k = 5 -> DCG = IDCG; 7 relevant, k = 5 -> all 5 hit
    h = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], dtype=bool)
    np.testing.assert_allclose(M.ndcg_at_k(h, np.array([3, 7]), 5), [1.0, 1.0])
    np.testing.assert_allclose(M.map_at_k(h, np.array([3, 7]), 5), [1.0, 1.0])
    np.testing.assert_allclose(M.recall_at_k(h, np.array([3, 7]), 5), [1.0, 5 / 7])


def test_hits_by_hand():
    # user 0 likes items {1, 4}; user 1 likes {0}; user 2 likes nothing
    truth = sp.csr_matrix(([1, 1, 1], ([0, 0, 1], [1, 4, 0])), shape=(3, 6))
    top = np.array([[4, 2, 1], [1, 0, 5], [0, 1, 2], [2, 3, 5]])
    users = np.array([0, 1, 2, 0])                     # rows of top belong to these users
    expected = [[True, False, True], [False, True, False], [False, False, False],
                [False, False, False]]
    np.testing.assert_array_equal(M.hits(top, truth, users), expected)


def test_hits_with_empty_truth_and_explicit_zeros():
    truth = sp.csr_matrix((np.array([0.0, 1.0]), (np.array([0, 1]), np.array([2, 3]))), shape=(2, 5))
    out = M.hits(np.array([[2, 3], [3, 2]]), truth, np.array([0, 1]))
    np.testing.assert_array_equal(out, [[False, False], [True, False]])     # a stored 0 is not relevant
    empty = sp.csr_matrix((2, 5))
    assert not M.hits(np.array([[0, 1]]), empty, np.array([1])).any()


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_hits_and_metrics_against_slow_reference(seed):
    rng = np.random.default_rng(seed)
    n_users, n_items, depth = 40, int(rng.integers(15, 60)), 12
    dense = rng.random((n_users, n_items)) < rng.uniform(0.05, 0.3)
    dense[np.arange(n_users), rng.integers(0, n_items, n_users)] = True   # everyone has one
    truth = sp.csr_matrix(dense.astype(np.float32))
    users = rng.permutation(n_users)[:30]
    top = np.stack([rng.permutation(n_items)[:depth] for _ in users])
    h = M.hits(top, truth, users)
    n_rel = dense[users].sum(axis=1)
    for k in sorted({1, int(rng.integers(2, depth + 1)), depth}):
        for name in PER_USER:
            got = M.METRICS[name](h, n_rel, k)
            want = [reference_metrics(list(top[r]), set(np.flatnonzero(dense[u])), k)[name]
                    for r, u in enumerate(users)]
            np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12, err_msg=f"{name}@{k}")


def test_coverage_by_hand():
    top = np.array([[0, 1, 2], [2, 1, 5]])       # distinct {0, 1, 2, 5} = 4 of 10 items
    assert M.coverage(top, 10) == pytest.approx(0.4)
    assert M.coverage(top[:, :1], 10) == pytest.approx(0.2)   # {0, 2}


@pytest.mark.parametrize("k", [0, 6, -1])
def test_k_out_of_range(k):
    with pytest.raises(ValueError, match="k="):
        M.recall_at_k(TOY_HITS, TOY_NREL, k)


def test_bad_shapes_and_counts():
    with pytest.raises(ValueError, match="n_relevant must have shape"):
        M.ndcg_at_k(TOY_HITS, TOY_NREL[:2], 3)
    with pytest.raises(ValueError, match="no relevant item"):
        M.precision_at_k(TOY_HITS, np.array([3, 0, 2]), 3)
    with pytest.raises(ValueError, match="more hits than relevant"):
        M.map_at_k(TOY_HITS, np.array([1, 1, 2]), 5)
    with pytest.raises(ValueError, match="2-D"):
        M.mrr_at_k(TOY_HITS[0], TOY_NREL[:1], 1)
    truth = sp.csr_matrix((2, 4))
    with pytest.raises(ValueError, match="outside"):
        M.hits(np.array([[0, 4]]), truth, np.array([0]))
    with pytest.raises(ValueError, match="shape"):
        M.hits(np.array([[0, 1]]), truth, np.array([0, 1]))
    with pytest.raises(ValueError, match="outside"):
        M.coverage(np.array([[0, 9]]), 5)


# -- ranking primitives: top_k and mask_rows -------------------------------------------------
def test_top_k_never_returns_a_masked_item():
    rng = np.random.default_rng(6)
    n_users, n_items = 120, 80
    train = sp.csr_matrix((np.ones(1500), (rng.integers(0, n_users, 1500), rng.integers(0, n_items, 1500))),
                          shape=(n_users, n_items))
    users = np.arange(n_users)
    scores = rng.standard_normal((n_users, n_items)).astype(np.float32)
    M.mask_rows(scores, train, users)
    top = M.top_k(scores, 20)
    assert not np.asarray(train[np.repeat(users, 20), top.ravel()]).any()


@pytest.mark.parametrize("seed", range(4))
def test_fast_top_k_equals_base_top_k(seed):
    # the block-maximum shortcut of top_k against the general partition path and a full sort
    rng = np.random.default_rng(seed)
    n, k = int(rng.integers(50, 3000)), int(rng.integers(1, 40))
    s = rng.standard_normal((int(rng.integers(1, 70)), n)).astype(np.float32)
    s[rng.random(s.shape) < 0.1] = -np.inf
    np.testing.assert_array_equal(M.top_k(s, k), M._top_k_partition(s, k))
    np.testing.assert_array_equal(M.top_k(s, k), np.argsort(-s, axis=1, kind="stable")[:, :k])


def test_fast_top_k_ties_and_fallbacks():
    rng = np.random.default_rng(0)
    tied = np.round(rng.standard_normal((30, 500)), 1).astype(np.float32)     # many ties
    mine, base = M.top_k(tied, 20), M._top_k_partition(tied, 20)
    np.testing.assert_array_equal(np.take_along_axis(tied, mine, 1), np.take_along_axis(tied, base, 1))
    assert all(len(set(row)) == 20 for row in mine)
    flat = np.zeros((3, 400), dtype=np.float32)                             # all tied: falls back
    assert M.top_k(flat, 10).shape == (3, 10) and all(len(set(r)) == 10 for r in M.top_k(flat, 10))
    masked = np.full((2, 400), -np.inf, dtype=np.float32)
    masked[:, :5] = 1.0                                                     # fewer than k finite
    assert set(M.top_k(masked, 10)[0, :5]) == set(range(5))


@pytest.mark.parametrize("shape,k", [((30, 500), 20), ((7, 60), 5), ((4, 12), 12), ((3, 9), 20)])
def test_top_k_breaks_ties_to_the_lower_index(shape, k):
    # both paths (block maxima on large rows, partition on small or tied ones) equal a stable sort
    rng = np.random.default_rng(1)
    s = rng.integers(0, 4, size=shape).astype(np.float32)
    s[rng.random(shape) < 0.2] = -np.inf
    expected = np.argsort(-s, axis=1, kind="stable")[:, :k]
    np.testing.assert_array_equal(M.top_k(s, k), expected)
    np.testing.assert_array_equal(M._top_k_partition(s, min(k, shape[1])), expected)
    assert M.top_k(s, k).dtype == np.int64


def test_top_k_ranks_nan_last():
    s = np.array([[0.5, np.nan, 2.0, -np.inf, 1.0]], dtype=np.float32)
    np.testing.assert_array_equal(M.top_k(s, 5), [[2, 4, 0, 3, 1]])
