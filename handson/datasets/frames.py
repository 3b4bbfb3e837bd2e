"""from_frames: how any external data set enters the library.

Two pandas frames (interactions, and optionally the item table) become a :class:`Dataset`
with its user and item index fixed once; every loader of :mod:`handson.datasets` ends here.
"""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from .core import Dataset, Interactions

__all__ = ["from_frames"]


def from_frames(interactions: pd.DataFrame, items: pd.DataFrame | None = None, *,
                user_col: str = "user", item_col: str = "item", rating_col: str | None = None,
                timestamp_col: str | None = None, item_id_col: str | None = None,
                text_col: str | None = "text", image_col: str | None = "image",
                name: str = "custom", root: str | Path | None = None,
                info: dict | None = None) -> Dataset:
    """Build a :class:`Dataset` from an interactions frame and an optional items frame.

    The items frame (when given) defines the catalog and its order; without it the catalog
    is the set of items that appear in the interactions. Users are indexed in sorted order
    of their raw ids. Duplicate (user, item) pairs are collapsed to the latest one (by
    timestamp when present) and counted in ``info["duplicates_collapsed"]`` with a warning.
    Ratings and timestamps must be numbers (datetimes become int64 nanoseconds): a missing,
    infinite or unparsable value raises a ValueError naming the column and the rows, as do
    ids of mixed types in one column.
    """
    for arg, frame in (("interactions", interactions), ("items", items)):
        if not isinstance(frame, pd.DataFrame) and not (arg == "items" and frame is None):
            raise ValueError(f"{arg} must be a pandas DataFrame, got {type(frame).__name__}; "
                             "e.g. pd.read_csv(...) or pd.DataFrame({'user': ..., 'item': ...}).")
    item_id_col = item_id_col or item_col
    info = dict(info or {})
    df = _interaction_rows(interactions, user_col, item_col, rating_col, timestamp_col, info)
    if items is None:
        items = pd.DataFrame({item_id_col: _sorted_ids(df[item_col], item_col)})
    catalog, item_idx = _catalog(items, item_id_col, df[item_col].to_numpy())
    user_ids = _sorted_ids(df[user_col], user_col)
    user_idx = pd.Index(user_ids).get_indexer(df[user_col].to_numpy())
    table = _item_table(items, item_id_col, text_col, image_col)
    inter = Interactions(
        user_idx, item_idx, len(user_ids), len(catalog),
        ratings=None if rating_col is None else df[rating_col].to_numpy(np.float32),
        timestamps=None if timestamp_col is None else df[timestamp_col].to_numpy(np.int64),
    )
    return Dataset(name, inter, table, user_ids, info, Path(root) if root is not None else None)


def _interaction_rows(interactions: pd.DataFrame, user_col: str, item_col: str,
                      rating_col: str | None, timestamp_col: str | None, info: dict) -> pd.DataFrame:
    """The named columns, checked, with each repeated (user, item) pair reduced to its latest
    row (counted in ``info["duplicates_collapsed"]``, with a warning to from_frames' caller)."""
    wanted = [c for c in (user_col, item_col, rating_col, timestamp_col) if c is not None]
    missing = [c for c in wanted if c not in interactions.columns]
    if missing:
        raise ValueError(f"interactions frame lacks column(s) {missing}; it has "
                         f"{list(interactions.columns)}. Name the right ones with user_col=, "
                         "item_col=, rating_col=, timestamp_col=.")
    df = interactions[wanted].copy()
    nan_rows = df[[user_col, item_col]].isna().any(axis=1)
    if nan_rows.any():
        raise ValueError(f"{int(nan_rows.sum())} interaction rows have a missing user or item id "
                         f"(first at row {df.index[nan_rows][0]!r}); drop them with "
                         f"df.dropna(subset=[{user_col!r}, {item_col!r}]) first.")
    for col in (user_col, item_col):
        if pd.api.types.is_float_dtype(df[col]) and np.isinf(df[col]).any():
            raise ValueError(f"column {col!r} holds {int(np.isinf(df[col]).sum())} infinite id(s), at rows "
                             f"{df.index[np.isinf(df[col])][:5].tolist()}; ids must be finite: drop those rows.")
    for col in (rating_col, timestamp_col):
        if col is not None:
            df[col] = _numbers(df[col], col, "rating_col" if col == rating_col else "timestamp_col")
    sort_cols = [user_col, item_col] + ([timestamp_col] if timestamp_col else [])
    df = df.sort_values(sort_cols, kind="stable")
    dup = df.duplicated([user_col, item_col], keep="last")
    info["duplicates_collapsed"] = int(dup.sum())
    if dup.any():
        warnings.warn(f"{int(dup.sum())} duplicate (user, item) interactions collapsed to the latest one.",
                      stacklevel=3)
        df = df[~dup]
    return df


