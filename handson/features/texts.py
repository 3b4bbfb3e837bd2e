"""Text features: clean, sort by length, batch, encode, unsort, cache.

Texts are encoded longest first (batches of similar length waste little padding), then put
back in item order. Empty, whitespace-only, None or NaN texts are not encoded: they are
counted as ``empty`` in ``report``, marked False in ``mask`` and follow the ``missing``
policy. Texts longer than the encoder's token limit are truncated and counted. A text the
tokenizer or the model cannot encode (it raises) does not end the run: it is counted as
``unencodable`` in ``report``, marked False in ``mask`` and follows the ``missing`` policy.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np

from .cache import fingerprint_texts
from .core import Features
from .extract import STATUS, ChunkedRun, check_batching, compute_dtype, encoding, make_report, resolve_items, run_cached
from .precomputed import expected_dim, importer
from .text_encoders import TextEncoder, text_encoder

__all__ = ["text_features", "clean_texts"]


def clean_texts(values: list[Any]) -> tuple[list[str], np.ndarray, int]:
    """(texts, usable (n,) bool, converted count): None / NaN / blank are unusable; other
    non-strings (numbers) are turned into strings and counted as converted."""
    texts, usable, converted = [], np.zeros(len(values), dtype=bool), 0
    for i, v in enumerate(values):
        if isinstance(v, str):
            t = v
        elif v is None or (isinstance(v, float) and v != v) or type(v).__name__ in ("NAType", "NaTType"):
            t = ""
        else:
            t, converted = str(v), converted + 1
        t = t.strip()
        texts.append(t)
        usable[i] = bool(t)
    return texts, usable, converted


UNENCODABLE = next(code for code, name in STATUS.items() if name == "unencodable")


def _each(encode: Callable[[list[str]], np.ndarray], texts: list[str],
          fill: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(encode(texts), failed (n,) bool)``. When the batch raises, every text is tried alone
    and the texts that still raise are marked failed (their rows are ``fill``, or zeros), so
    one text the tokenizer cannot handle does not end the run. Out-of-memory errors pass."""
    try:
        return np.asarray(encode(texts)), np.zeros(len(texts), dtype=bool)
    except Exception as exc:  # noqa: BLE001 - tokenizers raise many types
        if _out_of_memory(exc) or len(texts) == 0:
            raise
    rows, failed = [], np.zeros(len(texts), dtype=bool)
    for j, text in enumerate(texts):
        try:
            rows.append(np.asarray(encode([text]))[0])
        except Exception as exc:  # noqa: BLE001
            if _out_of_memory(exc):
                raise
            rows.append(None)
            failed[j] = True
    width = next((np.shape(r) for r in rows if r is not None), None)
    if width is None:           # nothing in the batch could be encoded: rows of width 0
        return (np.zeros((len(texts), 0), np.float32) if fill is None else np.full(len(texts), fill)), failed
    blank = np.full(width, 0 if fill is None else fill, dtype=np.float32)
    return np.stack([blank if r is None else r for r in rows]), failed


def _out_of_memory(exc: BaseException) -> bool:
    return isinstance(exc, MemoryError) or "out of memory" in str(exc).lower()


def text_features(data: Any, model: str | TextEncoder = "all-MiniLM-L6-v2", batch_size: int = 64,
                  device: str | None = None, missing: str = "zero", cache: bool | str | Path = True,
                  max_length: int | None = None, chunk_batches: int = 20, progress: bool = True,
                  precomputed: str | Path | None = None) -> Features:
    """Text features ``(n_items, d)`` float32, aligned with the dataset's item index.

    ``data``: a Dataset (its ``items["text"]``) or a list of strings (None for "no text").
    ``model``: a name of :mod:`handson.features.text_encoders` or a ``TextEncoder``.
    ``max_length``: token cap (None: the model's own). ``missing``, ``cache``,
    ``chunk_batches``, ``precomputed`` (features of this encoder read from a folder or an
    archive instead of extracted) as in :func:`handson.features.image_features`.
    """
    from ..utils import get_device

    check_batching(batch_size, chunk_batches)
    ids, raw, source = resolve_items(data, "text")
    texts, usable, converted = clean_texts(raw)
    enc = text_encoder(model, max_length=max_length)
    device = get_device(device)
    dtype = compute_dtype(device)
    identity = {**enc.identity(), "dtype": dtype}

    def compute(store: Any, key: str) -> Features:
        import torch

        enc.load(device)
        status = np.where(usable, 0, 4).astype(np.int8)
        run = ChunkedRun(store, key, len(texts), chunk_batches)
        todo = np.flatnonzero(usable & ~run.done_mask())
        counts = np.zeros(len(texts), dtype=np.int64)
        if usable.any():
            counts[usable] = _each(lambda batch: enc.token_counts(batch),
                                   [texts[i] for i in np.flatnonzero(usable)], fill=0)[0]
        limit = enc.limit
        order = todo[np.argsort(-counts[todo], kind="stable")]  # longest first, little padding
        with encoding(run, len(order), f"texts · {enc.name}", "text", device, dtype, progress) as bar:
            for start in range(0, len(order), batch_size):
                index = order[start:start + batch_size]
                out, failed = _each(lambda batch: enc.encode(batch, device).float().cpu().numpy(),
                                    [texts[i] for i in index])
                run.add(index, out, np.where(failed, UNENCODABLE, 0).astype(np.int8), [""] * len(index))
                bar.update(len(index))
        values, status, _ = run.result(None, status)
        if not (status == 0).any():
            raise ValueError(f"No item has a usable text: all {len(texts)} are empty, None or NaN, or the "
                             "encoder could not encode them (see the encoder's own error by encoding one).")
        report = make_report(status, None, ids, truncated=int((counts > limit).sum()), max_tokens=limit,
                             longest_tokens=int(counts.max(initial=0)), converted=converted, resumed=run.resumed)
        manifest = {"device": device, "batch_size": batch_size, "torch": torch.__version__,
                    "preprocessing": {"max_length": limit, "order": "longest first, then restored",
                                      "strip": True}}
        return Features(values, status == 0, report, manifest)

    sid, rows = (None, compute) if precomputed is None else importer(precomputed, ids, expected_dim(enc.name),
                                                                      hint=enc.name)
    return run_cached("text", ids, fingerprint_texts(ids, texts), identity, rows, missing, cache,
                      source, "text", precomputed=sid)
