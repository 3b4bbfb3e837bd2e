"""handson.evaluation: hand-computed cases, a slow reference, masking, skipping, bad input."""
import numpy as np
import pandas as pd
import pytest

from handson.datasets import Interactions
from handson.evaluation import ALL_METRICS, compare, evaluate
from test_metrics import PER_USER, reference_metrics


class FixedScores:
    """A 'model' whose score matrix is given: score(users) = S[users]."""

    def __init__(self, scores, fit_seconds=None):
        self.S = np.asarray(scores, dtype=np.float32)
        if fit_seconds is not None:
            self.fit_seconds_ = fit_seconds

    def score(self, users):
        return self.S[np.asarray(users)]


def pairs(pairs_, n_users, n_items):
    u, i = zip(*pairs_)
    return Interactions(np.array(u), np.array(i), n_users, n_items)


def random_case(seed, n_users=120, n_items=80):
    rng = np.random.default_rng(seed)
    train = Interactions(rng.integers(0, n_users, 1500), rng.integers(0, n_items, 1500), n_users, n_items)
    test = Interactions(rng.integers(0, n_users - 10, 300), rng.integers(0, n_items, 300), n_users, n_items)
    return rng, train, test, FixedScores(rng.standard_normal((n_users, n_items)))


def test_hand_computed_case():
    # 2 users x 6 items. Scores rank items 0 > 1 > ... > 5 for both users.
    scores = np.tile(np.arange(6, 0, -1), (2, 1))
    seen = pairs([(0, 0), (1, 1)], 2, 6)       # masked: user 0 ranks 1,2,3,..; user 1 ranks 0,2,3,..
    test = pairs([(0, 2), (0, 5), (1, 0)], 2, 6)
    res = evaluate(FixedScores(scores), test, seen=seen, k=(2, 3))
    # user 0 top-3 = [1, 2, 3]: hit at rank 2 of {2, 5}; user 1 top-3 = [0, 2, 3]: hit at rank 1
    assert res["users"] == 2 and res["users_skipped"] == 0
    assert res["Recall@2"] == pytest.approx((1 / 2 + 1) / 2)
    assert res["Precision@3"] == pytest.approx((1 / 3 + 1 / 3) / 2)
    assert res["MRR@3"] == pytest.approx((1 / 2 + 1) / 2)
    # user 0: DCG = 1/log2(3); IDCG over min(2, 3) = 2 ranks = 1 + 1/log2(3); user 1: 1
    ndcg0 = (1 / np.log2(3)) / (1 + 1 / np.log2(3))
    assert res["nDCG@3"] == pytest.approx((ndcg0 + 1) / 2)
    assert res["Coverage@2"] == pytest.approx(3 / 6)        # {1, 2} and {0, 2}
    assert res["Coverage@3"] == pytest.approx(4 / 6)        # + item 3
    assert list(res) == [f"{m}@{k}" for k in (2, 3) for m in ALL_METRICS] + ["users", "users_skipped"]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_against_slow_reference(seed):
    rng, train, test, model = random_case(seed)
    ks = sorted({int(rng.integers(1, 10)), int(rng.integers(10, 40))})
    res = evaluate(model, test, seen=train, k=ks, batch_size=int(rng.integers(7, 50)))
    seen_sets = [set(train.items[train.users == u]) for u in range(test.n_users)]
    per_user = {f"{m}@{k}": [] for m in PER_USER for k in ks}
    for u in range(test.n_users):
        relevant = set(test.items[test.users == u])
        if not relevant:
            continue
        order = [int(i) for i in np.argsort(-model.S[u], kind="stable") if i not in seen_sets[u]]
        for k in ks:
            for m, v in reference_metrics(order, relevant, k).items():
                per_user[f"{m}@{k}"].append(v)
    for key, vals in per_user.items():
        assert res[key] == pytest.approx(np.mean(vals), rel=1e-9, abs=1e-12), key
    assert res["users"] == len(per_user[f"Recall@{ks[0]}"])
    assert res["users_skipped"] == test.n_users - res["users"]


