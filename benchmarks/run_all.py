"""Every model of the project on toyshop and MovieLens: Recall@20, nDCG@20 and fit seconds.

    python benchmarks/run_all.py [--data toyshop movielens] [--seeds 42 7]
                                 [--threads 1] [--ml-dir PATH] [--models VBPR FREEDOM ...]

For each data set and split seed: a per-user random split (70% train, 10% validation for
early stopping, 20% test), image and text features from the packaged offline encoders
(EfficientNet-Lite0 on the images, all-MiniLM-L6-v2 on the texts; cached under
``HANDSON_CACHE``), then every model fitted with its defaults and evaluated on the test
set with the training and validation items masked. Prints Recall@20, nDCG@20, the fit time
and the epochs trained. On toyshop it also ranks the cold items of a cold-item split
(``only_items``), where a model that knows nothing about them is at chance, and on every
data set it times BPR-MF against VBPR for the same number of epochs (no validation).

MovieLens latest-small comes from ``--ml-dir``, ``HANDSON_ML_DIR`` or
``../shared/data/ml-latest-small`` (all ratings as implicit positives, posters as images,
title + genres + tags as texts); it is skipped when absent.
"""
from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from handson import datasets, features, split
from handson import models as M
from handson.evaluation import evaluate
from handson.protocols import only_items

# label -> (model class name in handson.models, constructor arguments); the defaults throughout
SPECS = {
    "Random": ("Random", {}),
    "MostPop": ("MostPop", {}),
    "ItemKNN": ("ItemKNN", {}),
    "EASE": ("EASE", {}),
    "GFCF": ("GFCF", {}),
    "BPR-MF": ("BPR", {}),
    "TwoTowerMLP": ("TwoTowerMLP", {}),
    "TwoTowerDot": ("TwoTowerDot", {}),
    "DAE": ("DAE", {}),
    "MultVAE": ("MultVAE", {}),
    "LightGCN (2 layers)": ("LightGCN", {}),
    "LightGCN (3 layers)": ("LightGCN", {"n_layers": 3}),
    "VBPR": ("VBPR", {}),
    "FREEDOM": ("FREEDOM", {}),
    "FREEDOM w/o item graph": ("FREEDOM", {"n_item_layers": 0, "feature_weight": 0.0}),
    "BM3 (InfoNCE)": ("BM3", {}),
    "BM3 (bootstrap)": ("BM3", {"ssl": "bootstrap"}),
    "BM3 w/o SSL": ("BM3", {"ssl_weight": 0.0}),
    "MMFusion concat": ("MMFusion", {"fusion": "concat"}),
    "MMFusion gate": ("MMFusion", {"fusion": "gate"}),
    "MMFusion attention": ("MMFusion", {"fusion": "attention"}),
    "CLIPContent (text)": ("CLIPContent", {"modalities": ("text",)}),
    "CLIPContentMLP (text)": ("CLIPContentMLP", {"modalities": ("text",)}),
}
NOT_TRAINED = {"MostPop", "ItemKNN", "EASE", "GFCF", "CLIPContent"}   # no seed/verbose/epochs
COLD = ("Random", "BPR-MF", "LightGCN (2 layers)", "VBPR", "FREEDOM", "BM3 (InfoNCE)", "BM3 w/o SSL",
        "MMFusion concat", "CLIPContent (text)")


def ml_dir(arg: str | None) -> Path:
    default = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "ml-latest-small"
    return Path(arg or os.environ.get("HANDSON_ML_DIR") or default)


def load(name: str, ml_path: Path, with_features: bool = True) -> tuple[datasets.Dataset, dict] | None:
    """The dataset and its ``{"image": V, "text": T}`` features (``{}`` without
    ``with_features``), or None when unavailable."""
    if name == "toyshop":
        ds, size = datasets.load("toyshop"), 128        # toyshop images are 128 px (notebook 02)
    elif (ml_path / "ratings.csv").is_file():
        ds, size = datasets.load("movielens-latest-small", root=ml_path), None
    else:
        print(f"MovieLens not found in {ml_path}: skipped.")
        return None
    if not with_features:
        return ds, {}
    feats = {"image": features.image_features(ds, "efficientnet-lite0", image_size=size).values,
             "text": features.text_features(ds, "all-MiniLM-L6-v2").values}
    return ds, feats


THREADS = 1   # torch threads for the trained models (--threads)


