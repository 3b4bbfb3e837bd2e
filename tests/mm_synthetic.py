"""A small synthetic multimodal shop for the model tests of FREEDOM, BM3 and MMFusion.

Items fall in ``n_clusters`` clusters; both modalities reveal the cluster (through different
random directions, plus noise). Every user likes one cluster and picks most items from it,
the rest by popularity, so a model that uses the content or the collaborative signal beats
popularity. A few items are cold (no interaction at all).
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from handson.datasets import Interactions
from handson.split import random_split


class MMData(NamedTuple):
    train: Interactions
    valid: Interactions
    test: Interactions
    features: dict
    cluster: np.ndarray        # (n_items,) cluster of every item
    cold: np.ndarray           # indices of items without any interaction


def synthetic(n_users: int = 160, n_items: int = 90, n_clusters: int = 6, per_user: int = 12,
              n_cold: int = 6, seed: int = 0) -> MMData:
    rng = np.random.default_rng(seed)
    cluster = np.arange(n_items) % n_clusters
    img_dirs, txt_dirs = rng.normal(size=(n_clusters, 24)), rng.normal(size=(n_clusters, 16))
    image = (img_dirs[cluster] + 0.4 * rng.normal(size=(n_items, 24))).astype(np.float32)
    text = (txt_dirs[cluster] + 0.4 * rng.normal(size=(n_items, 16))).astype(np.float32)
    cold = rng.choice(n_items, n_cold, replace=False)
    weight = np.exp(rng.normal(0, 1, n_items))
    weight[cold] = 0.0
    liked = rng.integers(n_clusters, size=n_users)
    users, items = [], []
    for u in range(n_users):                      # a test fixture: a loop over 160 users is fine
        w = weight * np.where(cluster == liked[u], 20.0, 1.0)
        picks = rng.choice(n_items, per_user, replace=False, p=w / w.sum())
        users += [u] * per_user
        items += picks.tolist()
    inter = Interactions(np.array(users), np.array(items), n_users, n_items)
    train, valid, test = random_split(inter, test=0.2, valid=0.1, seed=seed)
    return MMData(train, valid, test, {"image": image, "text": text}, cluster, np.sort(cold))


def recall(model, data: MMData, k: int = 10) -> float:
    from handson.evaluation import evaluate
    return evaluate(model, data.test, seen=[data.train, data.valid], k=(k,))[f"Recall@{k}"]
