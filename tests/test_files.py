"""The reading rules of handson.datasets.files: encodings, layouts and required columns through
the loaders that use them, and the helpers on their own."""
from __future__ import annotations

import pandas as pd
import pytest

from handson import datasets
from handson.datasets import amazon
from handson.datasets.files import LayoutError, find_layout, image_column, join_text
from loader_fixtures import _data_dir, _office  # noqa: F401 - _data_dir is an autouse fixture


def test_summer_school_missing_columns(tmp_path):
    root = _office(tmp_path / "o", meta_header="asin\ttitle\ttext\timUrl")
    with pytest.raises(ValueError, match=r"meta.tsv lacks column\(s\) \['description'\]; it has"):
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


def test_find_layout_searches_below_root_and_takes_the_first_alternative(tmp_path):
    deep = tmp_path / "zip" / "inner"
    deep.mkdir(parents=True)
    (deep / "final_reviews.tsv").write_text("")
    (deep / "meta.tsv").write_text("")
    layout = [("reviews.tsv", "final_reviews.tsv"), ("meta.tsv",)]
    folder, found = find_layout(tmp_path, layout, "x")
    assert folder == deep
    assert found == {"reviews.tsv": deep / "final_reviews.tsv", "meta.tsv": deep / "meta.tsv"}
    with pytest.raises(LayoutError, match="no folder at or below"):
        find_layout(tmp_path, layout, "x", max_depth=1)


def test_join_text_skips_empty_pieces():
    assert join_text(pd.Series(["Lamp", None, "", "nan"]), pd.Series([" bright ", "Mug", None, ""])) == \
        ["Lamp. bright", "Mug", None, None]


def test_image_column_only_for_existing_files(tmp_path):
    (tmp_path / "img").mkdir()
    (tmp_path / "img" / "a.jpg").write_bytes(b"x")
    column, missing = image_column(["a", "b"], tmp_path / "img", relative_to=tmp_path)
    assert column == ["img/a.jpg", None] and missing == 1
