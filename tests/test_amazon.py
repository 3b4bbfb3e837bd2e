"""The Amazon summer-school loader (handson.datasets.amazon) on small fixture folders: reading,
catalog choices, nested roots, bad reviews, the Office download path."""
from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from handson import datasets
from handson.datasets import amazon
from handson.datasets.download import DownloadError
from handson.datasets.files import LayoutError
from loader_fixtures import _data_dir, _office  # noqa: F401 - _data_dir is an autouse fixture


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


def test_summer_school_bad_reviews(tmp_path):
    root = _office(tmp_path / "o")
    (root / "reviews.tsv").write_text("u1\tA1\nu2\tA2\n")
    with pytest.raises(ValueError, match="2 column.*user, item, rating"):
        amazon.load_summer_school("office", root=root)
    (root / "reviews.tsv").write_text("u1\tA1\t5\nu2\tA2\tfive\nu3\tA3\t\n")
    with pytest.raises(ValueError, match=r"2 row\(s\) with a non-numeric rating.*lines \[2, 3\]"):
        amazon.load_summer_school("office", root=root)


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
    assert [p.name for p in (tmp_path / "data" / "amazon-office").iterdir()] == ["demo_office.zip.bad"]


def test_office_offline_without_download(tmp_path):
    with pytest.raises(LayoutError, match="download=False.*toyshop"):
        datasets.load("amazon-office", download=False)
    with pytest.raises(LayoutError, match="no public download.*demo_baby"):
        datasets.load("amazon-baby")
