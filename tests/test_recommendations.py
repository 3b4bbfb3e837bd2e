"""Recommendations for people: raw ids in and out, scores, ranks, titles, JSON and CSV."""
import json

import numpy as np
import pandas as pd
import pytest

from handson import datasets, recommendations, split
from handson.datasets import from_frames
from handson.models import EASE, MostPop


@pytest.fixture(scope="module")
def toy():
    ds = datasets.load("toyshop")
    train, valid, test = split.random_split(ds, test=0.2, valid=0.1, seed=5)
    return ds, train, valid, EASE().fit(train)


def test_index_path_is_unchanged(toy):
    ds, train, valid, model = toy
    top = model.recommend([0, 3], k=7)
    assert isinstance(top, np.ndarray) and top.shape == (2, 7) and np.issubdtype(top.dtype, np.integer)


def test_frame_has_raw_ids_scores_ranks_titles_and_no_seen_item(toy):
    ds, train, valid, model = toy
    users = [ds.user_ids[4], ds.user_ids[11]]
    recs = model.recommend(users, k=10, dataset=ds, seen=valid)
    assert len(recs) == 20 and list(recs["rank"][:10]) == list(range(1, 11))
    assert set(recs["user"]) == set(users) and recs["item"].isin(ds.item_ids).all()
    assert {"title", "image", "score", "item_index", "user_index"} <= set(recs.columns)
    top = model.recommend([4, 11], k=10, seen=valid)
    np.testing.assert_array_equal(recs["item_index"].to_numpy().reshape(2, 10), top)
    np.testing.assert_allclose(recs["score"].to_numpy().reshape(2, 10),
                               np.take_along_axis(model.score([4, 11]), top, axis=1))
    assert (np.diff(recs["score"].to_numpy().reshape(2, 10), axis=1) <= 1e-6).all()   # best first
    seen = pd.concat([train.to_frame(), valid.to_frame()])
    pairs = set(zip(seen["user"], seen["item"]))
    assert not any((u, i) in pairs for u, i in zip(recs["user_index"], recs["item_index"]))


def test_indices_with_ids_false_and_clear_errors(toy):
    ds, train, valid, model = toy
    by_index = model.recommend([4], k=5, dataset=ds, ids=False)
    by_id = model.recommend([ds.user_ids[4]], k=5, dataset=ds)
    pd.testing.assert_frame_equal(by_index, by_id)
    with pytest.raises(ValueError, match="Unknown user id"):
        model.recommend(["nobody"], k=5, dataset=ds)
    with pytest.raises(ValueError, match="dataset=ds"):
        model.recommend(["u0001"], k=5)
    with pytest.raises(ValueError, match="outside"):
        model.recommend([ds.n_users], k=5, dataset=ds, ids=False)


def test_integer_raw_ids_are_ids_not_indices():
    """MovieLens-style integer ids: with a data set they are looked up, never taken as indices."""
    inter = pd.DataFrame({"user": [10, 10, 20, 20, 30], "item": ["a", "b", "b", "c", "a"]})
    ds = from_frames(inter, pd.DataFrame({"item": ["a", "b", "c", "d"]}), name="tiny")
    model = MostPop().fit(ds.interactions)
    recs = model.recommend([20], k=2, dataset=ds)
    assert recs["user"].tolist() == [20, 20] and recs["user_index"].tolist() == [int(ds.user_index(20))] * 2
    assert not set(recs["item"]) & {"b", "c"}
    assert recommendations.user_indices(ds, ["30"]).tolist() == [int(ds.user_index(30))]  # from a file


def test_json_and_csv_round_trip(toy, tmp_path):
    ds, train, valid, model = toy
    recs = model.recommend(list(recommendations.sample_users(ds, 3, seed=1)), k=4, dataset=ds)
    text = recommendations.to_json(recs, tmp_path / "r.json", meta={"model": "EASE"})
    data = json.loads((tmp_path / "r.json").read_text())
    assert json.loads(text) == data and data["meta"] == {"model": "EASE"}
    assert [u["user"] for u in data["users"]] == list(dict.fromkeys(recs["user"]))
    assert [it["item"] for it in data["users"][0]["items"]] == recs["item"][:4].tolist()
    back = pd.read_csv(recommendations.to_csv(recs, tmp_path / "r.csv"))
    assert back["item"].tolist() == recs["item"].tolist()
    assert recommendations.read_users(tmp_path / "r.csv") == list(dict.fromkeys(recs["user"]))
    with pytest.raises(ValueError, match="expected the table"):
        recommendations.to_json(pd.DataFrame({"x": [1]}))


def test_read_users_and_sample_users(toy, tmp_path):
    ds, *_ = toy
    (tmp_path / "u.txt").write_text("u0001\n\n# a comment\nu0002  # second\n")
    assert recommendations.read_users(tmp_path / "u.txt") == ["u0001", "u0002"]
    (tmp_path / "u.json").write_text('["u0003"]')
    assert recommendations.read_users(tmp_path / "u.json") == ["u0003"]
    a, b = recommendations.sample_users(ds, 5, seed=2), recommendations.sample_users(ds, 5, seed=2)
    assert list(a) == list(b) and len(set(a)) == 5 and set(a) <= set(ds.user_ids)
    with pytest.raises(ValueError, match="cannot sample"):
        recommendations.sample_users(ds, ds.n_users + 1)
