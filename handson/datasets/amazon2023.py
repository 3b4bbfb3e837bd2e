"""Amazon Reviews 2023 (McAuley Lab) from the Hugging Face hub, plus an image downloader.

Files (``McAuley-Lab/Amazon-Reviews-2023``, dataset repository, no ``datasets`` package
needed): ``raw/review_categories/<Category>.jsonl`` and
``raw/meta_categories/meta_<Category>.jsonl``. A local copy may hold them flat
(``<Category>.jsonl[.gz]``, ``meta_<Category>.jsonl[.gz]``) or in that ``raw/`` layout.

Pipeline: stream the reviews (``max_reviews`` caps the lines read), keep ratings
``>= min_rating`` as positives, collapse repeated (user, item) pairs, optionally sample
``sample_users`` users, apply a k-core, then read the metadata of the surviving items only.
Items are ``parent_asin`` (variants of a product share it). Item text = title + features +
description; ``image_url`` = the first ``large`` image URL. Images are fetched separately by
:func:`download_images`. Unparseable lines are skipped and counted (``info``).

Reference: Hou, Li, He, Yan, Chen, McAuley, "Bridging language and items for retrieval and
recommendation", arXiv:2403.03952, 2024.
"""
from __future__ import annotations

import gzip
import json
import math
import re
import warnings
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import IO, Iterator

import numpy as np
import pandas as pd

from .core import Dataset
from .frames import from_frames
from .download import DownloadError, data_dir, download, hf_file, is_reachable
from .files import LayoutError, find_layout

__all__ = ["load_amazon2023", "download_images", "HF_REPO"]

HF_REPO = "McAuley-Lab/Amazon-Reviews-2023"
_ASIN = re.compile(rb'"parent_asin":\s*"([^"]*)"')


def load_amazon2023(subset: str = "All_Beauty", root: str | Path | None = None,
                    min_rating: float | None = 4.0, max_reviews: int | None = None,
                    sample_users: int | None = None, kcore: int = 5, seed: int = 42,
                    quiet: bool = False) -> Dataset:
    """Load one category as an implicit-feedback :class:`Dataset` (see the module notes).

    ``subset`` is the category file name, e.g. "All_Beauty", "Office_Products".
    ``min_rating=None`` keeps every review. ``kcore=0`` skips the k-core.
    """
    if not re.fullmatch(r"[A-Za-z0-9_]+", subset or ""):
        raise ValueError(f"subset must be a category name such as 'All_Beauty', got {subset!r}.")
    if sample_users is not None and sample_users < 1:
        raise ValueError(f"sample_users must be a positive count or None, got {sample_users}.")
    reviews_path, meta_path = _files(subset, root)
    info: dict = {"source": f"huggingface.co/datasets/{HF_REPO}", "category": subset,
                  "files": [str(reviews_path), str(meta_path)]}
    df = _read_reviews(reviews_path, max_reviews, info, quiet)
    info["reviews_read"] = len(df)
    if min_rating is not None:
        df = df[df["rating"] >= min_rating]
    df = df.sort_values("timestamp", kind="stable").drop_duplicates(["user", "item"], keep="last")
    if sample_users is not None:
        users = df["user"].unique()
        if sample_users < len(users):
            keep = np.random.default_rng(seed).choice(users, sample_users, replace=False)
            df = df[df["user"].isin(keep)]
    if kcore > 0:
        df = _kcore(df, kcore)
    if df.empty:
        raise ValueError(f"No review of {subset} survives min_rating={min_rating}, "
                         f"sample_users={sample_users}, kcore={kcore}; relax them or raise max_reviews.")
    items = _read_meta(meta_path, set(df["item"]), info, quiet)
    info["items_without_meta"] = int(items["title"].isna().sum())
    info["items_without_image_url"] = int(items["image_url"].isna().sum())
    return from_frames(df, items, rating_col="rating", timestamp_col="timestamp",
                       item_id_col="item_id", name=f"amazon2023-{subset}",
                       root=Path(root) if root is not None else data_dir("amazon2023", subset), info=info)


