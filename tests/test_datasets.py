"""The data contract: Interactions, Dataset, from_frames and their error messages; load by name."""
import importlib
import sys

import numpy as np
import pandas as pd
import pytest

from handson import datasets
from handson.datasets import Dataset, Interactions, from_frames, load


def frames():
    inter = pd.DataFrame({
        "user": ["b", "a", "a", "c", "b", "a"],
        "item": ["x", "x", "y", "z", "z", "x"],
        "rating": [5, 3, 4, 1, 2, 5],
        "ts": [10, 1, 2, 3, 4, 9],
    })
    items = pd.DataFrame({"item": ["w", "x", "y", "z"],
                          "text": ["a lamp", "a mug", None, "  "],
                          "image": [None, "x.png", "y.png", None]})
    return inter, items


def test_from_frames_builds_fixed_index_over_the_whole_catalog():
    inter, items = frames()
    with pytest.warns(UserWarning, match="1 duplicate"):
        ds = from_frames(inter, items, rating_col="rating", timestamp_col="ts")
    assert (ds.n_users, ds.n_items, ds.n_interactions) == (3, 4, 5)
    assert list(ds.item_ids) == ["w", "x", "y", "z"]          # catalog order, "w" never interacted
    assert list(ds.user_ids) == ["a", "b", "c"]
    assert ds.info["duplicates_collapsed"] == 1
    # the duplicate (a, x) keeps the latest interaction: rating 5 at ts 9
    m = ds.interactions.to_csr("ratings")
    assert m[ds.user_index("a"), ds.item_index("x")] == 5
    assert ds.texts == ["a lamp", "a mug", "", ""]
    assert ds.has_text.tolist() == [True, True, False, False]
    assert ds.image_paths[0] is None and ds.image_paths[1].endswith("x.png")


def test_id_lookups_both_ways_and_unknown_ids():
    inter, items = frames()
    ds = from_frames(inter.drop_duplicates(["user", "item"]), items)
    idx = ds.item_index(["z", "w"])
    assert list(ds.item_ids[idx]) == ["z", "w"]
    assert ds.user_index("c") == 2
    with pytest.raises(ValueError, match=r"Unknown item id.*'nope'"):
        ds.item_index(["x", "nope"])


@pytest.mark.parametrize("drop,match", [("user", "lacks column"), ("item", "lacks column")])
def test_from_frames_missing_columns(drop, match):
    inter, items = frames()
    with pytest.raises(ValueError, match=match):
        from_frames(inter.drop(columns=[drop]), items)


def test_from_frames_nan_ids_and_absent_items():
    inter, items = frames()
    bad = inter.copy()
    bad.loc[2, "user"] = None
    with pytest.raises(ValueError, match="missing user or item id.*dropna"):
        from_frames(bad, items)
    with pytest.raises(ValueError, match=r"missing from the items table, e\.g\. \['z'\]"):
        from_frames(inter, items[items["item"] != "z"])
    with pytest.raises(ValueError, match="repeats item ids"):
        from_frames(inter, pd.concat([items, items.iloc[:1]]))


def test_interactions_validation_and_csr():
    x = Interactions([0, 1, 1], [2, 0, 0], n_users=2, n_items=3, ratings=[1, 2, 4])
    m = x.to_csr()
    assert m.shape == (2, 3) and m.nnz == 2 and m.max() == 1
    assert x.to_csr("ratings")[1, 0] == 4                     # the last rating of a repeated pair
    assert x.user_counts().tolist() == [1, 2] and x.item_counts().tolist() == [2, 0, 1]
    with pytest.raises(ValueError, match="outside"):
        Interactions([0, 5], [0, 0], n_users=2, n_items=1)
    with pytest.raises(ValueError, match="integer"):
        Interactions([0.5], [0], n_users=2, n_items=1)
    with pytest.raises(ValueError, match="no ratings"):
        Interactions([0], [0], 1, 1).to_csr("ratings")
    both = Interactions.concat([x.subset([0]), x.subset([1, 2])])
    assert len(both) == 3 and np.array_equal(both.users, x.users)
    with pytest.raises(ValueError, match="different catalogs"):
        Interactions.concat([x, Interactions([0], [0], 2, 4)])


def test_kcore_and_implicit():
    rng = np.random.default_rng(0)
    users = rng.integers(0, 50, 600)
    items = rng.zipf(1.6, 600) % 80
    ds = from_frames(pd.DataFrame({"user": users, "item": items, "r": rng.integers(1, 6, 600)})
                     .drop_duplicates(["user", "item"]), rating_col="r")
    core = ds.kcore(5)
    assert core.interactions.user_counts().min() >= 5
    assert core.interactions.item_counts().min() >= 5
    assert core.n_items < ds.n_items and len(core.items) == core.n_items
    pos = ds.implicit(4)
    assert pos.n_items == ds.n_items and (pos.interactions.ratings >= 4).all()
    assert pos.n_interactions == int((ds.interactions.ratings >= 4).sum())
    with pytest.raises(ValueError, match="lower k"):
        ds.kcore(1000)


def test_stats_table():
    inter, items = frames()
    ds = from_frames(inter.drop_duplicates(["user", "item"]), items, name="tiny")
    row = ds.stats().loc["tiny"]
    assert row["users"] == 3 and row["items"] == 4 and row["interactions"] == 5
    assert row["sparsity"] == pytest.approx(1 - 5 / 12)


def test_load_unknown_name():
    with pytest.raises(ValueError, match="Unknown data set 'nope'.*toyshop"):
        load("nope")


def test_dataset_rejects_mismatched_sizes():
    inter = Interactions([0], [0], 1, 2)
    with pytest.raises(ValueError, match="Index sizes disagree"):
        Dataset("x", inter, pd.DataFrame({"item_id": [1]}), np.array(["u"]))


@pytest.mark.parametrize("old, new, name", [
    ("toyshop", "toyshop", "load"), ("movielens", "movielens", "load_movielens"),
    ("amazon", "amazon", "load_summer_school"), ("amazon2023", "amazon2023", "download_images"),
    ("realdata", "files", "find_layout"), ("download", "download", "extract_zip"),
])
def test_old_module_paths_still_work_and_warn(old, new, name, monkeypatch):
    monkeypatch.delitem(sys.modules, f"handson.{old}", raising=False)
    with pytest.warns(DeprecationWarning, match=f"handson.{old} moved to handson.datasets.{new}"):
        shim = importlib.import_module(f"handson.{old}")
    assert getattr(shim, name) is getattr(getattr(datasets, new), name)
