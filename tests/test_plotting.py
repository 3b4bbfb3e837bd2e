"""handson.plotting: each function returns a Figure with the expected axes and artists."""
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from PIL import Image  # noqa: E402

from handson import plotting  # noqa: E402
from handson.datasets import toyshop  # noqa: E402
from handson.datasets import Interactions  # noqa: E402


@pytest.fixture(scope="module")
def ds():
    return toyshop.load(subset="small")


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def _texts(fig):
    return [t.get_text() for ax in fig.axes for t in ax.texts + [ax.title]]


def _holdout(ds, seed=0):
    test = np.random.default_rng(seed).random(ds.n_interactions) < 0.2
    return ds.interactions.subset(~test), ds.interactions.subset(test)


# -- galleries -------------------------------------------------------------------------------
def test_show_items_one_axes_per_item_and_grey_tile_for_missing_image(ds):
    missing = int(np.flatnonzero(~ds.has_image)[0])
    items = [0, 1, 2, 3, 4, missing, 6]
    fig = plotting.show_items(ds, items, ncols=3, title="gallery")
    assert isinstance(fig, Figure) and len(fig.axes) == len(items)
    for ax, i in zip(fig.axes, items):
        assert len(ax.images) == 1
        shown = ax.images[0].get_array()
        if i == missing:
            assert [t.get_text() for t in ax.texts] == ["no image"] and shown.shape[:2] == (8, 8)
        else:
            assert shown.shape == (128, 128, 3) and not ax.texts
    assert fig.axes[0].get_title().replace("\n", " ") == ds.items["title"].iat[0]
    assert fig._suptitle.get_text() == "gallery"


def test_show_items_captions_and_raw_ids(ds):
    shown = np.flatnonzero(ds.has_image)[:2]
    fig = plotting.show_items(ds, list(ds.item_ids[shown]), captions=["first", "second"])
    assert [ax.get_title() for ax in fig.axes] == ["first", "second"]
    np.testing.assert_array_equal(fig.axes[1].images[0].get_array(),
                                  np.asarray(Image.open(ds.image_paths[shown[1]])))


@pytest.mark.parametrize("items, match", [([0, 10_000], "outside"), ([-1], "outside"), ([], "non-empty"),
                                          (["nope"], "Unknown item")])
def test_show_items_bad_items(ds, items, match):
    with pytest.raises(ValueError, match=match):
        plotting.show_items(ds, items)


def test_show_items_bad_captions_and_layout(ds):
    with pytest.raises(ValueError, match="one per item"):
        plotting.show_items(ds, [0, 1], captions=["only one"])
    with pytest.raises(ValueError, match="ncols"):
        plotting.show_items(ds, [0, 1], ncols=0)


def test_show_user_history_and_marked_hits(ds):
    train, test = _holdout(ds)
    user = int(np.argmax(test.user_counts()))
    held = test.items[test.users == user]
    others = np.setdiff1d(np.arange(ds.n_items), np.r_[held, train.items[train.users == user]])
    recs = np.r_[held[:2], others[:4]]
    fig = plotting.show_user(ds, user, train, recs=recs, k=6, test=test)
    n_hist = min(6, int((train.users == user).sum()))
    assert len(fig.axes) == n_hist + len(recs)
    hit_titles = [t for t in _texts(fig) if t.startswith("\u2713 hit")]
    assert len(hit_titles) == 2
    assert "2 hits" in fig.axes[n_hist].get_ylabel()


def test_show_user_latest_first_and_without_recs(ds):
    fig = plotting.show_user(ds, 0, ds.interactions, k=4)
    mine = ds.interactions.users == 0
    latest = ds.interactions.items[mine][np.argsort(-ds.interactions.timestamps[mine])][:4]
    assert len(fig.axes) == 4
    for ax, i in zip(fig.axes, latest):  # titles are wrapped and may be cut with an ellipsis
        shown = "".join(ax.get_title().split()).rstrip("\u2026")
        assert len(shown) >= 5 and "".join(ds.items["title"].iat[i].split()).startswith(shown)


def test_show_user_accepts_a_model(ds):
    class Popular:
        def recommend(self, users, k=20):
            order = np.argsort(-ds.interactions.item_counts())[:k]
            return np.tile(order, (len(users), 1))

    fig = plotting.show_user(ds, "u0001", ds.interactions, recs=Popular(), k=3)
    assert len(fig.axes) == 3 + 3


