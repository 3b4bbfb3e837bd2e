"""EASE's closed form and CEASE, EASE with item content (Jeunen et al., 2020)."""
import numpy as np
import pytest

from handson.models import CEASE, EASE, Random
from handson.models.ease import ease_weights

from mm_synthetic import recall, synthetic


def test_cholesky_weights_are_the_papers_closed_form():
    rng = np.random.default_rng(0)
    X = (rng.random((40, 12)) < 0.3).astype(np.float64)
    G = X.T @ X
    P = np.linalg.inv(G + 5.0 * np.eye(12))
    expected = -P / np.diag(P)[None, :]
    np.fill_diagonal(expected, 0.0)
    np.testing.assert_allclose(ease_weights(G.copy(), 5.0), expected, rtol=1e-4, atol=1e-6)


def test_zero_content_weight_is_ease_and_content_changes_the_weights():
    data = synthetic()
    ease = EASE(lam=20.0).fit(data.train)
    none = CEASE(content_weight=0.0, lam=20.0).fit(data.train, data.features)
    np.testing.assert_array_equal(none.weights_, ease.weights_)
    some = CEASE(lam=20.0).fit(data.train, data.features)
    assert np.abs(some.weights_ - ease.weights_).max() > 1e-3


def test_content_ranks_cold_items_that_ease_cannot():
    """Cold items have no interactions: EASE gives them no weight at all, CEASE links them to
    the warm items whose content looks alike, so a user's cold items of the cluster they
    like score above the other cold items."""
    data = synthetic()
    ease, cease = EASE(lam=20.0).fit(data.train), CEASE(lam=20.0).fit(data.train, data.features)
    assert not ease.weights_[:, data.cold].any()
    X = data.train.to_csr()
    users = np.flatnonzero(np.diff(X.indptr))
    liked = np.array([np.bincount(data.cluster[X[u].indices]).argmax() for u in users])
    scores = cease.score(users)[:, data.cold]
    in_liked = data.cluster[data.cold][None, :] == liked[:, None]
    has_both = in_liked.any(1) & (~in_liked).any(1)
    above = [scores[r, in_liked[r]].mean() > scores[r, ~in_liked[r]].mean() for r in np.flatnonzero(has_both)]
    assert len(above) > 50 and np.mean(above) > 0.8


def test_warm_accuracy_beats_random_and_is_not_below_ease():
    data = synthetic()
    r_ease = recall(EASE(lam=20.0).fit(data.train), data)
    r_cease = recall(CEASE(lam=20.0).fit(data.train, data.features), data)
    assert r_cease > 3 * recall(Random(seed=0).fit(data.train), data)
    assert r_cease >= r_ease - 0.02


@pytest.mark.parametrize("kwargs, match", [
    (dict(content_weight=-1.0), "content_weight must be >= 0"),
    (dict(modalities=()), "at least one modality"),
    (dict(lam=0.0), "must be positive"),
])
def test_bad_parameters(kwargs, match):
    data = synthetic()
    with pytest.raises(ValueError, match=match):
        CEASE(**kwargs).fit(data.train, data.features)


def test_missing_modality_is_named():
    data = synthetic()
    with pytest.raises(ValueError, match="text"):
        CEASE().fit(data.train, {"image": data.features["image"]})
