"""Recommendations for people, not indices: raw ids, scores, ranks, titles and images.

Models work on contiguous indices (``model.recommend(users, k)`` returns an int array
``(len(users), k)``). Giving the data set turns that into a table a person can read::

    recs = model.recommend(["u0001", "u0042"], k=10, dataset=ds)   # raw user ids
    recs = model.recommend([1, 42], k=10, dataset=ds, ids=False)   # user indices
    to_json(recs, "recs.json"); to_csv(recs, "recs.csv")

One row per (user, rank): ``user`` (raw id), ``user_index``, ``rank`` (1 = best),
``item`` (raw id), ``item_index``, ``score`` and, when the data set has them, ``title``
and ``image`` (the image's path). Raw ids are looked up in the dataset's fixed index
(:meth:`handson.datasets.Dataset.user_index`), so the model never stores an id map.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd

from .datasets import Dataset, Interactions

__all__ = ["frame", "user_indices", "sample_users", "read_users", "to_json", "to_csv"]


def user_indices(dataset: Dataset, users: Any, ids: bool = True) -> np.ndarray:
    """Indices of ``users``: raw ids of ``dataset.user_ids`` (``ids=True``) or indices."""
    users = np.atleast_1d(np.asarray(users, dtype=object if ids else None))
    if not ids:
        if users.size and not np.issubdtype(users.dtype, np.integer):
            raise ValueError(f"ids=False expects integer user indices, got dtype {users.dtype}.")
        bad = users[(users < 0) | (users >= dataset.n_users)]
        if bad.size:
            raise ValueError(f"user indices {bad[:5].tolist()} lie outside [0, n_users={dataset.n_users}).")
        return users.astype(np.int64)
    kind = type(dataset.user_ids[0]) if len(dataset.user_ids) else str
    if issubclass(kind, (int, np.integer)):     # ids read from a file arrive as strings
        users = np.array([int(u) if isinstance(u, str) and u.strip().lstrip("-").isdigit() else u
                          for u in users], dtype=object)
    return np.asarray(dataset.user_index(users.tolist()), dtype=np.int64)


def frame(model: Any, users: Any, k: int, dataset: Dataset, ids: bool = True, exclude_seen: bool = True,
          seen: Interactions | Iterable[Interactions] | None = None) -> pd.DataFrame:
    """The top-``k`` of ``model`` for ``users`` as a table (see the module docstring).

    The ranking is ``model.recommend`` (so a re-ranking wrapper ranks as it likes); the
    ``score`` column is ``model.score`` at the recommended items.
    """
    if dataset.n_items != getattr(model, "n_items_", dataset.n_items):
        raise ValueError(f"{type(model).__name__} was fitted on {model.n_items_} items, the data set has "
                         f"{dataset.n_items}; pass the data set the model was trained on.")
    idx = user_indices(dataset, users, ids=ids)
    top = np.asarray(model.recommend(idx, k=k, exclude_seen=exclude_seen, seen=seen))
    scores = np.take_along_axis(model.score(idx), top, axis=1)
    n, kk = top.shape
    out = pd.DataFrame({
        "user": np.repeat(dataset.user_ids[idx], kk), "user_index": np.repeat(idx, kk),
        "rank": np.tile(np.arange(1, kk + 1), n), "item": dataset.item_ids[top.ravel()],
        "item_index": top.ravel(), "score": scores.ravel().astype(np.float32)})
    if "title" in dataset.items.columns:
        out["title"] = dataset.items["title"].to_numpy()[top.ravel()]
    if dataset.items["image"].notna().any():
        out["image"] = np.asarray(dataset.image_paths, dtype=object)[top.ravel()]
    return out


def sample_users(dataset: Dataset, n: int, seed: int = 42, min_interactions: int = 1) -> np.ndarray:
    """``n`` raw user ids drawn without replacement among users with ``min_interactions``."""
    counts = dataset.interactions.user_counts()
    pool = np.flatnonzero(counts >= min_interactions)
    if not 1 <= n <= len(pool):
        raise ValueError(f"cannot sample {n} users: {len(pool)} have >= {min_interactions} interactions.")
    picked = np.sort(np.random.default_rng(seed).choice(pool, size=n, replace=False))
    return dataset.user_ids[picked]


def read_users(path: str | Path) -> list[str]:
    """User ids from a file: one per line (blank lines and ``#`` comments skipped), or a JSON
    list, or a CSV with a ``user`` column (e.g. a file written by :func:`to_csv`)."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"users file {str(path)!r} does not exist.")
    text = path.read_text()
    if path.suffix == ".json":
        return [str(u) for u in json.loads(text)]
    if path.suffix == ".csv":
        table = pd.read_csv(path, dtype=str)
        if "user" not in table.columns:
            raise ValueError(f"{str(path)!r} has no 'user' column; it has {list(table.columns)}.")
        return list(dict.fromkeys(table["user"]))
    return [line.split("#")[0].strip() for line in text.splitlines() if line.split("#")[0].strip()]


def _plain(value: Any) -> Any:
    """NumPy scalars and NaN as JSON values."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def to_json(recs: pd.DataFrame, path: str | Path | None = None, meta: dict | None = None) -> str:
    """The table of :func:`frame` as JSON, grouped by user::

        {"meta": {...}, "users": [{"user": "u0001", "items": [{"rank": 1, "item": "i0042",
                                   "score": 3.1, "title": ...}, ...]}, ...]}

    Written to ``path`` when given; the JSON text is returned either way."""
    _check_frame(recs)
    cols = [c for c in ("rank", "item", "score", "title", "image") if c in recs.columns]
    users = [{"user": _plain(user), "items": [{c: _plain(v) for c, v in zip(cols, row)}
                                              for row in part[cols].itertuples(index=False)]}
             for user, part in recs.groupby("user", sort=False)]
    text = json.dumps({"meta": dict(meta or {}), "users": users}, indent=1, ensure_ascii=False)
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(text + "\n")
    return text


def to_csv(recs: pd.DataFrame, path: str | Path) -> Path:
    """The table of :func:`frame` as CSV (one row per user and rank)."""
    _check_frame(recs)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    recs.to_csv(path, index=False)
    return path


def _check_frame(recs: Any) -> None:
    needed: Sequence[str] = ("user", "rank", "item", "score")
    if not isinstance(recs, pd.DataFrame) or any(c not in recs.columns for c in needed):
        raise ValueError("expected the table of model.recommend(users, k, dataset=ds) "
                         f"(columns {list(needed)}).")
