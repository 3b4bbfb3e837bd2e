"""Every model of the project next to Cornac's BPR and VBPR: Recall@20, nDCG@20, fit seconds, ms per epoch.

    python benchmarks/run_all.py [--data movielens toyshop] [--seeds 42] [--models BPR-MF VBPR ...]
                                 [--ablations] [--no-cornac] [--no-cold] [--speed] [--threads 1]
                                 [--ml-dir PATH] [--out benchmarks/results] [--readme]

One run, per data set and split seed:

- the split of issue 18: per user, a random 20% of the interactions is test and 10% of the
  rest validation (``random_split(test=0.2, valid=0.08)``: 8% of all is 10% of the 80%);
  full ranking over the catalog, training and validation items masked;
- image and text features from the packaged offline encoders (EfficientNet-Lite0 on the
  images, all-MiniLM-L6-v2 on the texts), cached under ``HANDSON_CACHE``;
- every model of ``SPECS`` with its defaults (validation for early stopping): Recall@20,
  nDCG@20, fit seconds, epochs trained and the median milliseconds of a training epoch;
- Cornac's BPR and VBPR on the same split, each picked on validation from a small grid
  (``CORNAC_BPR_GRID``, ``CORNAC_VBPR_GRID``); their fit seconds are those of the chosen
  setting, their ms/epoch that time over its epochs;
- a cold-item split (20% of the items never seen in training, ranked among themselves):
  each content-aware model's Recall@20 as a multiple of random ranking's (mean of five
  Random seeds);
- with ``--speed``, BPR-MF's and VBPR's ms per epoch on the same triples and epochs;
- the targets of issue 18, one PASS/FAIL line each (``bench_report.checks``).

The machine (CPU model, cores, torch version and threads) heads the output. Results go to
``--out`` as ``run_all.md``, ``run_all.csv`` and ``run_all.json``; ``--readme`` then
rewrites the README's table between ``<!-- bench:start -->`` and ``<!-- bench:end -->``
(``benchmarks/bench_report.py --readme`` does that alone from a saved ``run_all.json``).

MovieLens latest-small comes from ``--ml-dir``, ``HANDSON_ML_DIR`` or
``../shared/data/ml-latest-small`` (all ratings as implicit positives, posters as images,
title + genres + tags as texts); it is skipped when absent.
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
import torch

from handson import datasets, features, split
from handson import models as M
from handson.evaluation import evaluate
from handson.protocols import only_items


class Spec(NamedTuple):
    """One benchmarked model: class name in handson.models, constructor arguments, kind
    ("baseline", "collaborative", "multimodal" or "content"), and whether it is an ablation
    (run with ``--ablations``) rather than a default."""
    cls: str
    kwargs: dict
    kind: str
    ablation: bool = False


# label -> Spec; adding a model is one line here
SPECS = {
    "Random": Spec("Random", {}, "baseline"),
    "MostPop": Spec("MostPop", {}, "baseline"),
    "ItemKNN": Spec("ItemKNN", {}, "collaborative"),
    "EASE": Spec("EASE", {}, "collaborative"),
    "GFCF": Spec("GFCF", {}, "collaborative"),
    "BPR-MF": Spec("BPR", {}, "collaborative"),
    "LightGCN": Spec("LightGCN", {}, "collaborative"),
    "LightGCN (3 layers)": Spec("LightGCN", {"n_layers": 3}, "collaborative", ablation=True),
    "DAE": Spec("DAE", {}, "collaborative"),
    "MultVAE": Spec("MultVAE", {}, "collaborative"),
    "TwoTowerMLP": Spec("TwoTowerMLP", {}, "collaborative"),
    "TwoTowerDot": Spec("TwoTowerDot", {}, "collaborative"),
    "VBPR": Spec("VBPR", {}, "multimodal"),
    "CEASE": Spec("CEASE", {}, "multimodal"),
    "FREEDOM": Spec("FREEDOM", {}, "multimodal"),
    "FREEDOM w/o item graph": Spec("FREEDOM", {"n_item_layers": 0, "feature_weight": 0.0}, "multimodal", True),
    "BM3": Spec("BM3", {}, "multimodal"),
    "BM3 (bootstrap)": Spec("BM3", {"ssl": "bootstrap"}, "multimodal", ablation=True),
    "BM3 w/o SSL": Spec("BM3", {"ssl_weight": 0.0}, "multimodal", ablation=True),
    "MMFusion": Spec("MMFusion", {}, "multimodal"),
    "MMFusion (gate)": Spec("MMFusion", {"fusion": "gate"}, "multimodal", ablation=True),
    "MMFusion (attention)": Spec("MMFusion", {"fusion": "attention"}, "multimodal", ablation=True),
    "CLIPContent (text)": Spec("CLIPContent", {"modalities": ("text",)}, "content"),
    "CLIPContentMLP (text)": Spec("CLIPContentMLP", {"modalities": ("text",)}, "content"),
    "ContentProfile": Spec("ContentProfile", {}, "content"),
}
CORNAC_BPR_GRID = [dict(learning_rate=lr, lambda_reg=0.01, max_iter=it) for lr in (0.01, 0.05) for it in (100, 200)]
CORNAC_VBPR_GRID = [dict(lambda_w=0.01, lambda_b=0.01, lambda_e=0.01)]
CORNAC_VBPR_EPOCHS = 30
TEST, VALID = 0.2, 0.08           # VALID: 10% of the 80% that is not test
COLD_ITEMS = 0.2
THREADS: int | None = None        # torch threads of the trained models (--threads; None: their default)
K = 20


def ml_dir(arg: str | None) -> Path:
    default = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "ml-latest-small"
    return Path(arg or os.environ.get("HANDSON_ML_DIR") or default)


def load(name: str, ml_path: Path, with_features: bool = True, max_items: int | None = None,
         max_users: int | None = None) -> tuple[datasets.Dataset, dict] | None:
    """The dataset and its ``{"image": V, "text": T}`` features (``{}`` without
    ``with_features``), or None when unavailable. ``max_items`` / ``max_users``: MovieLens cut
    to its most-rated items and then to users drawn at random (:meth:`Dataset.subsample`), e.g.
    a catalog of the size of the issue's hidden split (1,700 items, 1,000 users); toyshop
    ignores them."""
    if name == "toyshop":
        ds, size = datasets.load("toyshop"), 128        # toyshop images are 128 px (notebook 02)
    elif (ml_path / "ratings.csv").is_file():
        ds, size = datasets.load("movielens-latest-small", root=ml_path), None
        if max_items or max_users:
            ds = ds.subsample(max_items=max_items, max_users=max_users, seed=0)
    else:
        print(f"MovieLens not found in {ml_path}: skipped.")
        return None
    if not with_features:
        return ds, {}
    feats = {"image": features.image_features(ds, "efficientnet-lite0", image_size=size).values,
             "text": features.text_features(ds, "all-MiniLM-L6-v2").values}
    return ds, feats


def split_of(ds, seed: int):
    """Issue 18's split: per user 20% test, 10% of the rest validation."""
    return split.random_split(ds, test=TEST, valid=VALID, seed=seed)


