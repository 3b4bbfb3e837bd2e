"""Training speed against Cornac: per-epoch milliseconds and fit seconds of the pairwise and graph models.

    python benchmarks/bench_bpr_epoch.py [--data movielens] [--models BPR LightGCN VBPR FREEDOM BM3]
                                         [--cornac-grid] [--cornac-vbpr] [--threads 1] [--ml-dir PATH]

Same data, split and features as ``benchmarks/run_all.py`` (per-user random 70/10/20 split,
seed 42; EfficientNet-Lite0 + all-MiniLM-L6-v2 features), every model fitted with its
defaults and early stopping on the validation set, in one process, so that all numbers
come from the same machine under the same load. For each model it prints the test
Recall@20 (train and validation items masked), the fit seconds (training, validation and
early stopping included), the epochs trained, the median training milliseconds per epoch
and the ratio of the fit time to Cornac BPR's.

Cornac BPR (Cython SGD, ``k=64``) is fitted with the best validation setting of
``compare_cornac.py``'s grid (``--cornac-grid`` reruns the 18-setting grid and takes the
best on validation; otherwise the setting it chose on MovieLens, :data:`CORNAC_BPR`).
``--cornac-vbpr`` also times Cornac's VBPR (30 epochs, slow). Cornac is not a course
dependency: without it only handson's models are timed.
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
from run_all import load, ml_dir  # noqa: E402  (same data and features as the main benchmark)

from handson import models as M  # noqa: E402
from handson import split  # noqa: E402
from handson.evaluation import evaluate  # noqa: E402

#: compare_cornac.py's grid winner on MovieLens latest-small, split seed 42 (validation Recall@20)
CORNAC_BPR = dict(learning_rate=0.05, lambda_reg=0.01, max_iter=400)
FEATURE_MODELS = {"VBPR", "FREEDOM", "BM3", "MMFusion", "CLIPContentMLP"}


def fit_handson(name: str, train, valid, test, feats, threads: int) -> dict:
    model = getattr(M, name)(verbose=False, seed=42, threads=threads)
    start = time.perf_counter()
    model.fit(train, feats if name in FEATURE_MODELS else None, valid)
    seconds = time.perf_counter() - start
    hist = model.history_
    return {"Recall@20": evaluate(model, test, seen=[train, valid], k=(20,))["Recall@20"],
            "fit_s": seconds, "epochs": len(hist), "best_epoch": hist.best_epoch,
            "epoch_ms": 1000 * float(np.median(hist["seconds"]))}


def fit_cornac(train, valid, test, n_items: int, grid: bool, seed: int = 42) -> tuple[str, dict]:
    import cornac
    from compare_cornac import CORNAC_BPR_GRID, CornacScores, cornac_train_set
    ts = cornac_train_set(train)
    best = None
    for params in (CORNAC_BPR_GRID if grid else [CORNAC_BPR]):
        start = time.perf_counter()
        model = CornacScores(cornac.models.BPR(k=64, seed=seed, verbose=False, **params).fit(ts), ts, n_items)
        seconds = time.perf_counter() - start
        v = evaluate(model, valid, seen=[train], k=(20,))["Recall@20"]
        if best is None or v > best[0]:
            best = (v, model, seconds, params)
    v, model, seconds, params = best
    return f"Cornac BPR {params}", {
        "Recall@20": evaluate(model, test, seen=[train, valid], k=(20,))["Recall@20"], "fit_s": seconds,
        "epochs": params["max_iter"], "best_epoch": None, "epoch_ms": 1000 * seconds / params["max_iter"]}


def fit_cornac_vbpr(train, test, valid, feats, n_items: int) -> dict:
    import cornac
    from compare_cornac import CornacScores, cornac_train_set
    from handson.features import l2_normalize
    joint = np.concatenate([l2_normalize(feats["image"]), l2_normalize(feats["text"])], axis=1)
    ts = cornac_train_set(train, joint)
    start = time.perf_counter()
    model = CornacScores(cornac.models.VBPR(k=32, k2=32, n_epochs=30, batch_size=512, learning_rate=0.005,
                                            lambda_w=0.01, lambda_b=0.01, lambda_e=0.01, seed=42,
                                            verbose=False).fit(ts), ts, n_items)
    seconds = time.perf_counter() - start
    return {"Recall@20": evaluate(model, test, seen=[train, valid], k=(20,))["Recall@20"], "fit_s": seconds,
            "epochs": 30, "best_epoch": None, "epoch_ms": 1000 * seconds / 30}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="movielens", choices=["toyshop", "movielens"])
    ap.add_argument("--models", nargs="+", default=["BPR", "LightGCN", "VBPR", "FREEDOM", "BM3"])
    ap.add_argument("--cornac-grid", action="store_true", help="rerun Cornac BPR's validation grid")
    ap.add_argument("--cornac-vbpr", action="store_true", help="also time Cornac VBPR (30 epochs)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads of the handson models")
    ap.add_argument("--ml-dir", default=None)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    needs_features = bool(FEATURE_MODELS & set(args.models)) or args.cornac_vbpr
    loaded = load(args.data, ml_dir(args.ml_dir), with_features=needs_features)
    if loaded is None:
        raise SystemExit("No data: pass --ml-dir (MovieLens latest-small) or --data toyshop.")
    ds, feats = loaded
    train, valid, test = split.random_split(ds, test=0.2, valid=0.1, seed=42)
    print(f"{ds}: {len(train):,} training pairs; {args.threads} torch thread(s)", flush=True)
    rows = {}
    try:
        label, rows[label] = fit_cornac(train, valid, test, ds.n_items, args.cornac_grid)
    except ImportError:
        label = None
        print("cornac is not installed: handson's models only (pip install cornac).")
    for name in args.models:
        rows[name] = fit_handson(name, train, valid, test, feats, args.threads)
        print(f"  {name:10s} {rows[name]}", flush=True)
    if args.cornac_vbpr and label is not None:
        rows["Cornac VBPR (30 epochs)"] = fit_cornac_vbpr(train, test, valid, feats, ds.n_items)
    table = pd.DataFrame(rows).T
    if label is not None:
        table["fit vs Cornac BPR"] = table["fit_s"].astype(float) / rows[label]["fit_s"]
    print(table.round(4).to_string())


if __name__ == "__main__":
    main()
