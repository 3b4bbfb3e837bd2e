"""Recommender models, one per file, all on the protocol of :mod:`handson.models.base`.

Classes are imported on first use so that the torch-free baselines work without torch.
"""
from __future__ import annotations

import importlib

from .base import Recommender

# class name -> module that defines it (explicit, so "go to definition" stays one hop away)
_LAZY = {
    "Random": "popularity",
    "MostPop": "popularity",
    "ItemKNN": "itemknn",
    "EASE": "ease",
    "CEASE": "ease",
    "GFCF": "gfcf",
    "TorchRecommender": "torch_base",
    "BPR": "bpr",
    "LightGCN": "lightgcn",
    "TwoTowerMLP": "two_tower",
    "TwoTowerDot": "two_tower",
    "DAE": "autoencoders",
    "MultVAE": "autoencoders",
    "CLIPContent": "clip_content",
    "CLIPContentMLP": "clip_content",
    "ContentProfile": "content_profile",
    "VBPR": "vbpr",
    "FREEDOM": "freedom",
    "BM3": "bm3",
    "MMFusion": "fusion",
    "MMR": "mmr",
}

__all__ = ["Recommender", *_LAZY]


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'handson.models' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
