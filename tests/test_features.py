"""handson.features: the container, missing content, the cache, resume, Ducho, bad input.

Images are real files written to tmp_path; the encoder is a tiny "mean colour" module, so
every number can be checked by hand.
"""
from __future__ import annotations

import subprocess
import sys
import time
import warnings

import numpy as np
import pytest
from PIL import Image

torch = pytest.importorskip("torch")

from handson import features  # noqa: E402
from handson.features import Features, ImageEncoder, Preprocess  # noqa: E402
from handson.features.core import apply_missing  # noqa: E402


class MeanColour(torch.nn.Module):
    """(B, 3, H, W) in [0, 1] -> (B, 3) mean colour; counts calls and can fail on purpose."""

    def __init__(self, fail_after: int | None = None) -> None:
        super().__init__()
        self.calls, self.rows, self.fail_after = 0, 0, fail_after

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        if self.fail_after is not None and self.calls > self.fail_after:
            raise RuntimeError("simulated crash mid-run")
        self.rows += len(x)
        return x.mean(dim=(2, 3))


def mean_colour(module: MeanColour | None = None) -> ImageEncoder:
    # mean 0 / std 1 on the [0, 1] scale: the features are the mean RGB of the 16x16 image
    return ImageEncoder("mean-colour", weights="none", layer="mean",
                        preprocess=Preprocess((16, 16), None, (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)),
                        module=module or MeanColour())


