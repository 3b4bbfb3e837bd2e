"""Image features: decode with PIL while the encoder runs, batch, run the encoder, cache.

Every image is converted to RGB (grayscale, palette, CMYK, 16-bit; transparent images are
composited on white), resized and centre-cropped as the encoder expects. A missing or
unreadable file never stops the run: the item is counted in ``report``, marked False in
``mask`` and its row follows the ``missing`` policy.
"""
from __future__ import annotations

import os
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from itertools import islice
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from .cache import fingerprint_images
from .core import Features
from .extract import ChunkedRun, check_batching, compute_dtype, encoding, make_report, resolve_items, run_cached
from .image_encoders import ImageEncoder, Preprocess, image_encoder
from .precomputed import expected_dim, importer

__all__ = ["image_features", "load_rgb", "ImageFiles"]

_ALPHA_MODES = ("RGBA", "LA", "PA", "RGBa", "La")


def load_rgb(path: str | Path, pre: Preprocess | None = None) -> tuple[np.ndarray, str]:
    """Decode ``path`` to a uint8 (H, W, 3) array prepared by ``pre``; returns (array, original mode).

    Raises OSError / ValueError for unreadable files (the caller counts them).
    """
    from PIL import Image

    with Image.open(path) as im:
        mode = im.mode
        if pre is not None and im.format == "JPEG":
            side = pre.resize if isinstance(pre.resize, int) else max(pre.resize)
            im.draft("RGB", (side, side))  # decode a large JPEG at a reduced scale: much faster
        im.load()
        if mode in _ALPHA_MODES or (mode == "P" and "transparency" in im.info):
            rgba = im.convert("RGBA")
            white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
            im = Image.alpha_composite(white, rgba).convert("RGB")
        elif mode in ("I;16", "I;16B", "I;16L", "I"):
            arr = np.asarray(im, dtype=np.float32)
            peak = 65535.0 if mode.startswith("I;16") else max(1.0, float(arr.max()))
            im = Image.fromarray(np.clip(arr * (255.0 / peak), 0, 255).astype(np.uint8)).convert("RGB")
        elif mode != "RGB":
            im = im.convert("RGB")
        if pre is not None:
            im = _resize_crop(im, pre)
        return np.asarray(im, dtype=np.uint8), mode


def _resize_crop(im: Any, pre: Preprocess) -> Any:
    from PIL import Image

    resample = Image.Resampling.BICUBIC if pre.interpolation == "bicubic" else Image.Resampling.BILINEAR
    w, h = im.size
    if isinstance(pre.resize, int):
        s = pre.resize / min(w, h)
        size = (pre.resize, max(1, int(h * s))) if w <= h else (max(1, int(w * s)), pre.resize)
    else:
        size = (pre.resize[1], pre.resize[0])
    if size != im.size:
        im = im.resize(size, resample)
    if pre.crop:
        w, h = im.size
        left, top = int(round((w - pre.crop) / 2)), int(round((h - pre.crop) / 2))
        im = im.crop((left, top, left + pre.crop, top + pre.crop))
    return im


class ImageFiles:
    """Map-style dataset over image paths: item ``k`` is ``(index, uint8 (H, W, 3) or None, status, mode)``."""

    def __init__(self, paths: list[str], index: np.ndarray, pre: Preprocess) -> None:
        self.paths, self.index, self.pre = paths, index, pre

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, k: int) -> tuple[int, np.ndarray | None, int, str]:
        i = int(self.index[k])
        try:
            arr, mode = load_rgb(self.paths[i], self.pre)
        except Exception:  # noqa: BLE001 - any decoder failure is "unreadable", counted, never fatal
            return i, None, 3, ""
        return i, arr, 0, mode


def _collate(batch: list) -> tuple:
    import torch

    index = np.array([b[0] for b in batch], dtype=np.int64)
    status = np.array([b[2] for b in batch], dtype=np.int8)
    mode = [b[3] for b in batch]
    good = [b[1] for b in batch if b[1] is not None]
    shapes = {g.shape for g in good}
    if len(shapes) > 1:
        raise ValueError(f"Preprocessing produced images of different sizes {shapes}; use a crop.")
    x = torch.from_numpy(np.stack(good)) if good else None
    return index, x, status, mode


