"""CLIP features: both towers of one CLIP checkpoint, in one shared embedding space.

Radford et al., "Learning Transferable Visual Models From Natural Language Supervision",
ICML 2021. The summer school used ``openai/clip-vit-base-patch16`` (512-d). Without
network, :class:`handson.features.MiniCLIP` trains a small joint space instead.
"""
from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

from .core import Features
from .image_encoders import _load_clip_vision, image_encoder, is_clip
from .images import image_features
from .text_encoders import text_encoder
from .texts import text_features

__all__ = ["clip_features"]


def clip_features(data: Any, model: str = "openai/clip-vit-base-patch16", batch_size: int = 64,
                  device: str | None = None, missing: str = "zero", cache: bool | str | Path = True,
                  num_workers: int | None = None, progress: bool = True,
                  precomputed: tuple[str | Path, str | Path] | None = None) -> tuple[Features, Features]:
    """(image Features, text Features) from the two towers of one CLIP model, aligned with
    the dataset's item index. Image and text rows live in the same space: compare them with
    cosine similarity. The model is loaded once, and only when a tower misses the cache.
    ``precomputed``: (image source, text source) of this model's features, read instead of
    extracted (see :mod:`handson.features.precomputed`).
    """
    if precomputed is not None and (not isinstance(precomputed, (tuple, list)) or len(precomputed) != 2):
        raise ValueError("precomputed= takes a pair (image source, text source) for the two CLIP towers.")
    image_src, text_src = precomputed if precomputed is not None else (None, None)
    if not is_clip(model):
        raise ValueError(f"{model!r} is not a CLIP checkpoint (e.g. 'openai/clip-vit-base-patch16', "
                         "'openai/clip-vit-base-patch32', or a folder saved from a CLIPModel).")
    shared: dict = {}
    img = image_encoder(model)
    img.loader = partial(_load_clip_vision, shared=shared)
    txt = text_encoder(model)
    txt.shared = shared
    image = image_features(data, img, batch_size=batch_size, device=device, missing=missing, cache=cache,
                           num_workers=num_workers, progress=progress, precomputed=image_src)
    text = text_features(data, txt, batch_size=batch_size, device=device, missing=missing, cache=cache,
                         progress=progress, precomputed=text_src)
    return image, text
