"""toyshop: sizes, determinism, missing content, cold items, learnable signal, caching."""
import hashlib
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from handson import datasets
from handson.datasets import toyshop, toyshop_images

SMALL = dict(n_users=150, n_items=80, n_interactions=1500)


@pytest.fixture(scope="module")
def ds():
    return toyshop.load()


def _png_hashes(d):
    return {p: hashlib.sha256(Path(p).read_bytes()).hexdigest() for p in d.image_paths if p}


def _frame(d):
    return d.interactions.to_frame()


# -- shape of the data -------------------------------------------------------------------
def test_default_sizes_columns_and_ids(ds):
    assert (ds.n_users, ds.n_items, ds.n_interactions) == (1000, 600, 20000)
    for col in ("item_id", "text", "image", "title", "category", "colour", "pattern", "material",
                "brand", "price"):
        assert col in ds.items.columns, col
    assert ds.item_ids[5] == "i0005" and ds.user_ids[7] == "u0007"
    assert set(ds.items["category"]) == set(toyshop.CATEGORIES)
    assert set(ds.items["colour"]) == set(toyshop.COLOURS)
    assert set(ds.items["pattern"]) == set(toyshop.PATTERNS)
    assert (ds.items["price"] > 0).all()
    assert set(np.unique(ds.interactions.ratings)) <= {1, 2, 3, 4, 5}
    assert len(np.unique(ds.interactions.ratings)) >= 4
    assert ds.interactions.user_counts().min() >= 3
    assert ds.root is not None and (ds.root / "meta.json").is_file()


def test_datasets_load_routes_to_toyshop(ds):
    same = datasets.load("toyshop")
    np.testing.assert_array_equal(same.interactions.items, ds.interactions.items)
    small = datasets.load("toyshop:small")
    assert (small.n_users, small.n_items, small.n_interactions) == (200, 120, 3000)


def test_sizes_configurable(tmp_path):
    d = toyshop.generate(**SMALL, seed=3, root=tmp_path / "shop")
    assert (d.n_users, d.n_items, d.n_interactions) == (150, 80, 1500)
    assert d.root == tmp_path / "shop"
    fresh = toyshop.generate(n_users=20, n_items=10, n_interactions=60)
    assert (fresh.n_users, fresh.n_items, fresh.n_interactions) == (20, 10, 60)
    assert fresh.root.is_dir()


def test_images_are_128px_rgb_and_not_identical(ds):
    paths = [p for p in ds.image_paths if p][:40]
    arrays = [np.asarray(Image.open(p)) for p in paths]
    assert all(a.shape == (128, 128, 3) for a in arrays)
    assert len({a.tobytes() for a in arrays}) == len(arrays)


def test_missing_images_and_texts(ds):
    no_img, no_txt = ~ds.has_image, ~ds.has_text
    assert 0.01 <= no_img.mean() <= 0.06 and 0.01 <= no_txt.mean() <= 0.06
    assert all(p is None for p, ok in zip(ds.image_paths, ds.has_image) if not ok)
    assert ds.items["title"].notna().all()


def test_cold_items_exist_and_stay_in_catalog(ds):
    counts = ds.interactions.item_counts()
    zero = np.flatnonzero(counts == 0)
    new = ds.info["ground_truth"]["new_items"]
    assert len(new) >= 3 and np.isin(new, zero).all()  # new arrivals, plus some never drawn
    assert ((counts >= 1) & (counts <= 2)).sum() >= 3
    assert len(counts) == ds.n_items == len(ds.items)


def test_timestamps_spread_over_three_years(ds):
    ts = ds.interactions.timestamps
    assert ts.min() >= toyshop.START_TIME and ts.max() <= toyshop.START_TIME + toyshop.SPAN
    first = np.full(ds.n_users, np.iinfo(np.int64).max)
    np.minimum.at(first, ds.interactions.users, ts)
    assert np.ptp(first) > toyshop.SPAN / 2  # users start at different times


def test_ground_truth(ds):
    gt = ds.info["ground_truth"]
    assert len(gt["taste"]) == len(gt["preferred"]) == len(gt["activity"]) == ds.n_users
    shares = {t: np.mean(gt["taste"] == t) for t in ("category", "colour", "material")}
    assert shares["category"] > 0.5 and 0.1 < shares["colour"] < 0.3 and 0.1 < shares["material"] < 0.3
    values = {"category": toyshop.CATEGORIES, "colour": tuple(toyshop.COLOURS), "material": toyshop.MATERIALS}
    assert all(set(p) <= set(values[t]) and 1 <= len(p) <= 2 for t, p in zip(gt["taste"], gt["preferred"]))
    np.testing.assert_array_equal(gt["activity"], ds.interactions.user_counts())
    assert list(gt["users"]["user_id"]) == list(ds.user_ids)


