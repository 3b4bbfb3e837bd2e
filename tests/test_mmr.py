"""handson.models.mmr: lam=1 is the base ranking, a slow greedy reference, diversity goes up."""
import numpy as np
import pytest

from handson.beyond_accuracy import intra_list_distance
from handson.datasets import Interactions
from handson.evaluation import evaluate
from handson.models import EASE, MMR, MostPop


def case(seed=0, n_users=50, n_items=70):
    rng = np.random.default_rng(seed)
    train = Interactions(rng.integers(0, n_users, 900), rng.integers(0, n_items, 900), n_users, n_items)
    test = Interactions(rng.integers(0, n_users, 200), rng.integers(0, n_items, 200), n_users, n_items)
    X = rng.standard_normal((n_items, 8)).astype(np.float32)
    X[:3] = 0                                                            # items without features
    return rng, train, test, X, EASE().fit(train)


def slow_mmr(scores, seen, X, lam, candidates, k):
    """Greedy MMR for one user, in plain Python."""
    order = [int(i) for i in np.argsort(-scores, kind="stable") if i not in seen][:candidates]
    rel = scores[order]
    rel = (rel - rel.min()) / (rel.max() - rel.min()) if rel.max() > rel.min() else 0 * rel
    norms = np.linalg.norm(X, axis=1)

    def sim(i, j):
        return 0.0 if norms[i] == 0 or norms[j] == 0 else float(X[i] @ X[j] / (norms[i] * norms[j]))

    chosen = [0]
    while len(chosen) < k:
        best, best_val = None, -np.inf
        for p in range(len(order)):
            if p in chosen:
                continue
            val = lam * rel[p] - (1 - lam) * max(sim(order[p], order[q]) for q in chosen)
            if val > best_val + 1e-9:
                best, best_val = p, val
        chosen.append(best)
    return [order[p] for p in chosen]


def test_lam_one_is_the_base_ranking():
    rng, train, test, X, base = case()
    users = np.arange(train.n_users)
    mmr = MMR(base, X, lam=1.0, candidates=30)
    np.testing.assert_array_equal(mmr.recommend(users, k=20), base.recommend(users, k=20))
    assert evaluate(mmr, test, seen=train, k=20) == evaluate(base, test, seen=train, k=20)
    pop = MostPop().fit(train)                                            # many ties: still the same lists
    np.testing.assert_array_equal(MMR(pop, X, lam=1.0, candidates=25).recommend(users, k=25),
                                  pop.recommend(users, k=25))


@pytest.mark.parametrize("lam", [0.0, 0.3, 0.7])
def test_against_slow_greedy(lam):
    rng, train, test, X, base = case(1)
    users = np.arange(0, train.n_users, 3)
    fast = MMR(base, X, lam=lam, candidates=25).recommend(users, k=10)
    csr, scores = train.to_csr(), base.score(users)
    for row, u in enumerate(users):
        assert fast[row].tolist() == slow_mmr(scores[row], set(csr[u].indices), X, lam, 25, 10)


def test_large_catalog_path_gives_the_same_lists(monkeypatch):
    from handson.models import mmr
    rng, train, test, X, base = case(4)
    users = np.arange(train.n_users)
    full = MMR(base, X, lam=0.4, candidates=30).recommend(users, k=15)
    monkeypatch.setattr(mmr, "FULL_SIMILARITY_ITEMS", 10)                 # per-block similarities
    blocks = MMR(base, X, lam=0.4, candidates=30)
    np.testing.assert_array_equal(blocks.recommend(users, k=15), full)
    assert blocks._sim is None


def test_scores_and_diversity():
    rng, train, test, X, base = case(2)
    users = np.arange(train.n_users)
    mmr = MMR(base, X, lam=0.2, candidates=40)
    s = mmr.score(users)
    assert s.dtype == np.float32 and s.shape == (train.n_users, train.n_items)
    assert np.all(s[train.users, train.items] == -np.inf)                 # seen items never come back
    ranked = np.sort(s, axis=1)[:, ::-1]
    assert np.all(ranked[:, :40] >= 1) and np.all(ranked[:, 40:][np.isfinite(ranked[:, 40:])] <= 0)
    top = mmr.recommend(users, k=10)
    assert set(top[0]) <= set(base.recommend([0], k=40)[0])                 # re-ranked candidates only
    assert np.nanmean(intra_list_distance(top, X)) > np.nanmean(intra_list_distance(base.recommend(users, 10), X))


def test_fit_fits_the_base_and_bad_input():
    rng, train, test, X, _ = case(3)
    mmr = MMR(EASE(), X)
    with pytest.raises(RuntimeError, match="not fitted"):
        mmr.score([0])
    assert mmr.fit(train) is mmr and mmr.n_items_ == train.n_items and "lam=0.5" in repr(mmr)
    named = MMR(EASE(), "image", lam=0.3).fit(train, {"image": X})      # features by name, from fit
    np.testing.assert_array_equal(named.recommend([0, 1], k=5),
                                  MMR(named.base, X, lam=0.3).recommend([0, 1], k=5))
    assert "item_features='image'" in repr(named)
    with pytest.raises(ValueError, match="features of fit"):
        MMR(EASE(), "text").fit(train, {"image": X})
    with pytest.raises(RuntimeError, match="takes its features from fit"):
        MMR(named.base, "image").score([0])
    with pytest.raises(ValueError, match="lam"):
        MMR(EASE(), X, lam=1.5)
    with pytest.raises(ValueError, match="candidates"):
        MMR(EASE(), X, candidates=0)
    with pytest.raises(ValueError, match="one modality"):
        MMR(EASE(), {"image": X})
    with pytest.raises(ValueError, match="score"):
        MMR(object(), X)
    with pytest.raises(ValueError, match="exceeds candidates"):
        MMR(mmr.base, X, candidates=10).recommend([0], k=20)
    with pytest.raises(ValueError, match="rows"):
        MMR(mmr.base, X[:50]).score([0])
