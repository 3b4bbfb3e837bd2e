"""Real-data loaders on small fixture files written in the real formats, plus the shared
MovieLens copy when it is present (HANDSON_ML_DIR or ../shared/data/ml-latest-small)."""
from __future__ import annotations

import gzip
import io
import json
import os
import shutil
import time
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from handson import datasets
from handson.datasets import amazon, amazon2023, movielens
from handson.datasets.download import DownloadError
from handson.datasets.files import LayoutError
from local_http import Handler, serve


def _jpeg(colour=(200, 30, 30)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), colour).save(buf, format="JPEG")
    return buf.getvalue()


@pytest.fixture(autouse=True)
def _data_dir(tmp_path, monkeypatch):
    """Every test gets its own data folder: nothing lands in the checkout."""
    monkeypatch.setenv("HANDSON_DATA_DIR", str(tmp_path / "data"))


# -- Amazon, summer-school layout -------------------------------------------------------
REVIEWS = [("u1", "A1", 5), ("u1", "A2", 4), ("u2", "A1", 3), ("u2", "A3", 5), ("u3", "A2", 1),
           ("u3", "A4", 4)]  # A4 is reviewed but missing from meta.tsv


def _office(folder: Path, meta_header="asin\ttitle\tdescription\timUrl", encoding="utf-8",
            reviews=REVIEWS) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "reviews.tsv").write_text("".join(f"{u}\t{i}\t{r}\n" for u, i, r in reviews))
    rows = ["A1\tStapler\tA sturdy stapler, café style\thttp://x/1.jpg",
            "A2\tPens\tBlue pens\thttp://x/2.jpg",
            "A3\t\tYellow sticky notes\thttp://x/3.jpg",
            "A9\tLamp\tDesk lamp never reviewed\thttp://x/9.jpg"]
    (folder / "meta.tsv").write_bytes((meta_header + "\n" + "\n".join(rows) + "\n").encode(encoding))
    (folder / "images").mkdir(exist_ok=True)
    for asin in ("A1", "A3"):
        (folder / "images" / f"{asin}.jpg").write_bytes(_jpeg())
    return folder


def test_summer_school_from_root(tmp_path):
    root = _office(tmp_path / "office")
    ds = amazon.load_summer_school("office", root=root)
    assert (ds.n_users, ds.n_items, ds.n_interactions) == (3, 4, 6)
    assert list(ds.item_ids) == ["A1", "A2", "A3", "A4"]
    assert ds.texts[0] == "Stapler. A sturdy stapler, café style"
    assert ds.texts[2] == "Yellow sticky notes"
    assert ds.info["items_without_meta"] == 1 and ds.has_text.tolist() == [True, True, True, False]
    assert ds.info["items_without_image"] == 2
    assert ds.has_image.tolist() == [True, False, True, False]
    assert ds.interactions.ratings.tolist() == [5, 4, 3, 5, 1, 4]
    assert ds.implicit(4).n_interactions == 4
    assert not (tmp_path / "data").exists(), "a local copy writes nothing elsewhere"


def test_summer_school_catalog_all_keeps_meta_only_items(tmp_path):
    ds = amazon.load_summer_school("office", root=_office(tmp_path / "o"), catalog="all")
    assert "A9" in set(ds.item_ids) and ds.n_items == 5 and ds.info["meta_only_items"] == 1
    assert ds.interactions.item_counts()[ds.item_index("A9")] == 0


def test_summer_school_other_category_from_nested_root(tmp_path):
    _office(tmp_path / "zipped" / "local" / "data" / "demo_music")
    ds = datasets.load("amazon-music", root=tmp_path / "zipped")
    assert ds.name == "amazon-music" and ds.n_interactions == 6


def test_summer_school_header_row_and_timestamp(tmp_path):
    root = _office(tmp_path / "o")
    (root / "reviews.tsv").write_text("user\titem\trating\ttime\nu1\tA1\t5\t100\nu2\tA2\t4\t200\n")
    ds = amazon.load_summer_school("office", root=root)
    assert ds.info["header_row_skipped"] and ds.interactions.timestamps.tolist() == [100, 200]


def test_summer_school_missing_columns(tmp_path):
    root = _office(tmp_path / "o", meta_header="asin\ttitle\ttext\timUrl")
    with pytest.raises(ValueError, match=r"meta.tsv lacks column\(s\) \['description'\]; it has"):
        amazon.load_summer_school("office", root=root)


