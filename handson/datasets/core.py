"""Interactions and Dataset: the data contract of the whole course.

A :class:`Dataset` fixes the user index and the item index **once**, at load time, over
the whole catalog (items without any interaction included). Everything downstream works
with contiguous integer indices; raw ids are looked up through the dataset. Item features
are rows aligned with the item index, so no re-mapping is ever needed after a split.
Data from outside enters through :func:`handson.datasets.frames.from_frames`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd
import scipy.sparse as sp

__all__ = ["Interactions", "Dataset", "check_same_catalog"]


@dataclass
class Interactions:
    """A set of (user, item) pairs over a fixed index, optionally with ratings and timestamps.

    ``users`` and ``items`` are int64 arrays of shape ``(n,)`` holding indices in
    ``[0, n_users)`` and ``[0, n_items)``; ``ratings`` (float32) and ``timestamps`` (int64)
    are ``None`` or arrays of the same shape.
    """

    users: np.ndarray
    items: np.ndarray
    n_users: int
    n_items: int
    ratings: np.ndarray | None = None
    timestamps: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.n_users, self.n_items = _as_size(self.n_users, "n_users"), _as_size(self.n_items, "n_items")
        self.users = _as_index_array(self.users, "users")
        self.items = _as_index_array(self.items, "items")
        n = len(self.users)
        if len(self.items) != n:
            raise ValueError(f"users and items differ in length ({n} vs {len(self.items)}).")
        for name, size in (("users", self.n_users), ("items", self.n_items)):
            arr = getattr(self, name)
            if n and (arr.min() < 0 or arr.max() >= size):
                bad = arr[(arr < 0) | (arr >= size)][:5].tolist()
                raise ValueError(
                    f"{name} contains indices outside [0, n_{name}={size}): {bad}. "
                    "Map raw ids to indices with Dataset.user_index()/item_index() first."
                )
        if self.ratings is not None:
            self.ratings = _as_finite(self.ratings, "ratings", n, np.float32)
        if self.timestamps is not None:
            self.timestamps = _as_finite(self.timestamps, "timestamps", n, np.int64)

    def __len__(self) -> int:
        return len(self.users)

    def __repr__(self) -> str:
        extra = "".join(f", {a}" for a in ("ratings", "timestamps") if getattr(self, a) is not None)
        return (f"Interactions({len(self):,} pairs, n_users={self.n_users:,}, "
                f"n_items={self.n_items:,}{extra})")

    @property
    def shape(self) -> tuple[int, int]:
        return (self.n_users, self.n_items)

    def to_csr(self, values: str = "binary") -> sp.csr_matrix:
        """The ``(n_users, n_items)`` float32 CSR matrix; ``values`` is "binary" or "ratings".

        Duplicate pairs are collapsed (binary: 1, ratings: the last rating given).
        """
        if values == "ratings":
            if self.ratings is None:
                raise ValueError("These interactions carry no ratings; use values='binary'.")
            order = np.lexsort((np.arange(len(self)), self.items, self.users))
            u, i, r = self.users[order], self.items[order], self.ratings[order]
            last = np.r_[(u[1:] != u[:-1]) | (i[1:] != i[:-1]), True] if len(u) else np.zeros(0, bool)
            u, i, data = u[last], i[last], r[last]
        elif values == "binary":
            u, i, data = self.users, self.items, np.ones(len(self), dtype=np.float32)
        else:
            raise ValueError(f"values must be 'binary' or 'ratings', got {values!r}.")
        m = sp.csr_matrix((data.astype(np.float32), (u, i)), shape=self.shape, dtype=np.float32)
        m.sum_duplicates()
        if values == "binary":
            m.data[:] = 1.0
        return m

    def subset(self, index: np.ndarray) -> "Interactions":
        """The interactions selected by a boolean mask or an integer index array."""
        index = np.asarray(index)

        def pick(a):
            return None if a is None else a[index]

        return Interactions(self.users[index], self.items[index], self.n_users, self.n_items,
                            pick(self.ratings), pick(self.timestamps))

    def user_counts(self) -> np.ndarray:
        """Interactions per user, shape ``(n_users,)``."""
        return np.bincount(self.users, minlength=self.n_users)

    def item_counts(self) -> np.ndarray:
        """Interactions per item, shape ``(n_items,)``."""
        return np.bincount(self.items, minlength=self.n_items)

    def to_frame(self) -> pd.DataFrame:
        """A DataFrame with columns user, item (and rating, timestamp when present)."""
        cols: dict[str, np.ndarray] = {"user": self.users, "item": self.items}
        if self.ratings is not None:
            cols["rating"] = self.ratings
        if self.timestamps is not None:
            cols["timestamp"] = self.timestamps
        return pd.DataFrame(cols)

    @staticmethod
    def concat(parts: Sequence["Interactions"]) -> "Interactions":
        """Join interaction sets over the same index (e.g. train + valid)."""
        parts = [p for p in parts if p is not None]
        if not parts:
            raise ValueError("concat needs at least one Interactions object.")
        check_same_catalog(*parts)

        def cat(attr):
            vals = [getattr(p, attr) for p in parts]
            return None if any(v is None for v in vals) else np.concatenate(vals)

        return Interactions(cat("users"), cat("items"), parts[0].n_users, parts[0].n_items,
                            cat("ratings"), cat("timestamps"))


def check_same_catalog(*parts: Interactions) -> None:
    """Raise a ValueError when interaction sets do not share ``n_users`` and ``n_items``."""
    shapes = {p.shape for p in parts if p is not None}
    if len(shapes) > 1:
        raise ValueError(
            f"Interaction sets come from different catalogs (n_users, n_items): {sorted(shapes)}. "
            "Split one Dataset with handson.split so every part shares its index."
        )


def _as_size(value: Any, name: str) -> int:
    """``n_users`` / ``n_items`` as a non-negative int; a clear ValueError otherwise."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer, float, np.floating)) \
            or not float(value).is_integer() or value < 0:
        raise ValueError(f"{name} must be a non-negative integer (the size of the index), got {value!r}.")
    return int(value)


