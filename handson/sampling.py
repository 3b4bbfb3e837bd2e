"""Negative sampling: items a user has not interacted with, drawn uniformly, vectorised.

One sampler serves training (BPR triples for :func:`handson.training.fit_loop`) and the
sampled evaluation protocols (:func:`handson.protocols.sample_test_triples`). Every known
pair ``(u, i)`` becomes the int64 key ``u * n_items + i``; the keys are sorted once, so
whether a whole array of candidate pairs is known is one ``np.searchsorted``. Negatives are
drawn by rejection: draw every negative at once, then redraw only the collisions with known
pairs, round after round, until none is left. On sparse data (a user knows a small share of
the catalog) almost every draw is accepted in the first round.

NumPy and SciPy only (no torch), so the evaluation layer can use it.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

__all__ = ["positive_keys", "sample_negatives", "sample_bpr", "EpochSampler"]


def positive_keys(train_csr: sp.csr_matrix) -> np.ndarray:
    """Sorted int64 keys ``user * n_items + item`` of the non-zeros of ``train_csr``, shape (nnz,)."""
    csr = sp.csr_matrix(train_csr)
    n_users, n_items = csr.shape
    rows = np.repeat(np.arange(n_users, dtype=np.int64), np.diff(csr.indptr))
    keys = rows * n_items + csr.indices.astype(np.int64)
    if not csr.has_sorted_indices:
        keys.sort()
    return keys


def _is_positive(keys: np.ndarray, users: np.ndarray, items: np.ndarray, n_items: int) -> np.ndarray:
    """Boolean array, same shape as ``items``: is (user, item) a known pair (one of ``keys``)?"""
    query = users * n_items + items
    pos = np.searchsorted(keys, query)
    pos[pos == len(keys)] = 0
    return keys[pos] == query if len(keys) else np.zeros(query.shape, dtype=bool)


def _draw_negatives(keys: np.ndarray, users: np.ndarray, n_neg: int, n_items: int,
                    rng: np.random.Generator, max_rounds: int | None = None) -> np.ndarray:
    """Uniform negatives for each user, ``(len(users), n_neg)``, redrawing only collisions.

    Row ``r`` holds the negatives of ``users[r]``. ``max_rounds`` caps the rounds of
    rejection (None: until every draw is accepted, which ends once every user has a
    negative, see :func:`_check_sampleable`); past it a RuntimeError is raised.
    """
    u = np.repeat(users.astype(np.int64), n_neg)
    neg = rng.integers(0, n_items, size=len(u), dtype=np.int64)
    todo = np.nonzero(_is_positive(keys, u, neg, n_items))[0]
    rounds = 1
    while todo.size:
        if max_rounds is not None and rounds >= max_rounds:
            raise RuntimeError(f"Could not draw negatives for {todo.size} pairs in {max_rounds} rounds; "
                               "the users' histories cover almost the whole catalog.")
        neg[todo] = rng.integers(0, n_items, size=todo.size, dtype=np.int64)
        todo = todo[_is_positive(keys, u[todo], neg[todo], n_items)]
        rounds += 1
    return neg.reshape(len(users), n_neg)


def _check_sampleable(train_csr: sp.csr_matrix, users: np.ndarray | None = None) -> None:
    """Raise a ValueError when a user (of ``users``, default: any) knows every item: no
    negative exists for them and rejection sampling would never end."""
    n_users, n_items = train_csr.shape
    degree = np.diff(train_csr.indptr)
    full = np.nonzero(degree >= n_items)[0]
    if users is not None:
        full = np.intersect1d(full, users)
    if full.size:
        raise ValueError(f"User(s) {full[:5].tolist()} interacted with every item (all {n_items} items), "
                         "so no negative item exists for them; drop them from the data first.")


def sample_negatives(train_csr: sp.csr_matrix, users: np.ndarray, n_neg: int,
                     rng: np.random.Generator, max_rounds: int | None = None) -> np.ndarray:
    """``n_neg`` items per user drawn uniformly among the items the user has not interacted
    with in ``train_csr`` (n_users, n_items): int64 array ``(len(users), n_neg)``.

    ``max_rounds``: at most this many rounds of rejection, then a RuntimeError (None: no cap).
    """
    if n_neg < 1:
        raise ValueError(f"n_neg must be at least 1, got {n_neg}.")
    csr = sp.csr_matrix(train_csr)
    users = np.asarray(users, dtype=np.int64)
    _check_sampleable(csr, np.unique(users))
    return _draw_negatives(positive_keys(csr), users, n_neg, csr.shape[1], rng, max_rounds)


def sample_bpr(train_csr: sp.csr_matrix, n_samples: int, rng: np.random.Generator,
               n_neg: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """BPR training triples: ``n_samples`` (user, positive) pairs drawn uniformly from the
    training pairs, each with negatives drawn uniformly among the user's non-positives.

    Returns int64 arrays ``users (n,)``, ``pos (n,)`` and ``neg`` of shape ``(n,)`` when
    ``n_neg == 1``, else ``(n, n_neg)``. Reference: Rendle et al., "BPR: Bayesian
    Personalized Ranking from Implicit Feedback", UAI 2009 (uniform sampling of triples).
    To draw many epochs from one matrix, keep an :class:`EpochSampler` (same draws, the
    sorted pair keys computed once).
    """
    users, pos, neg = EpochSampler(train_csr, n_neg).epoch(rng, n_samples)
    return users, pos, (neg[:, 0] if n_neg == 1 else neg)


class EpochSampler:
    """Whole training epochs of BPR triples, each drawn with a few array operations.

    An epoch draws as many (user, positive) pairs as there are training pairs, uniformly
    (Rendle et al.'s bootstrap sampling, UAI 2009), and gives each ``n_neg`` uniform
    negatives. The sorted pair keys and the check that every user has a negative are
    computed once, here, not every epoch, so an epoch costs one draw of indices and one
    vectorised rejection draw (milliseconds for 100k pairs): no Python loop over users or
    batches. Its draws are those of :func:`sample_bpr` with the same generator.

        sampler = EpochSampler(train.to_csr(), n_neg=4)
        users, pos, neg = sampler.epoch(rng)      # (nnz,), (nnz,), (nnz, 4)
    """

    def __init__(self, train_csr: sp.csr_matrix, n_neg: int = 1) -> None:
        if n_neg < 1:
            raise ValueError(f"n_neg must be at least 1, got {n_neg}.")
        csr = sp.csr_matrix(train_csr)
        if csr.nnz == 0:
            raise ValueError("train_csr has no interactions to sample from.")
        _check_sampleable(csr)
        self.n_neg, self.n_items = int(n_neg), csr.shape[1]
        self.keys = positive_keys(csr)

    def __len__(self) -> int:
        """Triples per epoch: the number of training pairs."""
        return len(self.keys)

    def epoch(self, rng: np.random.Generator, n_samples: int | None = None
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``n_samples`` triples (default: one epoch, ``len(self)``): int64 ``users (n,)``,
        ``pos (n,)`` and ``neg (n, n_neg)``, in a random order."""
        n = len(self.keys) if n_samples is None else int(n_samples)
        pick = rng.permutation(np.sort(rng.integers(0, len(self.keys), size=n, dtype=np.int64)))
        keys = self.keys[pick]
        users, pos = keys // self.n_items, keys % self.n_items
        return users, pos, _draw_negatives(self.keys, users, self.n_neg, self.n_items, rng)