def test_show_user_bad_input(ds):
    with pytest.raises(ValueError, match="outside"):
        plotting.show_user(ds, ds.n_users, ds.interactions)
    with pytest.raises(ValueError, match="Unknown user"):
        plotting.show_user(ds, "nobody", ds.interactions)
    with pytest.raises(ValueError, match="catalog"):
        plotting.show_user(ds, 0, Interactions([0], [0], n_users=ds.n_users, n_items=3))
    with pytest.raises(ValueError, match="outside"):
        plotting.show_user(ds, 0, ds.interactions, recs=[ds.n_items])


# -- summaries -------------------------------------------------------------------------------
def test_long_tail_reports_the_top_share(ds):
    counts = np.sort(ds.interactions.item_counts())[::-1]
    share = counts[: round(0.2 * ds.n_items)].sum() / counts.sum()
    fig = plotting.long_tail(ds.interactions)
    assert len(fig.axes) == 1
    assert any(f"{share:.1%}" in t for t in _texts(fig))
    line = fig.axes[0].lines[0]
    np.testing.assert_array_equal(line.get_ydata(), counts)
    assert len(plotting.long_tail(ds).axes) == 1
    with pytest.raises(ValueError, match="non-empty"):
        plotting.long_tail(ds.interactions.subset(np.zeros(ds.n_interactions, bool)))
    with pytest.raises(ValueError, match="fraction"):
        plotting.long_tail(ds, top=1.5)


class _FakeHistory:
    best_epoch = 4

    def to_frame(self):
        return pd.DataFrame({"epoch": [1, 2, 3, 4, 5], "loss": [0.9, 0.7, 0.6, 0.55, 0.5],
                             "seconds": [1.0] * 5, "Recall@20": [np.nan, 0.1, np.nan, 0.2, np.nan],
                             "nDCG@20": [np.nan, 0.05, np.nan, 0.1, np.nan]}).set_index("epoch")


@pytest.mark.parametrize("history", [
    _FakeHistory(),
    _FakeHistory().to_frame().reset_index(),
    {"loss": [0.9, 0.7, 0.6, 0.55, 0.5], "Recall@20": [0.1, 0.2], "nDCG@20": [0.05, 0.1]},
])
def test_learning_curves_loss_and_metrics(history):
    fig = plotting.learning_curves(history)
    loss_ax, metric_ax = fig.axes
    assert [ln.get_label() for ln in loss_ax.lines] == ["loss"]
    np.testing.assert_allclose(loss_ax.lines[0].get_ydata(), [0.9, 0.7, 0.6, 0.55, 0.5])
    labels = [ln.get_label() for ln in metric_ax.lines if not ln.get_label().startswith("_")]
    assert labels == ["Recall@20", "nDCG@20"]
    np.testing.assert_allclose(metric_ax.lines[0].get_ydata(), [0.1, 0.2])


def test_learning_curves_with_a_real_history():
    training = pytest.importorskip("handson.training")
    h = training.History()
    for e in range(1, 4):
        h.append({"epoch": e, "loss": 1.0 / e, "seconds": 0.1})
    fig = plotting.learning_curves(h)
    assert len(fig.axes) == 1 and len(fig.axes[0].lines) == 1


@pytest.mark.parametrize("history, match", [
    (pd.DataFrame({"loss": [1.0, 0.5]}), "epoch"),
    ("loss", "expects a History"),
    ({"epoch": [1, 2], "loss": [1.0]}, "length"),
    ({"seconds": [1.0, 2.0]}, "No loss or metric"),
])
def test_learning_curves_bad_input(history, match):
    with pytest.raises(ValueError, match=match):
        plotting.learning_curves(history)


def test_metric_bars_grouped_per_model():
    table = pd.DataFrame({"Recall@20": [0.1, 0.3, 0.32], "nDCG@20": [0.08, 0.2, 0.22], "fit_s": [0, 1, 2]},
                         index=pd.Index(["MostPop", "ItemKNN", "EASE"], name="model"))
    fig = plotting.metric_bars(table)
    ax, = fig.axes
    assert len(ax.patches) == 6
    heights = sorted(round(p.get_height(), 6) for p in ax.patches)
    assert heights == sorted([0.1, 0.3, 0.32, 0.08, 0.2, 0.22])
    assert [t.get_text() for t in ax.get_xticklabels()] == ["MostPop", "ItemKNN", "EASE"]
    fig = plotting.metric_bars(table.reset_index(), metrics=["Recall@20"])
    assert len(fig.axes[0].patches) == 3
    fig = plotting.metric_bars({"A": {"Recall@20": 0.1, "nDCG@20": 0.2}, "B": {"Recall@20": 0.3, "nDCG@20": 0.1}})
    assert len(fig.axes[0].patches) == 4


