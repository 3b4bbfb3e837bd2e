"""Amazon Reviews 2023 (handson.datasets.amazon2023) on small jsonl fixtures, and its image
downloader against a local HTTP server."""
from __future__ import annotations

import gzip
import json
import shutil
import time
from pathlib import Path

import pandas as pd
import pytest

from handson import datasets
from handson.datasets import amazon, amazon2023
from handson.datasets.download import DownloadError
from handson.datasets.files import LayoutError
from loader_fixtures import _data_dir, _jpeg, _office  # noqa: F401 - _data_dir is an autouse fixture
from local_http import Handler, serve


def _review(u, i, r, t):
    return {"rating": r, "title": "t", "text": "x", "images": [], "asin": i + "-v", "parent_asin": i,
            "user_id": u, "timestamp": t, "helpful_vote": 0, "verified_purchase": True}


def _meta(i, title, url=None):
    return {"main_category": "All Beauty", "title": title, "average_rating": 4.0, "rating_number": 3,
            "features": ["soft", "vegan"], "description": ["A fine product."], "price": "12.5",
            "images": ([{"thumb": "t", "large": url, "variant": "MAIN", "hi_res": None}] if url else []),
            "store": "S", "parent_asin": i}


def _write_jsonl(path: Path, rows, gz=False, extra_lines=()):
    text = "".join(json.dumps(r) + "\n" for r in rows) + "".join(extra_lines)
    if gz:
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text)
    return path


def _amazon2023(folder: Path, gz=False, image_urls=None):
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for u in range(6):  # 6 users x 3 items, all rated 5, plus low ratings and a repeat
        rows += [_review(f"U{u}", f"I{i}", 5.0, 1000 * (u * 10 + i)) for i in range(3)]
    rows += [_review("U0", "I9", 2.0, 5), _review("U7", "I0", 5.0, 7), _review("U0", "I0", 4.0, 99999)]
    ext = ".jsonl.gz" if gz else ".jsonl"
    _write_jsonl(folder / f"All_Beauty{ext}", rows, gz, extra_lines=["not json\n", '{"rating": 5}\n'])
    urls = image_urls or {}
    metas = [_meta(f"I{i}", f"Item {i}", urls.get(f"I{i}", f"http://img/{i}.jpg")) for i in (0, 1)]
    metas.append({"parent_asin": "I5", "title": "unrelated"})
    _write_jsonl(folder / f"meta_All_Beauty{ext}", metas, gz)
    return folder


@pytest.mark.parametrize("gz", [False, True])
def test_amazon2023_from_root(tmp_path, gz):
    root = _amazon2023(tmp_path / "a23", gz=gz)
    ds = datasets.load("amazon2023:All_Beauty", root=root, kcore=3)
    assert ds.name == "amazon2023-All_Beauty"
    assert (ds.n_users, ds.n_items, ds.n_interactions) == (6, 3, 18)  # U7 and I9 fall out
    assert ds.info["bad_review_lines"] == 2 and ds.info["reviews_read"] == 21
    assert ds.info["items_without_meta"] == 1  # I2 has no metadata line
    first = ds.items.set_index("item_id").loc["I0"]
    assert first["text"] == "Item 0. soft vegan. A fine product." and first["image_url"] == "http://img/0.jpg"
    assert first["price"] == 12.5 and ds.has_text.tolist() == [True, True, False]
    assert ds.info["duplicates_collapsed"] == 0  # the repeat (U0, I0) was collapsed before
    assert ds.root == root and not (tmp_path / "data").exists(), "a local copy writes nothing elsewhere"


def test_amazon2023_filters(tmp_path):
    root = _amazon2023(tmp_path / "a23")
    everything = datasets.load("amazon2023:All_Beauty", root=root, min_rating=None, kcore=0)
    assert everything.n_interactions == 20 and "I9" in set(everything.item_ids)
    capped = datasets.load("amazon2023:All_Beauty", root=root, kcore=0, max_reviews=6)
    assert capped.info["reviews_read"] == 6 and capped.n_interactions == 6
    sampled = datasets.load("amazon2023:All_Beauty", root=root, kcore=0, sample_users=2, seed=1)
    assert sampled.n_users == 2
    again = datasets.load("amazon2023:All_Beauty", root=root, kcore=0, sample_users=2, seed=1)
    assert list(again.user_ids) == list(sampled.user_ids)
    with pytest.raises(ValueError, match="No review of All_Beauty survives"):
        datasets.load("amazon2023:All_Beauty", root=root, kcore=50)


