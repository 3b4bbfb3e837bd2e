"""Time one epoch of BPR-MF over ~80,000 interactions and the share spent on sampling.

    python benchmarks/bench_bpr_epoch.py [--threads 2] [--repeats 7] [--negatives 4] [--ml-dir PATH]

Uses 80% of MovieLens latest-small (about 80,700 ratings) when a local copy is found
(``--ml-dir``, ``HANDSON_ML_DIR`` or ``../shared/data/ml-latest-small``), otherwise a
synthetic set of the same size (610 users, 9,724 items, Zipf-popular items). Prints the
median over ``--repeats`` epochs of: the whole epoch, sampling (``sample_bpr``), and the
rest (forward, backward, optimizer step).
"""
from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
import torch

from handson import training
from handson.datasets import Interactions
from handson.models import BPR
from handson.split import random_split


def ml_dir(arg: str | None) -> Path:
    default = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "ml-latest-small"
    return Path(arg or os.environ.get("HANDSON_ML_DIR") or default)


def data(path: Path) -> tuple[Interactions, str]:
    if (path / "ratings.csv").is_file():
        from handson.datasets import load
        ds = load("movielens-latest-small", root=path)
        return random_split(ds, test=0.2, seed=42).train, f"MovieLens latest-small train (80%) from {path}"
    rng = np.random.default_rng(0)
    n_users, n_items, n = 610, 9724, 80_700
    users = rng.integers(0, n_users, n)
    items = (rng.zipf(1.2, n) - 1) % n_items
    csr = Interactions(users, items, n_users, n_items).to_csr().tocoo()
    return Interactions(csr.row, csr.col, n_users, n_items), "synthetic (no MovieLens copy found)"


class TimedBPR(BPR):
    """BPR that notes wall-clock and CPU time at the start of every epoch."""

    def _on_epoch_start(self, epoch: int) -> None:
        self.marks_ = getattr(self, "marks_", []) + [(time.perf_counter(), time.process_time())]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--factors", type=int, default=64)
    ap.add_argument("--batch-size", type=int, default=2048)
    ap.add_argument("--negatives", type=int, default=BPR().n_negatives, help="negatives per positive")
    ap.add_argument("--ml-dir", default=None)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    train, source = data(ml_dir(args.ml_dir))
    csr = train.to_csr()
    print(f"{source}: {csr.nnz:,} interactions, {train.n_users:,} users, {train.n_items:,} items; "
          f"{args.threads} torch thread(s), factors={args.factors}, batch_size={args.batch_size}, "
          f"negatives={args.negatives}")
    rng = np.random.default_rng(0)
    sampling = []
    for _ in range(args.repeats):
        t = (time.perf_counter(), time.process_time())
        training.sample_bpr(csr, csr.nnz, rng, n_neg=args.negatives)
        sampling.append((time.perf_counter() - t[0], time.process_time() - t[1]))
    model = TimedBPR(factors=args.factors, batch_size=args.batch_size, n_negatives=args.negatives,
                     epochs=args.repeats + 2, device="cpu", verbose=False, threads=args.threads).fit(train)
    marks = np.array(model.marks_)
    epochs = np.diff(marks, axis=0)[1:]          # the first epoch warms up
    print(f"median of {len(epochs)} epochs   wall s   CPU s (all threads)")
    epoch, sample = np.median(epochs, axis=0), np.median(np.array(sampling), axis=0)
    print(f"  whole epoch              {epoch[0]:7.3f}   {epoch[1]:7.3f}   "
          f"[wall min {epochs[:, 0].min():.3f}, max {epochs[:, 0].max():.3f}]")
    print(f"  sampling (sample_bpr)    {sample[0]:7.3f}   {sample[1]:7.3f}   ({sample[0] / epoch[0]:.0%} of wall)")
    print(f"  forward+backward+Adam    {epoch[0] - sample[0]:7.3f}   {epoch[1] - sample[1]:7.3f}")
    print(f"load average over the last minute: {os.getloadavg()[0]:.1f} (wall time grows when other "
          "processes share the cores; CPU time much less)")


if __name__ == "__main__":
    main()
