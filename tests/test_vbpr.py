"""VBPR: the score formula, cold items through features alone, quality bars on toyshop, bad input."""
import numpy as np
import pandas as pd
import pytest
import torch

from handson.datasets import toyshop
from handson.evaluation import evaluate, paired_test
from handson.protocols import only_items
from handson.models.bpr import BPR
from handson.models.popularity import Random
from handson.models.spectral import svd_factors
from handson.models.vbpr import VBPR, prepare_features
from handson.split import cold_item_split, random_split

from test_protocols import clustered

EPOCHS = 15


@pytest.fixture(scope="module")
def shop():
    """toyshop with attribute features: what a perfect image / text encoder would see."""
    ds = toyshop.load()
    def onehot(cols):
        return pd.get_dummies(ds.items[cols].astype(str)).to_numpy(np.float32)
    return ds, {"image": onehot(["category", "colour", "pattern"]),
                "text": onehot(["category", "material", "brand"])}


def recall(model, split, items=None):
    scorer = model if items is None else only_items(model, items)
    return evaluate(scorer, split.test, seen=[split.train], k=(20,), progress=False)["Recall@20"]


# -- quality bars on toyshop -------------------------------------------------------------------
def test_vbpr_beats_bpr_on_toyshop(shop):
    ds, feats = shop
    split = random_split(ds, test=0.2, seed=0)
    # the same start (the SVD of the training matrix) and steps as VBPR's defaults: only the content differs
    same = {key: VBPR().get_params()[key] for key in ("init", "init_std", "lr", "lr_decay", "batch_size")}
    bpr = BPR(**same, epochs=EPOCHS, verbose=False).fit(split.train)
    vbpr = VBPR(epochs=EPOCHS, verbose=False).fit(split.train, feats)
    per_user = [evaluate(m, split.test, seen=[split.train], k=(20,), per_user=True, progress=False)
                for m in (vbpr, bpr)]
    t = paired_test(*per_user, metric="Recall@20")
    assert t["ci_low"] > 0 and t["p_value"] < 0.05, t       # better under the paired test over users


def test_cold_items_vbpr_wide_margin_bpr_at_chance(shop):
    ds, feats = shop
    split = cold_item_split(ds, items=0.2, seed=0)
    cold = np.unique(split.test.items)
    chance = recall(Random(seed=0).fit(split.train), split, cold)
    bpr = recall(BPR(epochs=EPOCHS, verbose=False).fit(split.train), split, cold)
    vbpr_model = VBPR(epochs=EPOCHS, verbose=False).fit(split.train, feats)
    vbpr = recall(vbpr_model, split, cold)
    assert abs(chance - 20 / len(cold)) < 0.05
    assert bpr < chance + 0.05, (bpr, chance)       # BPR-MF knows nothing about new items
    assert vbpr > 2 * chance and vbpr > bpr + 0.2, (vbpr, bpr, chance)
    # the cold items' ID parameters never moved from zero
    m = vbpr_model.module_
    assert not vbpr_model.known_items_[cold].any()
    assert torch.count_nonzero(m.item.weight[cold]) == 0       # [gamma_i, beta_i] rows


