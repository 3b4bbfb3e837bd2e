"""Feature extraction throughput: the whole pipeline against the bare model forward.

    python benchmarks/bench_features.py [--data toyshop movielens] [--n-images 1024]
                                        [--threads 2] [--repeats 3] [--batch-size 64]
                                        [--image-size 224] [--workers 0,2] [--device cpu]
                                        [--ml-dir PATH] [--skip-text] [--skip-cache]

For the packaged EfficientNet-Lite0 on the first ``--n-images`` toyshop images (582 of
128x128 px, encoded at 128 px) and MovieLens posters (about 128x190 px, encoded at 224 px;
from ``--ml-dir``, ``HANDSON_ML_DIR`` or ``../shared/data/ml-latest-small``) it prints the
median over ``--repeats`` of:

- images/s of the bare forward: the same prepared module and the same per-batch code
  (``images.forward_batch``: copy, normalise, channels-last, forward, output to the host)
  over images decoded into uint8 tensors in advance, same batch size, same threads (and
  the images/s of that decoding alone, to show what the overlap has to hide);
- images/s of ``features.image_features(..., cache=False)`` (decode, convert, resize,
  batch, forward, collect) with the weights loaded beforehand, for each DataLoader worker
  count (0: one background decoding thread), and its share of the bare throughput
  (the issue-18 target is 90% or more);
- the same pair for texts on toyshop (``text_features`` vs the transformer + pooling on
  batches tokenised in advance);
- the cache-hit time of a repeated identical call, in the same process and in a fresh one.

Runs are interleaved (bare, pipeline, bare, ...) so that both see the same machine load.
On CUDA the forward runs under autocast (bfloat16/float16) in both.
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch

from handson import datasets, features
from handson.features.extract import compute_dtype
from handson.features.images import forward_batch, load_rgb, normalisation, prepare_module


def bare_images(enc, paths, batch_size: int, device: str) -> tuple[float, float]:
    """Seconds for the forward alone over images decoded in advance (uint8 NHWC, as the
    pipeline's batches), through the pipeline's own per-batch code; and seconds of that
    decoding (one thread)."""
    start = time.perf_counter()
    x = torch.from_numpy(np.stack([load_rgb(p, enc.preprocess)[0] for p in paths]))
    decode = time.perf_counter() - start
    batches = [x[i:i + batch_size] for i in range(0, len(x), batch_size)]
    if device.startswith("cuda"):
        batches = [b.pin_memory() for b in batches]
    module = prepare_module(enc.module, device)
    mean, std = normalisation(enc.preprocess, device)
    autocast = torch.autocast("cuda", dtype=getattr(torch, compute_dtype(device)), enabled=device.startswith("cuda"))
    with torch.inference_mode(), autocast:
        forward_batch(module, batches[0][:2], mean, std, device)
        _sync(device)
        start = time.perf_counter()
        for b in batches:
            forward_batch(module, b, mean, std, device).float().cpu()
        _sync(device)
    return time.perf_counter() - start, decode


def bare_texts(st, texts: list[str], batch_size: int, device: str) -> float:
    """Seconds for transformer + mean pooling + normalisation over pre-tokenised batches."""
    tok, net = st.tokenizer, st[0].auto_model
    lengths = np.array([len(t) for t in tok(texts, truncation=False, verbose=False)["input_ids"]])
    order = np.argsort(-lengths, kind="stable")
    batches = [tok([texts[i] for i in order[s:s + batch_size]], padding=True, truncation=True,
                   max_length=st.max_seq_length, return_tensors="pt").to(device)
               for s in range(0, len(order), batch_size)]
    autocast = torch.autocast("cuda", dtype=getattr(torch, compute_dtype(device)), enabled=device.startswith("cuda"))
    with torch.inference_mode(), autocast:
        _sync(device)
        start = time.perf_counter()
        for b in batches:
            h = net(**b).last_hidden_state
            m = b["attention_mask"].unsqueeze(-1).to(h.dtype)
            torch.nn.functional.normalize((h * m).sum(1) / m.sum(1), dim=1).float().cpu()
        _sync(device)
    return time.perf_counter() - start


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def image_sets(names: list[str], ml: Path, n: int) -> list[tuple[str, list[str], int | None]]:
    """(label, image paths, image_size) per data set: toyshop at its 128 px, MovieLens posters
    at the encoder's own size."""
    out = []
    for name in names:
        if name == "toyshop":
            ds = datasets.load("toyshop")
            paths = [p for p, ok in zip(ds.image_paths, ds.has_image) if ok][:n]
            out.append((f"toyshop (first {len(paths)} images)", paths, 128))
        elif (ml / "ratings.csv").is_file():
            ds = datasets.load("movielens-latest-small", root=ml)
            paths = [p for p, ok in zip(ds.image_paths, ds.has_image) if ok][:n]
            out.append((f"movielens posters (first {len(paths)})", paths, None))
        else:
            print(f"MovieLens not found in {ml}: skipped.")
    return out


def machine(device: str) -> str:
    cpu = platform.processor() or platform.machine()
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    gpu = f" · {torch.cuda.get_device_name()}" if device.startswith("cuda") else ""
    return (f"{cpu} · {os.cpu_count()} logical cores · torch {torch.__version__}, {torch.get_num_threads()} "
            f"threads{gpu} · OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', 'unset')}")


def bench_images(label: str, paths: list[str], size: int | None, args, device: str) -> None:
    enc = features.image_encoder("efficientnet-lite0", image_size=size).load()
    workers = [int(w) for w in args.workers.split(",")]
    bare, decode, pipe = [], [], {w: [] for w in workers}
    for _ in range(args.repeats):
        forward_s, decode_s = bare_images(enc, paths, args.batch_size, device)
        bare.append(forward_s)
        decode.append(decode_s)
        for w in workers:
            pipe[w].append(timed(lambda: features.image_features(
                paths, enc, batch_size=args.batch_size, device=device, cache=False, num_workers=w,
                progress=False)))
    n = len(paths)
    b = n / statistics.median(bare)
    print(f"{label}: {n} images, preprocessing {enc.preprocess.describe()['resize']}/"
          f"{enc.preprocess.describe()['crop']}, batch {args.batch_size}")
    print(f"  images  bare forward   {b:8.1f} img/s   (runs {[round(n / t, 1) for t in bare]})")
    print(f"  images  decoding alone {n / statistics.median(decode):8.1f} img/s   (one thread, no model)")
    for w in workers:
        p = n / statistics.median(pipe[w])
        how = "1 decoding thread" if w == 0 else f"{w} worker processes"
        print(f"  images  pipeline w={w}   {p:8.1f} img/s   = {100 * p / b:5.1f}% of bare "
              f"({how}; runs {[round(n / t, 1) for t in pipe[w]]})", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", nargs="+", default=["toyshop", "movielens"], choices=["toyshop", "movielens"])
    ap.add_argument("--n-images", type=int, default=1024, help="images to encode per data set (at most)")
    ap.add_argument("--ml-dir", default=None)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--image-size", type=int, default=None, help="cache-hit timing only (default: 224)")
    ap.add_argument("--workers", default="0,2", help="comma-separated DataLoader worker counts")
    ap.add_argument("--device", default=None)
    ap.add_argument("--skip-text", action="store_true")
    ap.add_argument("--skip-cache", action="store_true", help="no cache-hit timing")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    warnings.simplefilter("ignore")
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    print(f"device {device} · {machine(device)}")
    default_ml = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "ml-latest-small"
    ml = Path(args.ml_dir or os.environ.get("HANDSON_ML_DIR") or default_ml)
    for label, paths, size in image_sets(args.data, ml, args.n_images):
        bench_images(label, paths, size, args, device)
    ds = datasets.load("toyshop")

    if not args.skip_text:
        texts = [t for t, ok in zip(ds.texts, ds.has_text) if ok]
        tenc = features.text_encoder("all-MiniLM-L6-v2").load(device)
        bare_t, pipe_t = [], []
        for _ in range(args.repeats):
            bare_t.append(bare_texts(tenc.model, texts, args.batch_size, device))
            pipe_t.append(timed(lambda: features.text_features(ds, batch_size=args.batch_size, device=device,
                                                               cache=False, progress=False)))
        bt, pt = len(texts) / statistics.median(bare_t), len(texts) / statistics.median(pipe_t)
        print(f"texts   bare forward   {bt:8.1f} sent/s  (runs {[round(len(texts) / t, 1) for t in bare_t]})")
        print(f"texts   pipeline       {pt:8.1f} sent/s  = {100 * pt / bt:5.1f}% of bare "
              f"(runs {[round(len(texts) / t, 1) for t in pipe_t]})")

    if args.skip_cache:
        return
    with tempfile.TemporaryDirectory() as tmp:
        call = dict(batch_size=args.batch_size, device=device, cache=tmp, image_size=args.image_size, progress=False)
        features.image_features(ds, **call)
        hits = [timed(lambda: features.image_features(ds, **call)) for _ in range(max(3, args.repeats))]
        code = ("import time; t = time.perf_counter(); import warnings; warnings.simplefilter('ignore'); "
                "from handson import datasets, features; ds = datasets.load('toyshop'); t1 = time.perf_counter(); "
                f"f = features.image_features(ds, cache={tmp!r}, image_size={args.image_size!r}, "
                f"batch_size={args.batch_size}, device={device!r}, progress=False); "
                "print(f\"{time.perf_counter() - t1:.3f} {time.perf_counter() - t:.3f} {f.manifest['cache']}\")")
        fresh = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    print(f"cache hit, same process: {1000 * statistics.median(hits):.0f} ms (runs {[round(1000 * h) for h in hits]})")
    print(f"cache hit, fresh process: {float(fresh[0]) * 1000:.0f} ms for the call, {float(fresh[1]):.2f} s "
          f"including Python imports and loading the dataset ({fresh[2]})")


if __name__ == "__main__":
    main()