def default_workers(device: str) -> int:
    """Decoding processes: 0 on CPU (one background thread decodes instead, see :func:`batches`),
    up to 8 DataLoader worker processes on CUDA, where the GPU outruns one decoding thread."""
    if not str(device).startswith("cuda"):
        return 0
    return min(8, os.cpu_count() or 1)


def batches(files: ImageFiles, batch_size: int, workers: int, device: str, depth: int = 2) -> Iterator[tuple]:
    """The collated batches of ``files`` in order, decoded while the model runs.

    ``workers > 0``: a DataLoader with that many worker processes. ``workers == 0``: one
    background thread decodes up to ``depth`` batches ahead while the current batch runs
    through the model; Pillow releases the GIL while it decodes and resizes, so on a small
    CPU the decoding fills the gaps of the forward pass instead of waiting for it. On CUDA
    the batches come in pinned memory, so the copy to the device runs asynchronously.
    """
    import torch

    pin = str(device).startswith("cuda")
    if workers > 0:
        yield from torch.utils.data.DataLoader(files, batch_size=batch_size, shuffle=False, num_workers=workers,
                                               collate_fn=_collate, pin_memory=pin, prefetch_factor=4)
        return

    def load(start: int) -> tuple:
        index, x, status, mode = _collate([files[k] for k in range(start, min(start + batch_size, len(files)))])
        return index, (x.pin_memory() if pin and x is not None else x), status, mode

    starts = iter(range(0, len(files), batch_size))
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="handson-decode")
    try:
        pending = deque(pool.submit(load, s) for s in islice(starts, depth))
        while pending:
            batch = pending.popleft().result()
            nxt = next(starts, None)
            if nxt is not None:
                pending.append(pool.submit(load, nxt))
            yield batch
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def prepare_module(module: Any, device: str) -> Any:
    """``module`` in eval mode on ``device`` with channels-last weights (faster convolutions
    on CPU and on CUDA tensor cores; harmless for other layers)."""
    import torch
    return module.to(device).eval().to(memory_format=torch.channels_last)


def forward_batch(module: Any, x: Any, mean: Any, std: Any, device: str) -> Any:
    """The model's output for one uint8 NHWC batch ``x``: copied to ``device`` (asynchronously
    from pinned memory), normalised there as float, laid out channels-last. On CUDA the call
    returns before the GPU is done, so the caller can queue the next batch first."""
    import torch
    x = x.to(device, non_blocking=True).permute(0, 3, 1, 2).float().sub_(mean).div_(std)
    return module(x.contiguous(memory_format=torch.channels_last))


def normalisation(pre: Preprocess, device: str) -> tuple[Any, Any]:
    """``pre``'s mean and std as (1, 3, 1, 1) tensors on ``device``, on the 0-255 scale."""
    import torch
    mean = torch.tensor(pre.mean, device=device).view(1, 3, 1, 1) * 255
    std = torch.tensor(pre.std, device=device).view(1, 3, 1, 1) * 255
    return mean, std


def image_features(data: Any, model: str | ImageEncoder = "efficientnet-lite0", batch_size: int = 64,
                   device: str | None = None, missing: str = "zero", cache: bool | str | Path = True,
                   num_workers: int | None = None, layer: str | None = None, weights: str | None = "DEFAULT",
                   image_size: int | None = None, chunk_batches: int = 20, progress: bool = True,
                   precomputed: str | Path | None = None) -> Features:
    """Image features ``(n_items, d)`` float32, aligned with the dataset's item index.

    ``data``: a Dataset (its ``image_paths``) or a list of paths (None for "no image").
    ``model``: a name of :mod:`handson.features.image_encoders` or an ``ImageEncoder``.
    ``missing``: "zero" (default), "mean" or "error" for items without a usable image.
    ``cache``: True (``HANDSON_CACHE``), False, or a folder; rows are saved every
    ``chunk_batches`` batches, so an interrupted run resumes. ``num_workers``: DataLoader
    decoding processes (default: 0 on CPU, where one background thread decodes the next
    batches while the model runs; up to 8 on CUDA). ``precomputed``: a folder or archive of
    this encoder's features (Ducho layout, or one matrix with an item list; see
    :mod:`handson.features.precomputed`) read instead of extracting, and kept in the cache
    under this call's key, so later calls without it hit the cache.
    """
    from ..utils import get_device

    check_batching(batch_size, chunk_batches)
    ids, paths, source = resolve_items(data, "image")
    enc = image_encoder(model, weights=weights, layer=layer, image_size=image_size)
    device = get_device(device)
    dtype = compute_dtype(device)
    identity = {**enc.identity(), "dtype": dtype}
    compute = partial(_compute, ids=ids, paths=paths, enc=enc, device=device, dtype=dtype,
                      batch_size=batch_size, num_workers=num_workers, chunk_batches=chunk_batches,
                      progress=progress)
    sid = None
    if precomputed is not None:
        sid, compute = importer(precomputed, ids, expected_dim(enc.name, enc.layer), hint=enc.name)
    return run_cached("image", ids, fingerprint_images(ids, paths), identity, compute, missing, cache,
                      source, "image", precomputed=sid)


