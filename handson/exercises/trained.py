"""Checks for the exercises of notebooks 04-10 that train models.

A student hands in the fitted models (a dict when there are several); the check verifies
that each was configured as asked (its hyper-parameters), that it is fitted, and
recomputes what the exercise reports (Recall@k, cosines, overlaps, accuracies) itself.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..datasets import Interactions
from .core import Restricted, attempted, models_match, recall, report, unit_rows, values

__all__ = ["check_knn_no_shrink", "check_overfit", "check_negatives", "check_towers", "check_modality_models",
           "check_per_modality", "check_over_smoothing", "check_freedom_weights", "check_overlap_by_k",
           "check_temperature", "check_edge_dropout", "check_ssl_weights", "check_blend", "check_raw_text",
           "check_hard_negatives", "check_bce", "check_gate_modalities", "check_alignment"]


def _models(name: str, models: Any, expected: dict, test: Interactions, seen: Any, k: int,
            only: np.ndarray | None = None) -> bool | None:
    """Shared by the model exercises: configuration, fitted state, and each model's Recall@k
    (among ``only`` items when given), recomputed here and printed."""
    if not attempted(name, models):
        return None
    ok, why = models_match(name, models, expected)
    if not ok:
        return report(name, False, why)
    scores = {key: recall(m if only is None else Restricted(m, only, test.n_items), test, seen, k)
              for key, m in models.items()}
    return report(name, True, " · ".join(f"{key}: Recall@{k} {r:.4f}" for key, r in scores.items()))


def check_knn_no_shrink(model: Any, test: Interactions, seen: Any, k: int) -> bool | None:
    """04 · 2: an ItemKNN fitted with ``shrink=0``."""
    return _models("ItemKNN without shrinkage", None if model is None else {"shrink=0": model},
                   {"shrink=0": {"shrink": 0}}, test, seen, k)


def check_overfit(answer: Any, free: Any, heavy: Any) -> bool | None:
    """05 · 1: which of BPR(reg=0.0) and BPR(reg=0.1) over-fits: the one whose training loss
    ends lower while its best validation epoch comes earlier (read from the histories)."""
    if not attempted("regularization", answer, free, heavy):
        return None
    ok, why = models_match("regularization", {"free": free, "heavy": heavy},
                           {"free": {"reg": 0.0}, "heavy": {"reg": 0.1}})
    if not ok or getattr(free, "history_", None) is None:
        return report("regularization", False, why or "train the models with valid= so they keep a history_.")
    expected = "reg=0.0" if free.history_.loss[-1] < heavy.history_.loss[-1] else "reg=0.1"
    detail = (f"final training loss {free.history_.loss[-1]:.4f} (reg=0.0) vs {heavy.history_.loss[-1]:.4f} "
              f"(reg=0.1); best validation epochs {free.history_.best_epoch} and {heavy.history_.best_epoch}.")
    return report("regularization", str(answer).replace(" ", "") == expected, detail)


def check_negatives(models: Any, valid: Interactions, seen: Any, k: int) -> bool | None:
    """05 · 2: BPR with 1 and with 8 negatives per positive ({1: model, 8: model})."""
    ok = _models("negatives", models, {1: {"n_negatives": 1}, 8: {"n_negatives": 8}}, valid, seen, k)
    if ok:
        print(" · ".join(f"{n} negatives: {m.history_.to_frame()['seconds'].mean():.3f} s/epoch"
                         for n, m in models.items()))
    return ok


def check_towers(answer: Any) -> bool | None:
    """05 · 3: what TwoTowerDot is without hidden layers (a name)."""
    if not attempted("towers", answer):
        return None
    text = str(answer).lower().replace("-", " ")
    ok = any(t in text for t in ("matrix factorization", "matrix factorisation", "bpr mf")) or text.strip() == "mf"
    hint = ("each tower is then a linear map of an embedding (the embedding absorbs it): user . item is "
            "matrix factorization." if ok else "look at what a tower computes when it has no hidden layer.")
    return report("towers", ok, hint)


def check_modality_models(models: Any, test: Interactions, seen: Any, k: int) -> bool | None:
    """06 · 1: VBPR on the image alone and on the text alone ({"image": m, "text": m})."""
    return _models("which modality", models, {"image": {"modalities": ("image",)}, "text": {"modalities": ("text",)}},
                   test, seen, k)


def check_per_modality(model: Any) -> bool | None:
    """06 · 2: VBPR with ``projection="per_modality"``: one content block per modality."""
    if not attempted("per-modality projection", model):
        return None
    width = getattr(getattr(model, "module_", None), "content_width", None)
    expected = len(getattr(model, "modalities", ())) * getattr(model, "content_factors", 0)
    ok = getattr(model, "projection", None) == "per_modality" and width == expected and len(model.modalities) == 2
    return report("per-modality projection", ok, f"user content vectors are {width} wide "
                  f"({len(getattr(model, 'modalities', ()))} x {getattr(model, 'content_factors', '?')})."
                  if ok else "fit VBPR(projection='per_modality') on two modalities.")


def check_over_smoothing(user_similarity: Any, adj: Any, e0: np.ndarray, pairs: np.ndarray) -> bool | None:
    """07 · 1: mean cosine of random user pairs at layer L = 1..8 of ``E_L = adj^L E_0``."""
    if not attempted("over-smoothing", user_similarity):
        return None
    if hasattr(adj, "to_dense"):                     # a torch sparse tensor
        a = adj.to_dense().numpy()
    else:                                            # a SciPy sparse matrix or an array
        a = np.asarray(adj.todense() if hasattr(adj, "todense") else adj)
    e, expected = np.asarray(e0, dtype=np.float64), {}
    for layer in range(1, 9):
        e = a @ e
        u = unit_rows(e)
        expected[layer] = float((u[pairs[0]] * u[pairs[1]]).sum(1).mean())
    got = {int(L): float(s) for L, s in dict(user_similarity).items()} if isinstance(user_similarity, dict) else {}
    ok = all(L in got and np.isclose(got[L], s, atol=2e-3) for L, s in expected.items())
    return report("over-smoothing", ok, "layer L cosines " + ", ".join(f"{s:.2f}" for s in expected.values())
                  + (": deep layers make every user alike." if ok
                     else "; compare the layer-L embeddings, not the mean."))


def check_freedom_weights(models: Any, cold_split: Any, cold: np.ndarray, k: int) -> bool | None:
    """07 · 2: FREEDOM with weights image 0.1 / text 0.9 and with the image alone, on cold items."""
    return _models("modality weights", models, {"weighted": {"weights": {"image": 0.1, "text": 0.9}},
                                                "image only": {"modalities": ("image",)}},
                   cold_split.test, [cold_split.train], k, only=cold)


def check_overlap_by_k(overlap_by_k: Any, image: Any, text: Any, ks: tuple = (5, 10, 20, 50)) -> bool | None:
    """07 · 3: Jaccard overlap of the image and text kNN edge sets for each k."""
    if not attempted("k of the item graph", overlap_by_k):
        return None
    ranked = []
    for x in (values(image), values(text)):
        u, has = unit_rows(x), np.abs(x).sum(1) > 0          # items without content: no edges
        s = u @ u.T
        s[:, ~has] = -np.inf
        np.fill_diagonal(s, -np.inf)
        ranked.append((np.argsort(-s, axis=1, kind="stable"), np.flatnonzero(has)))
    expected = {}
    for k in ks:
        edges = [set(zip(np.repeat(rows, k).tolist(), order[rows, :k].ravel().tolist())) for order, rows in ranked]
        expected[k] = len(edges[0] & edges[1]) / len(edges[0] | edges[1])
    ok = isinstance(overlap_by_k, dict) and all(np.isclose(float(overlap_by_k.get(k, -1)), v, atol=0.01)
                                                for k, v in expected.items())
    return report("k of the item graph", ok, "overlaps " + ", ".join(f"k={k}: {v:.3f}" for k, v in expected.items())
                  + ("." if ok else "; use item_graph.edge_overlap on the two knn_graph results."))


def check_temperature(models: Any, valid: Interactions, seen: Any, k: int) -> bool | None:
    """08 · 1: the SSL model at temperature 0.05 and 1.0 ({0.05: m, 1.0: m}), on validation."""
    return _models("temperature", models, {0.05: {"temperature": 0.05}, 1.0: {"temperature": 1.0}}, valid, seen, k)


def check_edge_dropout(model: Any, cold_split: Any, cold: np.ndarray, k: int) -> bool | None:
    """08 · 2: BM3 with ``edge_dropout=0.3`` on the cold split, cold-item Recall@k."""
    return _models("edge dropout", None if model is None else {"edge_dropout=0.3": model},
                   {"edge_dropout=0.3": {"edge_dropout": 0.3}}, cold_split.test, [cold_split.train], k, only=cold)


def check_ssl_weights(models: Any, cold_split: Any, cold: np.ndarray, k: int,
                      weights: tuple = (0.0, 0.02, 0.1, 0.5)) -> bool | None:
    """08 · 3: one model per SSL weight ({w: model}), cold-item Recall@k of each."""
    return _models("how much self-supervision", models, {w: {"ssl_weight": w} for w in weights},
                   cold_split.test, [cold_split.train], k, only=cold)


class _Blend:
    def __init__(self, model: Any, log_pop: np.ndarray, alpha: float) -> None:
        self.model, self.log_pop, self.alpha, self.n_items_ = model, log_pop, alpha, len(log_pop)

    def score(self, users: np.ndarray) -> np.ndarray:
        return np.asarray(self.model.score(users)) + self.alpha * self.log_pop


def check_blend(alpha: Any, blend_recall: Any, content: Any, train: Interactions, valid: Interactions,
                test: Interactions, k: int, alphas: tuple = (0.01, 0.03, 0.1, 0.3, 1.0)) -> bool | None:
    """09 · 1: alpha chosen on validation (train masked) among ``alphas``, and the blend's
    test Recall@k (train and valid masked), with ``log(1 + n_i)`` from ``train``."""
    if not attempted("content + popularity", alpha, blend_recall):
        return None
    log_pop = np.log1p(np.bincount(train.items, minlength=train.n_items)).astype(np.float32)
    on_valid = {a: recall(_Blend(content, log_pop, a), valid, train, k) for a in alphas}
    best = max(on_valid, key=on_valid.get)
    expected = recall(_Blend(content, log_pop, best), test, [train, valid], k)
    ok = np.isclose(float(alpha), best) and np.isclose(float(blend_recall), expected, atol=1e-4)
    return report("content + popularity", ok, f"alpha = {best} on validation; test Recall@{k} {expected:.4f}."
                  if ok else f"expected alpha {best} (validation) and test Recall@{k} {expected:.4f}.")


def check_raw_text(raw_text: Any, joint_text_only: Any) -> bool | None:
    """09 · 2: recall by user group of the content model on raw text features: the users who
    care about the material (named only in the text) gain over the joint space."""
    if not attempted("what the joint space drops", raw_text):
        return None
    raw, joint = dict(raw_text), dict(joint_text_only)
    ok = 0 < raw.get("all users", 0) < 1 and any(not np.isclose(raw.get(g, -1), v) for g, v in joint.items())
    if ok and "material" in joint:
        ok = raw.get("material", 0) > 1.5 * joint["material"]
    return report("what the joint space drops", ok, "raw text features keep what alignment with images drops."
                  if ok else "fit the text-only model on features.text_features(ds, TEXT_MODEL).values.")


def _pairwise(model: Any, users: np.ndarray, pos: np.ndarray, neg: np.ndarray) -> float:
    s = np.asarray(model.score(np.unique(users)))
    row = np.searchsorted(np.unique(users), users)
    return float(np.mean((s[row, pos] > s[row, neg]) + 0.5 * (s[row, pos] == s[row, neg])))


def check_hard_negatives(hard_content: Any, hard_pop: Any, content: Any, pop: Any, train: Interactions,
                         users: np.ndarray, pos: np.ndarray, neg: np.ndarray, share: float = 0.1) -> bool | None:
    """09 · 3: pairwise accuracy (ties count one half) of both models on the triples whose
    negative is among the ``share`` most popular items (training interactions, ties to the
    lower index)."""
    if not attempted("harder negatives", hard_content, hard_pop):
        return None
    counts = np.bincount(train.items, minlength=train.n_items)
    popular = np.argsort(-counts, kind="stable")[: int(train.n_items * share)]
    hard = np.isin(neg, popular)
    expected = tuple(_pairwise(m, users[hard], pos[hard], neg[hard]) for m in (content, pop))
    ok = np.allclose([float(hard_content), float(hard_pop)], expected, atol=1e-4)
    return report("harder negatives", ok, f"content {expected[0]:.4f}, MostPop {expected[1]:.4f} on "
                  f"{int(hard.sum()):,} triples." if ok else f"expected content {expected[0]:.4f} and "
                  f"MostPop {expected[1]:.4f} on the triples with a popular negative.")


def check_bce(model: Any, test: Interactions, seen: Any, k: int, mostpop_recall: float) -> bool | None:
    """10 · 1: MMFusion(fusion="concat", loss="bce", n_negatives=4), which must beat MostPop."""
    if not attempted("BCE instead of BPR", model):
        return None
    ok, why = models_match("BCE instead of BPR", {"bce": model},
                           {"bce": {"fusion": "concat", "loss": "bce", "n_negatives": 4}})
    if not ok:
        return report("BCE instead of BPR", False, why)
    ours = recall(model, test, seen, k)
    return report("BCE instead of BPR", ours > mostpop_recall,
                  f"Recall@{k} {ours:.4f} vs MostPop {mostpop_recall:.4f}.")


def check_gate_modalities(models: Any, test: Interactions, seen: Any, k: int) -> bool | None:
    """10 · 2: the gate model on image only, text only and both ({modalities tuple: model})."""
    keys = [("image",), ("text",), ("image", "text")]
    return _models("which modality matters", models, {m: {"fusion": "gate", "modalities": m} for m in keys},
                   test, seen, k)


def check_alignment(models: Any, test: Interactions, seen: Any, k: int) -> bool | None:
    """10 · 3: the fusion model without and with the alignment loss ({"without": m, "with": m})."""
    if not attempted("alignment and missing images", models):
        return None
    weights = {key: getattr(m, "align_weight", None) for key, m in models.items()} if isinstance(models, dict) else {}
    if set(weights) != {"without", "with"} or weights["without"] != 0 or not (weights["with"] or 0) > 0:
        return report("alignment and missing images", False, "expected {'without': align_weight=0 model, "
                      "'with': align_weight > 0 model}.")
    return _models("alignment and missing images", models, {key: {"align_weight": w} for key, w in weights.items()},
                   test, seen, k)