def machine() -> dict:
    """CPU model, logical cores, torch version and threads (and the GPU when there is one)."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    info = {"cpu": cpu, "cores": os.cpu_count(), "torch": torch.__version__, "torch_threads": torch.get_num_threads(),
            "model_threads": THREADS or "each model's default",
            "python": platform.python_version(), "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name()
    return info


def make(label: str, seed: int):
    spec = SPECS[label]
    cls = getattr(M, spec.cls)
    if issubclass(cls, M.TorchRecommender):
        threads = {} if THREADS is None else {"threads": THREADS}
        return cls(seed=seed, verbose=False, **threads, **spec.kwargs)
    if spec.cls == "Random":
        return cls(seed=seed)
    return cls(**spec.kwargs)


def epoch_ms(model, fit_s: float) -> tuple[int, float]:
    """(epochs trained, median ms of a training epoch); (0, NaN) for a model without epochs."""
    history = getattr(model, "history_", None)
    if not history:
        return 0, float("nan")
    seconds = [s for s in history["seconds"] if s == s]
    return len(history), 1000 * float(np.median(seconds) if seconds else fit_s / len(history))


def row(label: str, kind: str, res: dict, fit_s: float, epochs: int, ms: float, neural: bool) -> dict:
    print(f"  {label:26s} Recall@{K} {res[f'Recall@{K}']:.4f}  nDCG@{K} {res[f'nDCG@{K}']:.4f}  "
          f"fit {fit_s:6.1f}s  epochs {epochs:3d}  {ms:7.1f} ms/epoch", flush=True)
    return {"model": label, "kind": kind, "neural": neural, "Recall@20": res[f"Recall@{K}"],
            "nDCG@20": res[f"nDCG@{K}"], "fit_s": fit_s, "epochs": epochs, "ms_per_epoch": ms}


def warm_up_torch() -> None:
    """Pay torch's one-off lazy imports once, before any clock starts: its first optimizer imports
    ``torch._dynamo`` (over a second on 2 cores), which would otherwise be charged to whichever
    model is timed first, as a session pays it once; Cornac's imports are paid before its clock too."""
    torch.optim.Adam([torch.zeros(1, requires_grad=True)])