def _as_finite(values: Any, name: str, n: int, dtype: type) -> np.ndarray:
    """``values`` as a ``(n,)`` array of ``dtype``; NaN, inf, strings and a wrong shape raise
    a ValueError naming ``name`` and the first bad positions (never int64's minimum for NaN)."""
    arr = np.asarray(values)
    if arr.shape != (n,):
        raise ValueError(f"{name} has shape {arr.shape}, expected ({n},): one value per interaction.")
    if np.issubdtype(arr.dtype, np.datetime64):
        arr = arr.astype("datetime64[ns]")
        bad = np.isnat(arr)
        arr = arr.astype(np.int64)
    elif arr.dtype.kind in "biuf":
        bad = ~np.isfinite(arr.astype(np.float64))
    else:
        raise ValueError(f"{name} must be numbers, got dtype {arr.dtype} (e.g. {arr[:3].tolist()}); "
                         "convert them first (pd.to_numeric, or pd.to_datetime for dates).")
    if bad.any():
        raise ValueError(f"{name} holds {int(bad.sum())} NaN/inf value(s), at positions "
                         f"{np.flatnonzero(bad)[:5].tolist()}; drop or fill those interactions first.")
    if np.issubdtype(dtype, np.integer) and arr.dtype.kind == "f" and (arr != np.floor(arr)).any():
        frac = np.flatnonzero(arr != np.floor(arr))
        raise ValueError(f"{name} holds {len(frac)} fractional value(s), e.g. {arr[frac[:3]].tolist()}, which int64 "
                         "would truncate (ties in time); scale them to a whole unit first (e.g. seconds * 1000) "
                         "or pass datetimes.")
    return arr.astype(dtype)


def _as_index_array(a: Any, name: str) -> np.ndarray:
    arr = np.asarray(a)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {arr.shape}.")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        if np.issubdtype(arr.dtype, np.floating) and not np.all(np.isfinite(arr)):
            bad = np.flatnonzero(~np.isfinite(arr))
            raise ValueError(f"{name} holds {len(bad)} NaN/inf value(s) at positions {bad[:5].tolist()}; "
                             "indices must be integers: drop those interactions first.")
        if np.issubdtype(arr.dtype, np.floating) and np.all(arr == np.round(arr)):
            arr = arr.astype(np.int64)
        else:
            raise ValueError(f"{name} must hold integer indices, got dtype {arr.dtype} "
                             f"(e.g. {arr[:3].tolist()}); map raw ids with Dataset.user_index()/item_index().")
    return arr.astype(np.int64, copy=False)


