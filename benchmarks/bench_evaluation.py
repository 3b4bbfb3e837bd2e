"""Throughput of handson.evaluation.evaluate for a factor model (score = U @ V.T).

    python benchmarks/bench_evaluation.py --n-users 50000 --n-items 1700 --factors 64

Prints, per repeat and as medians, users/s of wall-clock time and users per CPU-second (the
process's CPU time over all its threads: a fair number on a machine shared with other jobs,
where wall-clock time also counts waiting). Synthetic data: each user has a few test items
and a few seen (masked) items, drawn uniformly; the metric values are meaningless, the
speed is not. Pin BLAS threads with OMP_NUM_THREADS / OPENBLAS_NUM_THREADS.
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from handson.datasets import Interactions
from handson.evaluation import evaluate


class FactorModel:
    """Dot-product scorer: ``score(users) = U[users] @ V.T``, float32 ``(len(users), n_items)``."""

    def __init__(self, n_users: int, n_items: int, factors: int, seed: int = 0):
        rng = np.random.default_rng(seed)
        self.U = rng.standard_normal((n_users, factors), dtype=np.float32)
        self.V = rng.standard_normal((n_items, factors), dtype=np.float32)
        self.n_items_ = n_items

    def score(self, users: np.ndarray) -> np.ndarray:
        return self.U[users] @ self.V.T


def random_interactions(n_users: int, n_items: int, per_user: int, rng: np.random.Generator) -> Interactions:
    users = np.repeat(np.arange(n_users), per_user)
    items = rng.integers(0, n_items, size=len(users))
    return Interactions(users, items, n_users, n_items)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-users", type=int, default=50_000)
    parser.add_argument("--n-items", type=int, default=1_700)
    parser.add_argument("--factors", type=int, default=64)
    parser.add_argument("--test-per-user", type=int, default=5)
    parser.add_argument("--seen-per-user", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=1024)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    model = FactorModel(args.n_users, args.n_items, args.factors)
    test = random_interactions(args.n_users, args.n_items, args.test_per_user, rng)
    seen = random_interactions(args.n_users, args.n_items, args.seen_per_user, rng)
    print(f"{args.n_users:,} users x {args.n_items:,} items, factors={args.factors}, "
          f"batch_size={args.batch_size}, k=(10, 20), all metrics")
    wall, cpu = [], []
    for rep in range(args.repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        res = evaluate(model, test, seen=seen, k=(10, 20), batch_size=args.batch_size, progress=False)
        dt, dc = time.perf_counter() - t0, time.process_time() - c0
        wall.append(res["users"] / dt)
        cpu.append(res["users"] / dc)
        print(f"repeat {rep + 1}: {dt:.2f} s wall, {dc:.2f} s CPU: {wall[-1]:,.0f} users/s, "
              f"{cpu[-1]:,.0f} users per CPU-second")
    print(f"median: {np.median(wall):,.0f} users/s (wall clock), "
          f"{np.median(cpu):,.0f} users per CPU-second")


if __name__ == "__main__":
    main()