def test_masked_items_never_count():
    # an oracle that scores exactly the test items highest, and they are also in seen
    rng, train, test, _ = random_case(5)
    oracle = FixedScores(test.to_csr().toarray() + 0.01 * rng.random(test.shape))
    assert evaluate(oracle, test, k=10)["HR@10"] == 1.0                 # no masking: perfect
    masked = evaluate(oracle, test, seen=[train, test], k=10)
    assert masked["HR@10"] == 0.0 and masked["Recall@10"] == 0.0       # masked: never ranked


def test_users_without_test_items_are_skipped_and_counted():
    test = pairs([(0, 1), (2, 3)], 5, 6)                                   # users 1, 3, 4 have none
    res = evaluate(FixedScores(np.random.default_rng(0).random((5, 6))), test, k=3)
    assert (res["users"], res["users_skipped"]) == (2, 3)
    res = evaluate(FixedScores(np.random.default_rng(0).random((5, 6))), test, k=3, users=[0, 1, 1])
    assert (res["users"], res["users_skipped"]) == (1, 1)


def test_metrics_subset_and_single_k():
    rng, train, test, model = random_case(1)
    res = evaluate(model, test, seen=train, k=5, metrics=["recall", "nDCG@5", "Coverage"])
    assert set(res) == {"Recall@5", "nDCG@5", "Coverage@5", "users", "users_skipped"}
    assert res["Recall@5"] == pytest.approx(evaluate(model, test, seen=train, k=[5, 7])["Recall@5"])


def test_compare_table():
    rng, train, test, model = random_case(2)
    other = FixedScores(-model.S, fit_seconds=1.5)
    table = compare({"b": model, "a": other}, test, seen=[train], k=10, metrics=["Recall", "nDCG"])
    assert isinstance(table, pd.DataFrame) and list(table.index) == ["b", "a"]
    assert list(table.columns) == ["Recall@10", "nDCG@10", "fit_s", "eval_s"]
    assert np.isnan(table.loc["b", "fit_s"]) and table.loc["a", "fit_s"] == 1.5
    assert table.loc["a", "Recall@10"] == pytest.approx(
        evaluate(other, test, seen=train, k=10)["Recall@10"])
    assert table.attrs["users"] > 0
    assert "fit_s" not in compare({"b": model}, test, k=10).columns


def test_bad_input():
    rng, train, test, model = random_case(3)
    with pytest.raises(ValueError, match="n_items=80"):
        evaluate(model, test, k=81)
    with pytest.raises(ValueError, match="n_items"):
        evaluate(model, test, k=(10, 0))
    with pytest.raises(ValueError, match="integers"):
        evaluate(model, test, k=2.5)
    with pytest.raises(ValueError, match="Unknown metric"):
        evaluate(model, test, metrics=["AUC"])
    with pytest.raises(ValueError, match="different catalogs"):
        evaluate(model, test, seen=Interactions([0], [0], 3, 80))
    with pytest.raises(ValueError, match="seen must be"):
        evaluate(model, test, seen=[train, "valid"])
    with pytest.raises(ValueError, match="test must be"):
        evaluate(model, test.to_frame())
    with pytest.raises(ValueError, match="score"):
        evaluate(object(), test)
    with pytest.raises(ValueError, match="shape"):
        evaluate(FixedScores(model.S[:, :70]), test)
    nan = model.S.copy()
    nan[test.users[0], 4] = np.nan                                        # a user with test items
    with pytest.raises(ValueError, match="NaN"):
        evaluate(FixedScores(nan), test)
    with pytest.raises(ValueError, match="outside"):
        evaluate(model, test, users=[0, 500])
    with pytest.raises(ValueError, match="No user has a test item"):
        evaluate(model, test, users=[115, 116])
    with pytest.raises(ValueError, match="batch_size"):
        evaluate(model, test, batch_size=0)
    fitted = FixedScores(model.S)
    fitted.n_items_ = 79
    with pytest.raises(ValueError, match="same Dataset"):
        evaluate(fitted, test)
    with pytest.raises(ValueError, match="non-empty dict"):
        compare({}, test)


class ViewScores(FixedScores):
    """Returns a view into its own state (a slice), as a caching model might."""

    def score(self, users):
        return self.S[users[0]:users[-1] + 1] if np.all(np.diff(users) == 1) else self.S[users]


