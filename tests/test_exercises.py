"""handson.exercises: every check passes a correct answer, fails a deliberately wrong one, and
reports a placeholder (None) as not attempted without raising.

Correct answers are computed the way the notebooks' solution cells do (through the library),
on toyshop:small with one-epoch models; the checks recompute them independently.
"""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from handson import beyond_accuracy, datasets, evaluation, exercises, recommendations, split, tuning
from handson.explorer import Explorer
from handson.models import BM3, BPR, EASE, FREEDOM, GFCF, MMR, VBPR, CLIPContent, ItemKNN, MMFusion, MostPop
from handson.models import graph, item_graph
from handson.protocols import only_items, sample_test_triples

K = 10
ONE = dict(epochs=1, verbose=False, seed=0)


@pytest.fixture(scope="module")
def ctx():
    ds = datasets.load("toyshop:small")
    train, valid, test = split.random_split(ds, test=0.2, valid=0.1, seed=0)
    cold_split = split.cold_item_split(ds, items=0.2, valid=0.1, seed=0)
    rng = np.random.default_rng(0)
    feats = {"image": rng.normal(size=(ds.n_items, 16)).astype(np.float32),
             "text": rng.normal(size=(ds.n_items, 8)).astype(np.float32)}
    feats["image"][:5] = 0.0
    cold = np.flatnonzero(cold_split.train.item_counts() == 0)
    return SimpleNamespace(ds=ds, train=train, valid=valid, test=test, cold_split=cold_split, feats=feats,
                           cold=cold, seen=[train, valid], rng=rng)


# -- 00-04: data, splits, metrics, baselines -------------------------------------------------
def _mrr(ranked, relevant, k):
    return next((1 / (r + 1) for r, item in enumerate(ranked[:k]) if item in relevant), 0.0)


def _mrr_last(ranked, relevant, k):
    hits = [r for r, item in enumerate(ranked[:k]) if item in relevant]
    return 1 / (hits[-1] + 1) if hits else 0.0


def _neighbours(x, mask, item, k):
    sims = x @ x[item]
    sims[~mask] = -np.inf
    sims[item] = -np.inf
    return np.argsort(-sims)[:k]


def case_data(c):
    ds, train, valid, test = c.ds, c.train, c.valid, c.test
    ease = EASE().fit(train)
    counts = ds.interactions.item_counts()
    V = SimpleNamespace(values=c.feats["image"], mask=np.abs(c.feats["image"]).sum(1) > 0)
    v_mean = V.values.copy()
    v_mean[~V.mask] = V.values[V.mask].mean(0)
    Vn = V.values / np.maximum(np.linalg.norm(V.values, axis=1, keepdims=True), 1e-12)
    pattern = np.arange(ds.n_items) % 3
    share = np.mean([(pattern[_neighbours(Vn, V.mask, i, 5)] == pattern[i]).all() for i in np.flatnonzero(V.mask)])
    splits = {"random, per user": split.random_split(ds, test=0.2, valid=0.1, seed=0),
              "random, global": split.random_split(ds, test=0.2, valid=0.1, per_user=False, seed=0)}
    no_test = {n: int(((ds.interactions.user_counts() > 0) & (s.test.user_counts() == 0)).sum()) for n, s in splits.items()}
    cs = c.cold_split
    cold_pop = evaluation.evaluate(MostPop().fit(cs.train), cs.test, seen=[cs.train, cs.valid], k=K)[f"Recall@{K}"]
    lams = (10, 200, 1000)
    valid_recall = {lam: evaluation.evaluate(EASE(lam=lam).fit(train), valid, seen=[train], k=K)[f"Recall@{K}"]
                    for lam in lams}
    best = max(valid_recall, key=valid_recall.get)
    cold_models = {"MostPop": MostPop().fit(cs.train), "ItemKNN": ItemKNN().fit(cs.train),
                   "EASE": EASE().fit(cs.train), "GFCF": GFCF().fit(cs.train)}
    return {
        "recommend_user": (lambda a: exercises.check_recommend_user(a, ease, 42, seen=[train, valid], k=8),
                           ease.recommend([42], k=8, seen=valid)[0], ease.recommend([0], k=8, seen=valid)[0]),
        "test_size": (lambda a: exercises.check_test_size(a, ds, ratio=0.5),
                      len(split.random_split(ds, test=0.5, valid=0.1, seed=0).test), len(test)),
        "most_popular": (lambda a: exercises.check_most_popular(a, ds), int(np.argmax(counts)), int(np.argmin(counts))),
        "share_light": (lambda a: exercises.check_share_light(a, ds),
                        (ds.interactions.user_counts() < 10).mean(), (ds.interactions.user_counts() < 5).mean()),
        "missing_mean": (lambda a: exercises.check_missing_mean(a, V), SimpleNamespace(values=v_mean), V),
        "share_pattern": (lambda a: exercises.check_share_pattern(a, Vn, V.mask, pattern, k=5), share, 1 - share),
        "mrr_function": (exercises.check_mrr_function, _mrr, _mrr_last),
        "users_without_test": (lambda a: exercises.check_users_without_test(a, splits), no_test,
                               dict(zip(no_test, reversed(list(no_test.values()))))),
        "cold_popularity": (lambda a: exercises.check_cold_popularity(a, cs, K), cold_pop, cold_pop + 0.1),
        "ease_lambda": (lambda a: exercises.check_ease_lambda(*a, train, valid, K), (valid_recall, best),
                        (valid_recall, min(valid_recall, key=valid_recall.get))),
        "knn_no_shrink": (lambda a: exercises.check_knn_no_shrink(a, test, [train, valid], K),
                          ItemKNN(shrink=0).fit(train), ItemKNN().fit(train)),
        "cold_capable": (lambda a: exercises.check_cold_capable(a, cold_models, cs.train), set(), {"EASE", "ItemKNN"}),
    }


