"""The ipywidgets explorer, driven from code without a display."""
import numpy as np
import pytest

from handson import datasets, split
from handson.explorer import Explorer, item_vectors
from handson.models import BPR, EASE, MostPop


@pytest.fixture(scope="module")
def setup():
    ds = datasets.load("toyshop")
    train, valid, test = split.random_split(ds, test=0.2, valid=0.1, seed=2)
    models = {"EASE": EASE().fit(train), "BPR-MF": BPR(epochs=3, verbose=False).fit(train)}
    rng = np.random.default_rng(0)
    feats = {"image": rng.normal(size=(ds.n_items, 8)), "text": rng.normal(size=(ds.n_items, 5))}
    return ds, train, valid, test, models, feats


def _seen(train, valid, u):
    return set(train.items[train.users == u]) | set(valid.items[valid.users == u])


def test_select_from_code_shows_each_model_without_seen_items(setup):
    ds, train, valid, test, models, feats = setup
    ex = Explorer(ds, models, train=train, test=test, seen=valid, features=feats, k=6)
    ex.select(user=ds.user_ids[17], model="all")
    recs = ex.recommendations
    assert len(recs) == 12 and recs["model"].tolist() == ["EASE"] * 6 + ["BPR-MF"] * 6
    assert (recs["user"] == ds.user_ids[17]).all() and recs["item"].isin(ds.item_ids).all()
    assert not set(recs["item_index"]) & _seen(train, valid, 17)
    np.testing.assert_array_equal(recs.loc[recs["model"] == "EASE", "item_index"],
                                  models["EASE"].recommend([17], k=6, seen=[valid, train])[0])
    hits = set(test.items[test.users == 17])
    assert recs["hit"].tolist() == [i in hits for i in recs["item_index"]]
    assert set(ex.history["item_index"]) == set(train.items[train.users == 17])

    ex.select(model="BPR-MF")
    assert set(ex.recommendations["model"]) == {"BPR-MF"} and ex.user == ds.user_ids[17]
    ex.select(user="random")
    assert not set(ex.recommendations["item_index"]) & _seen(train, valid, int(ds.user_index(ex.user)))


def test_neighbours_in_every_space_and_the_models_own(setup):
    ds, train, valid, test, models, feats = setup
    ex = Explorer(ds, models, train=train, test=test, features=feats, k=5)
    ex.select(item=ds.item_ids[3])
    spaces = ex.neighbours["space"].unique().tolist()
    assert spaces == ["image", "text", "EASE (own items)", "BPR-MF (own items)"]
    assert 3 not in ex.neighbours["item_index"].tolist()
    x = feats["image"] / np.linalg.norm(feats["image"], axis=1, keepdims=True)
    sim = x @ x[3]
    sim[3] = -np.inf
    assert ex.neighbours.loc[ex.neighbours["space"] == "image", "item_index"].iloc[0] == int(np.argmax(sim))
    assert item_vectors(MostPop().fit(train)) is None and item_vectors(models["BPR-MF"]).shape[0] == ds.n_items


def test_rerank_switch_and_bad_choices(setup):
    ds, train, valid, test, models, feats = setup

    class Reverse:          # a stand-in re-ranker: the model's top-k in reverse order
        def __init__(self, model):
            self.model = model

        def recommend(self, users, k, seen=None):
            return self.model.recommend(users, k, seen=seen)[:, ::-1]

        def score(self, users):
            return self.model.score(users)

    ex = Explorer(ds, {"EASE": models["EASE"]}, train=train, rerank={"reverse": Reverse}, k=4)
    plain = ex.recommendations["item_index"].tolist()
    assert ex.select(rerank="reverse").recommendations["item_index"].tolist() == plain[::-1]
    assert (ex.recommendations["rerank"] == "reverse").all()
    with pytest.raises(ValueError, match="unknown model"):
        ex.select(model="LightGCN")
    with pytest.raises(ValueError, match="re-ranking"):
        ex.select(rerank="mmr")
    with pytest.raises(ValueError, match="Unknown user id"):
        ex.select(user="nobody")
    with pytest.raises(ValueError, match="not fitted on this data set"):
        Explorer(ds, {"x": EASE()})


def test_widget_builds_without_a_display_and_follows_select(setup):
    pytest.importorskip("ipywidgets")
    ds, train, valid, test, models, feats = setup
    ex = Explorer(ds, models, train=train, test=test, features=feats, k=4)
    w = ex.widget
    assert type(w).__name__ == "VBox"
    user_box = w.children[0].children[0]
    user_box.value = str(ds.user_ids[40])              # what typing a user id does
    assert ex.user == ds.user_ids[40] and str(ds.user_ids[40]) in ex._panel.value
    ex.select(user=ds.user_ids[41])
    assert f"user {ds.user_ids[41]}" in ex._panel.value and ex._item_box.value == ex._item
    bundle = ex._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle and "data:image/png;base64" in bundle["text/html"]


def test_static_fallbacks(setup):
    import matplotlib.pyplot as plt
    ds, train, valid, test, models, feats = setup
    ex = Explorer(ds, models["EASE"], test=test, features=feats, k=3)       # history from the model itself
    assert "<img" in ex._repr_html_() and "EASE" in repr(ex)
    figs = ex.show()
    assert len(figs) == 1 + 3          # one list, three neighbour spaces (image, text, EASE)
    plt.close("all")