# -- mechanics ---------------------------------------------------------------------------------
@pytest.mark.parametrize("projection", ["concat", "per_modality"])
def test_svd_start_is_puresvd_on_seen_items_and_content_predicted_factors_on_new_ones(shop, projection):
    """init="svd": the ID part starts at the SVD, E at the ridge map from features to the SVD
    item factors and theta_u at the user's SVD factors, the ID rows holding the residual: the
    start scores seen items as PureSVD does, and new items through their content alone."""
    ds, feats = shop
    split = cold_item_split(ds, items=0.2, seed=0)
    model = VBPR(epochs=1, projection=projection, verbose=False, seed=0).fit(split.train, feats)
    model.train_ = split.train.to_csr()
    module = model._build(split.train, feats)                # a fresh start, before any step
    with torch.no_grad():
        vectors, bias = module.items()
        start = (module.user.weight @ vectors.T + bias).numpy()
    U, V = svd_factors(split.train.to_csr(), model.factors, seed=0)
    known = module.known.numpy() > 0
    np.testing.assert_allclose(start[:, known], (U @ V.T)[:, known], atol=0.02)
    assert torch.count_nonzero(module.item.weight[~torch.from_numpy(known)]) == 0
    cold = np.unique(split.test.items)
    chance = 20 / len(cold)
    class Start:                                             # the untrained start as a scorer
        n_items_ = ds.n_items

        def score(self, users):
            return start[users]
    r = evaluate(only_items(Start(), cold), split.test, seen=[split.train], k=(20,), progress=False)["Recall@20"]
    assert r > 2 * chance, (r, chance)                       # new items: ranked by content from the start


