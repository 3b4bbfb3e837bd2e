"""What every extraction shares: input resolution, the cached run, chunked resume, the report.

``run_cached`` looks the key up in the cache, otherwise calls ``compute`` (which streams
batches through a :class:`ChunkedRun`), saves the result with its manifest, and finally
applies the caller's missing-content policy.
"""
from __future__ import annotations

import sys
import time
import warnings
from collections import Counter
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from .cache import FeatureStore, cache_key
from .core import MISSING_POLICIES, Features, apply_missing, warn_missing

__all__ = ["STATUS", "resolve_items", "ChunkedRun", "run_cached", "make_report", "compute_dtype",
           "check_batching", "encoding", "progress_bar"]

#: per-item outcome codes, stored with each chunk so that a resumed run reports correctly
STATUS = {0: "ok", 1: "missing_path", 2: "missing_file", 3: "unreadable", 4: "empty", 5: "unencodable"}
FORMAT_VERSION = 2   # 2: manifests record the .npy's shape, dtype and SHA-256


def resolve_items(data: Any, column: str) -> tuple[list[Any], list[Any], str]:
    """(item ids, one value per item, source name) from a Dataset or a plain list.

    ``column`` is "image" (paths from ``Dataset.image_paths``) or "text" (raw ``items.text``).
    """
    from ..datasets import Dataset

    if isinstance(data, Dataset):
        values = data.image_paths if column == "image" else data.items["text"].tolist()
        return list(data.item_ids), values, data.name
    if isinstance(data, (str, Path)) or not hasattr(data, "__len__"):
        raise ValueError(f"Pass a Dataset or a list of {column} {'paths' if column == 'image' else 'strings'}, "
                         f"got {type(data).__name__}; for one item use a list of one.")
    values = list(data)
    if column == "image":
        values = [None if v is None or (isinstance(v, float) and v != v) else str(v) for v in values]
    return list(range(len(values))), values, "list"


def check_batching(batch_size: int, chunk_batches: int) -> None:
    """Reject a batch size or a chunk length (batches per saved chunk) that is not an integer >= 1."""
    if any(isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1 for v in (batch_size, chunk_batches)):
        raise ValueError(f"batch_size and chunk_batches must be integers >= 1, got {batch_size!r} and "
                         f"{chunk_batches!r}.")


@contextmanager
def encoding(run: "ChunkedRun", total: int, desc: str, unit: str, device: str, dtype: str,
             progress: bool = True) -> Iterator[Any]:
    """The frame of an encoder's batch loop; yields the tqdm progress bar (``total`` items).

    Inside: ``torch.inference_mode`` and, on CUDA, autocast to ``dtype`` (see
    :func:`compute_dtype`). On the way out, normal or not, the bar closes and ``run`` saves
    what it holds, so that an interrupted extraction resumes from there.
    """
    import torch

    autocast = torch.autocast("cuda", dtype=getattr(torch, dtype), enabled=device.startswith("cuda"))
    bar = progress_bar(total, desc, unit, progress and total > 0)
    try:
        with torch.inference_mode(), autocast:
            yield bar
    finally:
        bar.close()
        if total:
            run.flush()


class OneLine:
    """A progress "bar" for output that is not a terminal (a log file, a CI job): it prints
    one line when it closes (items, seconds, rate) instead of thousands of redraws."""

    def __init__(self, total: int, desc: str, unit: str) -> None:
        self.total, self.desc, self.unit, self.n = total, desc, unit, 0
        self.start = time.perf_counter()

    def update(self, n: int = 1) -> None:
        self.n += n

    def close(self) -> None:
        seconds = time.perf_counter() - self.start
        print(f"{self.desc}: {self.n:,}/{self.total:,} {self.unit} in {seconds:.1f} s "
              f"({self.n / max(seconds, 1e-9):,.1f} {self.unit}/s)", file=sys.stderr, flush=True)


def progress_bar(total: int, desc: str, unit: str, show: bool = True) -> Any:
    """A tqdm bar in a terminal or a notebook, :class:`OneLine` when stderr is neither
    (redirected to a file or a pipe), a silent tqdm when ``show`` is False."""
    from tqdm.auto import tqdm

    stream = sys.stderr
    interactive = type(stream).__module__.startswith("ipykernel") or (hasattr(stream, "isatty") and stream.isatty())
    if show and not interactive:
        return OneLine(total, desc, unit)
    return tqdm(total=total, desc=desc, unit=unit, disable=not show)


