"""Control baselines: random and shuffled features, and the with_control comparison table."""
import numpy as np
import pytest

from handson.datasets import Interactions
from handson.models.clip_content import CLIPContent
from handson.models.controls import random_features, shuffled_features, with_control


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
