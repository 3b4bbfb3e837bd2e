"""Feature extraction throughput: the whole pipeline against the bare model forward.

    python benchmarks/bench_features.py [--threads 2] [--repeats 3] [--batch-size 64]
                                        [--image-size 224] [--workers 0,2] [--device cpu]

On toyshop (600 items, 582 images of 128x128 px, 582 texts) it prints the median over
``--repeats`` of:

- images/s of ``features.image_features(ds, cache=False)`` (decode, convert, resize,
  batch, forward, collect; model loading included) for each DataLoader worker count, and
  of the bare model forward on the same images already decoded into tensors, same batch
  size, same threads; the ratio is the pipeline's share of the bare throughput;
- the same pair for texts (``text_features`` vs the transformer + pooling on batches
  tokenised in advance);
- the cache-hit time of a repeated identical call, in the same process and in a fresh one.

Runs are interleaved (bare, pipeline, bare, ...) so that both see the same machine load.
On CUDA the forward runs under autocast (bfloat16/float16) in both.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings

import numpy as np
import torch

from handson import datasets, features
from handson.features.extract import compute_dtype
from handson.features.images import load_rgb


def bare_images(enc, paths, batch_size: int, device: str) -> float:
    """Seconds for the forward alone over images decoded and normalised in advance."""
    arrays = [load_rgb(p, enc.preprocess)[0] for p in paths]
    x = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).float()
    mean = torch.tensor(enc.preprocess.mean).view(1, 3, 1, 1) * 255
    std = torch.tensor(enc.preprocess.std).view(1, 3, 1, 1) * 255
    batches = [((x[i:i + batch_size] - mean) / std).contiguous().to(device) for i in range(0, len(x), batch_size)]
    module = enc.module.to(device)
    autocast = torch.autocast("cuda", dtype=getattr(torch, compute_dtype(device)), enabled=device.startswith("cuda"))
    with torch.inference_mode(), autocast:
        module(batches[0][:2])
        _sync(device)
        start = time.perf_counter()
        for b in batches:
            module(b).float().cpu()
        _sync(device)
    return time.perf_counter() - start


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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--image-size", type=int, default=None, help="default: the encoder's (224)")
    ap.add_argument("--workers", default="0,2", help="comma-separated DataLoader worker counts")
    ap.add_argument("--device", default=None)
    ap.add_argument("--skip-text", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    warnings.simplefilter("ignore")
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    ds = datasets.load("toyshop")
    paths = [p for p, ok in zip(ds.image_paths, ds.has_image) if ok]
    n_img = len(paths)
    print(f"toyshop: {n_img} images, {int(ds.has_text.sum())} texts · device {device} · "
          f"torch threads {torch.get_num_threads()} · batch {args.batch_size} · "
          f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', 'unset')}")

    enc = features.image_encoder("efficientnet-lite0", image_size=args.image_size).load()
    print(f"image encoder efficientnet-lite0, preprocessing {enc.preprocess.describe()}")
    workers = [int(w) for w in args.workers.split(",")]
    bare, pipe = [], {w: [] for w in workers}
    for _ in range(args.repeats):
        bare.append(bare_images(enc, paths, args.batch_size, device))
        for w in workers:
            pipe[w].append(timed(lambda: features.image_features(
                ds, batch_size=args.batch_size, device=device, cache=False, num_workers=w,
                image_size=args.image_size, progress=False)))
    b = n_img / statistics.median(bare)
    print(f"images  bare forward   {b:8.1f} img/s   (runs {[round(n_img / t, 1) for t in bare]})")
    for w in workers:
        p = n_img / statistics.median(pipe[w])
        print(f"images  pipeline w={w}   {p:8.1f} img/s   = {100 * p / b:5.1f}% of bare "
              f"(runs {[round(n_img / t, 1) for t in pipe[w]]})")

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
