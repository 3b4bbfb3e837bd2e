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