# -- the signal is learnable ------------------------------------------------------------------
def _preferred_share(ds, taste):
    gt, x = ds.info["ground_truth"], ds.interactions
    users = np.flatnonzero(gt["taste"] == taste)
    sel = np.isin(x.users, users)
    attr = ds.items[taste].to_numpy()
    hit = np.mean([attr[i] in gt["preferred"][u] for u, i in zip(x.users[sel], x.items[sel])])
    chance = np.mean([np.isin(attr, gt["preferred"][u]).mean() for u in users])
    return hit, chance


@pytest.mark.parametrize("taste", ["colour", "material", "category"])
def test_users_follow_their_taste(ds, taste):
    hit, chance = _preferred_share(ds, taste)
    assert hit > 3 * chance and hit > 0.5, (hit, chance)


def test_ratings_higher_for_matching_items(ds):
    gt, x = ds.info["ground_truth"], ds.interactions
    match = np.array([ds.items[gt["taste"][u]].iat[i] in gt["preferred"][u] for u, i in zip(x.users, x.items)])
    assert x.ratings[match].mean() > x.ratings[~match].mean() + 0.5


def test_item_item_cosine_beats_popularity(ds):
    x = ds.interactions
    test = np.random.default_rng(1).random(len(x)) < 0.2
    train, held = x.subset(~test).to_csr(), x.subset(test).to_csr().toarray() > 0
    pop = np.asarray(train.sum(0)).ravel()
    norm = np.sqrt(pop) + 1e-9
    sim = (train.T @ train).toarray() / norm[:, None] / norm[None, :]
    np.fill_diagonal(sim, 0.0)

    def recall20(scores):
        scores = np.where(train.toarray() > 0, -np.inf, scores)
        top = np.argsort(-scores, axis=1)[:, :20]
        hits, n = np.take_along_axis(held, top, 1).sum(1), held.sum(1)
        return np.mean(hits[n > 0] / np.minimum(n[n > 0], 20))

    knn, most_pop = recall20(np.asarray(train @ sim)), recall20(np.tile(pop, (x.n_users, 1)).astype(float))
    assert knn > 1.3 * most_pop, (knn, most_pop)


def test_pixel_mean_separates_colours(ds):
    ok = ds.has_image
    paths = np.array(ds.image_paths, dtype=object)[ok]
    feats = np.array([np.asarray(Image.open(p), dtype=np.float32).reshape(-1, 3).mean(0) for p in paths])
    order = np.random.default_rng(0).permutation(len(feats))
    fit, held = order[:300], order[300:]

    def nearest_centroid_accuracy(attr):
        labels = ds.items[attr].to_numpy()[ok]
        classes = np.unique(labels)
        centroids = np.array([feats[fit][labels[fit] == c].mean(0) for c in classes])
        pred = classes[np.argmin(((feats[held][:, None] - centroids[None]) ** 2).sum(-1), axis=1)]
        return np.mean(pred == labels[held])

    assert nearest_centroid_accuracy("colour") > 0.6    # chance is 1/8
    assert nearest_centroid_accuracy("material") < 0.25  # material is not in the pixels


def test_texts_name_material_and_brand_but_rarely_colour(ds):
    stems = {"cotton": "cotton", "wool": "wool", "leather": "leather", "wood": ("wood", "oak"),
             "metal": ("metal", "steel", "aluminium"), "ceramic": ("ceramic", "stoneware", "porcelain"),
             "glass": "glass", "bamboo": "bamboo"}
    rows = [r for r in ds.items.itertuples() if isinstance(r.text, str)]
    material = np.mean([any(s in r.text.lower() for s in np.atleast_1d(stems[r.material])) for r in rows])
    brand = np.mean([r.brand in r.text for r in rows])
    words = {c: [w.split()[-1] for w in ws] for c, ws in toyshop._CAT_WORDS.items()}
    category = np.mean([any(w in r.text.lower() for w in words[r.category]) for r in rows])
    colour = np.mean([r.colour in r.text.lower() for r in rows])
    assert material > 0.95 and brand > 0.95 and category > 0.95, (material, brand, category)
    assert colour < 0.2, colour


# -- determinism and caching ------------------------------------------------------------------
def test_same_seed_same_data_and_png_bytes(tmp_path):
    a = toyshop.generate(**SMALL, seed=7, root=tmp_path / "a")
    b = toyshop.generate(**SMALL, seed=7, root=tmp_path / "b")
    assert _frame(a).equals(_frame(b))
    assert a.items.equals(b.items)
    ha, hb = _png_hashes(a), _png_hashes(b)
    assert len(ha) > 0.9 * SMALL["n_items"]
    assert sorted(ha.values()) == sorted(hb.values())