def test_does_not_modify_model_state():
    rng = np.random.default_rng(4)
    test = Interactions(np.arange(60), rng.integers(0, 80, 60), 60, 80)        # every user tested
    train = Interactions(rng.integers(0, 60, 600), rng.integers(0, 80, 600), 60, 80)
    model = ViewScores(rng.standard_normal((60, 80)))
    before = model.S.copy()
    res = evaluate(model, test, seen=train, batch_size=60)                   # one contiguous batch
    np.testing.assert_array_equal(model.S, before)                          # masking wrote to a copy
    assert res == evaluate(FixedScores(before), test, seen=train)


# -- beyond accuracy, per-user results, paired tests, seeds -----------------------------------
def test_beyond_metrics_against_slow_reference():
    from test_beyond_accuracy import as_reference_features, random_features, reference_beyond
    rng, train, test, model = random_case(7)
    feats = {"image": random_features(rng, 80, 5), "text": rng.standard_normal((80, 3))}
    names = ["Recall", "Coverage", "Gini", "Entropy", "Novelty", "ARP", "APLT", "ILD"]
    res = evaluate(model, test, seen=train, k=(5, 12), metrics=names, item_features=feats,
                   batch_size=17, per_user=True)
    users = res["per_user"].index.to_numpy()
    assert len(users) == res["users"]
    seen_sets = [set(train.items[train.users == u]) for u in range(test.n_users)]
    order = [[int(i) for i in np.argsort(-model.S[u], kind="stable") if i not in seen_sets[u]] for u in users]
    for k in (5, 12):
        ref, per_user, _, _ = reference_beyond([o[:k] for o in order], zip(train.users, train.items),
                                               test.n_users, test.n_items,
                                               as_reference_features({"-image": feats["image"], "-text": feats["text"]}))
        for name, value in ref.items():
            assert res[f"{name}@{k}"] == pytest.approx(value, abs=1e-6), (name, k)
        for name, values in per_user.items():
            np.testing.assert_allclose(res["per_user"][f"{name}@{k}"], values, atol=1e-6)
    assert list(res)[:9] == ["Recall@5", "Coverage@5", "Gini@5", "Entropy@5", "Novelty@5", "ARP@5", "APLT@5",
                             "ILD-image@5", "ILD-text@5"]
    assert list(res["per_user"].columns[:6]) == ["Recall@5", "Novelty@5", "ARP@5", "APLT@5", "ILD-image@5",
                                                 "ILD-text@5"]
    # popularity= replaces seen as the popularity source
    other = evaluate(model, test, seen=train, k=5, metrics=["ARP"], popularity=test)
    ref, _, _, _ = reference_beyond([o[:5] for o in order], zip(test.users, test.items), 120, 80)
    assert other["ARP@5"] == pytest.approx(ref["ARP"])


def test_per_user_and_defaults():
    rng, train, test, model = random_case(8)
    plain = evaluate(model, test, seen=train, k=(5, 10))
    res = evaluate(model, test, seen=train, k=(5, 10), per_user=True)
    frame = res.pop("per_user")
    assert res == plain                                                    # same numbers, same order
    assert frame.index.name == "user" and len(frame) == plain["users"]
    assert list(frame.columns) == [key for key in plain if key.split("@")[0] in
                                   ("Precision", "Recall", "nDCG", "HR", "MRR", "MAP", "F1")]
    for col in frame.columns:
        assert frame[col].mean() == pytest.approx(plain[col], rel=1e-12)
    X = rng.standard_normal((80, 4))
    with_ild = evaluate(model, test, seen=train, k=5, item_features=X)
    assert list(with_ild)[-3:] == ["ILD@5", "users", "users_skipped"]    # ILD by default with features
    with pytest.raises(ValueError, match="ILD needs item_features"):
        evaluate(model, test, seen=train, metrics=["ILD"])
    with pytest.raises(ValueError, match="popularity"):
        evaluate(model, test, metrics=["Novelty"])
    with pytest.raises(ValueError, match="n_items=80"):
        evaluate(model, test, metrics=["ILD"], item_features=X[:70])


