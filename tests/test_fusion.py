"""MMFusion: concat / gate / attention fusion, BPR / BCE, image-text alignment, bad input."""
import numpy as np
import pytest
import torch

from handson.models import MMFusion, MostPop
from mm_synthetic import recall, synthetic

FAST = dict(epochs=15, batch_size=256, verbose=False)


@pytest.fixture(scope="module")
def data():
    return synthetic()


@pytest.fixture(scope="module")
def pop_recall(data):
    return recall(MostPop().fit(data.train), data)


@pytest.mark.parametrize("fusion", ["concat", "gate", "attention"])
def test_each_fusion_beats_popularity(data, pop_recall, fusion):
    model = MMFusion(fusion=fusion, **FAST).fit(data.train, data.features, data.valid)
    scores = model.score(np.arange(data.train.n_users))
    assert scores.shape == (data.train.n_users, data.train.n_items) and np.isfinite(scores).all()
    assert recall(model, data) > 1.5 * pop_recall


def test_bce_loss_and_numeric_modality(data, pop_recall):
    feats = dict(data.features, numeric=np.random.default_rng(0).normal(size=(data.train.n_items, 1)))
    model = MMFusion(loss="bce", modalities=("image", "text", "numeric"), **FAST).fit(data.train, feats)
    assert recall(model, data) > 1.5 * pop_recall


def test_cold_items_have_no_id_token_and_are_scored_by_content(data):
    feats = {m: x.copy() for m, x in data.features.items()}
    a, b = data.cold[:2]
    for x in feats.values():
        x[b] = x[a]                                   # two cold items with the same content
    model = MMFusion(fusion="gate", **FAST).fit(data.train, feats)
    assert not model.module_.mask[torch.as_tensor(data.cold), 0].any()
    scores = model.score(np.arange(20))
    np.testing.assert_allclose(scores[:, a], scores[:, b], rtol=1e-5, atol=1e-6)
    warm = np.setdiff1d(np.arange(data.train.n_items), data.cold)[:2]
    assert not np.allclose(scores[:, warm[0]], scores[:, warm[1]])


def test_missing_modality_rows_get_zero_weight(data):
    feats = {m: x.copy() for m, x in data.features.items()}
    feats["image"][:10] = 0.0                         # items 0..9 have no image
    model = MMFusion(fusion="gate", **FAST).fit(data.train, feats)
    m = model.module_
    toks, mask = m.tokens(torch.arange(data.train.n_items))
    with torch.no_grad():
        w = m.weights(toks, mask)                      # (n_items, 3): ID, image, text
    assert torch.all(w[:10, 1] == 0) and torch.all(w[10:, 1] > 0)
    assert torch.allclose(w.sum(-1), torch.ones(len(w)))     # every item has at least its text
    assert model.modality_weights().shape == (3,)


def test_attention_weights_are_per_user(data):
    model = MMFusion(fusion="attention", **FAST).fit(data.train, data.features)
    w = model.modality_weights(np.arange(7))
    assert w.shape == (7, 3)
    np.testing.assert_allclose(w.sum(1), 1.0, atol=1e-4)   # warm and cold items both sum to 1
    assert np.ptp(w[:, 1]) > 0                             # users weigh the image differently
    with pytest.raises(ValueError, match="concat"):
        MMFusion(fusion="concat", **FAST).fit(data.train, data.features).modality_weights()


def test_alignment_loss_aligns_image_and_text(data):
    items = torch.arange(data.train.n_items)
    losses = {}
    for w in (0.0, 1.0):
        model = MMFusion(align_weight=w, **FAST).fit(data.train, data.features)
        with torch.no_grad():
            losses[w] = model._align_loss(items).item()
    assert losses[1.0] < 0.7 * losses[0.0]


