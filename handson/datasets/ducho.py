"""Write a data set in the folder layout of Ducho's summer-school demos (and read it back).

Ducho's ``demos/demo_office/prepare_dataset.py`` leaves three things behind, and this is
the layout that :func:`handson.datasets.load` reads for ``"amazon-office"`` and the other
summer-school categories::

    reviews.tsv        no header: user, item, rating, timestamp
    meta.tsv           header: asin, description, imUrl   (no title, no other attribute)
    images/<asin>.jpg  one JPEG per item that has a picture

:func:`write_summer_school_layout` writes any :class:`Dataset` with texts and images in that
layout. The course uses it to build an Office-like folder offline from the toyshop, so that
every notebook can be tested on the exact columns a real Ducho folder has (no ``title``, no
``colour``), and teachers can use it to hand a prepared data set to Ducho.
"""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from .core import Dataset

__all__ = ["write_summer_school_layout", "office_fixture"]


def write_summer_school_layout(ds: Dataset, folder: str | Path, image_size: int | None = None,
                               overwrite: bool = False) -> Path:
    """Write ``ds`` into ``folder`` as reviews.tsv, meta.tsv and images/<asin>.jpg.

    The item ids become the asins, the item texts the descriptions (items without a text get
    an empty description, as in Ducho's files), and each image is re-encoded as RGB JPEG
    (``image_size`` pixels square when given). ``imUrl`` records where the picture came from.
    The folder is written next to its final place and renamed into it, so an interrupted
    call leaves nothing half-written. An existing folder is refused unless ``overwrite``.
    """
    folder = Path(folder)
    if folder.exists() and any(folder.iterdir()) and not overwrite:
        raise FileExistsError(f"{folder} exists and is not empty; pass overwrite=True or choose "
                              "another folder.")
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
    try:
        _write(ds, tmp, image_size)
        if folder.exists():
            shutil.rmtree(folder)
        tmp.rename(folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return folder


def _write(ds: Dataset, out: Path, image_size: int | None) -> None:
    frame = ds.interactions.to_frame()
    users = np.asarray(ds.user_ids, dtype=object)[frame["user"].to_numpy()]
    asins = np.asarray(ds.item_ids, dtype=object)[frame["item"].to_numpy()]
    stamps = frame["timestamp"] if "timestamp" in frame else pd.Series(np.zeros(len(frame), "int64"))
    pd.DataFrame({"user": users, "item": asins, "rating": frame["rating"].to_numpy(),
                  "timestamp": stamps.to_numpy("int64")}).to_csv(
        out / "reviews.tsv", sep="\t", header=False, index=False)
    (out / "images").mkdir()
    texts, paths, has_image = ds.texts, ds.image_paths, ds.has_image
    urls = []
    for asin, path, present in zip(ds.item_ids, paths, has_image):
        if not present:
            urls.append("")
            continue
        with Image.open(path) as img:
            img = img.convert("RGB")
            if image_size:
                img = img.resize((image_size, image_size))
            img.save(out / "images" / f"{asin}.jpg", quality=90)
        urls.append(f"file://{Path(path).name}")
    pd.DataFrame({"asin": list(ds.item_ids), "description": texts,
                  "imUrl": urls}).to_csv(out / "meta.tsv", sep="\t", index=False)


def office_fixture(folder: str | Path, overwrite: bool = False, **toyshop_options) -> Path:
    """A small Office-like folder in Ducho's layout, made offline from a generated toyshop.

    The same users, items and interactions as ``datasets.load("toyshop", **toyshop_options)``,
    but only the columns a Ducho folder has: load it with
    ``datasets.load("amazon-office", root=folder)``. Used by the tests and the notebook runs
    (``HANDSON_DATASET=amazon-office HANDSON_DATA_ROOT=folder``).
    """
    from .toyshop import load as load_toyshop
    folder = Path(folder)
    if (folder / "reviews.tsv").is_file() and (folder / "meta.tsv").is_file() and not overwrite:
        return folder
    return write_summer_school_layout(load_toyshop(**toyshop_options), folder, overwrite=True)