def _sorted_ids(ids: pd.Series, col: str) -> np.ndarray:
    """The distinct raw ids of column ``col``, sorted; ids of mixed types raise a ValueError."""
    distinct = ids.unique()
    try:
        return np.sort(distinct)
    except TypeError:
        kinds = sorted({type(v).__name__ for v in distinct})
        raise ValueError(f"column {col!r} mixes id types {kinds}; make them one type first, e.g. "
                         f"df[{col!r}] = df[{col!r}].astype(str).") from None


def _numbers(values: pd.Series, col: str, arg: str) -> pd.Series:
    """The ratings or timestamps of column ``col`` as numbers (datetimes: int64 nanoseconds);
    a missing (NaN, None, NaT) or unparsable value raises a ValueError naming the column,
    the argument ``arg`` that chose it, the rows and the values."""
    if pd.api.types.is_datetime64_any_dtype(values):
        parsed = values
    elif pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        parsed = values.astype(np.float64)
    else:
        parsed = pd.to_numeric(values, errors="coerce")
        bad = parsed.isna() & values.notna()
        if bad.any():
            raise ValueError(f"column {col!r} ({arg}) holds {int(bad.sum())} value(s) that are not numbers, "
                             f"e.g. {values[bad].head(3).tolist()} at rows {values.index[bad][:3].tolist()}; "
                             "convert the column first (pd.to_numeric, or pd.to_datetime for dates).")
    missing = parsed.isna() if parsed.dtype.kind == "M" else parsed.isna() | np.isinf(parsed)
    if missing.any():
        raise ValueError(f"column {col!r} ({arg}) has {int(missing.sum())} missing or infinite value(s), at "
                         f"rows {values.index[missing][:5].tolist()}; drop those rows "
                         f"(df.dropna(subset=[{col!r}])) or fill them first.")
    return parsed.dt.as_unit("ns").astype(np.int64) if parsed.dtype.kind == "M" else parsed


def _catalog(items: pd.DataFrame, item_id_col: str, raw_items: np.ndarray) -> tuple[pd.Index, np.ndarray]:
    """The item index (the items frame's row order) and the positions of ``raw_items`` in it;
    an id column that is missing, incomplete or repeated, or an unknown item, raises."""
    if item_id_col not in items.columns:
        raise ValueError(f"items frame lacks the id column {item_id_col!r}; it has {list(items.columns)}. "
                         "Pass item_id_col=.")
    if items[item_id_col].isna().any():
        raise ValueError(f"items frame has {int(items[item_id_col].isna().sum())} rows without an id.")
    if items[item_id_col].duplicated().any():
        dups = items[item_id_col][items[item_id_col].duplicated()].head(5).tolist()
        raise ValueError(f"items frame repeats item ids {dups}; keep one row per item "
                         f"(items.drop_duplicates({item_id_col!r})).")
    catalog = pd.Index(items[item_id_col].to_numpy())
    item_idx = catalog.get_indexer(raw_items)
    if (item_idx < 0).any():
        absent = pd.unique(raw_items[item_idx < 0])
        raise ValueError(f"{len(absent)} item id(s) in the interactions are missing from the items "
                         f"table, e.g. {absent[:5].tolist()}. Add them to the items frame or drop "
                         "their interactions.")
    return catalog, item_idx


def _item_table(items: pd.DataFrame, item_id_col: str, text_col: str | None,
                image_col: str | None) -> pd.DataFrame:
    """The items frame with the standard columns item_id, text and image (empty ones None)."""
    table = items.rename(columns={item_id_col: "item_id"}).reset_index(drop=True).copy()
    for std, col in (("text", text_col), ("image", image_col)):
        if col is not None and col in table.columns and col != std:
            table = table.rename(columns={col: std})
        if std not in table.columns:
            table[std] = None
    table["text"] = [t if isinstance(t, str) and t.strip() else None for t in table["text"]]
    table["image"] = [p if isinstance(p, (str, Path)) and str(p) else None for p in table["image"]]
    return table