def test_same_seed_same_scores(data):
    a = MMFusion(fusion="attention", epochs=3, batch_size=256, verbose=False).fit(data.train, data.features)
    b = MMFusion(fusion="attention", epochs=3, batch_size=256, verbose=False).fit(data.train, data.features)
    # Same seed, same numbers up to float32 summation order: multithreaded CPU kernels
    # (sparse products, embedding gradients) may add in a different order between runs.
    sa, sb = a.score(np.arange(10)), b.score(np.arange(10))
    np.testing.assert_allclose(sa, sb, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("kwargs, match", [
    (dict(fusion="sum"), "fusion must be one of"),
    (dict(loss="hinge"), "loss must be None, 'bpr', 'bce' or 'softmax'"),
    (dict(align_weight=0.5, modalities=("image",)), "alignment loss pairs two"),
    (dict(temperature=0.0), "temperature"),
    (dict(modalities=("image", "image")), "distinct names"),
])
def test_bad_hyper_parameters(data, kwargs, match):
    with pytest.raises(ValueError, match=match):
        MMFusion(**{**FAST, "epochs": 1, **kwargs}).fit(data.train, data.features)


def test_bad_features(data):
    n = data.train.n_items
    fit = MMFusion(epochs=1, verbose=False).fit
    with pytest.raises(ValueError, match=r"missing \['text'\]"):
        fit(data.train, {"image": data.features["image"]})
    with pytest.raises(ValueError, match="expected \\(n_items=90, d\\)"):
        fit(data.train, {"image": data.features["image"][:-1], "text": data.features["text"]})
    bad = data.features["text"].copy()
    bad[3, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        fit(data.train, {"image": data.features["image"], "text": bad})
    with pytest.raises(ValueError, match="all zero"):
        fit(data.train, {"image": np.zeros((n, 4), np.float32), "text": data.features["text"]})


@pytest.mark.parametrize("fusion, hidden", [("concat", (64,)), ("gate", ()), ("attention", (32, 16))])
def test_all_items_scoring_equals_the_pairwise_mlp(data, fusion, hidden):
    model = MMFusion(fusion=fusion, hidden=hidden, epochs=2, batch_size=256, verbose=False)
    model.fit(data.train, data.features)
    m, n_users, n_items = model.module_, data.train.n_users, data.train.n_items
    users, items = torch.arange(n_users).repeat_interleave(n_items), torch.arange(n_items).repeat(n_users)
    with torch.no_grad():
        toks, mask = m.tokens(items)
        pairwise = m.score(users, m.fuse(toks, mask, users, paired=True)).reshape(n_users, n_items)
    np.testing.assert_allclose(model.score(np.arange(n_users)), pairwise.numpy(), atol=1e-5)


@pytest.mark.parametrize("loss, dot", [("softmax", True), ("bpr", True), ("softmax", False)])
def test_softmax_loss_and_dot_path_learn(data, pop_recall, loss, dot):
    model = MMFusion(fusion="concat", loss=loss, dot=dot, user_batch=32, **FAST).fit(data.train, data.features)
    assert recall(model, data) > 1.5 * pop_recall
    u, m = torch.arange(4), model.module_
    with torch.no_grad():
        vec = m.fuse(*m.tokens(torch.arange(data.train.n_items)))
        mlp_only = m.mlp(torch.cat([m.user(u)[:, None].expand(-1, len(vec), -1), vec.expand(4, -1, -1),
                                    m.user(u)[:, None] * vec], -1)).squeeze(-1)
        expected = mlp_only + (m.user(u) @ vec.T if dot else 0.0)
    np.testing.assert_allclose(model.score(np.arange(4)), expected.numpy(), rtol=1e-4, atol=1e-4)


def test_attention_rejects_softmax(data):
    with pytest.raises(ValueError, match="too costly with fusion='attention'"):
        MMFusion(fusion="attention", loss="softmax", **FAST).fit(data.train, data.features)
    with pytest.raises(ValueError, match="user_batch must be a positive integer"):
        MMFusion(user_batch=0, **FAST).fit(data.train, data.features)


def test_default_loss_is_the_catalog_softmax_except_for_attention(data):
    assert MMFusion()._loss_kind() == "softmax" and MMFusion(fusion="gate")._loss_kind() == "softmax"
    assert MMFusion(fusion="attention")._loss_kind() == "bpr"
    assert MMFusion(loss="bce")._loss_kind() == "bce"
    model = MMFusion(epochs=1, verbose=False).fit(data.train, data.features)
    batch = next(iter(model._batches(data.train, np.random.default_rng(0))))
    assert set(batch) == {"users"} and len(batch["users"]) == min(model.user_batch, data.train.n_users)


@pytest.mark.parametrize("feature_dim, widths", [(8, (8, 8)), (20, (20, 16)), (None, (24, 16))])
def test_feature_dim_reduces_each_modality_before_its_projection(data, feature_dim, widths):
    model = MMFusion(feature_dim=feature_dim, epochs=1, verbose=False).fit(data.train, data.features)
    m = model.module_
    assert (m.x_image.shape[1], m.x_text.shape[1]) == widths               # image 24, text 16 columns
    assert (m.proj["image"].in_features, m.proj["text"].in_features) == widths
    cold = torch.as_tensor(data.cold)
    assert torch.all(m.mask[cold, 1:])                    # cold items keep their content tokens


def test_dropout_hits_the_scorer_user_vector_only_while_training(data):
    model = MMFusion(dropout=0.5, epochs=1, verbose=False).fit(data.train, data.features)
    m, users = model.module_, torch.arange(50)
    with torch.no_grad():
        m.eval()
        assert torch.equal(m.scorer_user(users), m.user(users))
        m.train()
        dropped = m.scorer_user(users)
    assert (dropped == 0).float().mean() > 0.3 and not torch.equal(dropped, m.user(users))


@pytest.mark.parametrize("kwargs, match", [(dict(feature_dim=0), "feature_dim must be None or a positive"),
                                           (dict(dropout=1.0), r"dropout must lie in \[0, 1\)")])
def test_bad_feature_dim_and_dropout(data, kwargs, match):
    with pytest.raises(ValueError, match=match):
        MMFusion(epochs=1, verbose=False, **kwargs).fit(data.train, data.features)