def test_different_seeds_differ(tmp_path):
    a = toyshop.generate(**SMALL, seed=1, root=tmp_path / "a")
    b = toyshop.generate(**SMALL, seed=2, root=tmp_path / "b")
    assert not _frame(a).equals(_frame(b))
    assert not a.items["category"].equals(b.items["category"])


def test_load_reuses_cache_quickly(tmp_path, monkeypatch):
    monkeypatch.setenv("HANDSON_CACHE", str(tmp_path / "cache"))
    first = toyshop.load(**SMALL, seed=5)
    mtime = (first.root / "meta.json").stat().st_mtime_ns
    start = time.perf_counter()
    again = toyshop.load(**SMALL, seed=5)
    assert time.perf_counter() - start < 1.0
    assert again.root == first.root and (again.root / "meta.json").stat().st_mtime_ns == mtime
    assert _frame(first).equals(_frame(again))
    other = toyshop.load(**SMALL, seed=6)
    assert other.root != first.root


def test_crash_leaves_nothing_partial(tmp_path, monkeypatch):
    calls = {"n": 0}
    real = toyshop_images._draw

    def flaky(*args):
        calls["n"] += 1
        if calls["n"] > 20:
            raise RuntimeError("simulated crash")
        return real(*args)

    monkeypatch.setattr(toyshop_images, "_draw", flaky)
    with pytest.raises(RuntimeError, match="simulated"):
        toyshop.load(tmp_path / "shop", **SMALL)
    assert list(tmp_path.iterdir()) == []
    monkeypatch.setattr(toyshop_images, "_draw", real)
    d = toyshop.load(tmp_path / "shop", **SMALL)
    assert d.n_interactions == SMALL["n_interactions"] and [p.name for p in tmp_path.iterdir()] == ["shop"]


def test_broken_cache_copy_is_regenerated(tmp_path, monkeypatch):
    monkeypatch.setenv("HANDSON_CACHE", str(tmp_path / "cache"))
    d = toyshop.load(**SMALL)
    (d.root / "meta.json").unlink()
    again = toyshop.load(**SMALL)
    assert (again.root / "meta.json").is_file() and _frame(again).equals(_frame(d))


# -- bad input ------------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs, match", [
    (dict(n_users=10, n_items=20, n_interactions=5), "at least 3 per user"),
    (dict(n_users=10, n_items=20, n_interactions=5000), "at most half the catalog"),
    (dict(n_users=10, n_items=5, n_interactions=50), "n_items >= 10"),
    (dict(n_users=-1), "non-negative integer"),
    (dict(taste_shares=(1.0, 0.0)), "taste_shares"),
    (dict(missing_image=0.9), "missing_image"),
    (dict(temperature=0.0), "temperature"),
])
def test_bad_parameters(kwargs, match, tmp_path):
    with pytest.raises(ValueError, match=match):
        toyshop.generate(**{**SMALL, **kwargs}, root=tmp_path / "x")


def test_bad_load_arguments(tmp_path):
    with pytest.raises(ValueError, match="Unknown toyshop subset"):
        toyshop.load(subset="huge")
    with pytest.raises(ValueError, match="Unknown toyshop option"):
        toyshop.load(n_user=10)
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="not empty"):
        toyshop.load(tmp_path / "junk", **SMALL)
    with pytest.raises(ValueError, match="not empty"):
        toyshop.generate(**SMALL, root=tmp_path / "junk")
    assert (tmp_path / "junk" / "notes.txt").read_text() == "mine"


def test_backgrounds_are_light_and_smooth(ds):
    for p in [p for p in ds.image_paths if p][:60]:
        a = np.asarray(Image.open(p), dtype=np.int16)
        corner = a[:6, :6].reshape(-1, 3)  # the silhouette never reaches the corners
        assert corner.min() > 200 and np.ptp(corner, axis=0).max() <= 12, p


def test_sampling_in_user_blocks(tmp_path, monkeypatch):
    monkeypatch.setattr(toyshop, "_BLOCK", 1000)  # 12 users per block instead of all at once
    a = toyshop.generate(**SMALL, seed=4, root=tmp_path / "a")
    b = toyshop.generate(**SMALL, seed=4, root=tmp_path / "b")
    assert a.n_interactions == SMALL["n_interactions"] and _frame(a).equals(_frame(b))
    np.testing.assert_array_equal(a.interactions.user_counts(), a.info["ground_truth"]["activity"])
    for taste in ("colour", "material", "category"):
        hit, chance = _preferred_share(a, taste)
        assert hit > 2 * chance, (taste, hit, chance)
