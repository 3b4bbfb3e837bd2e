"""Tune BPR-MF on MovieLens latest-small validation data: random search, then Optuna with resume.

    python benchmarks/tune_bpr.py [--trials 8] [--epochs 60] [--seed 42] [--ml-dir PATH] [--no-optuna] [--no-random]

A per-user random split (70% train, 10% validation, 20% test, seed 42) as in
``run_all.py``. Every trial trains at most ``--epochs`` epochs (validated every 5, with
BPR-MF's own early stopping), so trial 0, the defaults, is BPR-MF's defaults with that
cap: a fit of BPR-MF takes tens of seconds on a busy 2-core CPU, and the cap keeps a
search of 8 trials to a few minutes. Prints the trials, the best validation Recall@20
against the defaults' and, once, after the search, both models' test Recall@20.

The Optuna part (skipped when Optuna is not installed) runs a study in a SQLite file,
interrupts it with Ctrl-C (a KeyboardInterrupt) after its third trial, and runs the same
call again: the study resumes, the finished trials are not run again.
MovieLens comes from ``--ml-dir``, ``HANDSON_ML_DIR`` or ``../shared/data/ml-latest-small``.
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import pandas as pd

from handson import datasets, split, tuning
from handson.evaluation import evaluate
from handson.models import BPR

SPACE = {
    "factors": [32, 64, 128],
    "reg": tuning.LogUniform(1e-4, 3e-2),
    "lr": tuning.LogUniform(5e-4, 1e-2),
    "n_negatives": [1, 4, 8],
}


def ml_dir(arg: str | None) -> Path:
    default = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "ml-latest-small"
    return Path(arg or os.environ.get("HANDSON_ML_DIR") or default)


def random_search(train, valid, test, args) -> None:
    t0 = time.perf_counter()
    res = tuning.search(BPR, train, valid, SPACE, method="random", n_trials=args.trials, seed=args.seed,
                        fixed={"epochs": args.epochs, "eval_every": 5})
    print(f"random search, {args.trials} trials, {time.perf_counter() - t0:.0f} s")
    print(res.trials.round(4).to_string(index=False))
    print(f"validation Recall@20: best {res.best_score:.4f} (trial "
          f"{int(res.trials.loc[res.trials['Recall@20'].idxmax(), 'trial'])}) vs defaults {res.default_score:.4f}")
    default = BPR(epochs=args.epochs, eval_every=5, verbose=False).fit(train, valid=valid)
    tests = {name: evaluate(m, test, seen=[train, valid], k=(20,))["Recall@20"]
             for name, m in (("defaults", default), ("best", res.model))}
    print(f"test Recall@20 (computed once, after the search): best {tests['best']:.4f}, "
          f"defaults {tests['defaults']:.4f}")
    assert res.best_score >= res.default_score


def optuna_resume(train, valid, args) -> None:
    try:
        import optuna  # noqa: F401
    except ImportError:
        print("optuna is not installed: skipping the resume check (pip install 'handson[tune]')")
        return
    storage = f"sqlite:///{Path(tempfile.mkdtemp()) / 'tune_bpr.db'}"
    fixed = {"epochs": args.epochs, "eval_every": 5}
    finished = []

    def interrupt_after_three(model, row) -> None:
        finished.append(row["trial"])
        if len(finished) == 3:
            raise KeyboardInterrupt

    try:
        tuning.search(BPR, train, valid, SPACE, method="optuna", n_trials=5, seed=args.seed, storage=storage,
                      fixed=fixed, on_trial=interrupt_after_three, progress=False)
    except KeyboardInterrupt:
        print(f"optuna: interrupted after trials {finished} ({storage})")
    before = len(finished)
    res = tuning.search(BPR, train, valid, SPACE, method="optuna", n_trials=5, seed=args.seed, storage=storage,
                        fixed=fixed, on_trial=lambda model, row: finished.append(row["trial"]), progress=False)
    print(f"optuna: resumed; trials completed in this run: {finished[before:]} (pruned ones are not "
          "reported to on_trial); every trial of the study:")
    print(res.trials.round(4).to_string(index=False))
    print(res)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=8)
    ap.add_argument("--epochs", type=int, default=60, help="cap on the epochs of every trial")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--ml-dir", default=None)
    ap.add_argument("--no-optuna", action="store_true")
    ap.add_argument("--no-random", action="store_true", help="only the Optuna resume check")
    args = ap.parse_args()
    path = ml_dir(args.ml_dir)
    if not (path / "ratings.csv").is_file():
        raise SystemExit(f"no MovieLens latest-small copy at {path}; pass --ml-dir or set HANDSON_ML_DIR.")
    ds = datasets.load("movielens-latest-small", root=path)
    train, valid, test = split.random_split(ds, test=0.2, valid=0.1, seed=42)
    print(ds, "|", train, "|", valid)
    pd.set_option("display.width", 160)
    if not args.no_random:
        random_search(train, valid, test, args)
    if not args.no_optuna:
        optuna_resume(train, valid, args)


if __name__ == "__main__":
    main()
