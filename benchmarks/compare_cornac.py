"""handson's BPR-MF, LightGCN and VBPR against Cornac's BPR and VBPR (a well-known reference) on the same split.

    pip install cornac            # not a course dependency; only this script needs it
    python benchmarks/compare_cornac.py [--data toyshop movielens] [--ml-dir PATH] [--seeds 42 0 1] [--no-vbpr]

Same per-user random split as benchmarks/run_all.py (20% test, 10% of the rest validation,
split seed 42 or each of ``--seeds``, the model seeds following it), same features
(EfficientNet-Lite0 + all-MiniLM-L6-v2, L2-normalised, concatenated for Cornac's VBPR,
which takes one feature matrix), same evaluation (handson.evaluation:
full ranking, train and validation items masked). Cornac's hyper-parameters get a grid
on the validation set (its own defaults are tuned for other data): learning rate, L2 and
epochs for BPR (18 settings), the L2 weights for VBPR. handson's models run with their
defaults, and BPR-MF and LightGCN once more tuned on smaller grids (``reg``, 4 and 3
settings, the default among them; epochs by early stopping): "as good as a well-tuned
reference" compares tuned with tuned, and the defaults show what a user gets without
tuning. Items absent from the training set score -inf for Cornac (it has no parameters for
them). Prints Recall@20, nDCG@20 and fit seconds.
"""
from __future__ import annotations

import argparse
import itertools
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run_all import load, ml_dir, split_of  # noqa: E402  (same data and features as the main benchmark)

from handson.evaluation import evaluate  # noqa: E402
from handson.features import l2_normalize  # noqa: E402
from handson.models import BPR, VBPR, LightGCN  # noqa: E402


class CornacScores:
    """``score(users)`` over the handson item index for a fitted Cornac model."""

    def __init__(self, model, train_set, n_items: int):
        self.model, self.n_items = model, n_items
        self.uid = train_set.uid_map
        iid = train_set.iid_map                          # raw (handson index as str) -> cornac index
        self.cols = np.array([int(raw) for raw in sorted(iid, key=iid.get)])

    def score(self, users):
        out = np.full((len(users), self.n_items), -np.inf, dtype=np.float32)
        for row, u in enumerate(users):
            idx = self.uid.get(str(int(u)))
            if idx is not None:
                out[row, self.cols] = self.model.score(idx)[: len(self.cols)]
        return out


def cornac_train_set(train, feats=None):
    import cornac
    uir = [(str(u), str(i), 1.0) for u, i in zip(train.users, train.items)]
    ts = cornac.data.Dataset.from_uir(uir, seed=42)
    if feats is not None:
        image = cornac.data.ImageModality(features=feats, ids=[str(i) for i in range(len(feats))])
        ts.add_modalities(item_image=image.build(id_map=ts.iid_map))
    return ts


