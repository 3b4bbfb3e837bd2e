"""The spectral start of BPR: svd_factors and BPR(init="svd")."""
import numpy as np
import pytest
import scipy.sparse as sp

from handson import datasets, split
from handson.evaluation import evaluate
from handson.models import BPR, MostPop
from handson.models.spectral import noise_edge, svd_factors


def _low_rank_clicks(n_users=300, n_items=200, rank=3, seed=0):
    """Binary clicks from a rank-3 preference structure plus uniform noise."""
    rng = np.random.default_rng(seed)
    groups_u, groups_i = rng.integers(0, rank, n_users), rng.integers(0, rank, n_items)
    p = np.where(groups_u[:, None] == groups_i[None, :], 0.3, 0.02)
    return sp.csr_matrix((rng.random((n_users, n_items)) < p).astype(np.float32))


def test_unshrunk_factors_are_the_truncated_svd():
    X = _low_rank_clicks()
    U, V = svd_factors(X, 5, shrink=False)
    u, s, vt = np.linalg.svd(X.toarray().astype(np.float64))
    best = (u[:, :5] * s[:5]) @ vt[:5]
    assert U.shape == (300, 5) and V.shape == (200, 5) and U.dtype == np.float32
    np.testing.assert_allclose(U @ V.T, best, atol=1e-4)


def test_shrinkage_keeps_the_structure_and_drops_the_noise():
    X = _low_rank_clicks()
    U, V = svd_factors(X, 10)
    strength = np.linalg.norm(V, axis=0)
    assert (strength[:3] > 0).all()            # the three planted directions survive
    assert (strength[3:] == 0).all()           # what lies below the random-matrix edge is gone
    noise = sp.csr_matrix((np.random.default_rng(1).random((300, 200)) < 0.05).astype(np.float32))
    second = np.linalg.svd(noise.toarray(), compute_uv=False)[1]     # the first is the mean (density)
    assert abs(second - noise_edge(noise)) / second < 0.1   # the edge predicts the noise's largest value


def test_rank_deficient_and_empty_matrices_give_zero_columns():
    U, V = svd_factors(sp.csr_matrix(np.eye(3, dtype=np.float32)), 8, shrink=False)
    assert U.shape == (3, 8) and np.all(U[:, 2:] == 0) and np.abs(U[:, :2]).sum() > 0
    U, V = svd_factors(sp.csr_matrix((4, 5), dtype=np.float32), 3)
    assert not U.any() and not V.any()


def test_bpr_init_is_checked():
    ds = datasets.load("toyshop")
    with pytest.raises(ValueError, match="init must be 'svd'"):
        BPR(init="pca", verbose=False).fit(ds.interactions)


def test_svd_start_trains_fast_and_beats_popularity():
    """The default (spectral start) beats MostPop in a few epochs and is not worse than the
    paper's random start trained far longer (toyshop, per-user split)."""
    ds = datasets.load("toyshop")
    train, valid, test = split.random_split(ds, test=0.2, valid=0.08, seed=0)
    recall = lambda m: evaluate(m, test, seen=[train, valid], k=(20,))["Recall@20"]
    svd = BPR(seed=0, verbose=False).fit(train, valid=valid)
    normal = BPR(init="normal", lr=5e-3, lr_decay=0.98, epochs=200, eval_every=5, patience=5, seed=0,
                 verbose=False).fit(train, valid=valid)
    assert recall(svd) > 1.3 * recall(MostPop().fit(train))
    assert recall(svd) >= recall(normal) - 0.01
    assert len(svd.history_) < len(normal.history_) / 2
