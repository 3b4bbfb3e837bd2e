"""Classic baselines on the model protocol: shapes, masking, determinism, quality on toyshop."""
import numpy as np
import pytest

from handson import datasets, evaluation, split
from handson.datasets import Interactions
from handson.models import EASE, GFCF, ItemKNN, MostPop, Random

BASELINES = [Random, MostPop, ItemKNN, EASE, GFCF]


@pytest.fixture(scope="module")
def toy():
    ds = datasets.load("toyshop")
    return split.random_split(ds, test=0.2, valid=0.1, seed=7)


@pytest.fixture(scope="module")
def scores(toy):
    train, valid, test = toy
    out = {}
    for cls in BASELINES:
        model = cls().fit(train, valid=valid)
        out[cls.__name__] = (model, evaluation.evaluate(model, test, seen=[train, valid], k=(20,)))
    return out


@pytest.mark.parametrize("cls", BASELINES, ids=lambda c: c.__name__)
def test_protocol(cls, toy):
    train, valid, _ = toy
    model = cls().fit(train)
    users = np.array([0, 5, 3])
    s = model.score(users)
    assert s.shape == (3, train.n_items) and s.dtype == np.float32
    top = model.recommend(users, k=10)
    assert top.shape == (3, 10)
    seen = train.to_csr()
    for row, u in enumerate(users):
        assert not set(top[row]) & set(seen[u].indices), "a seen item was recommended"
        assert len(set(top[row])) == 10
    # recommend is ordered by score
    assert np.all(np.diff(np.take_along_axis(s, top, axis=1), axis=1) <= 0)
    # extra seen sets are excluded too
    top2 = model.recommend(users, k=10, seen=valid)
    vseen = valid.to_csr()
    assert all(not set(top2[r]) & set(vseen[u].indices) for r, u in enumerate(users))


@pytest.mark.parametrize("cls", BASELINES, ids=lambda c: c.__name__)
def test_deterministic(cls, toy):
    train = toy.train
    a = cls().fit(train).score(np.arange(20))
    b = cls().fit(train).score(np.arange(20))
    np.testing.assert_array_equal(a, b)


def test_every_baseline_beats_random(scores):
    rnd = scores["Random"][1]["Recall@20"]
    for name, (_, res) in scores.items():
        if name != "Random":
            assert res["Recall@20"] > 2 * rnd, (name, res["Recall@20"], rnd)


@pytest.mark.parametrize("name", ["ItemKNN", "EASE", "GFCF"])
def test_personalised_baselines_beat_mostpop_on_toyshop(scores, name):
    pop = scores["MostPop"][1]
    res = scores[name][1]
    assert res["Recall@20"] > 1.2 * pop["Recall@20"], (res["Recall@20"], pop["Recall@20"])
    assert res["nDCG@20"] > pop["nDCG@20"]


def test_itemknn_matches_dense_formula():
    rng = np.random.default_rng(1)
    x = (rng.random((30, 12)) < 0.3).astype(np.float32)
    u, i = np.nonzero(x)
    train = Interactions(u, i, 30, 12)
    model = ItemKNN(k=12, shrink=2.0).fit(train)
    co = x.T @ x
    n = np.sqrt(np.diag(co))
    sim = co / (n[:, None] * n[None, :] + 2.0 + 1e-12)
    np.fill_diagonal(sim, 0)
    np.testing.assert_allclose(model.score(np.arange(30)), x @ sim, rtol=1e-5, atol=1e-6)
    # pruning keeps exactly k neighbours per item
    pruned = ItemKNN(k=3).fit(train)
    assert (np.diff(pruned.similarity_.indptr) <= 3).all()


def test_ease_matches_closed_form():
    rng = np.random.default_rng(2)
    x = (rng.random((40, 15)) < 0.3).astype(np.float64)
    u, i = np.nonzero(x)
    model = EASE(lam=5.0).fit(Interactions(u, i, 40, 15))
    P = np.linalg.inv(x.T @ x + 5.0 * np.eye(15))
    B = np.eye(15) - P / np.diag(P)
    np.testing.assert_allclose(model.score(np.arange(40)), x @ B, rtol=1e-4, atol=1e-5)
    assert np.allclose(np.diag(model.weights_), 0)


def test_bad_input(toy):
    train = toy.train
    model = MostPop().fit(train)
    with pytest.raises(ValueError, match="Unknown user index"):
        model.score([train.n_users])
    with pytest.raises(ValueError, match=r"k=\d+ must lie in"):
        model.recommend([0], k=train.n_items + 1)
    with pytest.raises(RuntimeError, match="not fitted"):
        EASE().score([0])
    with pytest.raises(ValueError, match="empty interactions"):
        MostPop().fit(Interactions([], [], 3, 3))
    with pytest.raises(ValueError, match="max_items"):
        EASE(max_items=10).fit(train)
    with pytest.raises(ValueError, match="different catalogs"):
        MostPop().fit(train, valid=Interactions([0], [0], train.n_users, train.n_items + 1))
