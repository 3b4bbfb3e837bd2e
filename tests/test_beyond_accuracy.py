"""handson.beyond_accuracy: every metric against a slow, obvious implementation of its formula,
on random data and (slow) on MovieLens latest-small, through evaluate() too."""
import math
import os
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from handson import beyond_accuracy as BA
from handson.datasets import Interactions


# -- the slow reference: plain Python over lists, straight from the formulas ---------------
def reference_beyond(lists, source_pairs, n_users, n_items, features=None, share=0.2):
    """Every beyond-accuracy metric of ``lists`` (a list of item lists, one per evaluated user).

    ``source_pairs``: (user, item) pairs of the popularity source; ``features``: dict label ->
    (rows, usable) with ``rows`` a list of vectors and ``usable`` a list of bools.
    """
    counts = [0] * n_items
    for lst in lists:
        for i in lst:
            counts[i] += 1
    c = sorted(counts)
    total = sum(c)
    out = {"Gini": sum((2 * j - n_items - 1) * c[j - 1] for j in range(1, n_items + 1)) / (n_items * total),
           "Entropy": -sum(x / total * math.log(x / total) for x in counts if x > 0)}
    users_of = [set() for _ in range(n_items)]
    for u, i in source_pairs:
        users_of[i].add(u)
    pop = [len(s) for s in users_of]
    order = sorted(range(n_items), key=lambda i: (-pop[i], i))
    head, held = set(), 0
    for i in order:
        if held >= share * sum(pop):
            break
        head.add(i)
        held += pop[i]
    per_user = {"Novelty": [], "ARP": [], "APLT": []}
    for lst in lists:
        per_user["Novelty"].append(sum(-math.log2((pop[i] + 1) / (n_users + 1)) for i in lst) / len(lst))
        per_user["ARP"].append(sum(pop[i] for i in lst) / len(lst))
        per_user["APLT"].append(sum(i not in head for i in lst) / len(lst))
    for label, (rows, usable) in (features or {}).items():
        vals = []
        for lst in lists:
            good = [i for i in lst if usable[i] and any(x != 0 for x in rows[i])]
            dists = [1 - _cos(rows[a], rows[b]) for n, a in enumerate(good) for b in good[n + 1:]]
            vals.append(sum(dists) / len(dists) if dists else float("nan"))
        per_user["ILD" + label] = vals
    for name, vals in per_user.items():
        defined = [v for v in vals if not math.isnan(v)]
        out[name] = sum(defined) / len(defined)
    return out, per_user, head, pop


def _cos(x, y):
    dot = sum(float(a) * float(b) for a, b in zip(x, y))
    return dot / math.sqrt(sum(float(a) ** 2 for a in x) * sum(float(b) ** 2 for b in y))


class Duck:
    """A Features look-alike: values through __array__, availability in .mask."""

    def __init__(self, values, mask):
        self.values, self.mask = np.asarray(values, dtype=np.float32), np.asarray(mask, dtype=bool)

    def __array__(self, dtype=None, copy=None):
        return self.values if dtype is None else self.values.astype(dtype)


def random_features(rng, n_items, d, zero=5, unavailable=4):
    X = rng.standard_normal((n_items, d)).astype(np.float32)
    X[rng.choice(n_items, zero, replace=False)] = 0
    mask = np.ones(n_items, dtype=bool)
    mask[rng.choice(n_items, unavailable, replace=False)] = False
    return Duck(X, mask)


def as_reference_features(feats):
    out = {}
    for label, f in feats.items():
        mask = getattr(f, "mask", None)
        X = np.asarray(f)
        out[label] = (X.tolist(), [True] * len(X) if mask is None else mask.tolist())
    return out