def test_score_is_the_vbpr_formula():
    train, _, feats = clustered()
    model = VBPR(epochs=3, factors=8, content_factors=4, verbose=False, seed=1).fit(train, feats)
    m = model.module_
    f = np.concatenate(prepare_features(feats, ("image", "text")), axis=1)
    W = m.proj[0].weight.detach().numpy()                   # (content_factors + 1, d)
    E, beta_c = W[:-1], W[-1]
    item = m.item.weight.detach().numpy() * model.known_items_[:, None]
    gi, bi = item[:, :8], item[:, 8]
    gu, tu = np.split(m.user.weight.detach().numpy(), [8], axis=1)
    users = np.array([0, 5, 17])
    expected = bi + gu[users] @ gi.T + tu[users] @ (f @ E.T).T + f @ beta_c
    np.testing.assert_allclose(model.score(users), expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("kwargs", [dict(), dict(n_negatives=3), dict(projection="per_modality")])
def test_training_loss_is_bpr_on_the_scores(kwargs):
    """The loss trains on x_uij = x_ui - x_uj without projecting items: it must equal BPR's
    loss on the scores that ranking uses, plus the L2 terms."""
    train, _, feats = clustered()
    model = VBPR(epochs=2, factors=8, content_factors=4, reg=0.0, reg_content=0.0, verbose=False,
                 seed=1, **kwargs).fit(train, feats)
    rng = np.random.default_rng(0)
    users = torch.from_numpy(rng.integers(0, train.n_users, 64))
    pos = torch.from_numpy(rng.integers(0, train.n_items, 64))
    neg = torch.from_numpy(rng.integers(0, train.n_items, (64, model.n_negatives)))
    batch = {"users": users, "pos": pos, "neg": neg if model.n_negatives > 1 else neg[:, 0]}
    with torch.no_grad():
        loss = model._batch_loss(batch)
        scores = torch.from_numpy(model.score(users.numpy()))
        rows = torch.arange(64)[:, None]
        x_uij = scores[rows[:, 0], pos][:, None] - scores[rows, neg]
        expected = -torch.nn.functional.logsigmoid(x_uij).mean()
    torch.testing.assert_close(loss, expected, rtol=1e-4, atol=1e-5)


def test_unseen_item_without_content_scores_zero():
    train, _, feats = clustered()
    feats = {k: v.copy() for k, v in feats.items()}
    gone = np.setdiff1d(np.arange(train.n_items), train.items)[:1]
    if not gone.size:                                 # make one item unseen in training
        gone = np.array([train.items[0]])
        train = train.subset(train.items != gone[0])
    for v in feats.values():
        v[gone] = 0.0
    model = VBPR(epochs=2, verbose=False).fit(train, feats)
    np.testing.assert_array_equal(model.score(np.arange(10))[:, gone], 0.0)


@pytest.mark.parametrize("kwargs", [dict(projection="per_modality"), dict(n_negatives=3),
                                    dict(normalize="standard"), dict(normalize=None),
                                    dict(feature_dim=4), dict(feature_dim=4, projection="per_modality"),
                                    dict(modalities="text")])
def test_variants_train_and_learn(kwargs):
    train, test, feats = clustered()
    model = VBPR(epochs=15, verbose=False, **kwargs).fit(train, feats)
    r = evaluate(model, test, seen=[train], k=(10,), progress=False)["Recall@10"]
    assert r > 0.15, (kwargs, r)          # random ranking: about 10 / 150 of a user's test items
    width = {"per_modality": 2 * model.content_factors}.get(kwargs.get("projection"), model.content_factors)
    assert model.module_.content_width == width
    assert model.module_.user.weight.shape[1] == model.factors + width
    if "feature_dim" in kwargs:     # an SVD of the concatenation, or of each modality
        assert model.module_.features.shape[1] == 4 * len(model.module_.widths)
        assert len(model.module_.widths) == (2 if model.projection == "per_modality" else 1)


def test_same_seed_same_scores():
    train, _, feats = clustered()
    a = VBPR(epochs=2, verbose=False, seed=3).fit(train, feats).score([1, 2])
    b = VBPR(epochs=2, verbose=False, seed=3).fit(train, feats).score([1, 2])
    np.testing.assert_array_equal(a, b)


# -- bad input --------------------------------------------------------------------------------
def test_bad_features_are_refused():
    train, _, feats = clustered(n_users=30, n_items=40)
    with pytest.raises(ValueError, match="missing \\['image'\\]"):
        VBPR(epochs=1).fit(train, {"text": feats["text"]})
    with pytest.raises(ValueError, match="n_items=40"):
        VBPR(epochs=1).fit(train, {"image": feats["image"][:39], "text": feats["text"]})
    nan = feats["image"].copy()
    nan[3, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        VBPR(epochs=1).fit(train, {"image": nan, "text": feats["text"]})


@pytest.mark.parametrize("kwargs, match", [
    (dict(projection="sum"), "projection"), (dict(normalize="minmax"), "normalize"),
    (dict(content_factors=0), "content_factors"), (dict(feature_dim=0), "feature_dim"),
    (dict(reg=-1.0), "reg"), (dict(reg_content=-1.0), "reg_content"),
    (dict(init_std=0.0), "init_std must be > 0"), (dict(modalities=()), "modalities"), (dict(factors=0), "factors"),
    (dict(id_dropout=1.0), "id_dropout"), (dict(id_dropout=-0.1), "id_dropout"),
])
def test_bad_hyper_parameters_are_refused(kwargs, match):
    train, _, feats = clustered(n_users=30, n_items=40)
    with pytest.raises(ValueError, match=match):
        VBPR(epochs=1, verbose=False, **kwargs).fit(train, feats)


def test_defaults_rank_cold_items_by_content_far_above_chance(shop):
    """VBPR with its defaults on a cold-item split, trained for 60 epochs without validation."""
    ds, feats = shop
    split = cold_item_split(ds, items=0.2, seed=1)
    cold = np.unique(split.test.items)
    chance = recall(Random(seed=1).fit(split.train), split, cold)
    vbpr = recall(VBPR(epochs=60, verbose=False, seed=1).fit(split.train, feats), split, cold)
    assert vbpr > 2.5 * chance, (vbpr, chance)


def test_id_dropout_trains_the_content_part_alone_on_some_triples():
    """With ``id_dropout`` the training loss of a batch changes from draw to draw (the ID part
    of a random share of items is left out); in eval mode it is the plain BPR loss."""
    train, _, feats = clustered()
    model = VBPR(epochs=2, factors=8, content_factors=4, id_dropout=0.5, verbose=False, seed=1).fit(train, feats)
    batch = {"users": torch.arange(32), "pos": torch.from_numpy(train.items[:32]),
             "neg": torch.from_numpy(train.items[32:64])}
    with torch.no_grad():
        model.module_.train()
        a, b = model._batch_loss(batch), model._batch_loss(batch)
        model.module_.eval()
        c, d = model._batch_loss(batch), model._batch_loss(batch)
    assert a != b and c == d
