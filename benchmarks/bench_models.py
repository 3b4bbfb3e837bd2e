"""Fit time, per-epoch cost and Recall@20 of the autoencoders, two towers, MMFusion and the
content models, next to BPR-MF and MostPop, plus their cold-item ratios to Random.

    python benchmarks/bench_models.py [--data toyshop movielens] [--models DAE TwoTowerDot ...]
                                      [--seed 42] [--threads 1] [--no-cold] [--ml-dir PATH]

Warm: the split of ``benchmarks/run_all.py`` (per-user random 70/10/20, validation for
early stopping, Recall@20 on test with train and valid masked), every model with its
defaults. Prints fit seconds, epochs trained, milliseconds per epoch (training only, the
mean of the history's epoch times) and the ratio of the fit time to BPR-MF's in the same
run (the machine may be shared: compare ratios, not seconds, across runs).

Cold: ``split.cold_item_split(items=0.2)``, models fitted without validation, scored only
among the cold items (:func:`handson.protocols.only_items`); Recall@20 and its ratio to
Random's. Features as ``run_all.load`` computes them (cached under ``HANDSON_CACHE``).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run_all import load, ml_dir  # noqa: E402

from handson import split  # noqa: E402
from handson import models as M  # noqa: E402
from handson.evaluation import evaluate  # noqa: E402
from handson.protocols import only_items  # noqa: E402

WARM = ("MostPop", "BPR", "DAE", "MultVAE", "TwoTowerMLP", "TwoTowerDot", "MMFusion",
        "CLIPContent", "CLIPContentMLP", "ContentProfile")
COLD = ("Random", "MostPop", "MMFusion", "CLIPContent", "CLIPContentMLP", "ContentProfile")
UNTRAINED = {"Random", "MostPop", "CLIPContent", "ContentProfile"}
CONTENT = {"CLIPContent": {"modalities": ("text",)}}   # image and text widths differ here


def make(name: str, seed: int, threads: int):
    if not hasattr(M, name):
        return None
    kwargs = dict(CONTENT.get(name, {}))
    if name == "Random":
        return M.Random(seed=seed)
    if name in UNTRAINED:
        return getattr(M, name)(**kwargs)
    return getattr(M, name)(seed=seed, verbose=False, threads=threads, **kwargs)


def warm(ds, feats, names, seed: int, threads: int) -> pd.DataFrame:
    train, valid, test = split.random_split(ds, test=0.2, valid=0.1, seed=seed)
    rows = {}
    for name in names:
        model = make(name, seed, threads)
        if model is None:
            continue
        start = time.perf_counter()
        model.fit(train, feats, valid)
        fit_s = time.perf_counter() - start
        hist = getattr(model, "history_", None)
        res = evaluate(model, test, seen=[train, valid], k=(20,))
        rows[name] = {"Recall@20": res["Recall@20"], "fit_s": fit_s,
                      "epochs": len(hist) if hist is not None else 0,
                      "ms/epoch": 1e3 * float(np.mean(hist["seconds"])) if hist else np.nan}
        print(f"  {name:16s} Recall@20 {res['Recall@20']:.4f}  fit {fit_s:6.1f}s  "
              f"{rows[name]['epochs']:3d} epochs  {rows[name]['ms/epoch']:7.1f} ms/epoch", flush=True)
    table = pd.DataFrame(rows).T
    if "BPR" in table.index:
        table["fit/BPR"] = table["fit_s"] / table.loc["BPR", "fit_s"]
    return table


def cold(ds, feats, names, seed: int, threads: int) -> pd.DataFrame:
    parts = split.cold_item_split(ds, items=0.2, seed=seed)
    items = np.flatnonzero(parts.train.item_counts() == 0)
    rows = {}
    for name in names:
        model = make(name, seed, threads)
        if model is None:
            continue
        model.fit(parts.train, feats)
        res = evaluate(only_items(model, items), parts.test, seen=[parts.train], k=(20,))
        rows[name] = {"Recall@20": res["Recall@20"]}
        print(f"  cold {name:16s} Recall@20 {res['Recall@20']:.4f}", flush=True)
    table = pd.DataFrame(rows).T
    table["x Random"] = table["Recall@20"] / table.loc["Random", "Recall@20"]
    print(f"  cold items: {len(items)} (chance Recall@20 about {20 / len(items):.3f})")
    return table


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", nargs="+", default=["toyshop", "movielens"], choices=["toyshop", "movielens"])
    ap.add_argument("--models", nargs="+", default=list(WARM))
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--no-cold", action="store_true")
    ap.add_argument("--no-features", action="store_true", help="ID-only models: skip feature extraction")
    ap.add_argument("--ml-dir", default=None)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    for name in args.data:
        loaded = load(name, ml_dir(args.ml_dir), with_features=not args.no_features)
        if loaded is None:
            continue
        ds, feats = loaded
        print(f"{ds} · seed {args.seed} · {args.threads} thread(s)", flush=True)
        table = warm(ds, feats, args.models, args.seed, args.threads)
        print(f"\n{name}: warm items\n{table.round(4).to_string()}\n", flush=True)
        if not args.no_cold:
            names = [c for c in COLD if c in args.models or c == "Random"]
            print(f"{name}: cold-item split, ranked among cold items\n"
                  f"{cold(ds, feats, names, args.seed, args.threads).round(4).to_string()}\n")


if __name__ == "__main__":
    main()