@pytest.fixture()
def shop(tmp_path):
    """One image per case: fine, converted modes, missing, unreadable."""
    d = tmp_path / "img"
    d.mkdir()
    Image.new("RGB", (40, 30), (255, 0, 0)).save(d / "red.png")
    Image.new("L", (20, 20), 128).save(d / "gray.png")
    Image.new("CMYK", (24, 24), (0, 0, 0, 0)).save(d / "cmyk.jpg", quality=95)  # white in CMYK
    Image.new("RGBA", (20, 20), (0, 0, 0, 0)).save(d / "clear.png")               # transparent
    pal = Image.new("P", (20, 20), 0)
    pal.putpalette([0, 0, 255] + [0] * 765)
    pal.save(d / "palette.png")                                                  # blue palette
    Image.new("I;16", (20, 20), 65535).save(d / "deep.png")                     # 16-bit white
    Image.new("RGB", (64, 64), (0, 255, 0)).save(d / "full.jpg", quality=90)
    data = (d / "full.jpg").read_bytes()
    (d / "truncated.jpg").write_bytes(data[: len(data) // 2])
    (d / "junk.jpg").write_bytes(b"this is not an image at all")
    names = ["red.png", "gray.png", "cmyk.jpg", "clear.png", "palette.png", "deep.png", "truncated.jpg",
             "junk.jpg", "absent.png", None, "full.jpg"]
    return [str(d / n) if n else None for n in names]


def test_import_is_cheap():
    code = "import sys, handson.features as f; f.Features; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_features_container_and_normalize():
    f = Features(np.array([[3.0, 4.0], [0.0, 0.0]]), np.array([True, False]))
    assert f.shape == (2, 2) and f.d == 2 and len(f) == 2
    assert np.asarray(f).dtype == np.float32
    n = f.normalized()
    np.testing.assert_allclose(n.values, [[0.6, 0.8], [0.0, 0.0]])   # zero rows stay zero, no NaN
    assert f.take(np.array([1])).mask.tolist() == [False]
    with pytest.raises(ValueError, match="2-D"):
        Features(np.zeros(3), np.ones(3, bool))
    with pytest.raises(ValueError, match="mask has shape"):
        Features(np.zeros((3, 2)), np.ones(2, bool))
    with pytest.raises(ValueError, match="boolean index"):
        f.take(np.array([True]))


def test_missing_policies():
    v = np.array([[1.0, 1.0], [3.0, 5.0], [9.0, 9.0]], dtype=np.float32)
    mask = np.array([True, True, False])
    np.testing.assert_array_equal(apply_missing(v, mask, "zero", "image")[2], [0, 0])
    np.testing.assert_array_equal(apply_missing(v, mask, "mean", "image")[2], [2, 3])
    with pytest.raises(ValueError, match=r"1 item\(s\) have no usable image: \['c'\]"):
        apply_missing(v, mask, "error", "image", ["a", "b", "c"])
    with pytest.raises(ValueError, match="not a policy"):
        apply_missing(v, mask, "drop", "image")


def test_load_rgb_modes(shop):
    from handson.features import load_rgb
    arr, mode = load_rgb(shop[3])                      # fully transparent -> white, not black
    assert mode == "RGBA" and arr.min() == 255
    arr, mode = load_rgb(shop[2])
    assert mode == "CMYK" and arr.shape == (24, 24, 3) and arr.mean() > 240
    arr, mode = load_rgb(shop[5])
    assert mode.startswith("I") and arr.min() == 255
    arr, _ = load_rgb(shop[0], Preprocess(16, 8))      # shorter side 16, then an 8x8 centre crop
    assert arr.shape == (8, 8, 3)
    for bad in (shop[6], shop[7]):
        with pytest.raises(Exception):
            load_rgb(bad)


def test_image_features_bad_content_counted_never_fatal(shop, tmp_path):
    with pytest.warns(UserWarning, match="4 of 11 items have no usable content"):
        f = features.image_features(shop, mean_colour(), cache=tmp_path / "c", progress=False)
    assert f.shape == (11, 3) and f.values.dtype == np.float32
    assert f.mask.tolist() == [True] * 6 + [False] * 4 + [True]
    rep = f.report
    assert (rep["missing_path"], rep["missing_file"], rep["unreadable"], rep["available"]) == (1, 1, 2, 7)
    assert {"L", "CMYK", "RGBA", "P"} <= set(rep["converted"]) and "RGB" not in rep["converted"]
    np.testing.assert_allclose(f.values[0], [1, 0, 0], atol=1e-6)        # red
    np.testing.assert_allclose(f.values[1], [128 / 255] * 3, atol=1e-6)  # gray
    np.testing.assert_allclose(f.values[3], [1, 1, 1], atol=1e-6)        # transparent on white
    np.testing.assert_allclose(f.values[4], [0, 0, 1], atol=1e-6)        # palette blue
    np.testing.assert_allclose(f.values[10], [0, 1, 0], atol=0.02)       # JPEG green
    assert not f.values[6:10].any()                                      # zero rows, policy "zero"
    g = features.image_features(shop, mean_colour(), cache=tmp_path / "c", missing="mean", progress=False)
    np.testing.assert_allclose(g.values[8], f.values[f.mask].mean(0), atol=1e-6)
    with pytest.raises(ValueError, match="have no usable image"):
        features.image_features(shop, mean_colour(), cache=tmp_path / "c", missing="error", progress=False)


def test_cache_hit_invalidation_and_manifest(shop, tmp_path):
    cache = tmp_path / "c"
    paths = [p for p in shop if p is not None][:6]
    first = features.image_features(paths, mean_colour(), cache=cache, progress=False)
    assert first.manifest["cache"] == "miss"
    man = first.manifest
    for key in ("encoder", "weights", "layer", "preprocessing", "dtype", "fingerprint", "created", "seconds"):
        assert key in man, key
    start = time.perf_counter()
    module = MeanColour()
    again = features.image_features(paths, mean_colour(module), cache=cache, progress=False)
    assert time.perf_counter() - start < 2.0
    assert again.manifest["cache"] == "hit" and module.calls == 0
    np.testing.assert_array_equal(again.values, first.values)
    assert not list(cache.glob("*.tmp")) and not list(cache.glob("*.part"))
    Image.new("RGB", (40, 30), (0, 0, 255)).save(paths[0])             # the catalog changes
    changed = features.image_features(paths, mean_colour(), cache=cache, progress=False)
    assert changed.manifest["cache"] == "miss"
    np.testing.assert_allclose(changed.values[0], [0, 0, 1], atol=1e-6)
    assert changed.manifest["fingerprint"] != first.manifest["fingerprint"]
    entries = features.FeatureStore(cache).entries()
    assert len(entries) == 2 and {e["encoder"] for e in entries} == {"mean-colour"}


def test_interrupted_run_resumes(tmp_path):
    paths = []
    for i in range(10):
        p = tmp_path / f"{i}.png"
        Image.new("RGB", (8, 8), (25 * i, 0, 255 - 25 * i)).save(p)
        paths.append(str(p))
    cache = tmp_path / "c"
    with pytest.raises(RuntimeError, match="simulated crash"):
        features.image_features(paths, mean_colour(MeanColour(fail_after=3)), batch_size=2, chunk_batches=1,
                                cache=cache, progress=False)
    assert len(list((cache).glob("*.part/chunk_*.npz"))) == 3
    module = MeanColour()
    resumed = features.image_features(paths, mean_colour(module), batch_size=2, chunk_batches=1,
                                      cache=cache, progress=False)
    assert module.rows == 4 and resumed.report["resumed"] == 6          # only the rest was computed
    clean = features.image_features(paths, mean_colour(), batch_size=4, cache=False, progress=False)
    np.testing.assert_allclose(resumed.values, clean.values, atol=1e-6)
    assert not list(cache.glob("*.part"))


def test_ducho_roundtrip(tmp_path):
    f = Features(np.arange(12, dtype=np.float32).reshape(4, 3), np.array([True, True, False, True]))
    ids = ["a1", "b2", "c3", "d4"]
    folder = features.export_ducho(f, ids, tmp_path / "ducho", "torch", "ResNet50", "avgpool")
    assert folder == tmp_path / "ducho" / "torch" / "ResNet50" / "avgpool"
    assert sorted(p.name for p in folder.iterdir()) == ["a1.npy", "b2.npy", "d4.npy"]
    back = features.import_ducho(folder, ["d4", "a1", "zz"])
    np.testing.assert_array_equal(back.values, [[9, 10, 11], [0, 1, 2], [0, 0, 0]])
    assert back.mask.tolist() == [True, True, False] and back.manifest["encoder"] == "ResNet50"
    with pytest.raises(ValueError, match="None of the 2 ids"):
        features.import_ducho(folder, ["x", "y"])
    with pytest.raises(ValueError, match="holds no .npy"):
        features.import_ducho(tmp_path / "ducho", ids)
    with pytest.raises(ValueError, match="4 rows"):
        features.export_ducho(f, ids[:2], tmp_path / "x")


def test_bad_input_is_named(tmp_path, shop):
    with pytest.raises(ValueError, match="Unknown image encoder 'resnet5'"):
        features.image_features(shop, "resnet5", cache=False)
    with pytest.raises(ValueError, match="Unknown text encoder"):
        features.text_features(["a"], "minilm", cache=False)
    with pytest.raises(ValueError, match="batch_size and chunk"):
        features.image_features(shop, mean_colour(), batch_size=0, cache=False)
    with pytest.raises(ValueError, match="list of image paths"):
        features.image_features("photo.jpg", cache=False)
    with pytest.raises(ValueError, match="not a policy"):
        features.image_features(shop, mean_colour(), missing="skip", cache=False)
    with pytest.raises(ValueError, match="layer='avgpool'"):
        features.image_features(shop, "efficientnet-lite0", layer="fc", cache=False)
    with pytest.raises(ValueError, match="chunk_batches must be"):
        features.image_features(shop, mean_colour(), chunk_batches=0, cache=False, progress=False)
    with pytest.raises(ValueError, match="max_length"):
        features.text_features(["a"], max_length=1, cache=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(ValueError, match="No item has a usable image"):
            features.image_features([None, str(tmp_path / "nope.png")], mean_colour(), cache=False,
                                    progress=False)