def test_paired_test_matches_scipy():
    from scipy import stats
    from handson.evaluation import paired_test
    rng, train, test, model = random_case(9)
    noisy = FixedScores(model.S + rng.standard_normal(model.S.shape))
    a = evaluate(model, test, seen=train, k=20, per_user=True)
    b = evaluate(noisy, test, seen=train, k=20, per_user=True)
    va, vb = a["per_user"]["Recall@20"].to_numpy(), b["per_user"]["Recall@20"].to_numpy()
    for test_name, fn in (("wilcoxon", stats.wilcoxon), ("ttest", stats.ttest_rel)):
        out = paired_test(a, b, metric="Recall@20", test=test_name)
        assert set(out) == {"mean_diff", "ci_low", "ci_high", "p_value", "n_users"}
        assert out["p_value"] == pytest.approx(fn(va, vb).pvalue, rel=1e-12)
        assert out["mean_diff"] == pytest.approx(a["Recall@20"] - b["Recall@20"])
        assert out["ci_low"] < out["mean_diff"] < out["ci_high"] and out["n_users"] == a["users"]
    same = paired_test(a, a["per_user"], metric="nDCG@20")
    assert same["p_value"] == 1.0 and same["mean_diff"] == 0 == same["ci_low"] == same["ci_high"]
    with pytest.raises(ValueError, match="per_user=True"):
        paired_test(evaluate(model, test, k=20), b)
    with pytest.raises(ValueError, match="not a per-user column"):
        paired_test(a, b, metric="Coverage@20")


def test_compare_over_seeds():
    from handson.models import MostPop, Random
    from handson.significance import seed_interval
    rng = np.random.default_rng(10)
    data = Interactions(rng.integers(0, 60, 2000), rng.integers(0, 40, 2000), 60, 40)
    table = compare({"pop": MostPop(), "random": Random(seed=0), "f": lambda s: Random(seed=100 + s)},
                    dataset=data, seeds=[1, 2, 3], k=10, metrics=["Recall", "Gini"])
    assert list(table.index) == ["pop", "random", "f"]
    assert list(table.columns) == ["Recall@10", "Gini@10", "Recall@10 std", "Gini@10 std", "Recall@10 low",
                                   "Gini@10 low", "Recall@10 high", "Gini@10 high", "fit_s", "eval_s"]
    runs = table.attrs["runs"]
    assert len(runs) == 9 and table.attrs["seeds"] == [1, 2, 3]
    r = runs[runs.model == "random"]
    assert r["Recall@10"].nunique() == 3                                  # split and model seed vary
    ref = seed_interval(r["Recall@10"].to_numpy())
    assert table.loc["random", "Recall@10 low"] == pytest.approx(ref["low"])
    assert table.loc["random", "Recall@10 high"] == pytest.approx(ref["high"])
    # one seed: the same as evaluating the fitted model on that seed's split
    from handson import split
    tr, va, te = split.random_split(data, test=0.2, valid=0.1, seed=4)
    one = compare({"pop": MostPop()}, dataset=data, seeds=[4], k=10, metrics=["Recall"])
    assert one.loc["pop", "Recall@10"] == pytest.approx(
        evaluate(MostPop().fit(tr), te, seen=[tr, va], k=10)["Recall@10"])
    assert np.isnan(one.loc["pop", "Recall@10 std"])
    both = compare(lambda s: {"pop": MostPop(), "random": Random(seed=s)}, dataset=data, seeds=[0, 1], k=10)
    again = compare({"pop": MostPop(), "random": Random(seed=5)}, dataset=data, seeds=[0, 1], k=10)
    pd.testing.assert_frame_equal(both.drop(columns=["fit_s", "eval_s"]), again.drop(columns=["fit_s", "eval_s"]))
    with pytest.raises(ValueError, match="dataset="):
        compare({"pop": MostPop()}, seeds=[1])
    with pytest.raises(ValueError, match="non-empty dict"):
        compare(lambda s: {}, dataset=data, seeds=[1])
    with pytest.raises(ValueError, match="instead of test"):
        compare({"pop": MostPop()}, te, seeds=[1], dataset=data)
    with pytest.raises(ValueError, match="only used with seeds"):
        compare({"pop": MostPop().fit(tr)}, te, dataset=data)