def make(label: str, seed: int):
    cls, kwargs = SPECS[label]
    if cls == "Random":
        return M.Random(seed=seed)
    if cls in NOT_TRAINED:
        return getattr(M, cls)(**kwargs)
    return getattr(M, cls)(seed=seed, verbose=False, threads=THREADS, **kwargs)


def run(ds, feats, labels, seed: int) -> pd.DataFrame:
    train, valid, test = split.random_split(ds, test=0.2, valid=0.1, seed=seed)
    rows = {}
    for label in labels:
        model, start = make(label, seed), time.perf_counter()
        model.fit(train, feats, valid)
        fit_s = time.perf_counter() - start
        res = evaluate(model, test, seen=[train, valid], k=(20,))
        rows[label] = {"Recall@20": res["Recall@20"], "nDCG@20": res["nDCG@20"], "fit_s": fit_s,
                       "epochs": len(getattr(model, "history_", []))}
        print(f"  {label:24s} Recall@20 {res['Recall@20']:.4f}  nDCG@20 {res['nDCG@20']:.4f}  "
              f"fit {fit_s:6.1f}s", flush=True)
    return pd.DataFrame(rows).T


def run_cold(ds, feats, labels, seed: int) -> pd.DataFrame:
    parts = split.cold_item_split(ds, items=0.2, seed=seed)
    cold = np.flatnonzero(parts.train.item_counts() == 0)
    rows = {}
    for label in labels:
        model = make(label, seed)
        if hasattr(model, "epochs"):
            model.epochs = 60                       # no validation items exist for cold items
        model.fit(parts.train, feats)
        res = evaluate(only_items(model, cold), parts.test, seen=[parts.train], k=(20,))
        rows[label] = {"Recall@20": res["Recall@20"], "nDCG@20": res["nDCG@20"]}
    print(f"  cold items: {len(cold)} (chance Recall@20 about {20 / len(cold):.3f})")
    return pd.DataFrame(rows).T


def run_speed(ds, feats, seed: int, epochs: int = 50, rounds: int = 3) -> pd.DataFrame:
    """BPR-MF and VBPR trained for the same epochs without validation, on the same triples
    (one negative per positive, VBPR's default; BPR-MF's own default is four): seconds per
    epoch, the median of ``rounds`` fits of each, interleaved so that both see the same machine."""
    train, _, _ = split.random_split(ds, test=0.2, valid=0.1, seed=seed)
    times: dict[str, list[float]] = {"BPR-MF": [], "VBPR": []}
    for _ in range(rounds):
        for label in times:
            model = make(label, seed)
            model.epochs, model.n_negatives = epochs, 1
            start = time.perf_counter()
            model.fit(train, feats)
            times[label].append((time.perf_counter() - start) / epochs)
    table = pd.DataFrame({label: {"epochs": epochs, "s/epoch": float(np.median(t))}
                          for label, t in times.items()}).T
    table["vs BPR-MF"] = table["s/epoch"] / table.loc["BPR-MF", "s/epoch"]
    return table


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", nargs="+", default=["toyshop", "movielens"], choices=["toyshop", "movielens"])
    ap.add_argument("--seeds", nargs="+", type=int, default=[42])
    ap.add_argument("--models", nargs="+", default=list(SPECS), choices=list(SPECS))
    ap.add_argument("--threads", type=int, default=1,
                    help="torch threads (1 is fastest for these small models on a busy CPU)")
    ap.add_argument("--ml-dir", default=None)
    args = ap.parse_args()
    global THREADS
    THREADS = args.threads                       # models train with it (their own default is 1)
    torch.set_num_threads(args.threads)          # feature extraction and scoring
    for name in args.data:
        loaded = load(name, ml_dir(args.ml_dir))
        if loaded is None:
            continue
        ds, feats = loaded
        tables = []
        for seed in args.seeds:
            print(f"{ds} · split seed {seed} · {args.threads} thread(s)", flush=True)
            tables.append(run(ds, feats, args.models, seed))
        mean = sum(tables) / len(tables)
        print(f"\n{name}: mean over split seeds {args.seeds}\n{mean.round(4).to_string()}\n")
        if {"BPR-MF", "VBPR"} <= set(args.models):
            print(f"{name}: training speed, same epochs and triples\n"
                  f"{run_speed(ds, feats, args.seeds[0]).round(3).to_string()}\n")
        if name == "toyshop":
            cold_labels = [c for c in COLD if c == "Random" or c in args.models]
            print(f"{name}: cold-item split, ranking among cold items only\n"
                  f"{run_cold(ds, feats, cold_labels, args.seeds[0]).round(4).to_string()}\n")


if __name__ == "__main__":
    main()