# -- 05-10: trained models ---------------------------------------------------------------------
def case_models(c):
    train, valid, test, feats, cs, cold = c.train, c.valid, c.test, c.feats, c.cold_split, c.cold
    free, heavy = (BPR(reg=r, epochs=3, verbose=False, seed=0).fit(train, valid=valid) for r in (0.0, 0.1))
    negs = {n: BPR(n_negatives=n, **ONE).fit(train) for n in (1, 8)}
    default = BPR(**ONE).fit(train)
    vbpr = {m: VBPR(modalities=m, factors=8, content_factors=4, **ONE).fit(train, feats) for m in ("image", "text")}
    both = VBPR(factors=8, content_factors=4, **ONE).fit(train, feats)
    adj = graph.normalized_adjacency(train.to_csr())
    e0 = c.rng.normal(0, 0.1, size=(adj.shape[0], 8)).astype(np.float32)
    pairs = c.rng.integers(0, train.n_users, size=(2, 300))
    layers = graph.propagate(adj, torch.from_numpy(e0), 8)

    def mean_cos(a, b):
        a, b = (x / np.linalg.norm(x, axis=1, keepdims=True) for x in (a, b))
        return float((a * b).sum(1).mean())
    sims = {L: mean_cos(layers[L][pairs[0]].numpy(), layers[L][pairs[1]].numpy()) for L in range(1, 9)}
    mean_sims = {L: mean_cos(*(torch.stack(layers[:L + 1]).mean(0)[p].numpy() for p in pairs)) for L in range(1, 9)}
    fr = {"weighted": FREEDOM(weights={"image": 0.1, "text": 0.9}, knn_k=5, **ONE).fit(cs.train, feats),
          "image only": FREEDOM(modalities=("image",), knn_k=5, **ONE).fit(cs.train, feats)}
    overlap = {k: item_graph.edge_overlap(item_graph.knn_graph(feats["image"], k=k, verbose=False),
                                          item_graph.knn_graph(feats["text"], k=k, verbose=False)) for k in (5, 10, 20, 50)}
    temps = {t: BM3(temperature=t, **ONE).fit(train, feats) for t in (0.05, 1.0)}
    ssl = {w: BM3(ssl_weight=w, **ONE).fit(cs.train, feats) for w in (0.0, 0.02, 0.1, 0.5)}
    gate = {m: MMFusion(modalities=m, fusion="gate", **ONE).fit(train, feats) for m in [("image",), ("text",), ("image", "text")]}
    return {
        "overfit": (lambda a: exercises.check_overfit(a, free, heavy), "reg=0.0", "reg=0.1"),
        "negatives": (lambda a: exercises.check_negatives(a, valid, train, K), negs, {1: default, 8: default}),
        "towers": (exercises.check_towers, "matrix factorization", "an MLP"),
        "modality_models": (lambda a: exercises.check_modality_models(a, test, [train, valid], K), vbpr,
                            {"image": both, "text": both}),
        "per_modality": (exercises.check_per_modality,
                         VBPR(projection="per_modality", factors=8, content_factors=4, **ONE).fit(train, feats), both),
        "over_smoothing": (lambda a: exercises.check_over_smoothing(a, adj, e0, pairs), sims, mean_sims),
        "freedom_weights": (lambda a: exercises.check_freedom_weights(a, cs, cold, K), fr,
                            {"weighted": fr["image only"], "image only": fr["weighted"]}),
        "overlap_by_k": (lambda a: exercises.check_overlap_by_k(a, feats["image"], feats["text"]), overlap,
                         {k: item_graph.edge_overlap(item_graph.knn_graph(feats["image"], k=k + 3, verbose=False),
                                                     item_graph.knn_graph(feats["text"], k=k, verbose=False))
                          for k in overlap}),
        "temperature": (lambda a: exercises.check_temperature(a, valid, train, K), temps,
                        {0.05: temps[0.05], 1.0: temps[0.05]}),
        "edge_dropout": (lambda a: exercises.check_edge_dropout(a, cs, cold, K),
                         BM3(edge_dropout=0.3, **ONE).fit(cs.train, feats), ssl[0.1]),
        "ssl_weights": (lambda a: exercises.check_ssl_weights(a, cs, cold, K), ssl, {w: ssl[w] for w in (0.0, 0.1)}),
        "bce": (lambda a: exercises.check_bce(a, test, [train, valid], K, 0.0),
                MMFusion(fusion="concat", loss="bce", n_negatives=4, **ONE).fit(train, feats),
                MMFusion(fusion="concat", **ONE).fit(train, feats)),
        "gate_modalities": (lambda a: exercises.check_gate_modalities(a, test, [train, valid], K), gate,
                            {m: MMFusion(modalities=m, **ONE).fit(train, feats) for m in gate}),
        "alignment": (lambda a: exercises.check_alignment(a, test, [train, valid], K),
                      {"without": gate[("image", "text")], "with": MMFusion(align_weight=0.5, **ONE).fit(train, feats)},
                      {"without": gate[("image", "text")], "with": gate[("image", "text")]}),
    }


