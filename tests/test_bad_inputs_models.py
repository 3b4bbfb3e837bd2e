"""Bad inputs of the modelling side: evaluation, model parameters and inputs, images, texts.

Each case asserts the exact outcome: the error type and that the message names the argument
at fault, or the counted fallback and its count.
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from handson import features  # noqa: E402
from handson.datasets import Interactions  # noqa: E402
from handson.evaluation import evaluate  # noqa: E402
from handson.features.text_encoders import TextEncoder  # noqa: E402
from handson.models import BPR, EASE, GFCF, VBPR, ItemKNN, LightGCN, MostPop, Random  # noqa: E402
from test_features import mean_colour, shop  # noqa: E402,F401 - shop is a fixture

N_USERS, N_ITEMS = 12, 25


@pytest.fixture(scope="module")
def parts():
    rng = np.random.default_rng(0)
    train = Interactions(rng.integers(0, N_USERS, 80), rng.integers(0, N_ITEMS, 80), N_USERS, N_ITEMS)
    test = Interactions(np.arange(N_USERS), rng.integers(0, N_ITEMS, N_USERS), N_USERS, N_ITEMS)
    return train, test


class Fixed:
    """A 'model' whose scores are given."""

    def __init__(self, scores):
        self.scores, self.n_items_ = np.asarray(scores, dtype=np.float32), np.shape(scores)[1]

    def score(self, users):
        return self.scores[users]


# -- evaluation --------------------------------------------------------------------------
@pytest.mark.parametrize("value", [np.nan, np.inf], ids=["nan", "posinf"])
def test_non_finite_scores_are_an_error(parts, value):
    scores = np.random.default_rng(1).random((N_USERS, N_ITEMS))
    scores[3, 2] = value
    with pytest.raises(ValueError, match=r"Fixed.score returned 1 NaN or \+inf score\(s\) for 1 user"):
        evaluate(Fixed(scores), parts[1])


def test_minus_inf_scores_mean_never_recommend(parts):
    scores = np.random.default_rng(1).random((N_USERS, N_ITEMS))
    scores[:, 0] = -np.inf
    res = evaluate(Fixed(scores), parts[1], k=5)
    assert 0.0 <= res["Recall@5"] <= 1.0 and res["users"] == N_USERS


@pytest.mark.parametrize("kwargs, match", [
    (dict(k=0), r"k=0 must lie in \[1, n_items=25\]"),
    (dict(k=2.5), "k values must be integers, got 2.5"),
    (dict(k=()), "k is empty"),
    (dict(metrics=["Recal"]), r"Unknown metric\(s\) \['Recal'\]"),
    (dict(users=[0, 99]), r"users holds indices outside \[0, n_users=12\)"),
    (dict(users=[0.5]), "users must be integer indices"),
    (dict(batch_size=0), "batch_size must be positive, got 0"),
    (dict(seen=[np.zeros(3)]), "seen must be Interactions or a list of them, got ndarray"),
], ids=["k-0", "k-float", "k-empty", "metric", "users-range", "users-float", "batch-size", "seen"])
def test_evaluate_arguments_are_named(parts, kwargs, match):
    with pytest.raises(ValueError, match=match):
        evaluate(Fixed(np.ones((N_USERS, N_ITEMS))), parts[1], **kwargs)


def test_evaluate_names_a_wrong_score_shape_and_a_missing_score(parts):
    narrow = Fixed(np.ones((N_USERS, N_ITEMS - 1)))
    narrow.n_items_ = N_ITEMS
    with pytest.raises(ValueError, match=r"returned shape \(12, 24\), expected \(12, 25\)"):
        evaluate(narrow, parts[1])
    with pytest.raises(ValueError, match="model must have a score"):
        evaluate(object(), parts[1])
    with pytest.raises(ValueError, match="test must be handson.Interactions"):
        evaluate(Fixed(np.ones((N_USERS, N_ITEMS))), [1, 2])


# -- model parameters: checked first, in one place ----------------------------------------
@pytest.mark.parametrize("model, match", [
    (lambda: BPR(lr="0.1"), "BPR: lr must be a finite number, got '0.1'"),
    (lambda: BPR(lr=float("nan")), "BPR: lr must be a finite number, got nan"),
    (lambda: BPR(lr=-1.0), "BPR: lr must be a positive number, got -1.0"),
    (lambda: BPR(seed=1.5), "BPR: seed must be an integer, got 1.5"),
    (lambda: BPR(seed="42"), "BPR: seed must be an integer, got '42'"),
    (lambda: BPR(seed=-1), "BPR: seed must be a non-negative integer, got -1"),
    (lambda: BPR(factors=True), "BPR: factors must be an integer, got True"),
    (lambda: BPR(epochs=0), "BPR: epochs must be a positive integer, got 0"),
    (lambda: BPR(optimizer="adamx"), "optimizer must be 'adam', 'adamw' or 'sgd', got 'adamx'"),
    (lambda: BPR(weight_decay=-0.1), "BPR: weight_decay must be >= 0, got -0.1"),
    (lambda: BPR(verbose="yes"), "BPR: verbose must be True or False, got 'yes'"),
    (lambda: BPR(device="gpu"), "BPR: device must be None.*got 'gpu'"),
    (lambda: BPR(reg=float("inf")), "BPR: reg must be a finite number, got inf"),
    (lambda: BPR(metric="recall"), "metric must look like 'Recall@20'"),
    (lambda: BPR(threads=0), "threads must be a positive integer or None, got 0"),
    (lambda: LightGCN(n_layers=2.0), "LightGCN: n_layers must be an integer, got 2.0"),
    (lambda: VBPR(feature_dim=1.5), "VBPR: feature_dim must be an integer or None, got 1.5"),
    (lambda: ItemKNN(k="5"), "ItemKNN: k must be an integer, got '5'"),
    (lambda: ItemKNN(shrink=-1.0), "ItemKNN: shrink must be >= 0"),
    (lambda: EASE(lam=0.0), "lam=0.0 must be positive"),
    (lambda: GFCF(alpha=-1.0), "GFCF: factors must be >= 1 and alpha >= 0"),
    (lambda: Random(seed=-1), "Random: seed must be a non-negative integer, got -1"),
], ids=["lr-str", "lr-nan", "lr-negative", "seed-float", "seed-str", "seed-negative", "factors-bool",
        "epochs-0", "optimizer", "weight-decay", "verbose", "device", "reg-inf", "metric", "threads",
        "n-layers-float", "feature-dim", "k-str", "shrink", "lam", "alpha", "random-seed"])
def test_bad_parameters_fail_before_any_work(model, match):
    m = model()
    with pytest.raises(ValueError, match=match):
        m.fit(None)                  # the parameters are checked before the data
    assert not hasattr(m, "n_users_")


# -- model inputs ----------------------------------------------------------------------------
def test_fit_input_is_checked(parts):
    with pytest.raises(TypeError, match="fit expects handson.Interactions, got list"):
        MostPop().fit([1, 2])
    with pytest.raises(ValueError, match="Cannot fit on empty interactions"):
        MostPop().fit(parts[0].subset(np.zeros(len(parts[0]), bool)))
    with pytest.raises(ValueError, match="different catalogs"):
        BPR(epochs=1, verbose=False).fit(parts[0], valid=Interactions([0], [0], 1, 1))


@pytest.mark.parametrize("feats, match", [
    ({}, r"VBPR needs item_features \['image'\]; missing \['image'\]"),
    ({"image": np.ones((N_ITEMS - 1, 4))}, r"item_features\['image'\] has shape \(24, 4\); expected \(n_items=25, d\)"),
    ({"image": np.where(np.eye(N_ITEMS, 4) > 0, np.nan, 1.0)}, r"item_features\['image'\] has NaN/inf in 4 row"),
    ({"image": np.full((N_ITEMS, 4), 1e39)}, r"has NaN/inf in 25 row.*float32's range"),
    ({"image": (np.random.default_rng(0).random((N_ITEMS, 4)) + 1) * 1e30},
     r"item_features\['image'\] holds values up to .*e\+30.*Rescale the 'image' features"),
], ids=["missing", "shape", "nan", "beyond-float32", "extreme-finite"])
def test_bad_item_features_are_named(parts, feats, match):
    with pytest.raises(ValueError, match=match):
        VBPR(modalities=("image",), epochs=1, verbose=False).fit(parts[0], item_features=feats)


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(valid=[1, 2]), TypeError, "valid must be handson.Interactions or None, got list"),
    (dict(item_features=[np.ones((N_ITEMS, 3))]), ValueError, "item_features must be a dict.*got list"),
    (dict(item_features={"image": np.full((N_ITEMS, 3), "a")}), ValueError,
     r"item_features\['image'\] is not a numeric matrix"),
], ids=["valid-list", "features-list", "features-strings"])
def test_fit_arguments_of_the_wrong_kind_are_named(parts, kwargs, error, match):
    with pytest.raises(error, match=match):
        VBPR(modalities=("image",), epochs=1, verbose=False).fit(parts[0], **kwargs)


def test_scoring_inputs_are_checked(parts):
    with pytest.raises(RuntimeError, match="MostPop is not fitted yet"):
        MostPop().score([0])
    model = MostPop().fit(parts[0])
    with pytest.raises(ValueError, match=r"Unknown user index \[12\]"):
        model.score([0, 12])
    with pytest.raises(ValueError, match="users must be integer indices, got dtype float64"):
        model.score([0.5])
    with pytest.raises(ValueError, match=r"k=0 must lie in \[1, n_items=25\]"):
        model.recommend([0], k=0)
    with pytest.raises(ValueError, match=r"k=2.5 must lie in \[1, n_items=25\]"):
        model.recommend([0], k=2.5)
    with pytest.raises(ValueError, match=r"users must be a one-dimensional list.*shape \(1, 2\)"):
        model.score([[0, 1]])


# -- images -----------------------------------------------------------------------------------
def test_broken_images_are_counted_not_fatal(shop, tmp_path):
    with pytest.warns(UserWarning, match="items have no usable content"):
        f = features.image_features(shop, mean_colour(), cache=tmp_path / "c", progress=False)
    assert (f.report["unreadable"], f.report["missing_file"], f.report["missing_path"]) == (2, 1, 1)
    assert f.mask.sum() == len(shop) - 4 and not f.values[~f.mask].any()


@pytest.mark.parametrize("call, match", [
    (lambda shop: features.image_features(shop, mean_colour(), device="gpu", cache=False),
     "device must be None.*got 'gpu'"),
    (lambda shop: features.text_features(["a"], Picky(), device="gpu", cache=False), "device must be None.*got 'gpu'"),
    (lambda shop: features.text_features(["a"], "all-MiniLM-L6-v2", max_length="5", cache=False),
     "max_length must be None or an integer of at least 2 tokens, got '5'"),
], ids=["image-device", "text-device", "text-max-length"])
def test_feature_options_are_named(shop, call, match):
    with pytest.raises(ValueError, match=match):
        call(shop)


def test_image_argument_errors_are_named(shop, tmp_path):
    with pytest.raises(ValueError, match="Pass a Dataset or a list of image paths, got str"):
        features.image_features("img/red.png", mean_colour(), cache=False)
    with pytest.raises(ValueError, match=r"4 item\(s\) have no usable image"):
        features.image_features(shop, mean_colour(), cache=False, missing="error", progress=False)
    with pytest.raises(ValueError, match="batch_size and chunk_batches must be integers >= 1, got 0"):
        features.image_features(shop, mean_colour(), cache=False, batch_size=0)
    with pytest.raises(ValueError, match="batch_size and chunk_batches must be integers >= 1, got 2.5"):
        features.image_features(shop, mean_colour(), cache=False, batch_size=2.5)


# -- texts: one text the encoder cannot handle does not end the run ---------------------------
class Picky(TextEncoder):
    """A text encoder that raises on texts containing ``bad`` (in encode or in counting)."""

    def __init__(self, bad: str = "BAD", in_counts: bool = False) -> None:
        super().__init__("picky", "mean-pooling", "none", weights="none")
        self.bad, self.in_counts = bad, in_counts

    def load(self, device):
        return self

    @property
    def limit(self) -> int:
        return 64

    def _check(self, texts):
        if any(self.bad in t for t in texts):
            raise ValueError("cannot tokenize this text")

    def token_counts(self, texts):
        if self.in_counts:
            self._check(texts)
        return np.array([len(t.split()) for t in texts])

    def encode(self, texts, device):
        self._check(texts)
        return torch.tensor([[len(t), 1.0] for t in texts])


@pytest.mark.parametrize("in_counts", [False, True], ids=["encode-raises", "tokenizer-raises"])
def test_an_unencodable_text_is_counted_and_follows_the_missing_policy(in_counts):
    texts = ["a fine text", "a BAD text", "another", None]
    with pytest.warns(UserWarning, match="unencodable: 1"):
        f = features.text_features(texts, Picky(in_counts=in_counts), batch_size=4, cache=False, progress=False)
    assert f.report["unencodable"] == 1 and f.report["empty"] == 1
    assert f.mask.tolist() == [True, False, True, False]
    np.testing.assert_array_equal(f.values[1], [0.0, 0.0])
    np.testing.assert_array_equal(f.values[0], [11.0, 1.0])
    with pytest.warns(UserWarning, match="unencodable: 1"):
        mean = features.text_features(texts, Picky(), batch_size=4, cache=False, progress=False, missing="mean")
    np.testing.assert_allclose(mean.values[1], mean.values[[0, 2]].mean(axis=0))


def test_unencodable_text_under_missing_error_is_named():
    with pytest.raises(ValueError, match=r"1 item\(s\) have no usable text: \[1\]"):
        features.text_features(["ok", "BAD"], Picky(), cache=False, progress=False, missing="error")


def test_no_encodable_text_at_all_is_an_error():
    with pytest.raises(ValueError, match="No item has a usable text.*could not encode"):
        features.text_features(["BAD one", "BAD two"], Picky(), cache=False, progress=False)


def test_texts_that_are_numbers_or_blank_are_counted():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        f = features.text_features(["fine", 42, "   ", float("nan")], Picky(), cache=False, progress=False)
    assert f.report["converted"] == 1 and f.report["empty"] == 2 and f.mask.tolist() == [True, True, False, False]