def _files(subset: str, root: str | Path | None) -> tuple[Path, Path]:
    names = [(f"{subset}.jsonl", f"{subset}.jsonl.gz"), (f"meta_{subset}.jsonl", f"meta_{subset}.jsonl.gz")]
    if root is not None:
        hub = [tuple(f"raw/review_categories/{n}" for n in names[0]),
               tuple(f"raw/meta_categories/{n}" for n in names[1])]
        try:
            _, found = find_layout(root, hub, "Amazon Reviews 2023", max_depth=0)
            return found[hub[0][0]], found[hub[1][0]]
        except LayoutError:
            _, found = find_layout(root, names, "Amazon Reviews 2023", max_depth=0,
                                   hint=" (or the hub layout raw/review_categories/, raw/meta_categories/)")
            return found[names[0][0]], found[names[1][0]]
    local = data_dir("hf", *HF_REPO.split("/"))
    return (hf_file(HF_REPO, f"raw/review_categories/{subset}.jsonl", local_dir=local),
            hf_file(HF_REPO, f"raw/meta_categories/meta_{subset}.jsonl", local_dir=local))


def _open(path: Path) -> IO[bytes]:
    with open(path, "rb") as f:
        gz = f.read(2) == b"\x1f\x8b"
    return gzip.open(path, "rb") if gz else open(path, "rb")


def _lines(path: Path, desc: str, quiet: bool) -> Iterator[bytes]:
    """Lines of a (gzipped) jsonl file; a truncated gzip raises a clear ValueError."""
    from tqdm.auto import tqdm  # imported here so `import handson.datasets` stays light

    try:
        with _open(path) as f:
            yield from tqdm(f, desc=desc, unit=" lines", disable=quiet, leave=False)
    except (EOFError, gzip.BadGzipFile, OSError) as exc:
        raise ValueError(f"{path.name} is truncated or corrupt ({type(exc).__name__}: {exc}); "
                         "delete it and download it again.") from None


def _read_reviews(path: Path, max_reviews: int | None, info: dict, quiet: bool) -> pd.DataFrame:
    rows: list[tuple[str, str, float, int]] = []
    bad = 0
    for n, line in enumerate(_lines(path, f"reviews {path.name}", quiet)):
        if max_reviews is not None and n >= max_reviews:
            break
        try:
            r = json.loads(line)
            item = r.get("parent_asin") or r["asin"]
            row = (str(r["user_id"]), str(item), float(r["rating"]), int(r["timestamp"]))
            if not math.isfinite(row[2]):
                raise ValueError("rating is not a finite number")
        except (ValueError, KeyError, TypeError, AttributeError, OverflowError):
            bad += 1
            continue
        rows.append(row)
    info["bad_review_lines"] = bad
    info["timestamp_unit"] = "ms"
    if not rows:
        raise ValueError(f"{path.name} holds no readable review ({bad} bad line(s)); each line must be "
                         "a JSON object with user_id, parent_asin (or asin), rating, timestamp.")
    if bad:
        warnings.warn(f"{path.name}: {bad} review line(s) without a user, item, finite rating or "
                      "timestamp were skipped (counted in info['bad_review_lines']).", stacklevel=3)
    df = pd.DataFrame.from_records(rows, columns=["user", "item", "rating", "timestamp"])
    return df.astype({"rating": np.float32, "timestamp": np.int64})


def _kcore(df: pd.DataFrame, k: int) -> pd.DataFrame:
    """Drop users and items with fewer than ``k`` interactions until none is left."""
    u = pd.factorize(df["user"])[0]
    i = pd.factorize(df["item"])[0]
    keep = np.ones(len(df), dtype=bool)
    while True:
        uc = np.bincount(u[keep], minlength=u.max() + 1 if len(u) else 0)
        ic = np.bincount(i[keep], minlength=i.max() + 1 if len(i) else 0)
        new = keep & (uc[u] >= k) & (ic[i] >= k)
        if new.sum() == keep.sum():
            return df[keep]
        keep = new


def _read_meta(path: Path, wanted: set[str], info: dict, quiet: bool) -> pd.DataFrame:
    """Metadata rows of the wanted items (a regex pre-filter avoids parsing the others)."""
    rows: dict[str, dict] = {}
    bad = 0
    for line in _lines(path, f"meta {path.name}", quiet):
        m = _ASIN.search(line)
        if m is None or m.group(1).decode("utf-8", "replace") not in wanted:
            continue
        try:
            r = json.loads(line)
            asin = str(r["parent_asin"])
        except (ValueError, KeyError, TypeError):
            bad += 1
            continue
        if asin in rows:
            continue
        title = str(r.get("title") or "").strip()
        feats = " ".join(str(x) for x in (r.get("features") or []))
        desc = " ".join(str(x) for x in (r.get("description") or []))
        text = ". ".join(t for t in (title, feats.strip(), desc.strip()) if t) or None
        url = next((im.get("large") for im in (r.get("images") or [])
                    if isinstance(im, dict) and im.get("large")), None)
        rows[asin] = {"item_id": asin, "title": title or None, "text": text, "image_url": url,
                      "category": r.get("main_category"), "store": r.get("store"),
                      "price": pd.to_numeric(r.get("price"), errors="coerce")}
    info["bad_meta_lines"] = bad
    ids = sorted(wanted)
    table = pd.DataFrame([rows.get(i, {"item_id": i}) for i in ids],
                         columns=["item_id", "title", "text", "image_url", "category", "store", "price"])
    table["item_id"] = ids
    table["image"] = None
    return table


