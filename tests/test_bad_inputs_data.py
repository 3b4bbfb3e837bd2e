"""Bad inputs of the data story: interactions, frames, loaders and splits.

Each case asserts the exact outcome: the error type and that the message names the argument
or column at fault, or the counted fallback and its count. Reproductions 2 (a pair in train
and in test) and 5 (NaN timestamps stored as int64's minimum) of issue #13 live here.
"""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from handson import datasets, split
from handson.datasets import Interactions, from_frames
from handson.evaluation import evaluate
from handson.models import ItemKNN
from loader_fixtures import _data_dir  # noqa: F401 - _data_dir is an autouse fixture


def _inter(n=6, **kw):
    return Interactions(np.array([0, 0, 1, 1, 2, 2][:n]), np.array([0, 1, 1, 2, 0, 2][:n]), 3, 3, **kw)


# -- Interactions ------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs, match", [
    (dict(n_users=-1), "n_users must be a non-negative integer.*got -1"),
    (dict(n_items=2.5), "n_items must be a non-negative integer.*got 2.5"),
    (dict(n_users="3"), "n_users must be a non-negative integer.*got '3'"),
    (dict(users=[0.0, np.nan]), r"users holds 1 NaN/inf value\(s\) at positions \[1\]"),
    (dict(users=[[0], [1]]), "users must be one-dimensional"),
    (dict(items=[0, 7]), r"items contains indices outside \[0, n_items=3\): \[7\]"),
    (dict(items=["a", "b"]), "items must hold integer indices"),
    (dict(ratings=[4.0, np.nan]), r"ratings holds 1 NaN/inf value\(s\), at positions \[1\]"),
    (dict(ratings=[4.0, np.inf]), r"ratings holds 1 NaN/inf"),
    (dict(timestamps=[1.0, np.nan]), r"timestamps holds 1 NaN/inf value\(s\), at positions \[1\]"),
    (dict(timestamps=["2020", "x"]), "timestamps must be numbers"),
    (dict(timestamps=[0.25, 0.5]), r"timestamps holds 2 fractional value\(s\), e.g. \[0.25, 0.5\]"),
    (dict(ratings=[1.0]), r"ratings has shape \(1,\), expected \(2,\)"),
    (dict(items=[0]), "users and items differ in length"),
], ids=lambda v: v if isinstance(v, str) else "-".join(v))
def test_interactions_reject_bad_fields(kwargs, match):
    args = dict(users=[0, 1], items=[0, 1], n_users=2, n_items=3) | kwargs
    with pytest.raises(ValueError, match=match):
        Interactions(**args)


def test_concat_of_different_catalogs_names_the_sizes():
    with pytest.raises(ValueError, match=r"different catalogs.*\(3, 3\).*\(3, 4\)"):
        Interactions.concat([_inter(), Interactions([0], [3], 3, 4)])


def _ds_with_ratings():
    df = pd.DataFrame({"user": [1, 1, 2], "item": ["a", "b", "a"], "r": [5.0, 2.0, 4.0]})
    return from_frames(df, rating_col="r")


def test_implicit_refuses_nan_ratings_instead_of_dropping_them():
    ds = _ds_with_ratings()
    ds.interactions.ratings[1] = np.nan          # injected after the checks at construction
    with pytest.raises(ValueError, match=r"ratings hold 1 NaN/inf value\(s\).*implicit"):
        ds.implicit(4)


@pytest.mark.parametrize("threshold", [np.nan, "4", None])
def test_implicit_threshold_must_be_a_number(threshold):
    with pytest.raises(ValueError, match="threshold must be a finite number"):
        _ds_with_ratings().implicit(threshold)


def test_unknown_raw_id_is_named():
    with pytest.raises(ValueError, match=r"Unknown user id\(s\) \[99\]"):
        _ds_with_ratings().user_index([1, 99])


# -- from_frames -------------------------------------------------------------------------
def _frame(ts):
    return pd.DataFrame({"user": [1, 1, 2, 2], "item": [1, 2, 1, 3], "ts": ts})


