"""FREEDOM (handson.models.freedom): frozen item-item graph, degree-sensitive edge pruning."""
import numpy as np
import pytest

from handson.models import BM3, FREEDOM, LightGCN, MostPop
from handson.models.graph import prune_edges
from mm_synthetic import recall, synthetic


FAST = dict(epochs=20, batch_size=256, verbose=False)


@pytest.fixture(scope="module")
def data():
    return synthetic()


def test_freedom_beats_popularity_and_builds_the_item_graph(data):
    model = FREEDOM(knn_k=5, **FAST).fit(data.train, data.features, data.valid)
    scores = model.score(np.arange(data.train.n_users))
    assert scores.shape == (160, 90) and np.isfinite(scores).all()
    assert recall(model, data) > 1.5 * recall(MostPop().fit(data.train), data)
    g = model.item_graph_
    assert g.shape == (90, 90) and 90 * 5 <= g.nnz <= 2 * 90 * 5
    r, c = g.nonzero()
    assert (data.cluster[r] == data.cluster[c]).mean() > 0.9     # neighbours share the cluster
    top = model.recommend(np.arange(160), k=10)
    seen = data.train.to_csr()
    assert not np.asarray(seen[np.repeat(np.arange(160), 10), top.ravel()]).any()


def test_freedom_cold_items_borrow_their_neighbours_embeddings(data):
    model = FREEDOM(knn_k=5, **FAST).fit(data.train, data.features)
    lgcn = LightGCN(n_layers=2, **FAST).fit(data.train)
    warm = np.setdiff1d(np.arange(90), data.cold)

    def cold_neighbour_agreement(item_emb):
        e = item_emb / (np.linalg.norm(item_emb, axis=1, keepdims=True) + 1e-12)
        nearest = warm[np.argmax(e[data.cold] @ e[warm].T, axis=1)]
        return (data.cluster[nearest] == data.cluster[data.cold]).mean()

    assert cold_neighbour_agreement(model._cache[1].numpy()) >= 5 / 6
    lgcn_items = lgcn.module_.split(lgcn.module_())[1].detach().numpy()
    assert cold_neighbour_agreement(lgcn_items) < 0.5       # LightGCN knows nothing of cold items


def test_prune_edges_keeps_the_share_and_prefers_rare_nodes(data):
    r = data.train.to_csr()
    rng = np.random.default_rng(0)
    kept = prune_edges(r, 0.6, rng)
    assert kept.nnz == round(r.nnz * 0.4)
    assert (kept - kept.multiply(r)).nnz == 0                   # a subset of the real edges
    assert prune_edges(r, 0.0, rng).nnz == r.nnz
    deg_i = np.asarray(r.sum(0)).ravel()
    survival = np.mean([np.asarray(prune_edges(r, 0.6, rng).sum(0)).ravel() for _ in range(20)], axis=0)
    share = survival / np.maximum(deg_i, 1)
    popular, rare = deg_i >= np.quantile(deg_i, 0.9), (deg_i > 0) & (deg_i <= np.quantile(deg_i, 0.3))
    assert share[popular].mean() < share[rare].mean()          # popular items lose more edges


def test_freedom_same_seed_same_scores(data):
    a = FREEDOM(epochs=3, batch_size=256, verbose=False).fit(data.train, data.features)
    b = FREEDOM(epochs=3, batch_size=256, verbose=False).fit(data.train, data.features)
    # Same seed, same numbers up to float32 summation order: multithreaded CPU kernels
    # (sparse products, embedding gradients) may add in a different order between runs.
    sa, sb = a.score(np.arange(10)), b.score(np.arange(10))
    np.testing.assert_allclose(sa, sb, rtol=1e-4, atol=1e-6)


def test_freedom_handles_missing_content_rows(data):
    feats = {m: x.copy() for m, x in data.features.items()}
    feats["image"][:15] = 0.0
    model = FREEDOM(epochs=2, batch_size=256, verbose=False).fit(data.train, feats)
    assert np.isfinite(model.score(np.arange(160))).all()
    assert model.item_graph_[:15].nnz == 15 * 10                 # text neighbours only


@pytest.mark.parametrize("kwargs, match", [
    (dict(dropout=1.0), "dropout"),
    (dict(n_layers=-1), "n_layers"),
    (dict(modalities=()), "at least one modality"),
    (dict(knn_k=0), "positive integer"),
    (dict(weights={"audio": 1.0}), "not in item_features"),
    (dict(feature_dim=0), "feature_dim"),
])
def test_freedom_bad_hyper_parameters(data, kwargs, match):
    with pytest.raises(ValueError, match=match):
        FREEDOM(**{**FAST, "epochs": 1, **kwargs}).fit(data.train, data.features)


def test_freedom_bad_features(data):
    fit = FREEDOM(epochs=1, verbose=False).fit
    with pytest.raises(ValueError, match=r"missing \['text'\]"):
        fit(data.train, {"image": data.features["image"]})
    with pytest.raises(ValueError, match="expected \\(n_items=90, d\\)"):
        fit(data.train, {"image": data.features["image"][:50], "text": data.features["text"]})
    bad = data.features["image"].copy()
    bad[0, 0] = np.inf
    with pytest.raises(ValueError, match="NaN/inf"):
        fit(data.train, {"image": bad, "text": data.features["text"]})
    with pytest.raises(ValueError, match="all zero"):
        fit(data.train, {"image": np.zeros((90, 3), np.float32), "text": data.features["text"]})


@pytest.mark.parametrize("cls", [FREEDOM, BM3])
def test_projections_learn_from_the_top_singular_directions_of_each_modality(data, cls):
    """``feature_dim`` shrinks what FREEDOM's and BM3's projections learn from (the cost of a
    batch), not the item graph."""
    small = cls(feature_dim=3, epochs=1, batch_size=256, verbose=False).fit(data.train, data.features)
    full = cls(feature_dim=None, epochs=1, batch_size=256, verbose=False).fit(data.train, data.features)
    for name, x in data.features.items():
        assert small.module_.proj[name].in_features == min(3, x.shape[1])
        assert full.module_.proj[name].in_features == x.shape[1] > 3
    assert np.isfinite(small.score(np.arange(5))).all()