def test_metric_bars_intervals_from_seeds():
    table = pd.DataFrame({"Recall@20": [0.1, 0.3], "Recall@20 low": [0.08, 0.25], "Recall@20 high": [0.13, 0.32]},
                         index=["A", "B"])
    fig = plotting.metric_bars(table, metrics=["Recall@20"])
    ax, = fig.axes
    lines = [c for c in ax.collections if c.get_segments()]
    assert len(lines) == 1                                                    # one set of error bars
    spans = sorted((round(seg[0][1], 6), round(seg[1][1], 6)) for seg in lines[0].get_segments())
    assert spans == [(0.08, 0.13), (0.25, 0.32)]
    plain = plotting.metric_bars(table[["Recall@20"]], metrics=["Recall@20"])
    assert not [c for c in plain.axes[0].collections if c.get_segments()]


def test_metric_bars_bad_input():
    table = pd.DataFrame({"Recall@20": [0.1]}, index=["A"])
    with pytest.raises(ValueError, match=r"\['nDCG@20'\] are not in the table"):
        plotting.metric_bars(table)
    with pytest.raises(ValueError, match="non-empty"):
        plotting.metric_bars(pd.DataFrame())


# -- embeddings ------------------------------------------------------------------------------
def test_embedding_map_pca_legend_per_label(ds):
    rng = np.random.default_rng(0)
    labels = ds.items["colour"].to_numpy()
    centres = {c: rng.normal(0, 5, 16) for c in np.unique(labels)}
    X = np.array([centres[c] for c in labels]) + rng.normal(0, 0.5, (len(labels), 16))
    fig = plotting.embedding_map(X, labels, title="colours")
    ax, = fig.axes
    n_labels = len(np.unique(labels))
    assert len(ax.collections) == n_labels
    assert sorted(t.get_text() for t in ax.get_legend().get_texts()) == sorted(np.unique(labels))
    assert sum(len(c.get_offsets()) for c in ax.collections) == len(X)
    assert ax.get_title() == "colours" and ax.get_xlabel().startswith("PC1")
    red = [c for c, t in zip(ax.collections, ax.get_legend().get_texts()) if t.get_text() == "red"][0]
    np.testing.assert_allclose(red.get_facecolor()[0][:3], matplotlib.colors.to_rgb("red"))


def test_embedding_map_subsamples_and_colours_numbers():
    X = np.random.default_rng(1).normal(size=(500, 4))
    fig = plotting.embedding_map(X, labels=X[:, 0], max_points=120)
    assert len(fig.axes) == 2  # the scatter and its colour bar
    assert len(fig.axes[0].collections[0].get_offsets()) == 120


def test_embedding_map_tsne():
    pytest.importorskip("sklearn")
    X = np.random.default_rng(2).normal(size=(40, 5))
    X[:20] += 6
    fig = plotting.embedding_map(X, labels=np.repeat(["a", "b"], 20), method="tsne")
    ax, = fig.axes
    a, b = (c.get_offsets() for c in ax.collections)
    assert np.linalg.norm(a.mean(0) - b.mean(0)) > 0.5 * (a.std() + b.std())
    assert ax.get_xlabel() == "t-SNE 1"


@pytest.mark.parametrize("X, kwargs, match", [
    (np.zeros(10), {}, "2-D"),
    (np.zeros((4, 3, 2)), {}, "2-D"),
    (np.zeros((2, 3)), {}, "at least 3 rows"),
    (np.full((5, 3), np.nan), {}, "non-finite"),
    (np.zeros((5, 3)), {"labels": [1, 2]}, "one label per row"),
    (np.zeros((5, 3)), {"method": "umap"}, "'pca' or 'tsne'"),
])
def test_embedding_map_bad_input(X, kwargs, match):
    with pytest.raises(ValueError, match=match):
        plotting.embedding_map(X, **kwargs)


def test_tuning_curve_draws_one_search_or_several():
    import pandas as pd

    from handson.plotting import tuning_curve
    trials = pd.DataFrame({"trial": [0, 1, 2], "Recall@20": [0.2, 0.25, 0.1],
                           "state": ["complete", "complete", "pruned"]})
    fig = tuning_curve({"random": trials, "grid": trials.assign(**{"Recall@20": [0.2, 0.21, 0.22]})})
    assert len(fig.axes) == 1 and "validation Recall@20" in fig.axes[0].get_ylabel()
    with pytest.raises(ValueError, match="Recall@20"):
        tuning_curve(pd.DataFrame({"x": [1]}))