# -- the functions, on random data ---------------------------------------------------------
@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_metrics_against_slow_reference(seed):
    rng = np.random.default_rng(seed)
    n_users, n_items, k = int(rng.integers(20, 60)), int(rng.integers(15, 40)), int(rng.integers(2, 8))
    top = np.array([rng.choice(n_items, k, replace=False) for _ in range(n_users)])
    top[: n_users // 3] = top[0]                                   # some concentration
    src_u, src_i = rng.integers(0, n_users, 400), rng.integers(0, n_items, 400)
    source = sp.csr_matrix((np.ones(400), (src_u, src_i)), shape=(n_users, n_items))
    feats = {"": random_features(rng, n_items, 6), "-plain": rng.standard_normal((n_items, 4))}
    ref, per_user, head, pop = reference_beyond(top.tolist(), zip(src_u.tolist(), src_i.tolist()),
                                                n_users, n_items, as_reference_features(feats))
    counts = BA.exposure(top, n_items)
    assert BA.gini_index(counts) == pytest.approx(ref["Gini"], abs=1e-12)
    assert BA.exposure_entropy(counts) == pytest.approx(ref["Entropy"], abs=1e-12)
    pop_fast = BA.item_popularity(source)
    np.testing.assert_array_equal(pop_fast, pop)
    np.testing.assert_array_equal(np.flatnonzero(BA.short_head(pop_fast)), sorted(head))
    np.testing.assert_allclose(BA.novelty(top, pop_fast, n_users), per_user["Novelty"], atol=1e-12)
    np.testing.assert_allclose(BA.average_popularity(top, pop_fast), per_user["ARP"], atol=1e-12)
    np.testing.assert_allclose(BA.long_tail_share(top, BA.short_head(pop_fast)), per_user["APLT"], atol=1e-12)
    for label, f in feats.items():
        fast = BA.intra_list_distance(top, f, chunk=int(rng.integers(1, 9)))
        np.testing.assert_allclose(fast, per_user["ILD" + label], atol=1e-6)


def test_hand_computed_values():
    # 4 items; lists [0, 1] and [0, 2]: exposure (2, 1, 1, 0)
    counts = BA.exposure(np.array([[0, 1], [0, 2]]), 4)
    np.testing.assert_array_equal(counts, [2, 1, 1, 0])
    # sorted (0, 1, 1, 2): sum_j (2j - 5) c_j = -3*0 - 1*1 + 1*1 + 3*2 = 6; / (4 * 4)
    assert BA.gini_index(counts) == pytest.approx(6 / 16)
    assert BA.gini_index([5, 5, 5]) == 0 and BA.gini_index([0, 0, 0]) == 0
    assert BA.gini_index([0, 0, 0, 7]) == pytest.approx(3 / 4)           # 1 - 1/n
    assert BA.exposure_entropy(counts) == pytest.approx(-(0.5 * math.log(0.5) + 2 * 0.25 * math.log(0.25)))
    # popularity (5, 3, 1, 1): 20% of 10 = 2 -> the head is item 0 alone
    np.testing.assert_array_equal(BA.short_head([5, 3, 1, 1]), [True, False, False, False])
    # ties go to the lower index: (1, 1, 1, 1, 1) -> the head is item 0
    np.testing.assert_array_equal(BA.short_head(np.ones(5)), [True] + [False] * 4)
    assert BA.novelty(np.array([[0]]), np.array([3, 0]), 3)[0] == pytest.approx(0.0)   # everyone has it
    X = np.array([[1, 0], [0, 1], [1, 1], [0, 0]], dtype=np.float32)
    # list [0, 1, 3]: item 3 has a zero row, one pair (0, 1) at distance 1
    np.testing.assert_allclose(BA.intra_list_distance(np.array([[0, 1, 3], [0, 3, 3]]), X), [1.0, np.nan])


def test_bad_input():
    with pytest.raises(ValueError, match="outside"):
        BA.exposure(np.array([[0, 5]]), 4)
    with pytest.raises(ValueError, match="2-D"):
        BA.exposure(np.array([0, 1]), 4)
    with pytest.raises(ValueError, match="share"):
        BA.short_head([1, 2], share=0)
    with pytest.raises(ValueError, match="n_users"):
        BA.novelty(np.array([[0]]), np.array([5, 1]), n_users=3)
    with pytest.raises(ValueError, match="NaN"):
        BA.unit_rows(np.array([[np.nan, 1.0]]))
    with pytest.raises(ValueError, match="ILD needs|popularity"):
        BA.ListMetrics(["Novelty"], None, None, 3)


# -- on real data --------------------------------------------------------------------------
def _shared_ml() -> Path | None:
    env = os.environ.get("HANDSON_ML_DIR")
    path = Path(env) if env else Path(__file__).resolve().parents[1].parent / "shared" / "data" / "ml-latest-small"
    return path if (path / "ratings.csv").is_file() else None


def _genres_and_words(ds):
    """Two real content spaces of MovieLens: genres (multi-hot) and title words (hashed counts)."""
    genres = ds.items["genres"].fillna("").str.get_dummies(sep="|")
    genres = genres.drop(columns=[c for c in genres.columns if c.startswith("(no genres")]).to_numpy(np.float32)
    words = np.zeros((ds.n_items, 64), dtype=np.float32)
    for i, title in enumerate(ds.items["title"].fillna("").str.lower()):
        for w in title.split():
            words[i, sum(map(ord, w)) % 64] += 1
    return {"genres": genres, "words": words}


@pytest.mark.slow
@pytest.mark.skipif(_shared_ml() is None, reason="no shared ml-latest-small copy (HANDSON_ML_DIR)")
def test_real_data_against_slow_reference():
    from handson import datasets, evaluation, split
    from handson.models import MostPop
    ds = datasets.load("movielens-latest-small", root=_shared_ml())
    train, valid, test = split.random_split(ds, test=0.2, valid=0.1, seed=0)
    R = train.to_csr().astype(np.float64)
    u, s, vt = sp.linalg.svds(R, k=32, random_state=0)

    class PureSVD:                                                    # a personalised model: U S V^T
        def score(self, users):
            return ((u[users] * s) @ vt).astype(np.float32)

    feats = _genres_and_words(ds)
    metrics = ["Recall", "Gini", "Entropy", "Novelty", "ARP", "APLT", "ILD"]
    seen = [train, valid]
    source = Interactions.concat(seen)
    worst = 0.0
    for model in (PureSVD(), MostPop().fit(train)):
        res = evaluation.evaluate(model, test, seen=seen, k=20, metrics=metrics, item_features=feats,
                                  per_user=True)
        users = res["per_user"].index.to_numpy()
        scores = np.asarray(model.score(users), dtype=np.float32)
        seen_csr = source.to_csr()
        for r, user in enumerate(users):
            scores[r, seen_csr[user].indices] = -np.inf
        lists = np.argsort(-scores, axis=1, kind="stable")[:, :20].tolist()
        ref, _, _, _ = reference_beyond(lists, zip(source.users.tolist(), source.items.tolist()), ds.n_users,
                                        ds.n_items, as_reference_features({f"-{m}": f for m, f in feats.items()}))
        for name, value in ref.items():
            worst = max(worst, abs(res[f"{name}@20"] - value))
            assert res[f"{name}@20"] == pytest.approx(value, abs=1e-6), name
    print(f"MovieLens latest-small: max |library - reference| over 2 models x {len(ref)} metrics = {worst:.2e}")
