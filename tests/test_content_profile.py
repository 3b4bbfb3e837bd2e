"""ContentProfile: per-modality standardised unit vectors, concatenated; the user is their mean."""
import numpy as np
import pytest

from handson import datasets, split
from handson.evaluation import evaluate
from handson.models import ContentProfile, Random
from handson.models.content_profile import profile_vectors
from handson.protocols import only_items

from test_protocols import clustered


def test_profile_vectors_weight_the_per_modality_cosines():
    rng = np.random.default_rng(0)
    img, txt = rng.normal(size=(6, 5)).astype(np.float32), rng.normal(size=(6, 3)).astype(np.float32)
    txt[2] = 0.0                                                       # item 2 has no text
    e = profile_vectors({"image": img, "text": txt}, ("image", "text"), weights=(3.0, 1.0))
    assert e.shape == (6, 8) and e.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(e[:, :5], axis=1), np.sqrt(0.75), rtol=1e-5)
    np.testing.assert_array_equal(e[2, 5:], 0.0)
    z = (img - img.mean(0)) / img.std(0)
    z /= np.linalg.norm(z, axis=1, keepdims=True)
    np.testing.assert_allclose(e[:, :5] @ e[:, :5].T, 0.75 * z @ z.T, rtol=1e-4, atol=1e-5)


def test_scores_are_the_mean_profile_dot_item_and_modalities_of_any_width():
    train, test, feats = clustered()
    feats["text"] = np.hstack([feats["text"], feats["text"][:, :3]])  # another width than the image
    model = ContentProfile().fit(train, feats)
    e = profile_vectors(feats, ("image", "text"))
    X = train.to_csr()
    users = np.arange(7)
    expected = (X[users] @ e) / np.asarray(X[users].sum(1)) @ e.T
    np.testing.assert_allclose(model.score(users), expected, rtol=1e-4, atol=1e-5)
    assert evaluate(model, test, seen=[train], k=(10,))["Recall@10"] > 3 * \
        evaluate(Random(seed=0).fit(train), test, seen=[train], k=(10,))["Recall@10"]


def test_beats_random_on_toyshop_cold_items():
    """Toyshop's item attributes as two modalities of different widths (one-hot columns, no
    encoder needed): new items are ranked far above chance from content alone."""
    import pandas as pd
    ds = datasets.load("toyshop")
    feats = {"look": pd.get_dummies(ds.items[["colour", "pattern"]]).to_numpy(np.float32),
             "kind": pd.get_dummies(ds.items[["category", "material", "brand"]]).to_numpy(np.float32)}
    parts = split.cold_item_split(ds, items=0.2, seed=42)
    cold = np.flatnonzero(parts.train.item_counts() == 0)
    r = {name: evaluate(only_items(m.fit(parts.train, feats), cold), parts.test, seen=[parts.train],
                        k=(20,))["Recall@20"]
         for name, m in (("random", Random(seed=42)), ("content", ContentProfile(("look", "kind"))))}
    assert r["content"] > 2 * r["random"], r


@pytest.mark.parametrize("kwargs, match", [
    (dict(weights=(1.0,)), "one non-negative number per modality"),
    (dict(weights=(0.0, 0.0)), "not all zero"),
    (dict(weights=(1.0, -1.0)), "non-negative"),
    (dict(modalities=()), "at least one modality"),
])
def test_bad_parameters(kwargs, match):
    train, _, feats = clustered(n_users=20, n_items=30)
    with pytest.raises(ValueError, match=match):
        ContentProfile(**kwargs).fit(train, feats)