@dataclass
class Dataset:
    """Interactions plus an item table, over a user and an item index fixed at load time.

    ``items`` is a DataFrame with one row per item index (``len(items) == n_items``) and at
    least the columns ``item_id``, ``text`` (str or None) and ``image`` (a path or None).
    ``info`` holds anything else a loader knows (hidden ground truth, load reports, source).
    """

    name: str
    interactions: Interactions
    items: pd.DataFrame
    user_ids: np.ndarray
    info: dict = field(default_factory=dict)
    root: Path | None = None

    def __post_init__(self) -> None:
        self.items = self.items.reset_index(drop=True)
        for col in ("item_id", "text", "image"):
            if col not in self.items.columns:
                self.items[col] = None if col != "item_id" else np.arange(len(self.items))
        self.user_ids = np.asarray(self.user_ids)
        if len(self.user_ids) != self.interactions.n_users or len(self.items) != self.interactions.n_items:
            raise ValueError(
                f"Index sizes disagree: {len(self.user_ids)} user ids / {len(self.items)} items vs "
                f"interactions over {self.interactions.shape}."
            )
        self._user_pos = pd.Index(self.user_ids)
        self._item_pos = pd.Index(self.items["item_id"].to_numpy())
        if not self._user_pos.is_unique or not self._item_pos.is_unique:
            raise ValueError("user ids and item ids must be unique.")

    # -- sizes -------------------------------------------------------------------------
    @property
    def n_users(self) -> int:
        return self.interactions.n_users

    @property
    def n_items(self) -> int:
        return self.interactions.n_items

    @property
    def n_interactions(self) -> int:
        return len(self.interactions)

    @property
    def item_ids(self) -> np.ndarray:
        return self.items["item_id"].to_numpy()

    def __repr__(self) -> str:
        return (f"Dataset({self.name!r}: {self.n_users:,} users, {self.n_items:,} items, "
                f"{self.n_interactions:,} interactions)")

    # -- id lookups --------------------------------------------------------------------
    def user_index(self, raw_ids: Any) -> np.ndarray:
        """Indices of raw user ids; unknown ids raise a ValueError naming them."""
        return _lookup(self._user_pos, raw_ids, "user")

    def item_index(self, raw_ids: Any) -> np.ndarray:
        """Indices of raw item ids; unknown ids raise a ValueError naming them."""
        return _lookup(self._item_pos, raw_ids, "item")

    # -- item content ------------------------------------------------------------------
    @property
    def texts(self) -> list[str]:
        """One text per item; a missing text is the empty string (see ``has_text``)."""
        return [t if isinstance(t, str) else "" for t in self.items["text"].tolist()]

    @property
    def has_text(self) -> np.ndarray:
        """Boolean ``(n_items,)``: the item has a non-empty text."""
        return np.array([isinstance(t, str) and bool(t.strip()) for t in self.items["text"]])

    @property
    def image_paths(self) -> list[str | None]:
        """One image path per item (absolute when the dataset has a root), None when missing."""
        out: list[str | None] = []
        for p in self.items["image"].tolist():
            if not isinstance(p, (str, Path)) or not str(p):
                out.append(None)
            else:
                p = Path(p)
                out.append(str(p if p.is_absolute() or self.root is None else Path(self.root) / p))
        return out

    @property
    def has_image(self) -> np.ndarray:
        """Boolean ``(n_items,)``: the item names an image file that exists on disk."""
        return np.array([p is not None and Path(p).is_file() for p in self.image_paths])

    # -- summaries and filters ---------------------------------------------------------
    def stats(self) -> pd.DataFrame:
        """One-row table: users, items, interactions, sparsity (as in the summer-school table)."""
        inter = self.interactions
        active_items = int((inter.item_counts() > 0).sum())
        density = self.n_interactions / max(1, self.n_users * self.n_items)
        return pd.DataFrame([{
            "dataset": self.name, "users": self.n_users, "items": self.n_items,
            "items with interactions": active_items, "interactions": self.n_interactions,
            "sparsity": 1.0 - density,
            "interactions / user": self.n_interactions / max(1, self.n_users),
            "interactions / item": self.n_interactions / max(1, self.n_items),
        }]).set_index("dataset")

    def kcore(self, k_users: int = 5, k_items: int | None = None) -> "Dataset":
        """Repeatedly drop users with fewer than ``k_users`` and items with fewer than
        ``k_items`` interactions until none is left; returns a new, re-indexed Dataset whose
        catalog keeps only the surviving items."""
        k_items = k_users if k_items is None else k_items
        for name, k in (("k_users", k_users), ("k_items", k_items)):
            if isinstance(k, (bool, np.bool_)) or not isinstance(k, (int, np.integer)) or k < 0:
                raise ValueError(f"{name} must be a non-negative integer (interactions needed), got {k!r}.")
        keep = np.ones(self.n_interactions, dtype=bool)
        u, i = self.interactions.users, self.interactions.items
        while True:
            uc = np.bincount(u[keep], minlength=self.n_users)
            ic = np.bincount(i[keep], minlength=self.n_items)
            new = keep & (uc[u] >= k_users) & (ic[i] >= k_items)
            if new.sum() == keep.sum():
                break
            keep = new
        if not keep.any():
            raise ValueError(f"No interaction survives a ({k_users}, {k_items})-core; lower k.")
        users_left = np.unique(u[keep])
        items_left = np.unique(i[keep])
        return self._reindexed(keep, users_left, items_left, f"{self.name}-{k_users}core")

    def subsample(self, max_items: int | None = None, max_users: int | None = None,
                  seed: int = 0) -> "Dataset":
        """A smaller, re-indexed copy for quick runs: the ``max_items`` most interacted-with
        items (ties: lower index first), then ``max_users`` users drawn at random (``seed``)
        among those left with an interaction. Returns ``self`` when nothing needs cutting;
        ``info["subsample"]`` records what was kept. The QUICK notebooks use it on large
        data sets so that each stays within its time on two CPU cores."""
        for name, n in (("max_items", max_items), ("max_users", max_users)):
            if n is not None and (isinstance(n, (bool, np.bool_)) or not isinstance(n, (int, np.integer))
                                  or n < 1):
                raise ValueError(f"{name} must be None or a positive integer, got {n!r}.")
        u, i = self.interactions.users, self.interactions.items
        items_left = np.arange(self.n_items)
        if max_items is not None and max_items < self.n_items:
            counts = np.bincount(i, minlength=self.n_items)
            items_left = np.sort(np.argsort(-counts, kind="stable")[:max_items])
        keep = np.isin(i, items_left)
        users_left = np.unique(u[keep])
        if max_users is not None and max_users < len(users_left):
            rng = np.random.default_rng(seed)
            users_left = np.sort(rng.choice(users_left, size=max_users, replace=False))
            keep &= np.isin(u, users_left)
        if keep.all() and len(items_left) == self.n_items and len(users_left) == self.n_users:
            return self
        out = self._reindexed(keep, users_left, items_left, f"{self.name}-subsample")
        out.info["subsample"] = {"max_items": max_items, "max_users": max_users, "seed": seed,
                                 "from": [self.n_users, self.n_items, self.n_interactions]}
        return out

    def implicit(self, threshold: float = 4.0) -> "Dataset":
        """Keep interactions with rating >= ``threshold`` as positives (catalog and users unchanged)."""
        r = self.interactions.ratings
        if r is None:
            raise ValueError("This dataset has no ratings to threshold; it is already implicit.")
        if isinstance(threshold, (bool, np.bool_)) or not isinstance(threshold, (int, float, np.number)) \
                or not np.isfinite(threshold):
            raise ValueError(f"threshold must be a finite number (e.g. 4.0), got {threshold!r}.")
        if not np.isfinite(r).all():
            raise ValueError(f"ratings hold {int((~np.isfinite(r)).sum())} NaN/inf value(s), which no "
                             "threshold can place; drop or fill them before implicit().")
        keep = r >= threshold
        return self._reindexed(keep, np.arange(self.n_users), np.arange(self.n_items), self.name)

    def _reindexed(self, keep: np.ndarray, users_left: np.ndarray, items_left: np.ndarray,
                   name: str) -> "Dataset":
        umap = np.full(self.n_users, -1, dtype=np.int64)
        umap[users_left] = np.arange(len(users_left))
        imap = np.full(self.n_items, -1, dtype=np.int64)
        imap[items_left] = np.arange(len(items_left))
        inter = self.interactions.subset(keep)
        new_inter = Interactions(umap[inter.users], imap[inter.items], len(users_left),
                                 len(items_left), inter.ratings, inter.timestamps)
        info = dict(self.info)
        info["kept_users"], info["kept_items"] = users_left, items_left
        return Dataset(name, new_inter, self.items.iloc[items_left].reset_index(drop=True),
                       self.user_ids[users_left], info, self.root)


def _lookup(index: pd.Index, raw_ids: Any, what: str) -> np.ndarray:
    scalar = np.ndim(raw_ids) == 0
    ids = np.atleast_1d(np.asarray(raw_ids, dtype=object if not scalar else None))
    pos = index.get_indexer(ids)
    if (pos < 0).any():
        unknown = ids[pos < 0][:5].tolist()
        raise ValueError(f"Unknown {what} id(s) {unknown} ({(pos < 0).sum()} in all); "
                         f"look them up in dataset.{what}_ids.")
    return pos[0] if scalar else pos.astype(np.int64)