def run(ds, feats, labels, seed: int) -> list[dict]:
    """Each model of ``labels`` with its defaults on the split of ``seed``."""
    train, valid, test = split_of(ds, seed)
    rows = []
    for label in labels:
        model, start = make(label, seed), time.perf_counter()
        model.fit(train, feats, valid)
        fit_s = time.perf_counter() - start
        res = evaluate(model, test, seen=[train, valid], k=(K,))
        rows.append(row(label, SPECS[label].kind, res, fit_s, *epoch_ms(model, fit_s),
                        isinstance(model, M.TorchRecommender)))
    return rows


def run_cornac(ds, feats, seed: int, vbpr: bool = True) -> list[dict]:
    """Cornac's BPR (and VBPR on the L2-normalised image and text features, concatenated),
    each the best of its grid on validation, on the split of ``seed``."""
    import cornac
    from compare_cornac import CornacScores, cornac_train_set

    train, valid, test = split_of(ds, seed)
    rows = []

    def best(label, kind, grid, build, ts, epochs_of):
        fits = []
        for params in grid:
            start = time.perf_counter()
            model = CornacScores(build(**params).fit(ts), ts, ds.n_items)
            seconds = time.perf_counter() - start
            fits.append((evaluate(model, valid, seen=[train], k=(K,))[f"Recall@{K}"], seconds, params, model))
        v, seconds, params, model = max(fits, key=lambda f: f[0])
        res = evaluate(model, test, seen=[train, valid], k=(K,))
        epochs = epochs_of(params)
        rows.append(row(label, kind, res, seconds, epochs, 1000 * seconds / epochs, False) | {"params": params})

    best("Cornac BPR", "cornac collaborative", CORNAC_BPR_GRID,
         lambda **p: cornac.models.BPR(k=64, seed=seed, verbose=False, **p), cornac_train_set(train),
         lambda p: p["max_iter"])
    if vbpr:
        joint = np.concatenate([features.l2_normalize(feats["image"]), features.l2_normalize(feats["text"])], axis=1)
        best("Cornac VBPR", "cornac multimodal", CORNAC_VBPR_GRID,
             lambda **p: cornac.models.VBPR(k=32, k2=32, n_epochs=CORNAC_VBPR_EPOCHS, batch_size=512,
                                            learning_rate=0.005, seed=seed, verbose=False, **p),
             cornac_train_set(train, joint), lambda p: CORNAC_VBPR_EPOCHS)
    return rows


def run_cold(ds, feats, labels, seed: int, random_seeds: int = 5) -> list[dict]:
    """Recall@20 among the cold items of a cold-item split, and its ratio to random ranking
    (the mean of ``random_seeds`` Random models)."""
    train, valid, test = split.cold_item_split(ds, items=COLD_ITEMS, valid=0.1, seed=seed)
    cold = np.unique(test.items)
    chance = np.mean([evaluate(only_items(M.Random(seed=s).fit(train), cold), test, seen=[train, valid],
                               k=(K,))[f"Recall@{K}"] for s in range(random_seeds)])
    print(f"  cold items: {len(cold)}; random ranking Recall@{K} {chance:.4f} (mean of {random_seeds} seeds)")
    rows = []
    for label in labels:
        model = make(label, seed)
        model.fit(train, feats, valid)
        r = evaluate(only_items(model, cold), test, seen=[train, valid], k=(K,))[f"Recall@{K}"]
        rows.append({"model": label, "kind": SPECS[label].kind, "Recall@20": r, "x random": r / chance})
        print(f"  {label:26s} cold Recall@{K} {r:.4f}  = {r / chance:4.1f}x random", flush=True)
    return [{"model": "Random", "kind": "baseline", "Recall@20": chance, "x random": 1.0}, *rows]