def test_repro5_nan_timestamp_is_an_error_naming_column_and_row():
    with pytest.raises(ValueError, match=r"column 'ts' \(timestamp_col\) has 1 missing.*rows \[2\]"):
        from_frames(_frame([10.0, 11.0, np.nan, 13.0]), timestamp_col="ts")


def test_repro5_movielens_row_without_timestamp_is_dropped_and_counted(tmp_path):
    folder = tmp_path / "ml-latest-small"
    folder.mkdir()
    (folder / "ratings.csv").write_text("userId,movieId,rating,timestamp\n1,1,4.0,100\n1,2,3.5,101\n"
                                        "2,1,5.0,102\n2,2,4.0,103\n2,3,4.0,\n")
    (folder / "movies.csv").write_text("movieId,title,genres\n1,A,Drama\n2,B,Drama\n3,C,Drama\n")
    with pytest.warns(UserWarning, match=r"ratings.csv: 1 row\(s\) lack.*rows_dropped"):
        ds = datasets.load("movielens-latest-small", root=folder)
    assert ds.info["rows_dropped"] == 1 and ds.n_interactions == 4
    assert ds.interactions.timestamps.min() == 100
    train, _, test = split.temporal_split(ds, test=0.25)
    assert test.timestamps.tolist() == [103]


@pytest.mark.parametrize("ts, match", [
    (pd.to_datetime(["2020-01-01", None, "2020-01-03", "2020-01-04"]), r"'ts' \(timestamp_col\) has 1 missing"),
    (["1", "x", "3", "4"], r"'ts' \(timestamp_col\) holds 1 value\(s\) that are not numbers, e.g. \['x'\]"),
    ([1.0, np.inf, 3.0, 4.0], r"'ts' \(timestamp_col\) has 1 missing or infinite"),
], ids=["NaT", "unparsable", "inf"])
def test_bad_timestamps_name_the_column(ts, match):
    with pytest.raises(ValueError, match=match):
        from_frames(_frame(ts), timestamp_col="ts")


def test_timestamp_strings_that_are_numbers_are_parsed():
    ds = from_frames(_frame(["10", "11", "12", "13"]), timestamp_col="ts")
    assert ds.interactions.timestamps.tolist() == [10, 11, 12, 13]


@pytest.mark.parametrize("ratings, match", [
    (["4", "four", "3", "2"], r"'r' \(rating_col\) holds 1 value\(s\) that are not numbers, e.g. \['four'\]"),
    ([4.0, None, 3.0, 2.0], r"'r' \(rating_col\) has 1 missing"),
], ids=["unparsable", "missing"])
def test_bad_ratings_name_the_column(ratings, match):
    df = _frame([1, 2, 3, 4]).assign(r=ratings)
    with pytest.raises(ValueError, match=match):
        from_frames(df, rating_col="r")


@pytest.mark.parametrize("col", ["user", "item"])
def test_ids_of_mixed_types_name_the_column(col):
    df = _frame([1, 2, 3, 4])
    df[col] = [1, "b", 2, "c"]
    with pytest.raises(ValueError, match=f"column '{col}' mixes id types \\['int', 'str'\\].*astype\\(str\\)"):
        from_frames(df)


@pytest.mark.parametrize("args", [([1, 2],), (pd.DataFrame({"user": [1], "item": [1]}), [1])],
                         ids=["interactions-list", "items-list"])
def test_frames_that_are_not_dataframes_are_named(args):
    name = "interactions" if len(args) == 1 else "items"
    with pytest.raises(ValueError, match=f"{name} must be a pandas DataFrame, got list"):
        from_frames(*args)


def test_kcore_arguments_are_checked():
    with pytest.raises(ValueError, match="k_users must be a non-negative integer.*got '5'"):
        _ds_with_ratings().kcore("5")


def test_missing_column_is_listed():
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['ts'\].*timestamp_col="):
        from_frames(_frame([1, 2, 3, 4]).drop(columns="ts"), timestamp_col="ts")