def _pairwise(model, users, pos, neg):
    rows, index = np.unique(users, return_inverse=True)
    s = model.score(rows)
    return float(np.mean((s[index, pos] > s[index, neg]) + 0.5 * (s[index, pos] == s[index, neg])))


class _Blend:
    def __init__(self, model, log_pop, alpha):
        self.model, self.log_pop, self.alpha, self.n_items_ = model, log_pop, alpha, len(log_pop)

    def score(self, users):
        return self.model.score(users) + self.alpha * self.log_pop


def case_content(c):
    train, valid, test = c.train, c.valid, c.test
    dot = CLIPContent(modalities=("text",)).fit(train, c.feats)
    log_pop = np.log1p(train.item_counts()).astype(np.float32)
    alphas = (0.01, 0.03, 0.1, 0.3, 1.0)
    on_valid = {a: evaluation.evaluate(_Blend(dot, log_pop, a), valid, seen=[train], k=K)[f"Recall@{K}"] for a in alphas}
    alpha = max(on_valid, key=on_valid.get)
    blend = evaluation.evaluate(_Blend(dot, log_pop, alpha), test, seen=[train, valid], k=K)[f"Recall@{K}"]
    worst = min(alphas, key=lambda a: (on_valid[a], -a))
    pop = MostPop().fit(train)
    users, pos, neg = sample_test_triples(test, train, n_neg=3, seed=0)
    hard = np.isin(neg, np.argsort(-train.item_counts(), kind="stable")[: train.n_items // 10])
    right = (_pairwise(dot, users[hard], pos[hard], neg[hard]), _pairwise(pop, users[hard], pos[hard], neg[hard]))
    joint = {"all users": 0.2, "material": 0.1}
    return {
        "blend": (lambda a: exercises.check_blend(*a, dot, train, valid, test, K), (alpha, blend),
                  (worst if worst != alpha else alphas[-1], blend)),
        "raw_text": (lambda a: exercises.check_raw_text(a, joint), {"all users": 0.25, "material": 0.3}, dict(joint)),
        "hard_negatives": (lambda a: exercises.check_hard_negatives(*a, dot, pop, train, users, pos, neg), right,
                           (_pairwise(dot, users, pos, neg), _pairwise(pop, users, pos, neg))),
    }


# -- 11-12: beyond accuracy, tuning and exploring ------------------------------------------------
def case_beyond(c):
    train, valid, test, feats, seen = c.train, c.valid, c.test, c.feats, c.seen
    vbpr = VBPR(factors=8, content_factors=4, **ONE).fit(train, feats)
    lists = dict(metrics=["Recall", "ILD"], item_features={"image": feats["image"], "text": feats["text"]})
    text_mmr, image_mmr = (evaluation.evaluate(MMR(vbpr, feats[m], lam=0.5, candidates=50), test, seen=seen, k=K,
                                               **lists) for m in ("text", "image"))
    per = {n: evaluation.evaluate(m, test, seen=seen, k=K, metrics=["Recall"], per_user=True)
           for n, m in (("EASE", EASE().fit(train)), ("VBPR", vbpr))}
    paired = {t: evaluation.paired_test(per["EASE"], per["VBPR"], metric=f"Recall@{K}", test=t)
              for t in ("ttest", "wilcoxon")}
    return {
        "data_gini": (lambda a: exercises.check_data_gini(a, train, {"MostPop": 0.99}),
                      beyond_accuracy.gini_index(train.item_counts()), beyond_accuracy.gini_index(train.user_counts())),
        "text_mmr": (lambda a: exercises.check_text_mmr(a, vbpr, feats["text"], feats["image"], test, seen, K,
                                                        lam=0.5, candidates=50), text_mmr, image_mmr),
        "ttest": (lambda a: exercises.check_ttest(a, per["EASE"], per["VBPR"], f"Recall@{K}"),
                  paired["ttest"], paired["wilcoxon"]),
    }


class _NoBlockbusters:
    """The solution of 12 · 3, with the number of items dropped as a parameter."""

    def __init__(self, model, popular):
        self.model, self.popular = model, popular

    def score(self, users):
        s = self.model.score(users)
        s[:, self.popular] = -np.inf
        return s

    def recommend(self, users, k, seen=None):
        top = self.model.recommend(users, k + len(self.popular), seen=seen)
        return np.array([row[~np.isin(row, self.popular)][:k] for row in top])


def case_tuning(c, tmp):
    ds, train, valid = c.ds, c.train, c.valid
    grid = tuning.search(EASE, train, valid, {"lam": [20.0, 100.0, 500.0, 2000.0]}, progress=False)
    short = tuning.search(EASE, train, valid, {"lam": [20.0, 100.0]}, progress=False)
    bpr = BPR(**ONE).fit(train)
    users = list(recommendations.sample_users(ds, 5, seed=1))
    for name, model in (("right.csv", bpr), ("wrong.csv", EASE().fit(train))):
        recommendations.to_csv(model.recommend(users, k=10, dataset=ds, seen=valid), tmp / name)
    popular = np.argsort(-train.item_counts())[:50]
    explorers = {}
    for name, drop in (("right", popular), ("wrong", popular[:10])):
        explorers[name] = Explorer(ds, {"MostPop": MostPop().fit(train), "BPR": bpr}, train=train, seen=valid, k=8,
                                   rerank={"no blockbusters": lambda m, drop=drop: _NoBlockbusters(m, drop)})
        explorers[name].select(rerank="no blockbusters", model="all")
    return {
        "tune_ease": (lambda a: exercises.check_tune_ease(a, train, valid), grid, short),
        "export_csv": (lambda a: exercises.check_export_csv(a, bpr, ds, [train, valid]), tmp / "right.csv",
                       tmp / "wrong.csv"),
        "no_blockbusters": (lambda a: exercises.check_no_blockbusters(a, train), explorers["right"],
                            explorers["wrong"]),
    }


@pytest.fixture(scope="module")
def cases(ctx, tmp_path_factory):
    return {**case_data(ctx), **case_models(ctx), **case_content(ctx), **case_beyond(ctx),
            **case_tuning(ctx, tmp_path_factory.mktemp("exercises"))}


def test_every_check_has_a_case(cases):
    assert {f"check_{n}" for n in cases} == set(exercises.__all__)
    assert len(cases) == 35


@pytest.mark.parametrize("kind", ["correct", "wrong"])
def test_checks_pass_correct_and_fail_wrong_answers(cases, kind, capsys):
    failures = []
    for name, (check, correct, wrong) in cases.items():
        got = check(correct if kind == "correct" else wrong)
        if got is not (kind == "correct"):
            failures.append(f"{name}: {kind} answer gave {got}")
    out = capsys.readouterr().out
    assert not failures, "\n".join(failures) + "\n" + out
    assert out.count("✅" if kind == "correct" else "❌") >= len(cases)


def test_placeholders_are_not_attempted(cases, capsys):
    for name, (check, _, _) in cases.items():
        if name == "blend":
            got = exercises.check_blend(None, None, None, None, None, None, K)
        elif name == "hard_negatives":
            got = exercises.check_hard_negatives(None, None, None, None, None, None, None, None)
        elif name == "ease_lambda":
            got = exercises.check_ease_lambda(None, None, None, None, K)
        else:
            got = check(None)
        assert got is None, name
    assert capsys.readouterr().out.count("not attempted yet") == len(cases)


def test_cold_recall_in_checks_matches_only_items(ctx):
    from handson.exercises.core import Restricted, recall
    model = MostPop().fit(ctx.cold_split.train)
    ref = evaluation.evaluate(only_items(model, ctx.cold), ctx.cold_split.test, seen=[ctx.cold_split.train],
                              k=K)[f"Recall@{K}"]
    assert np.isclose(recall(Restricted(model, ctx.cold, ctx.ds.n_items), ctx.cold_split.test,
                             [ctx.cold_split.train], K), ref)