def compute_dtype(device: str) -> str:
    """The autocast dtype on this device: bfloat16/float16 on CUDA, float32 elsewhere."""
    if not str(device).startswith("cuda"):
        return "float32"
    import torch
    return "bfloat16" if torch.cuda.is_bf16_supported() else "float16"


class ChunkedRun:
    """Collect rows batch by batch; every ``chunk_batches`` batches save them to the cache so
    that an interrupted run resumes from what was saved (``done`` holds those rows)."""

    def __init__(self, store: FeatureStore | None, key: str, n: int, chunk_batches: int = 20) -> None:
        if chunk_batches < 1:
            raise ValueError(f"chunk_batches must be >= 1, got {chunk_batches}.")
        self.store, self.key, self.n, self.chunk_batches = store, key, n, chunk_batches
        self.parts: list[dict[str, np.ndarray]] = []
        self.buffer: list[dict[str, np.ndarray]] = []
        self.n_chunks = 0
        saved = store.load_chunks(key, n) if store is not None else None
        if saved is not None:
            self.parts.append(saved)
            self.n_chunks = 1 + max(int(f.stem.split("_")[1]) for f in store.chunk_files(key))
        self.resumed = 0 if saved is None else len(saved["index"])

    def done_mask(self) -> np.ndarray:
        """Boolean (n,): rows already computed by an earlier, interrupted run."""
        done = np.zeros(self.n, dtype=bool)
        for p in self.parts:
            done[p["index"]] = True
        return done

    def add(self, index: np.ndarray, values: np.ndarray, status: np.ndarray, mode: Sequence[str]) -> None:
        """One batch: original item indices (B,), rows (B, d) and per-row status/mode.

        A batch without any usable item may pass rows of width 0 (d is not known yet).
        """
        self.buffer.append({"index": np.asarray(index, np.int64), "values": np.asarray(values, np.float32),
                            "status": np.asarray(status, np.int8), "mode": np.asarray(mode, dtype="<U8")})
        if len(self.buffer) >= self.chunk_batches:
            self.flush()

    @staticmethod
    def _widen(parts: list[dict[str, np.ndarray]]) -> int:
        """Give zero-width row blocks the common width; returns it (0 when nothing was usable)."""
        dims = {p["values"].shape[1] for p in parts} - {0}
        if len(dims) > 1:
            raise RuntimeError(f"Rows of different widths {sorted(dims)} in one run; clear the cache chunks.")
        d = dims.pop() if dims else 0
        for p in parts:
            if p["values"].shape[1] != d:
                p["values"] = np.zeros((len(p["index"]), d), dtype=np.float32)
        return d

    def flush(self) -> None:
        if not self.buffer:
            return
        self._widen(self.buffer)
        part = {k: np.concatenate([b[k] for b in self.buffer]) for k in self.buffer[0]}
        self.buffer = []
        self.parts.append(part)
        if self.store is not None:
            try:
                self.store.save_chunk(self.key, self.n_chunks, **part)
                self.n_chunks += 1
            except OSError as exc:
                _warn_uncached(self.store.root, exc)
                self.store = None

    def result(self, d: int | None, status: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(values (n, d) float32, status (n,) int8, mode (n,) str) over all rows seen."""
        self.flush()
        d = self._widen(self.parts) or (d or 0)
        values = np.zeros((self.n, d), dtype=np.float32)
        status = np.array(status, dtype=np.int8, copy=True)
        mode = np.full(self.n, "", dtype="<U8")
        for p in self.parts:
            ok = p["status"] == 0
            values[p["index"][ok]] = p["values"][ok]
            status[p["index"]] = p["status"]
            mode[p["index"]] = p["mode"]
        return values, status, mode


def make_report(status: np.ndarray, mode: np.ndarray | None = None, ids: Sequence[Any] | None = None,
                **extra: Any) -> dict:
    """Counts of every outcome (and converted image modes), with up to 5 example ids each."""
    rep: dict[str, Any] = {"items": int(len(status)), "available": int((status == 0).sum())}
    examples = {}
    for code, name in STATUS.items():
        if code == 0:
            continue
        where = np.flatnonzero(status == code)
        rep[name] = int(len(where))
        if len(where):
            examples[name] = [ids[i] if ids is not None else int(i) for i in where[:5]]
    if mode is not None:
        conv = Counter(m for m, s in zip(mode.tolist(), status.tolist()) if s == 0 and m and m != "RGB")
        rep["converted"] = dict(sorted(conv.items()))
    rep.update(extra)
    rep["examples"] = examples
    return rep


def run_cached(kind: str, ids: Sequence[Any], fingerprint: str, identity: dict,
               compute: Callable[[FeatureStore | None, str], Features], missing: str,
               cache: bool | str | Path, source: str, what: str, precomputed: str | None = None) -> Features:
    """Return cached features for (fingerprint, identity) or compute, save and return them.

    ``precomputed``: the :func:`handson.features.precomputed.source_id` of the source that
    ``compute`` imports; a cached entry of the key counts only when it came from that source.
    """
    if missing not in MISSING_POLICIES:
        raise ValueError(f"missing={missing!r} is not a policy; use one of {MISSING_POLICIES}.")
    store = _store(cache)
    key = cache_key({"kind": kind, "fingerprint": fingerprint, "format": FORMAT_VERSION, **identity})
    raw = store.load(key) if store is not None else None
    if raw is not None and precomputed is not None and raw.manifest.get("precomputed") != precomputed:
        raw = None
    hit = raw is not None
    if store is not None and not store.writable:
        _warn_uncached(store.root, None)
    if raw is None:
        start = time.perf_counter()
        raw = _drop_non_finite(compute(store if store is not None and store.writable else None, key), what)
        manifest = {"kind": kind, **identity, **raw.manifest, "dataset": source, "fingerprint": fingerprint,
                    "n_items": raw.n, "d": raw.d, "handson": _version(),
                    "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                    "seconds": round(time.perf_counter() - start, 3), "key": key}
        raw.manifest = {k: manifest[k] for k in sorted(manifest)}
        if store is not None and store.writable:
            try:
                store.save(key, raw)
                store.clear_chunks(key)
            except OSError as exc:
                _warn_uncached(store.root, exc)
    manifest = {**raw.manifest, "missing": missing, "cache": "hit" if hit else ("miss" if store else "off")}
    if store is not None:
        manifest["cache_file"] = str(store.paths(key)[0])
    values = apply_missing(raw.values, raw.mask, missing, what, ids)
    feats = Features(values, raw.mask, raw.report, manifest)
    warn_missing(feats.report, f"{what} ({identity.get('encoder')})", missing)
    return feats


def _drop_non_finite(raw: Features, what: str) -> Features:
    """Rows with NaN or inf (e.g. an encoder overflowing in half precision) become unavailable:
    counted in ``report["non_finite"]`` with a warning, zeroed, and ``mask`` False."""
    bad = ~np.isfinite(raw.values).all(axis=1) & raw.mask
    raw.report["non_finite"] = int(bad.sum())
    if bad.any():
        raw.values[bad] = 0.0
        raw.mask = raw.mask & ~bad
        raw.report["available"] = int(raw.mask.sum())
        warnings.warn(f"{what}: the encoder returned NaN/inf for {int(bad.sum())} item(s); they are treated "
                      "as items without content (report['non_finite'], mask False).", stacklevel=4)
    return raw


def _store(cache: bool | str | Path | None) -> FeatureStore | None:
    """The FeatureStore ``cache`` asks for (True: the default folder, False/None: none)."""
    if cache is True:
        return FeatureStore()
    if cache is False or cache is None:
        return None
    if not isinstance(cache, (str, Path)):
        raise ValueError(f"cache must be True, False or a folder path, got {cache!r}.")
    return FeatureStore(cache)


_WARNED: set[str] = set()


def _warn_uncached(root: Path, exc: OSError | None) -> None:
    """One warning per folder and session: features are computed without caching there."""
    if str(root) in _WARNED:
        return
    _WARNED.add(str(root))
    why = f" ({type(exc).__name__}: {exc.strerror or exc})" if exc is not None else ""
    warnings.warn(f"The feature cache folder {root} cannot be written{why}; features are computed without "
                  "caching. Set HANDSON_CACHE or pass cache= a writable folder to keep them.", stacklevel=4)


def _version() -> str:
    from .. import __version__
    return __version__