def download_images(ds: Dataset, workers: int = 8, timeout: float = 10.0, retries: int = 2,
                    folder: str | Path | None = None, quiet: bool = False) -> dict:
    """Fetch ``ds.items["image_url"]`` into ``folder/<item_id>.jpg`` with ``workers`` threads.

    ``folder`` defaults to ``<ds.root>/images``; ``timeout`` (seconds) and ``retries`` apply
    per image. Files already there are reused (the cache). A URL that fails (HTTP error, timeout, an
    HTML page, not a decodable image) leaves that item's ``image`` None, never a placeholder,
    and is counted. Sets ``ds.items["image"]`` in place and returns (and stores in
    ``ds.info["image_report"]``) ``{"with_url", "downloaded", "cached", "failed",
    "no_url", "errors": {reason: count}, "failed_items": [...]}``.
    """
    from tqdm.auto import tqdm

    if "image_url" not in ds.items.columns:
        raise ValueError(f"{ds.name} has no image_url column; download_images works on datasets "
                         "loaded with load('amazon2023:<Category>').")
    folder = Path(folder) if folder is not None else Path(ds.root or data_dir("amazon2023")) / "images"
    folder.mkdir(parents=True, exist_ok=True)
    urls = ds.items["image_url"].to_numpy(dtype=object)
    todo = [i for i in np.flatnonzero(pd.notna(urls))]
    report = {"with_url": len(todo), "downloaded": 0, "cached": 0, "failed": 0,
              "no_url": int(len(urls) - len(todo)), "errors": {}, "failed_items": []}
    paths: list[str | None] = [None] * len(urls)
    fresh = [i for i in todo if not _valid_image(folder / f"{ds.item_ids[i]}.jpg")]
    report["cached"] = len(todo) - len(fresh)
    for i in set(todo) - set(fresh):
        paths[i] = str(folder / f"{ds.item_ids[i]}.jpg")
    if fresh and not is_reachable(str(urls[fresh[0]])):
        raise DownloadError(f"Cannot reach the image host of {urls[fresh[0]]}; are you offline? "
                            f"{len(fresh)} image(s) are missing in {folder} (file names <item_id>.jpg). "
                            "Offline, handson.datasets.load('toyshop') ships its own images.")

    def fetch(i: int) -> tuple[int, str | None]:
        dest = folder / f"{ds.item_ids[i]}.jpg"
        try:
            download(str(urls[i]), dest, retries=retries, timeout=timeout, quiet=True)
        except DownloadError as exc:
            return i, _short_reason(str(exc))
        if not _valid_image(dest):
            dest.unlink(missing_ok=True)
            return i, "not a decodable image"
        return i, None

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        futures = [pool.submit(fetch, i) for i in fresh]
        for fut in tqdm(as_completed(futures), total=len(futures), desc="images", disable=quiet):
            i, err = fut.result()
            if err is None:
                report["downloaded"] += 1
                paths[i] = str(folder / f"{ds.item_ids[i]}.jpg")
            else:
                report["failed"] += 1
                report["errors"][err] = report["errors"].get(err, 0) + 1
                report["failed_items"].append(str(ds.item_ids[i]))
    ds.items["image"] = paths
    ds.info["image_report"] = report
    return report


def _short_reason(message: str) -> str:
    m = re.search(r"HTTP \d{3}|HTML page|truncated|Timeout|timed out|Cannot reach", message)
    return m.group(0).replace("timed out", "Timeout") if m else message[:80]


def _valid_image(path: Path) -> bool:
    if not path.is_file() or path.stat().st_size == 0:
        return False
    try:
        from PIL import Image
        with Image.open(path) as im:
            im.verify()
    except Exception:  # noqa: BLE001 - any decoding failure means "not an image"
        return False
    return True
