"""handson.protocols: pairwise accuracy and its test triples, only_items, control baselines
(random and shuffled features, the with_control table), and the deprecated shims."""
import importlib
import subprocess
import sys

import numpy as np
import pytest

from handson.datasets import Interactions
from handson.models.clip_content import CLIPContent
from handson.protocols import (pairwise_accuracy, random_features, sample_test_triples, shuffled_features,
                               with_control)


def clustered(seed=0, n_users=200, n_items=150, d=16, n_clusters=5, per_user=12):
    """Users like one cluster of items; both modalities are noisy views of the cluster."""
    rng = np.random.default_rng(seed)
    cluster = rng.integers(0, n_clusters, n_items)
    centre = rng.normal(size=(n_clusters, d))
    feats = {m: (centre[cluster] + 0.5 * rng.normal(size=(n_items, d))).astype(np.float32)
             for m in ("image", "text")}
    taste = rng.integers(0, n_clusters, n_users)
    users, items = [], []
    for u in range(n_users):
        pool = np.flatnonzero(cluster == taste[u])
        items.append(rng.choice(pool, min(per_user, len(pool)), replace=False))
        users.append(np.full(len(items[-1]), u))
    users, items = np.concatenate(users), np.concatenate(items)
    is_test = rng.random(len(users)) < 0.25
    train = Interactions(users[~is_test], items[~is_test], n_users, n_items)
    test = Interactions(users[is_test], items[is_test], n_users, n_items)
    return train, test, feats


def test_random_features_keep_shape_scale_and_missing_rows():
    _, _, feats = clustered()
    feats["image"][[3, 7]] = 0.0
    rnd = random_features(feats, seed=1)
    assert set(rnd) == {"image", "text"}
    for m in feats:
        assert rnd[m].shape == feats[m].shape and rnd[m].dtype == np.float32
        np.testing.assert_allclose(np.linalg.norm(rnd[m], axis=1), np.linalg.norm(feats[m], axis=1),
                                   rtol=1e-4, atol=1e-6)
        assert abs(np.corrcoef(rnd[m].ravel(), feats[m].ravel())[0, 1]) < 0.5
    assert not rnd["image"][[3, 7]].any()
    np.testing.assert_array_equal(random_features(feats, seed=1)["text"], rnd["text"])
    assert not np.array_equal(random_features(feats, seed=2)["text"], rnd["text"])


def test_random_features_accept_a_single_array():
    x = np.random.default_rng(0).normal(3.0, 2.0, size=(50, 8)).astype(np.float32)
    r = random_features(x, seed=0)
    assert isinstance(r, np.ndarray) and r.shape == x.shape
    np.testing.assert_allclose(r.mean(0), x.mean(0), atol=1.2)


def test_shuffled_features_share_one_permutation():
    _, _, feats = clustered()
    feats["text"] = feats["text"][:, :4] * 10
    sh = shuffled_features(feats, seed=3)
    img_rows = {r.tobytes(): j for j, r in enumerate(feats["image"])}
    perm = np.array([img_rows[r.tobytes()] for r in sh["image"]])
    assert sorted(perm.tolist()) == list(range(len(perm)))
    assert (perm != np.arange(len(perm))).mean() > 0.9
    np.testing.assert_array_equal(sh["text"], feats["text"][perm])


@pytest.mark.parametrize("bad, match", [
    ({}, "empty"),
    ({"image": np.ones(5)}, "2-D"),
    ({"image": np.full((4, 2), np.nan)}, "NaN"),
    ({"image": np.ones((4, 2)), "text": np.ones((5, 2))}, "disagree"),
])
def test_controls_reject_bad_features(bad, match):
    for fn in (random_features, shuffled_features):
        with pytest.raises(ValueError, match=match):
            fn(bad, seed=0)


def test_with_control_shows_that_content_matters():
    train, test, feats = clustered()
    fitted = {}
    table = with_control(lambda: CLIPContent(), train, feats, test, k=(10,), models=fitted)
    assert list(table.index) == ["real", "random", "shuffled"]
    assert {"Recall@10", "nDCG@10", "fit_s"} <= set(table.columns)
    assert set(fitted) == {"real", "random", "shuffled"}
    real = table.loc["real", "Recall@10"]
    assert real > 2 * table.loc["random", "Recall@10"]
    assert real > 2 * table.loc["shuffled", "Recall@10"]


