"""Train / validation / test splits of interactions, all over the dataset's fixed index.

    from handson.split import random_split, temporal_split, last_n_split, leave_one_out, cold_item_split
    train, valid, test = random_split(ds, test=0.2, valid=0.1, seed=42)

Every function accepts a :class:`~handson.datasets.Dataset` or an
:class:`~handson.datasets.Interactions` and returns a :class:`Split` ``(train, valid, test)``
of Interactions with the same ``n_users`` / ``n_items`` as the input (``valid`` is None when
no validation part is asked for). Splits work on distinct (user, item) pairs: input rows
that repeat a pair are dropped first, keeping the pair's latest row (by timestamp; the last
row without timestamps), with a warning and the count in ``split.duplicates_collapsed``, so
no pair is ever in two parts. The parts are disjoint and together hold every distinct pair
exactly once. Randomness comes from ``numpy.random.default_rng(seed)``, so the
same seed gives the same split. Per-user operations are vectorised: interactions are
grouped by user with one ``lexsort`` (user, then a random or time key), never a Python
loop over users.
"""
from __future__ import annotations

import warnings
from typing import NamedTuple

import numpy as np
import pandas as pd

from .datasets import Dataset, Interactions
from .utils import check_seed

__all__ = ["Split", "random_split", "temporal_split", "last_n_split", "leave_one_out", "cold_item_split"]

TRAIN, VALID, TEST = 0, 1, 2


class _Parts(NamedTuple):
    train: Interactions
    valid: Interactions | None
    test: Interactions


class Split(_Parts):
    """The three parts of a split; unpack it as ``train, valid, test = split``.

    ``duplicates_collapsed``: rows of the input that repeated a (user, item) pair and were
    dropped before splitting (see the module notes); 0 for input without repeated pairs.
    """

    duplicates_collapsed: int = 0

    def summary(self) -> pd.DataFrame:
        """One row per part: interactions, their share, users and items with at least one."""
        parts = {name: part for name, part in zip(self._fields, self) if part is not None}
        total = sum(len(p) for p in parts.values())
        out = pd.DataFrame({
            "interactions": [len(p) for p in parts.values()],
            "share": [len(p) / max(total, 1) for p in parts.values()],
            "users": [int((p.user_counts() > 0).sum()) for p in parts.values()],
            "items": [int((p.item_counts() > 0).sum()) for p in parts.values()],
        }, index=pd.Index(list(parts), name="part"))
        out.attrs["duplicates_collapsed"] = self.duplicates_collapsed
        return out


# -- helpers ---------------------------------------------------------------------------
def _interactions(data: Dataset | Interactions) -> tuple[Interactions, int]:
    """The interactions to split, each (user, item) pair once, and the number of rows dropped."""
    if isinstance(data, Dataset):
        data = data.interactions
    if not isinstance(data, Interactions):
        raise ValueError(f"data must be a handson Dataset or Interactions, got {type(data).__name__}; "
                         "build one with handson.datasets.from_frames().")
    if len(data) == 0:
        raise ValueError("Cannot split empty interactions: data has no pairs.")
    distinct = _distinct_pairs(data)
    dropped = len(data) - len(distinct)
    if dropped:
        warnings.warn(f"{dropped} row(s) repeat a (user, item) pair; each pair was kept once (its latest "
                      "row) before splitting, so that no pair lands in two parts. "
                      "split.duplicates_collapsed counts them.", stacklevel=3)
    return distinct, dropped


def _distinct_pairs(inter: Interactions) -> Interactions:
    """``inter`` with every (user, item) pair once: its latest row by timestamp (ties, and
    data without timestamps: the last row), in input order."""
    key = inter.users * np.int64(max(inter.n_items, 1)) + inter.items
    pos = np.arange(len(key))
    time = pos if inter.timestamps is None else inter.timestamps
    order = np.lexsort((pos, time, key))
    last = np.r_[key[order][1:] != key[order][:-1], True]
    if last.all():
        return inter
    return inter.subset(np.sort(order[last]))


def _check_flag(value: bool, name: str) -> None:
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be True or False, got {value!r}.")


def _check_ratios(test: float, valid: float, test_name: str = "test") -> None:
    for name, v in ((test_name, test), ("valid", valid)):
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, float, np.integer, np.floating)):
            raise ValueError(f"{name} must be a share between 0 and 1 (a number), got {v!r}.")
    if not 0.0 < test < 1.0:
        raise ValueError(f"{test_name}={test} must lie strictly between 0 and 1, e.g. {test_name}=0.2.")
    if not 0.0 <= valid < 1.0:
        raise ValueError(f"valid={valid} must lie in [0, 1), e.g. valid=0.1 (0 for no validation set).")
    if test + valid >= 1.0:
        raise ValueError(f"{test_name} + valid = {test + valid:g} leaves nothing for training; "
                         "keep their sum below 1, e.g. test=0.2, valid=0.1.")


