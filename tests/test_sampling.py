"""handson.sampling: negatives are never known pairs, uniform, seeded; no torch needed."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import scipy.sparse as sp

from handson import sampling


@pytest.fixture(scope="module")
def csr():
    """300 users x 200 items, 16 random items per user (duplicates collapsed)."""
    rng = np.random.default_rng(0)
    users = np.repeat(np.arange(300), 16)
    m = sp.csr_matrix((np.ones(len(users)), (users, rng.integers(0, 200, len(users)))), shape=(300, 200))
    m.sum_duplicates()
    m.data[:] = 1.0
    return m


def test_sample_bpr_negatives_are_never_positives_and_pairs_are_real(csr):
    users, pos, neg = sampling.sample_bpr(csr, 50_000, np.random.default_rng(0))
    assert users.shape == pos.shape == neg.shape == (50_000,)
    assert np.asarray(csr[users, pos]).ravel().all()
    assert not np.asarray(csr[users, neg]).ravel().any()


def test_negatives_roughly_uniform_over_non_positives():
    n_items = 50
    csr = sp.csr_matrix((np.ones(10), (np.zeros(10, int), np.arange(10))), shape=(1, n_items))
    neg = sampling.sample_negatives(csr, np.zeros(40_000, dtype=np.int64), 1, np.random.default_rng(0))
    counts = np.bincount(neg.ravel(), minlength=n_items)
    assert counts[:10].sum() == 0
    expected = 40_000 / 40
    assert np.abs(counts[10:] - expected).max() < 5 * np.sqrt(expected)


def test_sample_negatives_shape_and_exclusion(csr):
    users = np.arange(csr.shape[0])
    neg = sampling.sample_negatives(csr, users, 4, np.random.default_rng(0))
    assert neg.shape == (csr.shape[0], 4)
    assert not np.asarray(csr[np.repeat(users, 4), neg.ravel()]).ravel().any()


def test_sampler_rejects_user_with_every_item():
    csr = sp.csr_matrix(np.ones((2, 5), dtype=np.float32))
    with pytest.raises(ValueError, match="all 5 items"):
        sampling.sample_bpr(csr, 10, np.random.default_rng(0))


# -- new code paths: the shared rejection machinery ---------------------------------------------
def test_sample_negatives_is_seeded_and_caps_rounds():
    # user 0 knows 49 of 50 items: every draw but one in 50 is rejected
    csr = sp.csr_matrix((np.ones(49), (np.zeros(49, int), np.arange(49))), shape=(1, 50))
    users = np.zeros(200, dtype=np.int64)
    a = sampling.sample_negatives(csr, users, 2, np.random.default_rng(3))
    np.testing.assert_array_equal(a, sampling.sample_negatives(csr, users, 2, np.random.default_rng(3)))
    assert (a == 49).all()
    with pytest.raises(RuntimeError, match="in 2 rounds"):
        sampling.sample_negatives(csr, users, 2, np.random.default_rng(3), max_rounds=2)


def test_training_reexports_the_sampler():
    from handson import training
    assert training.sample_bpr is sampling.sample_bpr
    assert training.sample_negatives is sampling.sample_negatives
    assert training.positive_keys is sampling.positive_keys


def test_sampling_does_not_import_torch():
    code = "import sys, handson.sampling; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


# -- whole epochs at once ----------------------------------------------------------------------
class CountingRng:
    """A numpy Generator that counts the calls made to it (how vectorised is a sampler?)."""

    def __init__(self, seed: int) -> None:
        self.rng, self.calls = np.random.default_rng(seed), 0

    def __getattr__(self, name):
        def call(*args, **kwargs):
            self.calls += 1
            return getattr(self.rng, name)(*args, **kwargs)
        return call


def test_epoch_sampler_draws_what_sample_bpr_draws(csr):
    sampler = sampling.EpochSampler(csr, n_neg=3)
    users, pos, neg = sampler.epoch(np.random.default_rng(5))
    ref = sampling.sample_bpr(csr, csr.nnz, np.random.default_rng(5), n_neg=3)
    assert len(sampler) == csr.nnz and users.shape == pos.shape == (csr.nnz,) and neg.shape == (csr.nnz, 3)
    for a, b in zip((users, pos, neg), ref):
        np.testing.assert_array_equal(a, b)
    assert np.asarray(csr[users, pos]).ravel().all()
    assert not np.asarray(csr[np.repeat(users, 3), neg.ravel()]).ravel().any()
    # every user with interactions appears, in proportion to their interactions
    assert set(np.unique(users)) == set(np.nonzero(np.diff(csr.indptr))[0])


def test_epoch_sampler_is_vectorised_calls_do_not_grow_with_data():
    """An epoch is a handful of generator calls however many users and pairs there are."""
    calls = {}
    for n_users in (10, 10_000):
        rng = np.random.default_rng(0)
        m = sp.csr_matrix((np.ones(5 * n_users), (np.repeat(np.arange(n_users), 5),
                                                  rng.integers(0, 500, 5 * n_users))), shape=(n_users, 500))
        counter = CountingRng(1)
        users, pos, neg = sampling.EpochSampler(m, n_neg=2).epoch(counter)
        assert neg.shape == (m.nnz, 2) and not np.asarray(m[np.repeat(users, 2), neg.ravel()]).ravel().any()
        calls[n_users] = counter.calls
    assert calls[10_000] <= calls[10] + 3 and calls[10_000] < 10, calls


def test_epoch_sampler_refuses_bad_input():
    with pytest.raises(ValueError, match="n_neg"):
        sampling.EpochSampler(sp.csr_matrix(np.eye(3)), n_neg=0)
    with pytest.raises(ValueError, match="no interactions"):
        sampling.EpochSampler(sp.csr_matrix((3, 4)))
    with pytest.raises(ValueError, match="every item"):
        sampling.EpochSampler(sp.csr_matrix(np.ones((2, 4))))