def test_summer_school_bad_reviews(tmp_path):
    root = _office(tmp_path / "o")
    (root / "reviews.tsv").write_text("u1\tA1\nu2\tA2\n")
    with pytest.raises(ValueError, match="2 column.*user, item, rating"):
        amazon.load_summer_school("office", root=root)
    (root / "reviews.tsv").write_text("u1\tA1\t5\nu2\tA2\tfive\nu3\tA3\t\n")
    with pytest.raises(ValueError, match=r"2 row\(s\) with a non-numeric rating.*lines \[2, 3\]"):
        amazon.load_summer_school("office", root=root)


def test_summer_school_non_utf8_meta_falls_back_to_latin1(tmp_path):
    root = _office(tmp_path / "o", encoding="latin-1")
    with pytest.warns(UserWarning, match="not valid UTF-8.*Latin-1"):
        ds = amazon.load_summer_school("office", root=root)
    assert ds.info["encodings"]["meta.tsv"] == "latin-1"
    assert "café" in ds.texts[0]


def test_summer_school_wrong_layout_lists_expected_and_found(tmp_path):
    (tmp_path / "w").mkdir()
    (tmp_path / "w" / "ratings.csv").write_text("a,b\n")
    with pytest.raises(LayoutError, match=r"'reviews.tsv' or 'final_reviews.tsv'.*holds \['ratings.csv'\]"):
        datasets.load("amazon-office", root=tmp_path / "w")
    with pytest.raises(ValueError, match="Unknown summer-school category"):
        amazon.load_summer_school("garden", root=tmp_path / "w")


def _office_zip(path: Path, tmp_path: Path) -> Path:
    src = _office(tmp_path / "src" / "local" / "data" / "demo_office")
    with zipfile.ZipFile(path, "w") as zf:
        for f in src.rglob("*"):
            zf.write(f, f.relative_to(tmp_path / "src"))
    return path


def test_office_download_path_extracts_once(tmp_path, monkeypatch):
    calls = []

    def fake_gdown(file_id, dest, **kwargs):
        calls.append(file_id)
        return _office_zip(Path(dest), tmp_path)

    monkeypatch.setattr(amazon, "gdown_file", fake_gdown)
    ds = datasets.load("amazon-office")
    assert calls == [amazon.OFFICE_GDRIVE_ID] and ds.n_interactions == 6 and ds.has_image.sum() == 2
    folder = tmp_path / "data" / "amazon-office"
    assert not (folder / "demo_office.zip").exists(), "the archive is removed after extraction"
    datasets.load("amazon-office")
    assert len(calls) == 1, "the extracted copy is reused"


def test_office_truncated_zip(tmp_path, monkeypatch):
    def fake_gdown(file_id, dest, **kwargs):
        z = _office_zip(Path(dest), tmp_path)
        z.write_bytes(z.read_bytes()[:200])
        return z

    monkeypatch.setattr(amazon, "gdown_file", fake_gdown)
    with pytest.raises(DownloadError, match="not a valid zip archive.*download it again"):
        datasets.load("amazon-office")
    assert list((tmp_path / "data" / "amazon-office").iterdir()) == []


def test_office_offline_without_download(tmp_path):
    with pytest.raises(LayoutError, match="download=False.*toyshop"):
        datasets.load("amazon-office", download=False)
    with pytest.raises(LayoutError, match="no public download.*demo_baby"):
        datasets.load("amazon-baby")


# -- Amazon Reviews 2023 ----------------------------------------------------------------
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


# -- MovieLens --------------------------------------------------------------------------
def _ml_small(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "ratings.csv").write_text("userId,movieId,rating,timestamp\n1,1,4.0,10\n1,2,3.5,11\n"
                                        "2,1,5.0,12\n2,3,0.5,13\n3,99,4.0,14\n")
    (folder / "movies.csv").write_text('movieId,title,genres\n1,Toy Story (1995),Adventure|Animation\n'
                                       '2,"City, The (2000)",(no genres listed)\n3,Heat (1995),Action\n'
                                       '4,Unrated (2001),Drama\n')
    (folder / "tags.csv").write_text("userId,movieId,tag,timestamp\n1,1,pixar,1\n2,1,Pixar,2\n2,1,fun,3\n")
    (folder / "posters").mkdir(exist_ok=True)
    (folder / "posters" / "1.jpg").write_bytes(_jpeg())
    return folder


def test_movielens_latest_small_fixture(tmp_path):
    ds = datasets.load("movielens-latest-small", root=_ml_small(tmp_path / "ml-latest-small"))
    assert (ds.n_users, ds.n_items, ds.n_interactions) == (3, 5, 5)
    assert ds.texts[0] == "Toy Story (1995). Genres: Adventure, Animation. Tags: pixar, fun"
    assert ds.texts[1] == "City, The (2000)"
    assert ds.info["items_without_meta"] == 1 and ds.has_text.tolist() == [True, True, True, True, False]
    assert ds.has_image.tolist() == [True, False, False, False, False]
    assert ds.interactions.ratings.tolist() == [4.0, 3.5, 5.0, 0.5, 4.0]
    assert not (tmp_path / "data").exists(), "a local copy writes nothing elsewhere"