def run_speed(ds, feats, seed: int, epochs: int = 50, rounds: int = 3) -> list[dict]:
    """BPR-MF and VBPR trained for the same epochs without validation, on the same triples
    (one negative per positive): ms per epoch, the median of ``rounds`` fits of each,
    interleaved so that both see the same machine (``--speed``)."""
    train, _, _ = split_of(ds, seed)
    times: dict[str, list[float]] = {"BPR-MF": [], "VBPR": []}
    for _ in range(rounds):
        for label in times:
            model = make(label, seed)
            model.epochs, model.n_negatives = epochs, 1
            start = time.perf_counter()
            model.fit(train, feats)
            times[label].append(1000 * (time.perf_counter() - start) / epochs)
    rows = [{"model": label, "epochs": epochs, "ms_per_epoch": float(np.median(t))} for label, t in times.items()]
    for r in rows:
        r["vs BPR-MF"] = r["ms_per_epoch"] / rows[0]["ms_per_epoch"]
        print(f"  {r['model']:8s} {r['ms_per_epoch']:8.1f} ms/epoch = {r['vs BPR-MF']:.2f}x BPR-MF "
              f"(same {epochs} epochs and triples, median of {rounds})", flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", nargs="+", default=["movielens", "toyshop"], choices=["toyshop", "movielens"])
    ap.add_argument("--seeds", nargs="+", type=int, default=[42])
    ap.add_argument("--models", nargs="+", default=None, choices=list(SPECS),
                    help="default: every SPECS entry that is not an ablation")
    ap.add_argument("--ablations", action="store_true", help="also the ablation entries of SPECS")
    ap.add_argument("--no-cornac", action="store_true")
    ap.add_argument("--no-cold", action="store_true")
    ap.add_argument("--speed", action="store_true", help="also BPR-MF vs VBPR ms/epoch on the same triples")
    ap.add_argument("--threads", type=int, default=None,
                    help="torch threads of the trained models (default: each model's own default)")
    ap.add_argument("--ml-dir", default=None)
    ap.add_argument("--max-items", type=int, default=None,
                    help="MovieLens: keep only the N most-rated items (a smaller catalog; reported as information)")
    ap.add_argument("--max-users", type=int, default=None, help="MovieLens: then keep N users drawn at random")
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "results"))
    ap.add_argument("--readme", action="store_true", help="rewrite the README table from this run")
    args = ap.parse_args()
    global THREADS
    THREADS = args.threads
    if args.threads is not None:
        torch.set_num_threads(args.threads)      # feature extraction and scoring too
    labels = args.models or [k for k, s in SPECS.items() if args.ablations or not s.ablation]
    info = machine()
    print("machine: " + " · ".join(f"{k} {v}" for k, v in info.items()), flush=True)
    results = {"machine": info, "split": f"per-user random, test {TEST}, valid {VALID} (10% of train)",
               "data": {}}
    warm_up_torch()
    for name in args.data:
        loaded = load(name, ml_dir(args.ml_dir), max_items=args.max_items, max_users=args.max_users)
        if loaded is None:
            continue
        # a cut MovieLens is not the copy the targets are stated for: its lines are information
        if name == "movielens" and (args.max_items or args.max_users):
            name = f"{name} ({loaded[0].n_items} items, {loaded[0].n_users} users)"
        results["data"][name] = bench_data(name, *loaded, labels, args)
    from bench_report import checks, format_check, update_readme, write_outputs
    results["checks"] = checks(results)
    print()
    for line in results["checks"]:
        print(format_check(line))
    paths = write_outputs(results, Path(args.out))
    print("written: " + ", ".join(str(p) for p in paths))
    if args.readme:
        print(f"README table updated: {update_readme(results)}")


def bench_data(name: str, ds, feats: dict, labels: list[str], args) -> dict:
    """Main table (mean over split seeds), Cornac rows and the cold-item table of one data set."""
    per_seed = []
    for seed in args.seeds:
        print(f"\n{ds} · split seed {seed}", flush=True)
        rows = run(ds, feats, labels, seed)
        if not args.no_cornac:
            rows += run_cornac(ds, feats, seed, vbpr=bool(feats))
        per_seed.append(pd.DataFrame(rows).set_index("model"))
    numeric = ["Recall@20", "nDCG@20", "fit_s", "epochs", "ms_per_epoch"]
    table = per_seed[0].copy()
    table[numeric] = sum(t[numeric] for t in per_seed) / len(per_seed)
    out = {"stats": {"users": ds.n_users, "items": ds.n_items, "interactions": len(ds.interactions)},
           "seeds": list(args.seeds), "models": table.reset_index().to_dict("records")}
    if args.speed and feats:
        print(f"\n{name}: training speed, same epochs and triples")
        out["speed"] = run_speed(ds, feats, args.seeds[0])
    cold_labels = [k for k in labels if SPECS[k].kind in ("multimodal", "content")]
    if not args.no_cold and cold_labels:
        print(f"\n{name}: cold-item split ({COLD_ITEMS:.0%} of the items), seed {args.seeds[0]}")
        out["cold"] = run_cold(ds, feats, cold_labels, args.seeds[0])
    return out


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    main()
