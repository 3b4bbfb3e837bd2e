"""Writing a data set in Ducho's summer-school layout, and reading it back as amazon-office."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from handson import datasets
from handson.datasets.ducho import office_fixture, write_summer_school_layout


@pytest.fixture(scope="module")
def office(tmp_path_factory):
    return office_fixture(tmp_path_factory.mktemp("ducho") / "office")


def test_office_fixture_has_only_ducho_columns(office):
    meta = pd.read_csv(office / "meta.tsv", sep="\t")
    assert meta.columns.tolist() == ["asin", "description", "imUrl"]
    reviews = pd.read_csv(office / "reviews.tsv", sep="\t", header=None)
    assert reviews.shape[1] == 4
    assert all(p.suffix == ".jpg" for p in (office / "images").iterdir())


def test_office_fixture_reads_back_as_the_toyshop(office):
    toy = datasets.load("toyshop")
    ds = datasets.load("amazon-office", root=office)
    assert ds.n_interactions == toy.n_interactions
    assert "title" not in ds.items.columns and "colour" not in ds.items.columns
    # the same (user, item, rating) triples under the raw ids
    t = toy.interactions.to_frame()
    o = ds.interactions.to_frame()
    key = lambda d, f: set(zip(np.asarray(d.user_ids)[f["user"]], np.asarray(d.item_ids)[f["item"]],
                               f["rating"]))
    assert key(toy, t) == key(ds, o)
    # texts and images survive for the items that had them
    pos = toy.item_index(list(ds.item_ids))
    assert ds.has_image.sum() == toy.has_image[pos].sum() > 0
    assert [ds.texts[i] for i in range(ds.n_items)] == [toy.texts[p] for p in pos]


def test_write_refuses_a_non_empty_folder(tmp_path):
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "keep.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="overwrite=True"):
        write_summer_school_layout(datasets.load("toyshop"), tmp_path / "x")
    assert (tmp_path / "x" / "keep.txt").read_text() == "mine"
    assert [p.name for p in tmp_path.iterdir()] == ["x"]      # no temporary folder left behind


def test_subsample_keeps_the_most_popular_items_and_sampled_users():
    ds = datasets.load("toyshop")
    small = ds.subsample(max_items=100, max_users=300, seed=1)
    assert small.n_items == 100 and small.n_users == 300
    counts = np.bincount(ds.interactions.items, minlength=ds.n_items)
    kept = ds.item_index(list(small.item_ids))
    assert counts[kept].min() >= np.sort(counts)[-100]          # the 100 most popular
    assert small.info["subsample"]["from"] == [ds.n_users, ds.n_items, ds.n_interactions]
    assert small.subsample(max_items=1000) is small                 # nothing to cut
    assert ds.subsample(max_items=100, max_users=300, seed=1).user_ids.tolist() == small.user_ids.tolist()
    with pytest.raises(ValueError, match="max_users"):
        ds.subsample(max_users=0)