def test_movielens_100k_fixture_latin1(tmp_path):
    folder = tmp_path / "ml-100k"
    folder.mkdir()
    (folder / "u.data").write_text("1\t1\t5\t874965758\n1\t2\t3\t876893171\n2\t1\t4\t878542960\n")
    flags = lambda on: "|".join("1" if k in on else "0" for k in range(19))  # noqa: E731
    (folder / "u.item").write_bytes(
        (f"1|Toy Story (1995)|01-Jan-1995||http://x|{flags({3, 4, 5})}\n"
         f"2|Misérables, Les (1995)|01-Jan-1995||http://x|{flags({8})}\n").encode("latin-1"))
    ds = datasets.load("movielens-100k", root=tmp_path)
    assert (ds.n_users, ds.n_items, ds.n_interactions) == (2, 2, 3)
    assert ds.texts == ["Toy Story (1995). Genres: Animation, Children's, Comedy",
                        "Misérables, Les (1995). Genres: Drama"]
    assert ds.info["encodings"]["u.item"] == "latin-1"
    (folder / "u.item").write_text("1|Toy Story (1995)|x\n")
    with pytest.raises(ValueError, match="u.item has 3 columns; expected 24"):
        datasets.load("movielens-100k", root=tmp_path)


def test_movielens_errors(tmp_path):
    folder = _ml_small(tmp_path / "m")
    (folder / "movies.csv").write_text("movieId,name\n1,x\n")
    with pytest.raises(ValueError, match=r"movies.csv lacks column\(s\) \['title', 'genres'\]"):
        datasets.load("movielens-latest-small", root=folder)
    (folder / "movies.csv").unlink()
    with pytest.raises(LayoutError, match="'ratings.csv', 'movies.csv'.*holds \\['posters/', 'ratings.csv', 'tags.csv'\\]"):
        datasets.load("movielens-latest-small", root=folder)
    with pytest.raises(LayoutError, match="is not a folder. Pass root= the folder that holds 'u.data'"):
        datasets.load("movielens-100k", root=tmp_path / "nowhere")
    with pytest.raises(ValueError, match="Unknown MovieLens variant"):
        movielens.load_movielens("1m", root=folder)
    with pytest.raises(LayoutError, match="download=False"):
        datasets.load("movielens-100k", download=False)


def test_movielens_download_path(tmp_path, monkeypatch):
    src = _ml_small(tmp_path / "src" / "ml-latest-small")
    archive = tmp_path / "served.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for f in src.rglob("*"):
            zf.write(f, f.relative_to(tmp_path / "src"))

    def fake_fetch(url, dest, **kwargs):
        shutil.copy(archive, dest)
        return Path(dest)

    monkeypatch.setattr(movielens, "fetch", fake_fetch)
    ds = datasets.load("movielens-latest-small")
    assert ds.n_interactions == 5 and ds.has_image.sum() == 1
    assert not (tmp_path / "data" / "movielens" / "ml-latest-small.zip").exists()


def _shared_ml() -> Path | None:
    env = os.environ.get("HANDSON_ML_DIR")
    path = Path(env) if env else Path(__file__).resolve().parents[1].parent / "shared" / "data" / "ml-latest-small"
    return path if (path / "ratings.csv").is_file() else None


@pytest.mark.slow
@pytest.mark.skipif(_shared_ml() is None, reason="no shared ml-latest-small copy (HANDSON_ML_DIR)")
def test_shared_movielens_latest_small():
    folder = _shared_ml()
    ds = datasets.load("movielens-latest-small", root=folder)
    assert (ds.n_users, ds.n_items, ds.n_interactions) == (610, 9742, 100_836)
    assert ds.info["items_without_meta"] == 0 and ds.info["duplicates_collapsed"] == 0
    rated = ds.interactions.item_counts() > 0
    has = ds.has_image
    # every poster file is attached to its movie
    assert has.sum() == len([f for f in os.listdir(folder / "posters") if f.endswith(".jpg")])
    # posters cover >= 99% of the ratings; per movie the copy covers 97.7% (9,499 of 9,724)
    assert has[ds.interactions.items].mean() >= 0.99
    assert has[rated].mean() >= 0.97
    assert np.all(ds.has_text)