def test_with_control_rejects_bad_input():
    train, test, feats = clustered(n_users=30, n_items=40)
    with pytest.raises(ValueError, match="callable"):
        with_control(CLIPContent(), train, feats, test)
    with pytest.raises(ValueError, match="Unknown control"):
        with_control(CLIPContent, train, feats, test, controls=("real", "noise"))
    with pytest.raises(ValueError, match="dict by modality"):
        with_control(CLIPContent, train, feats["image"], test)


class Oracle:
    """Scores = sign * test matrix: ranks every test positive first (or last)."""

    def __init__(self, test, sign=1.0):
        self.m, self.sign = test.to_csr().toarray(), sign

    def score(self, users):
        return self.sign * self.m[users]


class Constant:
    def __init__(self, n_items):
        self.n_items = n_items

    def score(self, users):
        return np.zeros((len(users), self.n_items), dtype=np.float32)


# -- pairwise accuracy --------------------------------------------------------------------
def test_pairwise_accuracy_bounds_and_ties():
    train, test, _ = clustered()
    assert pairwise_accuracy(Oracle(test), test, train, n_neg=3) == 1.0
    assert pairwise_accuracy(Oracle(test, -1.0), test, train, n_neg=3) == 0.0
    assert pairwise_accuracy(Constant(test.n_items), test, train) == 0.5


def test_triples_avoid_known_items_and_repeat_positives():
    train, test, _ = clustered()
    users, pos, neg = sample_test_triples(test, train, n_neg=4, seed=1)
    assert len(users) == 4 * len(test)
    np.testing.assert_array_equal(pos[::4], test.items)
    known = (train.to_csr() + test.to_csr()).toarray() > 0
    assert not known[users, neg].any()
    again = sample_test_triples(test, train, n_neg=4, seed=1)[2]
    np.testing.assert_array_equal(again, neg)


def test_pairwise_accuracy_rejects_bad_input():
    train, test, _ = clustered(n_users=20, n_items=30)
    with pytest.raises(ValueError, match="n_neg"):
        pairwise_accuracy(Oracle(test), test, train, n_neg=0)
    with pytest.raises(ValueError, match="no interactions"):
        pairwise_accuracy(Oracle(test), test.subset(np.zeros(len(test), bool)), train)
    other = Interactions(train.users, train.items, train.n_users, train.n_items + 1)
    with pytest.raises(ValueError, match="different catalogs"):
        pairwise_accuracy(Oracle(test), test, other)
    full = Interactions(np.zeros(30, int), np.arange(30), 20, 30)
    with pytest.raises(ValueError, match="every item"):
        pairwise_accuracy(Oracle(full), full.subset(np.arange(2)), full)
    with pytest.raises(ValueError, match="shape"):
        pairwise_accuracy(Constant(5), test, train)




# -- the triples come from the shared sampler of handson.sampling --------------------------------
def test_triples_never_hold_a_known_pair_in_a_dense_catalog():
    # each user knows 9 of 12 items (train and test together): most draws are rejected
    rng = np.random.default_rng(0)
    known = np.array([rng.permutation(12)[:9] for _ in range(40)])
    users = np.repeat(np.arange(40), 9)
    is_test = np.tile(np.arange(9) < 3, 40)
    train = Interactions(users[~is_test], known.ravel()[~is_test], 40, 12)
    test = Interactions(users[is_test], known.ravel()[is_test], 40, 12)
    for seed in range(3):
        u, pos, neg = sample_test_triples(test, train, n_neg=5, seed=seed)
        np.testing.assert_array_equal(u, np.repeat(test.users, 5))
        np.testing.assert_array_equal(pos, np.repeat(test.items, 5))
        mine = np.zeros((40, 12), bool)
        mine[users, known.ravel()] = True
        assert not mine[u, neg].any()
    with pytest.raises(RuntimeError, match="in 1 rounds"):
        sample_test_triples(test, train, n_neg=5, seed=0, max_rounds=1)


def test_protocols_import_neither_models_nor_torch():
    code = ("import sys, handson.protocols, handson.sampling; "
            "sys.exit(any(m == 'torch' or m.startswith('handson.models') for m in sys.modules))")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


# -- deprecated shims ----------------------------------------------------------------------------
@pytest.mark.parametrize("shim,names", [
    ("handson.evaluation_extra", ["pairwise_accuracy", "sample_test_triples", "only_items"]),
    ("handson.models.controls", ["random_features", "shuffled_features", "with_control", "CONTROLS"]),
])
def test_shims_warn_and_reexport(shim, names):
    import handson.protocols as protocols
    sys.modules.pop(shim, None)
    with pytest.warns(DeprecationWarning, match="moved to handson.protocols"):
        module = importlib.import_module(shim)
    for name in names:
        assert getattr(module, name) is getattr(protocols, name)
