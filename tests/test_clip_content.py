"""CLIP content model (dot and MLP rankers) and pairwise accuracy."""
import numpy as np
import pytest
import torch

from handson.datasets import Interactions
from handson.models.clip_content import CLIPContent, CLIPContentMLP, content_embeddings, mean_user_embeddings
from handson.protocols import pairwise_accuracy

from test_protocols import clustered


# -- content embeddings --------------------------------------------------------------------
def test_content_embeddings_average_available_modalities():
    img = np.array([[3.0, 4.0], [0.0, 0.0], [0.0, 0.0]], np.float32)
    txt = np.array([[0.0, 2.0], [5.0, 0.0], [0.0, 0.0]], np.float32)
    e = content_embeddings({"image": img, "text": txt}, ("image", "text"))
    np.testing.assert_allclose(e[0], [0.3, 0.9], rtol=1e-6)   # mean of (0.6, 0.8) and (0, 1)
    np.testing.assert_allclose(e[1], [1.0, 0.0])               # image missing: text alone
    np.testing.assert_array_equal(e[2], [0.0, 0.0])            # nothing: zero vector
    raw = content_embeddings({"image": img}, ("image",), normalize=False)
    np.testing.assert_array_equal(raw, img)


def test_mean_user_embeddings():
    train = Interactions([0, 0, 2], [0, 1, 1], 3, 2)
    emb = np.array([[1.0, 0.0], [0.0, 3.0]], np.float32)
    np.testing.assert_allclose(mean_user_embeddings(train.to_csr(), emb), [[0.5, 1.5], [0, 0], [0, 3]])


# -- CLIPContent (dot) -----------------------------------------------------------------------
def test_clip_content_dot_learns_tastes_and_scores_as_documented():
    train, test, feats = clustered()
    model = CLIPContent().fit(train, feats)
    scores = model.score(np.arange(5))
    assert scores.shape == (5, train.n_items) and scores.dtype == np.float32
    e = content_embeddings(feats, ("image", "text"))
    u = mean_user_embeddings(train.to_csr(), e)
    np.testing.assert_allclose(scores, u[:5] @ e.T, rtol=1e-5, atol=1e-6)
    acc = pairwise_accuracy(model, test, train, n_neg=5)
    assert acc > 0.85
    top = model.recommend(np.arange(train.n_users), k=10)
    seen = train.to_csr().toarray()
    assert not seen[np.arange(train.n_users)[:, None], top].any()


def test_clip_content_text_only_ablation_ignores_the_image():
    train, _, feats = clustered()
    text_only = CLIPContent(modalities=("text",)).fit(train, {"image": np.zeros_like(feats["image"]) + 7,
                                                              "text": feats["text"]})
    reference = CLIPContent(modalities="text").fit(train, {"text": feats["text"]})
    np.testing.assert_allclose(text_only.score([1, 2]), reference.score([1, 2]), rtol=1e-6)
    assert text_only.get_params()["modalities"] == ("text",)


def test_clip_content_rejects_bad_input():
    train, _, feats = clustered(n_users=20, n_items=30)
    with pytest.raises(ValueError, match="missing \\['image'\\]"):
        CLIPContent().fit(train, {"text": feats["text"]})
    with pytest.raises(ValueError, match="one joint space"):
        CLIPContent().fit(train, {"image": feats["image"][:, :8], "text": feats["text"]})
    with pytest.raises(ValueError, match="n_items=30"):
        CLIPContent().fit(train, {"image": feats["image"][:20], "text": feats["text"]})
    bad = feats["text"].copy()
    bad[4, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        CLIPContent().fit(train, {"image": feats["image"], "text": bad})
    with pytest.raises(ValueError, match="distinct"):
        CLIPContent(modalities=())
    with pytest.raises(ValueError, match="distinct"):
        CLIPContent(modalities=("text", "text"))


# -- CLIPContentMLP ----------------------------------------------------------------------------
def test_clip_content_mlp_learns_and_scores_in_chunks():
    train, test, feats = clustered()
    model = CLIPContentMLP(epochs=10, hidden=32, batch_size=256, verbose=False, seed=0).fit(train, feats)
    assert pairwise_accuracy(model, test, train, n_neg=5) > 0.85
    m, users = model.module_, torch.tensor([0, 3, 9])
    u = m.users(users)
    with torch.no_grad():
        direct = m(u[:, None].expand(-1, train.n_items, -1), m.items[None].expand(3, -1, -1))
        chunked = m.score_all(u, chunk=3 * 32 * 7)            # forces chunks of 7 items
    torch.testing.assert_close(chunked, direct, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(model.score([0, 3, 9]), direct.numpy(), rtol=1e-5, atol=1e-6)


def test_clip_content_mlp_leaves_the_positive_out_of_its_user():
    train = Interactions([0, 0, 0, 1], [0, 1, 2, 2], 2, 4)
    emb = np.eye(4, 3, dtype=np.float32)
    model = CLIPContentMLP(modalities="text", epochs=1, verbose=False).fit(train, {"text": emb})
    m = model.module_
    u = m.users(torch.tensor([0, 0, 1]), leave_out=torch.tensor([1, 2, 2]))
    torch.testing.assert_close(u, torch.tensor([[0.5, 0, 0.5], [0.5, 0.5, 0], [0, 0, 0]]))
    torch.testing.assert_close(m.users(torch.tensor([0])), torch.tensor([[1 / 3, 1 / 3, 1 / 3]]))


def test_clip_content_mlp_is_reproducible():
    train, _, feats = clustered(n_users=50, n_items=60)
    a = CLIPContentMLP(epochs=2, verbose=False, seed=5).fit(train, feats).score([1, 2])
    b = CLIPContentMLP(epochs=2, verbose=False, seed=5).fit(train, feats).score([1, 2])
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("kwargs, features, match", [
    (dict(hidden=0), None, "hidden"), (dict(dropout=1.0), None, "dropout"),
    (dict(epochs=0), None, "epochs"), ({}, "text_only", "missing \\['image'\\]"),
    ({}, "mismatch", "one joint space"),
])
def test_clip_content_mlp_rejects_bad_input(kwargs, features, match):
    train, _, feats = clustered(n_users=20, n_items=30)
    if features == "text_only":
        feats = {"text": feats["text"]}
    elif features == "mismatch":
        feats = {"image": feats["image"][:, :5], "text": feats["text"]}
    with pytest.raises(ValueError, match=match):
        CLIPContentMLP(verbose=False, **kwargs).fit(train, feats)


@pytest.mark.parametrize("feature_dim, width", [(4, 4), (None, 16), (64, 16)])
def test_clip_content_mlp_reads_the_top_singular_directions(feature_dim, width):
    train, test, feats = clustered()                                     # 16-dim joint embeddings
    model = CLIPContentMLP(feature_dim=feature_dim, epochs=10, hidden=32, batch_size=256, verbose=False,
                           seed=0).fit(train, feats)
    m = model.module_
    assert m.items.shape == (train.n_items, width) and m.first.in_features == 3 * width
    full = content_embeddings(feats, ("image", "text"))
    if feature_dim is None or feature_dim >= 16:
        np.testing.assert_allclose(m.items.numpy(), full, rtol=1e-6)
    assert pairwise_accuracy(model, test, train, n_neg=5) > 0.8          # 4 directions keep the clusters
    with pytest.raises(ValueError, match="feature_dim must be None or a positive integer"):
        CLIPContentMLP(feature_dim=0, verbose=False).fit(train, feats)