def test_amazon2023_hf_layout_and_errors(tmp_path):
    src = _amazon2023(tmp_path / "flat")
    for sub, name in (("review_categories", "All_Beauty.jsonl"), ("meta_categories", "meta_All_Beauty.jsonl")):
        (tmp_path / "hf" / "raw" / sub).mkdir(parents=True)
        shutil.copy(src / name, tmp_path / "hf" / "raw" / sub / name)
    assert datasets.load("amazon2023:All_Beauty", root=tmp_path / "hf", kcore=3).n_items == 3
    with pytest.raises(LayoutError, match="'Toys.jsonl' or 'Toys.jsonl.gz'.*holds"):
        datasets.load("amazon2023:Toys", root=tmp_path / "flat")
    with pytest.raises(ValueError, match="category name"):
        datasets.load("amazon2023:../etc")
    gz = _amazon2023(tmp_path / "gz", gz=True) / "All_Beauty.jsonl.gz"
    gz.write_bytes(gz.read_bytes()[:60])
    with pytest.raises(ValueError, match="truncated or corrupt.*download it again"):
        datasets.load("amazon2023:All_Beauty", root=tmp_path / "gz")


def test_amazon2023_offline_is_fast(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    t0 = time.perf_counter()
    with pytest.raises(DownloadError, match="All_Beauty.jsonl.*toyshop"):
        datasets.load("amazon2023:All_Beauty")
    assert time.perf_counter() - t0 < 5


class _ImageHandler(Handler):
    def do_GET(self):  # noqa: N802
        self.count()
        if self.path == "/slow.jpg":
            time.sleep(1.5)
        if self.path in ("/ok.jpg", "/slow.jpg"):
            body, code, ctype = _jpeg(), 200, "image/jpeg"
        elif self.path == "/page.jpg":
            body, code, ctype = b"<html><body>blocked</body></html>", 200, "text/html"
        elif self.path == "/garbage.jpg":
            body, code, ctype = b"\x00\x01 not an image", 200, "image/jpeg"
        else:
            body, code, ctype = b"nope", 404, "text/plain"
        self.send(code, body, ctype)


@pytest.fixture(scope="module")
def image_server():
    with serve(_ImageHandler) as running:
        yield running


def test_download_images_counts_failures(tmp_path, image_server):
    url, hits = image_server
    paths = ["/ok.jpg", "/missing.jpg", "/slow.jpg", "/page.jpg", "/garbage.jpg"]
    items = pd.DataFrame({"item": [f"I{i}" for i in range(7)],
                          "image_url": [f"{url}{p}" for p in paths] + [None, None]})
    ds = datasets.from_frames(pd.DataFrame({"user": ["u"] * 7, "item": items["item"]}), items)
    rep = amazon2023.download_images(ds, folder=tmp_path / "img", workers=4, timeout=0.5, retries=0,
                                     quiet=True)
    assert rep["with_url"] == 5 and rep["downloaded"] == 1 and rep["failed"] == 4
    assert rep["no_url"] == ds.n_items - 5
    assert rep["errors"] == {"HTTP 404": 1, "Timeout": 1, "HTML page": 1, "not a decodable image": 1}
    assert ds.has_image.tolist() == [True] + [False] * (ds.n_items - 1)
    assert sorted(p.name for p in (tmp_path / "img").iterdir()) == [f"{ds.item_ids[0]}.jpg"]
    before = hits["/ok.jpg"]
    rep2 = amazon2023.download_images(ds, folder=tmp_path / "img", timeout=0.5, retries=0, quiet=True)
    assert rep2["cached"] == 1 and hits["/ok.jpg"] == before
    assert ds.info["image_report"] is rep2


def test_download_images_offline_and_bad_input(tmp_path):
    root = _amazon2023(tmp_path / "a23")
    ds = datasets.load("amazon2023:All_Beauty", root=root, kcore=3)
    ds.items["image_url"] = ["http://127.0.0.1:9/a.jpg"] * ds.n_items
    t0 = time.perf_counter()
    with pytest.raises(DownloadError, match="Cannot reach the image host.*toyshop"):
        amazon2023.download_images(ds, folder=tmp_path / "img", quiet=True)
    assert time.perf_counter() - t0 < 5
    office = amazon.load_summer_school("office", root=_office(tmp_path / "o"))
    with pytest.raises(ValueError, match="no image_url column"):
        amazon2023.download_images(office)