def _need_timestamps(inter: Interactions, what: str) -> np.ndarray:
    if inter.timestamps is None:
        raise ValueError(f"{what} needs timestamps, but these interactions have none. Pass "
                         "timestamp_col= to handson.datasets.from_frames, or use random_split / "
                         "leave_one_out, which need no time.")
    return inter.timestamps


def _round(x: np.ndarray | float) -> np.ndarray:
    """Round half up (2.5 -> 3), unlike NumPy's round half to even."""
    return np.floor(np.asarray(x, dtype=np.float64) + 0.5 + 1e-9).astype(np.int64)


def _rank_in_user(users: np.ndarray, key: np.ndarray, n_users: int,
                  tiebreak: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Position of each interaction among its user's interactions sorted by ``key`` (ties by
    ``tiebreak``, else by position in the input), and the user's interaction count; both
    ``(n,)`` int64."""
    tiebreak = np.arange(len(users)) if tiebreak is None else tiebreak
    order = np.lexsort((tiebreak, key, users))
    counts = np.bincount(users, minlength=n_users)
    starts = np.cumsum(counts) - counts
    rank = np.empty(len(users), dtype=np.int64)
    rank[order] = np.arange(len(users)) - starts[users[order]]
    return rank, counts[users]


def _label_first(rank: np.ndarray, n_u: np.ndarray, n_test: np.ndarray, n_valid: np.ndarray) -> np.ndarray:
    """TEST for the first ``n_test`` ranks of a user, VALID for the next ``n_valid``, else TRAIN;
    both counts are capped so that every user with at least 2 interactions keeps one in train."""
    n_test = np.clip(n_test, 0, np.maximum(n_u - 1, 0))
    n_valid = np.clip(n_valid, 0, np.maximum(n_u - 1 - n_test, 0))
    return np.where(rank < n_test, TEST, np.where(rank < n_test + n_valid, VALID, TRAIN))


def _per_user_random(users: np.ndarray, n_users: int, test: float, valid: float,
                     rng: np.random.Generator) -> np.ndarray:
    rank, n_u = _rank_in_user(users, rng.random(len(users)), n_users)
    return _label_first(rank, n_u, _round(test * n_u), _round(valid * n_u))


def _make(inter: Interactions, label: np.ndarray, with_valid: bool, duplicates: int = 0) -> Split:
    if not (label == TEST).any():
        raise ValueError("The split put no interaction into test: users have too few interactions "
                         "for this ratio. Raise the test ratio or use leave_one_out().")
    if with_valid and not (label == VALID).any():
        warnings.warn("The validation part is empty: users have too few interactions for this "
                      "valid ratio; raise it or drop validation.", stacklevel=3)
    split = Split(inter.subset(label == TRAIN), inter.subset(label == VALID) if with_valid else None,
                  inter.subset(label == TEST))
    split.duplicates_collapsed = duplicates
    return split


# -- the splits ------------------------------------------------------------------------
def random_split(data: Dataset | Interactions, test: float = 0.2, valid: float = 0.0,
                 per_user: bool = True, seed: int = 42) -> Split:
    """Random hold-out of a ``test`` (and ``valid``) share of the interactions.

    ``per_user=True`` (like Elliot's random subsampling): each user with ``n_u`` interactions gives
    ``round(test * n_u)`` of them, chosen at random, to test and ``round(valid * n_u)`` to
    valid, rounding half up, but keeps at least one in train (a user with one interaction stays
    in train). ``per_user=False``: ``round(test * n)`` interactions drawn from all of them.
    """
    _check_ratios(test, valid)
    check_seed(seed)
    _check_flag(per_user, "per_user")
    inter, dups = _interactions(data)
    rng = np.random.default_rng(seed)
    if per_user:
        label = _per_user_random(inter.users, inter.n_users, test, valid, rng)
    else:
        n = len(inter)
        pos = np.empty(n, dtype=np.int64)
        pos[rng.permutation(n)] = np.arange(n)
        n_test, n_valid = _round(test * n), _round(valid * n)
        label = np.where(pos < n_test, TEST, np.where(pos < n_test + n_valid, VALID, TRAIN))
    return _make(inter, label, valid > 0, dups)


def temporal_split(data: Dataset | Interactions, test: float = 0.2, valid: float = 0.0) -> Split:
    """Global time cut: the latest ``test`` share of the interactions (over all users) is test,
    the ``valid`` share before it is valid, the rest train.

    The cut is a timestamp: interactions at the cut time all go to the later part, so every
    train interaction is strictly older than every valid one, and valid older than test (with
    many tied timestamps the shares move away from the ratios). Users active only after the
    cut have no training data (cold users), as in a real deployment.
    """
    _check_ratios(test, valid)
    inter, dups = _interactions(data)
    ts = _need_timestamps(inter, "temporal_split")
    n = len(inter)
    sorted_ts = np.sort(ts, kind="stable")
    n_test, n_valid = max(int(_round(test * n)), 1), int(_round(valid * n))
    t_test = sorted_ts[n - n_test]
    t_valid = sorted_ts[n - n_test - n_valid] if n_valid else t_test
    label = np.where(ts >= t_test, TEST, np.where(ts >= t_valid, VALID, TRAIN))
    if not (label == TRAIN).any():
        raise ValueError(f"Every interaction is at or after the cut time {t_valid}: timestamps are "
                         "too coarse for a temporal split. Use last_n_split or random_split.")
    return _make(inter, label, valid > 0, dups)


def last_n_split(data: Dataset | Interactions, n_test: int = 1, n_valid: int = 0) -> Split:
    """Per-user temporal hold-out: each user's latest ``n_test`` interactions go to test and the
    ``n_valid`` before them to valid. Ties in time are broken by input order (a later row is
    later). Every user keeps at least one interaction in train, so users with few interactions
    give fewer (a user with one interaction stays in train)."""
    for name, v, low in (("n_test", n_test, 1), ("n_valid", n_valid, 0)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < low:
            raise ValueError(f"{name}={v!r} must be an integer >= {low}.")
    inter, dups = _interactions(data)
    ts = _need_timestamps(inter, "last_n_split")
    rank, n_u = _rank_in_user(inter.users, ts, inter.n_users)
    from_end = n_u - 1 - rank
    label = _label_first(from_end, n_u, np.full(len(inter), n_test), np.full(len(inter), n_valid))
    return _make(inter, label, n_valid > 0, dups)


def leave_one_out(data: Dataset | Interactions, valid: bool = False, seed: int = 42) -> Split:
    """Each user's latest interaction is test (a random one when there are no timestamps);
    with ``valid=True`` the second latest is valid. Ties in time are broken at random
    (``seed``), so no item-index order leaks into test. Users with one interaction stay in
    train (and are skipped by evaluation); with ``valid=True`` users need three for all parts."""
    check_seed(seed)
    _check_flag(valid, "valid")
    inter, dups = _interactions(data)
    rng = np.random.default_rng(seed)
    noise = rng.random(len(inter))
    time = noise if inter.timestamps is None else inter.timestamps
    rank, n_u = _rank_in_user(inter.users, time, inter.n_users, tiebreak=noise)
    from_end = n_u - 1 - rank
    label = _label_first(from_end, n_u, np.ones(len(inter), np.int64),
                         np.full(len(inter), int(bool(valid))))
    return _make(inter, label, bool(valid), dups)


def cold_item_split(data: Dataset | Interactions, items: float = 0.2, valid: float = 0.0,
                    seed: int = 42) -> Split:
    """Cold-start items: ``round(items * n)`` of the ``n`` items that have interactions are drawn
    at random and *all* their interactions go to test, so no model sees them in training (only
    their content features can help). Of the remaining interactions a per-user random ``valid``
    share goes to valid (warm items). The cold items are ``np.unique(split.test.items)``."""
    _check_ratios(items, valid, test_name="items")
    check_seed(seed)
    inter, dups = _interactions(data)
    rng = np.random.default_rng(seed)
    active = np.flatnonzero(inter.item_counts() > 0)
    n_cold = int(_round(items * len(active)))
    if n_cold < 1 or n_cold >= len(active):
        raise ValueError(f"items={items} picks {n_cold} of {len(active)} items with interactions; "
                         "choose a share that leaves at least one item on each side.")
    cold = np.zeros(inter.n_items, dtype=bool)
    cold[rng.choice(active, size=n_cold, replace=False)] = True
    label = np.full(len(inter), TEST, dtype=np.int64)
    warm = ~cold[inter.items]
    if valid > 0:
        warm_label = _per_user_random(inter.users[warm], inter.n_users, valid, 0.0, rng)
        label[warm] = np.where(warm_label == TEST, VALID, TRAIN)
    else:
        label[warm] = TRAIN
    return _make(inter, label, valid > 0, dups)
