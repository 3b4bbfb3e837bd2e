"""handson.models.modality: the one modality check, the one feature preparation, and the
availability mask that travels from ``Features.mask`` into the multimodal models."""
import numpy as np
import pytest

from handson.features import Features
from handson.features.core import apply_missing
from handson.models import FREEDOM, VBPR, MMFusion
from handson.models.base import check_item_features
from handson.models.modality import check_modalities, prepare, scale
from mm_synthetic import synthetic

FAST = dict(epochs=1, batch_size=256, verbose=False)


@pytest.fixture(scope="module")
def data():
    return synthetic()


def test_check_modalities():
    assert check_modalities("image", "M") == ("image",)
    assert check_modalities(["image", "text"], "M") == ("image", "text")
    assert check_modalities((), "M", allow_empty=True) == ()
    with pytest.raises(ValueError, match="at least one modality"):
        check_modalities((), "M")
    with pytest.raises(ValueError, match="distinct"):
        check_modalities(("text", "text"), "M")


def test_scale_options_keep_missing_rows_at_zero():
    x = np.array([[3.0, 4.0], [1.0, 0.0], [5.0, 5.0]], np.float32)
    mask = np.array([True, True, False])
    l2 = scale(x, mask, "l2")
    np.testing.assert_allclose(l2[:2], [[0.6, 0.8], [1.0, 0.0]], rtol=1e-6)
    z = scale(x, mask, "standardize")
    np.testing.assert_allclose(z[:2].mean(0), 0.0, atol=1e-6)
    np.testing.assert_allclose(z[:2].std(0), 1.0, rtol=1e-5)
    for how in ("l2", "standardize", None):
        assert (scale(x, mask, how)[2] == 0).all()
    with pytest.raises(ValueError, match="how must be"):
        scale(x, mask, "minmax")


def test_prepare_masks_plain_arrays_by_their_zero_rows_and_refuses_empty_modalities():
    x = np.array([[1.0, 2.0], [0.0, 0.0], [3.0, 1.0]], np.float32)
    out = prepare({"image": x}, ("image",), "M")
    np.testing.assert_array_equal(out["image"].mask, [True, False, True])
    with pytest.raises(ValueError, match="all zero"):
        prepare({"image": np.zeros((3, 2), np.float32)}, ("image",), "M")
    assert not prepare({"image": np.zeros((3, 2), np.float32)}, ("image",), "M",
                       require_content=False)["image"].mask.any()


def _mean_filled(x: np.ndarray, missing: np.ndarray) -> Features:
    """Features under the "mean" policy: the missing rows hold the mean row, not zeros."""
    mask = ~np.isin(np.arange(len(x)), missing)
    return Features(apply_missing(x, mask, "mean", "image"), mask)


def test_features_mask_travels_through_check_item_features(data):
    feats = _mean_filled(data.features["image"], np.arange(5))
    assert (feats.values[:5] != 0).any(axis=1).all()          # the masked rows are NOT zero
    arrays, masks = check_item_features({"image": feats, "text": data.features["text"]}, ("image",),
                                        len(feats), with_masks=True)
    np.testing.assert_array_equal(masks["image"], feats.mask)
    assert masks["text"].all()
    assert isinstance(arrays["image"], np.ndarray)


def test_a_mean_filled_missing_row_is_still_missing_for_the_models(data):
    missing = np.arange(5)
    feats = {"image": _mean_filled(data.features["image"], missing), "text": data.features["text"]}
    fusion = MMFusion(fusion="gate", **FAST).fit(data.train, feats)
    np.testing.assert_array_equal(fusion.item_masks_["image"], feats["image"].mask)
    image_token = fusion.module_.mask[:, 1].cpu().numpy()      # tokens: ID, image, text
    assert not image_token[missing].any() and image_token[5:].all()
    assert (fusion.module_.x_image[missing] == 0).all()
    freedom = FREEDOM(modalities=("image",), **FAST).fit(data.train, {"image": feats["image"]})
    assert freedom.item_graph_[missing].nnz == 0                  # no image neighbours
    vbpr = VBPR(modalities=("image",), feature_dim=None, **FAST).fit(data.train, {"image": feats["image"]})
    assert (vbpr.module_.features[missing] == 0).all()