def test_infinite_user_id_is_named():
    df = _frame([1, 2, 3, 4]).astype({"user": float})
    df.loc[3, "user"] = np.inf
    with pytest.raises(ValueError, match=r"column 'user' holds 1 infinite id\(s\), at rows \[3\]"):
        from_frames(df)


def test_missing_item_id_is_counted():
    df = _frame([1, 2, 3, 4]).astype({"item": object})
    df.loc[1, "item"] = None
    with pytest.raises(ValueError, match="1 interaction rows have a missing user or item id"):
        from_frames(df)


def test_items_frame_with_repeated_ids_is_refused():
    items = pd.DataFrame({"item": [1, 2, 3, 3]})
    with pytest.raises(ValueError, match=r"repeats item ids \[3\]"):
        from_frames(_frame([1, 2, 3, 4]), items)


def test_item_missing_from_the_items_frame_is_named():
    with pytest.raises(ValueError, match=r"1 item id\(s\).*missing from the items table, e.g. \[3\]"):
        from_frames(_frame([1, 2, 3, 4]), pd.DataFrame({"item": [1, 2]}))


def test_duplicate_rows_in_from_frames_are_counted():
    df = pd.concat([_frame([1, 2, 3, 4]), _frame([5, 6, 7, 8]).iloc[:1]])
    with pytest.warns(UserWarning, match="1 duplicate"):
        ds = from_frames(df, timestamp_col="ts")
    assert ds.info["duplicates_collapsed"] == 1 and ds.interactions.timestamps.max() == 5


# -- splits: distinct pairs ---------------------------------------------------------------
def _pairs(part):
    return set() if part is None else set(zip(part.users.tolist(), part.items.tolist()))


def test_repro2_a_doubled_interaction_set_splits_like_the_original():
    ds = datasets.load("toyshop:small")
    x = ds.interactions
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        clean = split.random_split(x, test=0.2, seed=0)
    with pytest.warns(UserWarning, match=f"{len(x)} row\\(s\\) repeat a \\(user, item\\) pair"):
        doubled = split.random_split(Interactions.concat([x, x]), test=0.2, seed=0)
    assert doubled.duplicates_collapsed == len(x) and clean.duplicates_collapsed == 0
    assert not _pairs(doubled.train) & _pairs(doubled.test)
    recall = {}
    for name, (train, _, test) in (("clean", clean), ("doubled", doubled)):
        recall[name] = evaluate(ItemKNN().fit(train), test, seen=train, k=20)["Recall@20"]
    assert recall["doubled"] == recall["clean"] > 0.3


SPLITS = {
    "random-per-user": lambda x: split.random_split(x, test=0.3, valid=0.2),
    "random-global": lambda x: split.random_split(x, test=0.3, valid=0.2, per_user=False),
    "temporal": lambda x: split.temporal_split(x, test=0.3, valid=0.2),
    "last-n": lambda x: split.last_n_split(x, n_test=1, n_valid=1),
    "leave-one-out": lambda x: split.leave_one_out(x, valid=True),
    "cold-item": lambda x: split.cold_item_split(x, items=0.3, valid=0.2),
}


@pytest.mark.parametrize("name", SPLITS)
def test_no_split_puts_a_repeated_pair_into_two_parts(name):
    x = datasets.load("toyshop:small").interactions
    doubled = Interactions.concat([x, x.subset(np.arange(0, len(x), 3))])
    with pytest.warns(UserWarning, match="repeat a"):
        parts = SPLITS[name](doubled)
    assert parts.duplicates_collapsed == len(range(0, len(x), 3))
    assert parts.summary().attrs["duplicates_collapsed"] == parts.duplicates_collapsed
    train, valid, test = map(_pairs, parts)
    assert not (train & test or train & valid or valid & test)
    assert len(train) + len(valid) + len(test) == len(x)


