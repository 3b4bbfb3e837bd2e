"""The self-supervised BM3 model (its losses are tested in test_losses.py)."""

import numpy as np
import pytest
import torch

from handson.models import BM3, MostPop
from mm_synthetic import recall, synthetic


# -- BM3 ---------------------------------------------------------------------------------

FAST = dict(epochs=20, batch_size=256, verbose=False)


@pytest.fixture(scope="module")
def data():
    return synthetic()


@pytest.mark.parametrize("ssl", ["infonce", "bootstrap"])
def test_bm3_beats_popularity(data, ssl):
    model = BM3(ssl=ssl, **FAST).fit(data.train, data.features, data.valid)
    scores = model.score(np.arange(data.train.n_users))
    assert scores.shape == (160, 90) and np.isfinite(scores).all()
    assert recall(model, data) > 1.5 * recall(MostPop().fit(data.train), data)


def test_without_ssl_the_content_is_ignored(data):
    shuffled = {m: x[np.random.default_rng(1).permutation(len(x))] for m, x in data.features.items()}
    scores = {}
    for w in (0.0, 0.1):
        a = BM3(ssl_weight=w, epochs=3, batch_size=256, verbose=False).fit(data.train, data.features)
        b = BM3(ssl_weight=w, epochs=3, batch_size=256, verbose=False).fit(data.train, shuffled)
        scores[w] = (a.score(np.arange(20)), b.score(np.arange(20)))
    np.testing.assert_array_equal(*scores[0.0])          # ssl_weight=0: LightGCN, features unused
    assert not np.allclose(*scores[0.1])                  # with SSL the content shapes the embeddings


def test_ssl_gives_cold_items_content_based_embeddings(data):
    warm = np.setdiff1d(np.arange(90), data.cold)

    def cold_neighbour_agreement(model):
        e = model._cache[1].numpy()
        e = e / (np.linalg.norm(e, axis=1, keepdims=True) + 1e-12)
        nearest = warm[np.argmax(e[data.cold] @ e[warm].T, axis=1)]
        return (data.cluster[nearest] == data.cluster[data.cold]).mean()

    with_ssl = BM3(ssl_weight=0.5, **FAST).fit(data.train, data.features)
    without = BM3(ssl_weight=0.0, **FAST).fit(data.train, data.features)
    assert cold_neighbour_agreement(with_ssl) >= 4 / 6
    assert cold_neighbour_agreement(without) <= 2 / 6


def test_ssl_loss_falls_during_training(data):
    model = BM3(epochs=1, batch_size=256, verbose=False).fit(data.train, data.features)
    m = model.module_
    users, pos = torch.as_tensor(data.train.users[:256]), torch.as_tensor(data.train.items[:256])
    items = torch.arange(90)
    torch.manual_seed(0)
    with torch.no_grad():
        before = model.ssl_loss(*m(), users, pos, items).item()
    model = BM3(**FAST).fit(data.train, data.features)
    m = model.module_
    torch.manual_seed(0)
    with torch.no_grad():
        after = model.ssl_loss(*m(), users, pos, items).item()
    assert after < 0.9 * before


def test_bm3_same_seed_same_scores(data):
    a = BM3(epochs=3, batch_size=256, verbose=False).fit(data.train, data.features)
    b = BM3(epochs=3, batch_size=256, verbose=False).fit(data.train, data.features)
    np.testing.assert_array_equal(a.score(np.arange(10)), b.score(np.arange(10)))


@pytest.mark.parametrize("kwargs, match", [
    (dict(ssl="simclr"), "ssl must be"),
    (dict(temperature=0.0), "temperature"),
    (dict(view_dropout=1.0), "view_dropout"),
    (dict(edge_dropout=-0.1), "edge_dropout"),
    (dict(ssl_batch=1), "ssl_batch"),
    (dict(n_layers=-1), "n_layers"),
    (dict(feature_dim=0), "feature_dim"),
])
def test_bm3_bad_hyper_parameters(data, kwargs, match):
    with pytest.raises(ValueError, match=match):
        BM3(**{**FAST, "epochs": 1, **kwargs}).fit(data.train, data.features)


def test_bm3_bad_features(data):
    fit = BM3(epochs=1, verbose=False).fit
    with pytest.raises(ValueError, match=r"missing \['image'\]"):
        fit(data.train, {"text": data.features["text"]})
    with pytest.raises(ValueError, match="expected \\(n_items=90, d\\)"):
        fit(data.train, {"image": data.features["image"].T, "text": data.features["text"]})
    bad = data.features["text"].copy()
    bad[5] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        fit(data.train, {"image": data.features["image"], "text": bad})
    with pytest.raises(ValueError, match="all zero"):
        fit(data.train, {"image": data.features["image"], "text": np.zeros((90, 2), np.float32)})
    feats = {m: x.copy() for m, x in data.features.items()}
    feats["text"][:30] = 0.0                          # missing texts: left out of the SSL terms
    model = BM3(epochs=2, batch_size=256, verbose=False).fit(data.train, feats)
    assert np.isfinite(model.score(np.arange(160))).all()
