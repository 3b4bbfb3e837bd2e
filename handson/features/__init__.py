"""Item features from images and texts: encoders by name, batched extraction, a cache with provenance.

    from handson import datasets, features
    ds = datasets.load("toyshop")
    V = features.image_features(ds)             # EfficientNet-Lite0, (n_items, 1280), offline
    T = features.text_features(ds)              # all-MiniLM-L6-v2, (n_items, 384), offline
    V.values, V.mask, V.report, V.manifest      # rows, availability, problems, provenance
    I, W = features.clip_features(ds)           # CLIP ViT-B/16 towers (needs the weights)
    V = features.image_features(ds, "resnet50", precomputed="resnet50.zip")   # made elsewhere

Rows are aligned with the dataset's item index. Items without a usable image or text get a
zero row by default (``missing="zero"``; or "mean", or "error"), marked in ``mask``.
Everything is cached under ``HANDSON_CACHE``: an identical call returns in well under a
second, a changed catalog is recomputed, an interrupted run resumes. Features made
elsewhere (Ducho's per-item ``.npy`` folders, one matrix with an item list, an archive of
either) load through the same cache (``precomputed=``, :func:`load_precomputed`); on Colab,
``HANDSON_CACHE`` on a mounted Drive folder serves every notebook of the course (see
:mod:`handson.features.precomputed`).

Importing this package is cheap: torch, torchvision and transformers load on first use.
"""
from __future__ import annotations

import importlib

from .core import MISSING_POLICIES, EncoderUnavailableError, Features, l2_normalize

# public name -> submodule that defines it (one hop for "go to definition")
_LAZY = {
    "image_features": "images",
    "load_rgb": "images",
    "text_features": "texts",
    "clip_features": "clip",
    "MiniCLIP": "miniclip",
    "retrieval_accuracy": "miniclip",
    "image_encoder": "image_encoders",
    "ImageEncoder": "image_encoders",
    "Preprocess": "image_encoders",
    "IMAGE_ENCODERS": "image_encoders",
    "text_encoder": "text_encoders",
    "TextEncoder": "text_encoders",
    "TEXT_ENCODERS": "text_encoders",
    "FeatureStore": "cache",
    "export_ducho": "cache",
    "import_ducho": "cache",
    "load_precomputed": "precomputed",
}

__all__ = ["Features", "MISSING_POLICIES", "EncoderUnavailableError", "l2_normalize", *_LAZY]


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'handson.features' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
