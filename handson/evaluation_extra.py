"""Pairwise accuracy: how often a model ranks a held-out positive above a random negative.

The Amazon-2023 CLIP study reports, besides full-ranking metrics, the share of
(user, positive, negative) test triples where the positive scores higher. It is the
sampled estimate of the AUC: 0.5 is chance, 1.0 is perfect. It is easy to read but
flattering (a random negative is usually easy); always show a full-ranking metric too.
"""
from __future__ import annotations

import numpy as np

from .datasets import Interactions, check_same_catalog

__all__ = ["pairwise_accuracy", "sample_test_triples", "only_items"]


def sample_test_triples(test: Interactions, train: Interactions | None = None, n_neg: int = 1,
                        seed: int = 0, max_rounds: int = 100) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(users, pos, neg)`` triples: each test pair repeated ``n_neg`` times, arrays ``(n_test * n_neg,)``.

    Negatives are drawn uniformly from the catalog among items the user has in neither
    ``train`` nor ``test``; rejected draws are redrawn, all at once, until none is left.
    """
    if n_neg < 1:
        raise ValueError(f"n_neg={n_neg} must be at least 1 negative per positive.")
    if len(test) == 0:
        raise ValueError("test has no interactions: nothing to evaluate.")
    parts = [test] if train is None else [train, test]
    check_same_catalog(*parts)
    known = Interactions.concat(parts)
    n_items = test.n_items
    keys = np.unique(known.users * n_items + known.items)
    per_user = np.bincount(known.users, minlength=test.n_users)
    full = np.unique(test.users[per_user[test.users] >= n_items])
    if full.size:
        raise ValueError(f"User(s) {full[:5].tolist()} interacted with every item: no negative exists. "
                         "Drop them from test.")
    users = np.repeat(test.users, n_neg)
    pos = np.repeat(test.items, n_neg)
    rng = np.random.default_rng(seed)
    neg = rng.integers(0, n_items, size=len(users))
    todo = np.arange(len(users))
    for _ in range(max_rounds):
        cand = users[todo] * n_items + neg[todo]
        hit = np.searchsorted(keys, cand)
        bad = (hit < len(keys)) & (keys[np.minimum(hit, len(keys) - 1)] == cand)
        todo = todo[bad]
        if not todo.size:
            return users, pos, neg
        neg[todo] = rng.integers(0, n_items, size=todo.size)
    raise RuntimeError(f"Could not draw negatives for {todo.size} triples in {max_rounds} rounds; "
                       "the users' histories cover almost the whole catalog.")


def pairwise_accuracy(model, test: Interactions, train: Interactions | None = None, n_neg: int = 1,
                      seed: int = 0, batch_size: int = 1024) -> float:
    """Share of test triples ``(u, pos, neg)`` with ``score(u, pos) > score(u, neg)``; ties count 1/2.

    ``model`` is anything with ``score(users) -> (len(users), n_items)``; ``train`` holds
    the interactions excluded from the negatives (pass the training set). Users are scored
    in batches of ``batch_size``.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size={batch_size} must be positive.")
    users, pos, neg = sample_test_triples(test, train, n_neg=n_neg, seed=seed)
    order = np.argsort(users, kind="stable")
    users, pos, neg = users[order], pos[order], neg[order]
    uniq = np.unique(users)
    wins = 0.0
    for start in range(0, len(uniq), batch_size):
        batch = uniq[start:start + batch_size]
        scores = np.asarray(model.score(batch), dtype=np.float64)
        if scores.shape != (len(batch), test.n_items):
            raise ValueError(f"model.score returned shape {scores.shape}, expected "
                             f"{(len(batch), test.n_items)}: was it fitted on this catalog?")
        lo = np.searchsorted(users, batch[0], side="left")
        hi = np.searchsorted(users, batch[-1], side="right")
        rows = np.searchsorted(batch, users[lo:hi])
        sp, sn = scores[rows, pos[lo:hi]], scores[rows, neg[lo:hi]]
        wins += float((sp > sn).sum() + 0.5 * (sp == sn).sum())
    return wins / len(users)


class only_items:
    """Wrap a model so that it ranks only ``items``: every other score becomes ``-inf``.

    For cold-start evaluation: ``evaluate(only_items(model, cold), split.test)`` ranks each
    user's held-out cold items among the cold items alone, where a model that knows
    nothing about them does no better than chance (Recall@k close to ``k / len(items)``).
    ``items``: indices, or a boolean mask of shape ``(n_items,)``.
    """

    def __init__(self, model, items: np.ndarray) -> None:
        items = np.asarray(items)
        n_items = getattr(model, "n_items_", None)
        if items.dtype == bool:
            if n_items is not None and items.shape != (n_items,):
                raise ValueError(f"A boolean items mask must have shape (n_items={n_items},), got {items.shape}.")
            items = np.flatnonzero(items)
        if items.size == 0:
            raise ValueError("items is empty: pass the candidate item indices (e.g. the cold items).")
        if not np.issubdtype(items.dtype, np.integer) or items.min() < 0 or \
                (n_items is not None and items.max() >= n_items):
            raise ValueError(f"items must be item indices in [0, n_items={n_items}), got {items[:5].tolist()}...")
        self.model, self.items = model, np.unique(items)
        self.n_items_ = n_items

    def score(self, users: np.ndarray) -> np.ndarray:
        """The wrapped model's scores ``(len(users), n_items)`` with non-candidates at ``-inf``."""
        scores = np.asarray(self.model.score(users), dtype=np.float32)
        out = np.full_like(scores, -np.inf)
        out[:, self.items] = scores[:, self.items]
        return out
