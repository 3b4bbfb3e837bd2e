"""The Amazon data sets of the RecSys 2024 summer school (Ducho + Elliot benchmark).

The summer-school hands-on used Amazon Office Products (McAuley et al., 2015; 5-core),
prepared by Ducho's ``demos/demo_office/prepare_dataset.py``: items without a description
or an image were dropped, and the images were downloaded. A prepared copy is shared on
Google Drive (file id below); the other categories of the benchmark (Digital Music,
Baby, Toys & Games, Beauty) are prepared the same way and load from a local folder.

Folder layout (searched up to four folder levels deep, as zips add levels)::

    reviews.tsv        no header: user, item, rating[, timestamp]   (or final_reviews.tsv)
    meta.tsv           header with at least asin, description [, title, imUrl]
    images/<asin>.jpg  one picture per item (optional)

Reading choices: the catalog is the set of items in ``reviews.tsv`` (as in the summer-school
table) or, with ``catalog="all"``, also the items only ``meta.tsv`` lists (cold items).
Reviewed items that ``meta.tsv`` lacks stay in the catalog without text and are counted
(``info["items_without_meta"]``); items without an image file keep ``image=None`` and are
counted (``info["items_without_image"]``). Ratings stay explicit: use ``ds.implicit(4)``
to keep only the positive ones.

References: McAuley, Targett, Shi, van den Hengel, "Image-based recommendations on styles
and substitutes", SIGIR 2015. Attimonelli et al., "Ducho meets Elliot: Large-scale
benchmarks for multimodal recommendation", arXiv:2409.15857, 2024.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from .core import Dataset
from .frames import from_frames
from .download import data_dir, extract_zip, gdown_file
from .files import LayoutError, find_layout, image_column, join_text, read_table, require_columns

__all__ = ["load_summer_school", "CATEGORIES", "OFFICE_GDRIVE_ID", "SUMMER_SCHOOL_STATS"]

OFFICE_GDRIVE_ID = "1DSe7osyJ5dmXRsgOkdDMPeHPHCk7eezv"   # demo_office.zip of the hands-on notebook

# short name -> (Amazon 2014 category, Ducho demo folder)
CATEGORIES = {
    "office": ("Office_Products", "demo_office"),
    "music": ("Digital_Music", "demo_music"),
    "baby": ("Baby", "demo_baby"),
    "toys": ("Toys_and_Games", "demo_toys"),
    "beauty": ("Beauty", "demo_beauty"),
}

# the table of the summer-school notebook (users, items, interactions, sparsity %)
SUMMER_SCHOOL_STATS = {
    "office": (4471, 1703, 20608, 99.73),
    "music": (5082, 2338, 30623, 99.74),
    "baby": (19100, 6283, 80931, 99.93),
    "toys": (19241, 11101, 89558, 99.96),
    "beauty": (21752, 11145, 100834, 99.96),
}

_LAYOUT = [("reviews.tsv", "final_reviews.tsv"), ("meta.tsv", "final_meta.tsv")]


def load_summer_school(category: str = "office", root: str | Path | None = None,
                       download: bool = True, catalog: str = "reviews",
                       quiet: bool = False) -> Dataset:
    """Load a summer-school Amazon category as a :class:`Dataset` (explicit 1-5 ratings).

    ``root`` is a local folder in the layout above. Without it the data folder
    ``data_dir("amazon-<category>")`` is used; for Office it is filled from Google Drive
    on first use (``download=False`` forbids that). ``catalog`` is "reviews" or "all".
    """
    category = category.lower()
    if category not in CATEGORIES:
        raise ValueError(f"Unknown summer-school category {category!r}; choose from {sorted(CATEGORIES)}.")
    if catalog not in ("reviews", "all"):
        raise ValueError(f"catalog must be 'reviews' or 'all', got {catalog!r}.")
    name = f"amazon-{category}"
    folder = Path(root) if root is not None else _local_copy(category, download, quiet)
    hint = (f" Prepare it with Ducho's demos/{CATEGORIES[category][1]}/prepare_dataset.py, or "
            "for Office let load('amazon-office') download it.")
    folder, files = find_layout(folder, _LAYOUT, f"Amazon {category} data", max_depth=4, hint=hint)
    info: dict = {"source": "RecSys 2024 summer school (Ducho demo, Amazon 2014 5-core)",
                  "category": CATEGORIES[category][0], "folder": str(folder)}

    reviews = _read_reviews(files["reviews.tsv"], info)
    meta = read_table(files["meta.tsv"], info, sep="\t", dtype={"asin": str})
    require_columns(meta, ["asin", "description"], files["meta.tsv"].name)
    meta = meta.dropna(subset=["asin"]).drop_duplicates("asin", keep="first")

    reviewed = pd.Index(pd.unique(reviews["item"])).sort_values()
    ids = reviewed.union(pd.Index(meta["asin"])) if catalog == "all" else reviewed
    items = pd.DataFrame({"item_id": ids.to_numpy()}).merge(
        meta.rename(columns={"asin": "item_id"}), on="item_id", how="left")
    in_meta = items["item_id"].isin(meta["asin"]).to_numpy()
    title = items["title"] if "title" in items.columns else pd.Series([None] * len(items))
    items["text"] = join_text(title, items["description"])
    items["image"], info["items_without_image"] = image_column(
        items["item_id"], folder / "images", relative_to=folder)
    info["items_without_meta"] = int((~in_meta).sum())
    info["items_without_text"] = int(items["text"].isna().sum())
    info["meta_only_items"] = int(len(ids) - len(reviewed))
    return from_frames(reviews, items, rating_col="rating",
                       timestamp_col="timestamp" if "timestamp" in reviews.columns else None,
                       item_id_col="item_id", name=name, root=folder, info=info)


def _local_copy(category: str, download: bool, quiet: bool) -> Path:
    """The data folder of a category, downloaded (Office) when it lacks the files."""
    folder = data_dir(f"amazon-{category}")
    try:
        find_layout(folder, _LAYOUT, "", max_depth=4)
        return folder
    except LayoutError:
        pass
    if category != "office" or not download:
        why = ("no public download exists for it" if category != "office"
               else "download=False was given")
        raise LayoutError(
            f"Amazon {category} is not in {folder} and {why}. Place reviews.tsv, meta.tsv and "
            f"images/ there (or pass root=...); prepare them with Ducho's "
            f"demos/{CATEGORIES[category][1]}/prepare_dataset.py. Offline, "
            "handson.datasets.load('toyshop') needs no files.")
    archive = gdown_file(OFFICE_GDRIVE_ID, folder / "demo_office.zip", quiet=quiet)
    extract_zip(archive, folder)
    archive.unlink(missing_ok=True)
    return folder


def _read_reviews(path: Path, info: dict) -> pd.DataFrame:
    """reviews.tsv without header: user, item, rating[, timestamp]; a stray header row is skipped."""
    df = read_table(path, info, sep="\t", header=None, dtype=str, keep_default_na=False)
    if df.shape[1] < 3:
        raise ValueError(f"{path.name} has {df.shape[1]} column(s); expected tab-separated "
                         "user, item, rating[, timestamp] without a header.")
    df = df.iloc[:, :4].copy()
    df.columns = ["user", "item", "rating", "timestamp"][: df.shape[1]]
    numeric = df.drop(columns=["user", "item"]).apply(pd.to_numeric, errors="coerce")
    bad = numeric.isna().any(axis=1).to_numpy().copy()
    info["header_row_skipped"] = bool(len(bad) and bad[0] and not bad[1:].any())
    if info["header_row_skipped"]:
        bad[0] = False
        numeric, df = numeric.iloc[1:], df.iloc[1:]
    if bad.any():
        rows = (bad.nonzero()[0][:5] + 1).tolist()
        raise ValueError(f"{path.name}: {int(bad.sum())} row(s) with a non-numeric rating or "
                         f"timestamp (lines {rows}). Expected user<TAB>item<TAB>rating[<TAB>timestamp].")
    empty = (df["user"] == "") | (df["item"] == "")
    if empty.any():
        raise ValueError(f"{path.name}: {int(empty.sum())} row(s) without a user or item id.")
    out = df[["user", "item"]].copy()
    out["rating"] = numeric["rating"].to_numpy("float32")
    if "timestamp" in numeric.columns:
        out["timestamp"] = numeric["timestamp"].to_numpy("int64")
    return out.reset_index(drop=True)
