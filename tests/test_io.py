"""Saving and loading fitted models (handson.models.io): weights only, same scores after loading."""
import numpy as np
import pytest
import torch

from handson import datasets, models, split
from handson.models import BPR, EASE, VBPR, ItemKNN

TORCH_FREE = ["Random", "MostPop", "ItemKNN", "EASE", "CEASE", "GFCF", "CLIPContent", "ContentProfile"]
WRAPPERS = ["MMR"]                 # hold another model: save that one instead
NEURAL = sorted(set(models._LAZY) - set(TORCH_FREE) - set(WRAPPERS) - {"TorchRecommender"})


@pytest.fixture(scope="module")
def toy():
    ds = datasets.load("toyshop")
    train, valid, _ = split.random_split(ds, test=0.2, valid=0.1, seed=3)
    rng = np.random.default_rng(0)
    feats = {"image": rng.normal(size=(ds.n_items, 24)).astype(np.float32),
             "text": rng.normal(size=(ds.n_items, 16)).astype(np.float32)}
    return ds, train, valid, feats


def _model(name):
    cls = getattr(models, name)
    if name in TORCH_FREE:
        return cls(modalities=("text",)) if name == "CLIPContent" else cls()
    extra = {"modalities": ("text",)} if name == "CLIPContentMLP" else {}
    return cls(epochs=2, eval_every=1, verbose=False, seed=1, **extra)


@pytest.mark.parametrize("name", TORCH_FREE + NEURAL)
def test_every_model_round_trips_with_the_same_scores(name, toy, tmp_path):
    ds, train, valid, feats = toy
    model = _model(name).fit(train, item_features=feats, valid=valid)
    path = model.save(tmp_path / f"{name}.model")
    loaded = type(model).load(path)
    users = np.array([0, 7, 99])
    assert loaded.get_params() == model.get_params()
    np.testing.assert_allclose(loaded.score(users), model.score(users), rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(loaded.recommend(users, k=10), model.recommend(users, k=10))


def test_torch_file_loads_weights_only_and_numpy_file_without_pickle(toy, tmp_path):
    ds, train, valid, feats = toy
    bpr = BPR(epochs=2, verbose=False).fit(train)
    torch.load(bpr.save(tmp_path / "bpr.pt"), weights_only=True)        # raises on any pickled object
    np.load(EASE().fit(train).save(tmp_path / "ease.npz"), allow_pickle=False)["__meta__"]
    knn = ItemKNN().fit(train).save(tmp_path / "knn.npz")
    assert models.io.saved_class(knn) == "ItemKNN"


def test_loading_checks_the_class_and_the_file(toy, tmp_path):
    ds, train, valid, feats = toy
    path = EASE().fit(train).save(tmp_path / "ease.npz")
    with pytest.raises(ValueError, match="holds a EASE, not a ItemKNN"):
        ItemKNN.load(path)
    with pytest.raises(ValueError, match="does not exist"):
        EASE.load(tmp_path / "missing.npz")
    (tmp_path / "junk.bin").write_bytes(b"not a model")
    with pytest.raises(ValueError, match="cannot read model file"):
        EASE.load(tmp_path / "junk.bin")
    with pytest.raises(RuntimeError, match="not fitted"):
        EASE().save(tmp_path / "x.npz")


def test_a_loaded_model_still_excludes_seen_items_and_keeps_its_features(toy, tmp_path):
    ds, train, valid, feats = toy
    vbpr = VBPR(epochs=2, verbose=False).fit(train, feats)
    loaded = VBPR.load(vbpr.save(tmp_path / "vbpr.pt"))
    top = loaded.recommend(np.arange(20), k=15)
    seen = train.to_csr()
    assert all(not set(top[u]) & set(seen[u].indices) for u in range(20))
    np.testing.assert_array_equal(loaded.item_features_["image"], feats["image"])
    assert len(loaded.history_) == len(vbpr.history_)


def test_a_wrapper_says_to_save_its_base_model(toy, tmp_path):
    ds, train, valid, feats = toy
    mmr = models.MMR(EASE().fit(train), feats["image"], lam=0.5)
    with pytest.raises(NotImplementedError, match=r"save the base model \(mmr.base.save\(path\)\)"):
        mmr.save(tmp_path / "mmr.npz")
    with pytest.raises(NotImplementedError, match="load the base model"):
        models.MMR.load(tmp_path / "mmr.npz")
    path = mmr.base.save(tmp_path / "ease.npz")        # the documented way round
    again = models.MMR(EASE.load(path), feats["image"], lam=0.5)
    users = np.array([0, 7, 99])
    np.testing.assert_array_equal(again.recommend(users, k=10), mmr.recommend(users, k=10))


def test_a_failed_save_leaves_the_old_file_and_no_partial_one(toy, tmp_path, monkeypatch):
    ds, train, valid, feats = toy
    path = EASE().fit(train).save(tmp_path / "ease.npz")
    before = path.read_bytes()

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(models.io.np, "savez", broken)
    with pytest.raises(OSError, match="disk full"):
        EASE(lam=10.0).fit(train).save(path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ease.npz"]