def test_duplicates_keep_the_latest_row():
    x = Interactions([0, 0, 0, 1, 1], [0, 0, 1, 0, 1], 2, 2, timestamps=[5, 1, 2, 3, 4])
    with pytest.warns(UserWarning, match="1 row"):
        parts = split.leave_one_out(x)
    kept = Interactions.concat([parts.train, parts.test])
    assert sorted(kept.timestamps.tolist()) == [2, 3, 4, 5]


@pytest.mark.parametrize("call, match", [
    (lambda x: split.random_split(x, seed="a"), "seed must be a non-negative integer.*got 'a'"),
    (lambda x: split.random_split(x, seed=-1), "seed must be a non-negative integer.*got -1"),
    (lambda x: split.random_split(x, seed=1.5), "seed must be a non-negative integer.*got 1.5"),
    (lambda x: split.leave_one_out(x, seed=None), "seed must be a non-negative integer.*got None"),
    (lambda x: split.random_split(x, test="0.2"), "test must be a share between 0 and 1.*'0.2'"),
    (lambda x: split.random_split(x, test=np.nan), "test=nan must lie strictly between 0 and 1"),
    (lambda x: split.random_split(x, valid=1.2), r"valid=1.2 must lie in \[0, 1\)"),
    (lambda x: split.random_split(x, per_user="yes"), "per_user must be True or False, got 'yes'"),
    (lambda x: split.leave_one_out(x, valid=2), "valid must be True or False, got 2"),
    (lambda x: split.last_n_split(x, n_test=0), "n_test=0 must be an integer >= 1"),
    (lambda x: split.cold_item_split(x, items=1.5), "items=1.5 must lie strictly between"),
    (lambda x: split.temporal_split(x), "temporal_split needs timestamps"),
    (lambda x: split.random_split(list(x.users)), "data must be a handson Dataset or Interactions, got list"),
    (lambda x: split.random_split(x.subset(np.zeros(len(x), bool))), "Cannot split empty interactions"),
], ids=["seed-str", "seed-negative", "seed-float", "seed-none", "test-str", "test-nan", "valid-big",
        "per-user-str", "loo-valid-int", "n-test-0", "items-big", "no-timestamps", "list", "empty"])
def test_split_arguments_are_checked(call, match):
    with pytest.raises(ValueError, match=match):
        call(_inter())


# -- the generated toyshop: a damaged cached copy is generated again ----------------------------
@pytest.mark.parametrize("damage", [
    lambda root: (root / "interactions.csv").write_text((root / "interactions.csv").read_text()[:-30]),
    lambda root: (root / "items.csv").unlink(),
], ids=["truncated-interactions", "items-deleted"])
def test_damaged_toyshop_cache_is_regenerated(tmp_path, monkeypatch, damage):
    monkeypatch.setenv("HANDSON_CACHE", str(tmp_path / "cache"))
    first = datasets.load("toyshop:small")
    damage(first.root)
    with pytest.warns(UserWarning, match="cached toyshop in .* is damaged.*SHA-256.*generated again"):
        again = datasets.load("toyshop:small")
    assert again.n_interactions == first.n_interactions
    np.testing.assert_array_equal(again.interactions.items, first.interactions.items)


def test_damaged_toyshop_in_a_folder_of_yours_is_named_not_deleted(tmp_path):
    folder = tmp_path / "shop"
    datasets.load("toyshop:small", root=folder)
    (folder / "items.csv").write_text("item_id\n")
    with pytest.raises(ValueError, match=r"holds no sound toyshop.*items.csv fails its SHA-256 check"):
        datasets.load("toyshop:small", root=folder)
    assert (folder / "items.csv").read_text() == "item_id\n"


def test_handson_cache_naming_a_file_is_named(tmp_path, monkeypatch):
    (tmp_path / "file").write_text("x")
    monkeypatch.setenv("HANDSON_CACHE", str(tmp_path / "file"))
    with pytest.raises(OSError, match="cache folder .*file/toyshop cannot be created.*HANDSON_CACHE"):
        datasets.load("toyshop:small")
