"""handson.datasets: the data contract of the course and every data set it loads.

A :class:`Dataset` fixes the user index and the item index **once**, at load time, over
the whole catalog (items without any interaction included); everything downstream works
with contiguous integer indices. :func:`load` reads a data set by name (see
:func:`available`); ``root=`` points at a local copy, and ``"name:subset"`` passes
``subset=`` to the loader (``load("toyshop:small")``, ``load("amazon2023:All_Beauty")``).

What is where:

- ``core``: :class:`Interactions`, :class:`Dataset`,
  :func:`check_same_catalog` (the contract; imports nothing from the sources);
- ``frames``: :func:`from_frames`, how any external data set enters (every loader ends there);
- ``toyshop`` (+ ``toyshop_images``): the procedural offline shop and its pictures;
- ``movielens``: MovieLens 100K and latest-small (GroupLens);
- ``amazon``: the Amazon categories of the RecSys 2024 summer school (Ducho + Elliot);
- ``amazon2023``: Amazon Reviews 2023 from the Hugging Face hub, plus an image downloader;
- ``files``: reading rules shared by the real-data loaders (layouts, encodings, images);
- ``download``: downloads that fail cleanly (checksums, atomic writes, offline errors);
- ``archives``: zip extraction that refuses unsafe members and never deletes what is there.

:data:`LOADERS` maps each name to a plain function of those modules, called as
``loader(root=root, **kwargs)``.
"""
from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any, Callable

from . import amazon, amazon2023, movielens, toyshop
from .core import Dataset, Interactions, check_same_catalog
from .frames import from_frames

__all__ = ["Interactions", "Dataset", "from_frames", "check_same_catalog", "load", "available",
           "LOADERS"]

LOADERS: dict[str, Callable[..., Dataset]] = {
    "toyshop": toyshop.load,
    "amazon-office": partial(amazon.load_summer_school, "office"),
    "amazon-music": partial(amazon.load_summer_school, "music"),
    "amazon-baby": partial(amazon.load_summer_school, "baby"),
    "amazon-toys": partial(amazon.load_summer_school, "toys"),
    "amazon-beauty": partial(amazon.load_summer_school, "beauty"),
    "amazon2023": amazon2023.load_amazon2023,
    "movielens-100k": partial(movielens.load_movielens, "100k"),
    "movielens-latest-small": partial(movielens.load_movielens, "latest-small"),
}


def available() -> list[str]:
    """Names accepted by :func:`load`."""
    return sorted(LOADERS)


def load(name: str, root: str | Path | None = None, **kwargs: Any) -> Dataset:
    """Load a data set by name (see :func:`available`); ``root`` points at a local copy."""
    key = name.split(":", 1)[0].lower()
    if key not in LOADERS:
        raise ValueError(f"Unknown data set {name!r}; available: {available()}.")
    if ":" in name:
        kwargs.setdefault("subset", name.split(":", 1)[1])
    return LOADERS[key](root=root, **kwargs)
