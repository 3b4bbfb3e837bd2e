"""Shared helpers of the real-data loaders (Amazon, Amazon 2023, MovieLens).

Reading rules common to all loaders:

- **Text encoding.** Files are decoded as UTF-8. A file that is not valid UTF-8 is decoded
  as Latin-1 instead (every byte is a character there, so reading never fails; a few
  accented letters may look wrong) with a warning, and ``info["encodings"]`` records it.
- **Folder layout.** A local copy is checked before reading; a wrong layout raises a
  ValueError that lists the files expected and the files found.
- **Images.** An item gets an image path only when the file exists; the rest stay None
  and are counted (``info["items_without_image"]``). Nothing is ever replaced by a
  placeholder picture.
"""
from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd

from .download import describe_folder

__all__ = ["read_table", "find_layout", "image_column", "LayoutError"]


class LayoutError(ValueError):
    """A local data folder does not have the expected files."""


def read_table(path: str | Path, info: dict | None = None, **kwargs: Any) -> pd.DataFrame:
    """``pandas.read_csv`` with the UTF-8 / Latin-1 rule above; ``info`` collects the encoding."""
    path = Path(path)
    kwargs.setdefault("encoding", "utf-8")
    try:
        df = pd.read_csv(path, **kwargs)
        used = kwargs["encoding"]
    except UnicodeDecodeError as exc:
        warnings.warn(f"{path.name} is not valid UTF-8 ({exc.reason} at byte {exc.start}); "
                      "decoding it as Latin-1.", stacklevel=2)
        kwargs["encoding"] = "latin-1"
        df = pd.read_csv(path, **kwargs)
        used = "latin-1"
    except pd.errors.ParserError as exc:
        raise ValueError(f"{path.name} cannot be parsed as a table ({str(exc).strip()[:200]}). "
                         "Check the separator and quoting, or re-download the file.") from None
    except pd.errors.EmptyDataError:
        raise ValueError(f"{path} is empty; re-download or re-create it.") from None
    if info is not None:
        info.setdefault("encodings", {})[path.name] = used
    return df


def find_layout(root: str | Path, alternatives: Sequence[Sequence[str]], what: str,
                max_depth: int = 3, hint: str = "") -> tuple[Path, dict[str, Path]]:
    """Find the folder at or below ``root`` that holds one file of each alternative group.

    ``alternatives`` is a list of groups such as ``[("reviews.tsv", "final_reviews.tsv"),
    ("meta.tsv",)]``; the first name of a group that exists wins. Searches ``root`` and its
    sub-folders up to ``max_depth`` levels (zips often add a folder level). Returns the
    folder and ``{first name of the group: path}``; raises :class:`LayoutError` otherwise.
    """
    root = Path(root).expanduser()
    if not root.is_dir():
        raise LayoutError(f"{what}: {root} is not a folder. Pass root= the folder that holds "
                          f"{_expected(alternatives)}.{hint}")
    frontier, depth = [root], 0
    while frontier and depth <= max_depth:
        for folder in frontier:
            found = {}
            for group in alternatives:
                hit = next((folder / n for n in group if (folder / n).is_file()), None)
                if hit is None:
                    break
                found[group[0]] = hit
            else:
                return folder, found
        frontier = sorted(c for f in frontier for c in _subdirs(f))
        depth += 1
    raise LayoutError(f"{what}: no folder at or below {root} holds {_expected(alternatives)}. "
                      f"Found: {describe_folder(root)}.{hint}")


def _subdirs(folder: Path) -> Iterable[Path]:
    try:
        return [c for c in folder.iterdir() if c.is_dir() and not c.name.startswith((".", "__"))]
    except OSError:
        return []


def _expected(alternatives: Sequence[Sequence[str]]) -> str:
    return ", ".join(" or ".join(repr(n) for n in group) for group in alternatives)


def require_columns(df: pd.DataFrame, needed: Sequence[str], file: str) -> None:
    """Raise a ValueError naming the missing columns and the ones present."""
    missing = [c for c in needed if c not in df.columns]
    if missing:
        raise ValueError(f"{file} lacks column(s) {missing}; it has {list(df.columns)}. "
                         f"Expected at least {list(needed)}.")


def image_column(item_ids: Sequence[Any], folder: Path, suffix: str = ".jpg",
                 relative_to: Path | None = None) -> tuple[list[str | None], int]:
    """Image paths ``folder/<item_id><suffix>`` for the items whose file exists.

    Lists the folder once (no per-item disk access). Paths are relative to
    ``relative_to`` when given. Returns the column and the number of items without a file.
    """
    ids = [str(i) for i in item_ids]
    present = set(os.listdir(folder)) if folder.is_dir() else set()
    base = folder.relative_to(relative_to) if relative_to is not None else folder
    names = np.array([i + suffix for i in ids], dtype=object)
    has = np.fromiter((n in present for n in names), dtype=bool, count=len(names))
    column = [str(base / n) if h else None for n, h in zip(names, has)]
    return column, int((~has).sum())


def join_text(*parts: pd.Series, sep: str = ". ") -> list[str | None]:
    """Join text columns row-wise with ``sep``, skipping empty pieces; None when all are empty."""
    out = pd.Series([""] * len(parts[0]), index=parts[0].index, dtype=object)
    for part in parts:
        piece = part.astype(object).where(part.notna(), "").astype(str).str.strip()
        piece = piece.where(piece.str.lower() != "nan", "")
        both = (out != "") & (piece != "")
        out = out.where(~both, out + sep + piece).where(both | (out != ""), piece)
    return [t if t else None for t in out.tolist()]