def main() -> None:
    import cornac

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", nargs="+", default=["toyshop", "movielens"], choices=["toyshop", "movielens"])
    ap.add_argument("--ml-dir", default=None)
    ap.add_argument("--seeds", nargs="+", type=int, default=[42], help="split seeds (means are printed)")
    ap.add_argument("--no-vbpr", action="store_true", help="BPR-MF and LightGCN only (VBPR is the slow part)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    for name in args.data:
        loaded = load(name, ml_dir(args.ml_dir), with_features=not args.no_vbpr)
        if loaded is None:
            continue
        ds, feats = loaded
        joint = (np.concatenate([l2_normalize(feats["image"]), l2_normalize(feats["text"])], axis=1)
                 if feats else None)
        tables = [compare(cornac, ds, feats, joint, seed, vbpr=not args.no_vbpr) for seed in args.seeds]
        for seed, table in zip(args.seeds, tables):
            print(f"\n{name} · split seed {seed}\n{table.round(4).to_string()}\n", flush=True)
        if len(tables) > 1:   # row labels differ in the chosen Cornac parameters: average by position
            mean = sum(t.to_numpy() for t in tables) / len(tables)
            labels = [label.split(" {")[0] for label in tables[0].index]
            print(f"{name}: mean over split seeds {args.seeds}\n"
                  f"{pd.DataFrame(mean, index=labels, columns=tables[0].columns).round(4).to_string()}\n")


# Validation grids. Cornac's BPR gets the larger one (its epochs too, as it has no early
# stopping); handson's BPR-MF and LightGCN tune reg (the learning rate mattered little on
# either data set), their epochs come from early stopping. The defaults are not refitted:
# the defaults row is one more candidate of each grid.
CORNAC_BPR_GRID = [dict(learning_rate=lr, lambda_reg=reg, max_iter=it)
                   for lr, reg, it in itertools.product((0.01, 0.05), (0.001, 0.01, 0.03), (100, 200, 400))]
HANDSON_BPR_GRID = [dict(reg=reg) for reg in (0.0025, 0.01, 0.02)]
HANDSON_LIGHTGCN_GRID = [dict(reg=reg) for reg in (3e-3, 1e-2)]        # and the default 1e-3


def compare(cornac, ds, feats, joint, seed: int, vbpr: bool = True) -> pd.DataFrame:
    """handson's defaults, and handson's and Cornac's validation-tuned BPR (and VBPR), on one split."""
    train, valid, test = split_of(ds, seed)
    rows = {}

    def record(label, model, seconds):
        res = evaluate(model, test, seen=[train, valid], k=(20,))
        rows[label] = {"Recall@20": res["Recall@20"], "nDCG@20": res["nDCG@20"], "fit_s": seconds}
        print(f"  {label:34s} Recall@20 {res['Recall@20']:.4f}  nDCG@20 {res['nDCG@20']:.4f}  "
              f"fit {seconds:6.1f}s", flush=True)

    def tune(label, grid, fit, fitted=()):
        """``fit(**params)`` -> a fitted model for each params of the grid; record the best on
        valid. ``fitted``: (params, model, seconds) candidates trained already."""
        best = None
        for params, model, seconds in [*fitted, *((p, None, None) for p in grid)]:
            if model is None:
                start = time.perf_counter()
                model = fit(**params)
                seconds = time.perf_counter() - start
            v = evaluate(model, valid, seen=[train], k=(20,))["Recall@20"]
            print(f"  {label} {params}: valid Recall@20 {v:.4f} ({seconds:.1f}s)", flush=True)
            if best is None or v > best[0]:
                best = (v, model, seconds, f"{label} {params}")
        record(best[3], best[1], best[2])

    defaults = [("handson BPR-MF", BPR), ("handson LightGCN", LightGCN)] + ([("handson VBPR", VBPR)] if vbpr else [])
    fitted = {}
    for label, cls in defaults:
        start = time.perf_counter()
        fitted[label] = cls(verbose=False, seed=seed).fit(train, feats, valid), time.perf_counter() - start
        record(label + " (defaults)", *fitted[label])
    tune("handson BPR-MF (tuned)", HANDSON_BPR_GRID,
         lambda **p: BPR(verbose=False, seed=seed, **p).fit(train, valid=valid),
         fitted=[({"reg": BPR().reg}, *fitted["handson BPR-MF"])])
    tune("handson LightGCN (tuned)", HANDSON_LIGHTGCN_GRID,
         lambda **p: LightGCN(verbose=False, seed=seed, **p).fit(train, valid=valid),
         fitted=[({"reg": LightGCN().reg}, *fitted["handson LightGCN"])])
    ts = cornac_train_set(train)
    tune("cornac BPR", CORNAC_BPR_GRID,
         lambda **p: CornacScores(cornac.models.BPR(k=64, seed=seed, verbose=False, **p).fit(ts), ts, ds.n_items))
    if vbpr:
        ts = cornac_train_set(train, joint)
        tune("cornac VBPR (30 epochs)", [dict(lambda_w=lam, lambda_b=lam, lambda_e=lam) for lam in (0.01, 0.1)],
             lambda **p: CornacScores(cornac.models.VBPR(k=32, k2=32, n_epochs=30, batch_size=512,
                                                         learning_rate=0.005, seed=seed, verbose=False,
                                                         **p).fit(ts), ts, ds.n_items))
    return pd.DataFrame(rows).T

if __name__ == "__main__":
    main()