def _path_status(paths: list[str | None]) -> np.ndarray:
    """Per-item status codes (int8, ``(n_items,)``) before decoding: 0 a file to read,
    1 no path, 2 a path to no file (see :data:`handson.features.extract.STATUS`)."""
    status = np.zeros(len(paths), dtype=np.int8)
    status[[p is None for p in paths]] = 1
    status[[p is not None and not os.path.isfile(p) for p in paths]] = 2
    return status


def _compute(store: Any, key: str, *, ids: list[Any], paths: list[str | None], enc: ImageEncoder,
             device: str, dtype: str, batch_size: int, num_workers: int | None, chunk_batches: int,
             progress: bool) -> Features:
    """The uncached path of :func:`image_features`: decode and encode the images not saved
    yet, then the values, mask, report and manifest of every item."""
    import torch

    status = _path_status(paths)
    run = ChunkedRun(store, key, len(paths), chunk_batches)
    todo = np.flatnonzero((status == 0) & ~run.done_mask())
    enc.load()
    module = prepare_module(enc.module, device)
    workers = default_workers(device) if num_workers is None else num_workers
    loader = batches(ImageFiles(paths, todo, enc.preprocess), batch_size, workers, device)
    with encoding(run, len(todo), f"images · {enc.name}", "img", device, dtype, progress) as bar:
        d = _encode(module, enc.preprocess, loader, run, bar, device)
    values, status, mode = run.result(d, status)
    if not (status == 0).any():
        raise ValueError(f"No item has a usable image ({make_report(status)}); check the paths "
                         "(for a Dataset: is its root folder right? see dataset.image_paths[:3]).")
    report = make_report(status, mode, ids, resumed=run.resumed)
    manifest = {"device": device, "batch_size": batch_size, "num_workers": workers,
                "preprocessing": enc.preprocess.describe(), "torch": torch.__version__}
    return Features(values, status == 0, report, manifest)


def _encode(module: Any, pre: Preprocess, loader: Any, run: ChunkedRun, bar: Any, device: str) -> int | None:
    """Run ``module`` over the batches of ``loader`` (uint8 NHWC images), normalised by
    ``pre``'s mean and std, into ``run``; returns the feature width (None: no usable image).

    Each batch's output is collected only after the next batch was launched, so a GPU always
    has queued work. A batch's unreadable images get zero rows (their status says so); a
    batch without any readable image gets rows of width 0 until the width is known.
    """
    mean, std = normalisation(pre, device)
    d, pending = None, None
    try:
        for index, x, st, mode in loader:
            out = None if x is None else forward_batch(module, x, mean, std, device)
            if pending is not None:
                previous, pending = pending, None
                d = _collect(run, bar, *previous, d)
            pending = (index, out, st, mode)
    finally:            # also when the model fails: the batch already computed is kept for a resume
        if pending is not None:
            d = _collect(run, bar, *pending, d)
    return d


def _collect(run: ChunkedRun, bar: Any, index: np.ndarray, out: Any, st: np.ndarray, mode: list,
             d: int | None) -> int | None:
    """Add one batch's rows (zero rows for its unreadable images) to ``run``; returns the width."""
    if out is not None:
        out = out.float().cpu().numpy()
        d = out.shape[1]
    rows = np.zeros((len(index), d or 0), dtype=np.float32)
    if out is not None:
        rows[st == 0] = out
    run.add(index, rows, st, mode)
    bar.update(len(index))
    return d
