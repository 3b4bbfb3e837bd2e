"""The feature cache: one ``.npy`` plus a manifest JSON per key, atomic writes, resumable runs.

A key hashes everything that decides the numbers: the dataset fingerprint (ordered item ids
and their content: image paths with sizes and modification times, or the texts), the
encoder, its weights, the layer, the preprocessing and the dtype. Files live under
``handson.utils.cache_dir("features")`` (``HANDSON_CACHE`` or the user cache dir):

    <key>.npy     float32 (n_items, d), raw rows (unavailable items hold zeros)
    <key>.json    manifest, report and the indices of unavailable items
    <key>.part/   chunk files of a run in progress; a later identical call resumes from them

Also the Ducho / Elliot layout (one ``<item_id>.npy`` per item under
``<backend>/<model>/<layer>/``) for features made in the summer school.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from .core import Features

__all__ = ["fingerprint_images", "fingerprint_texts", "cache_key", "FeatureStore", "export_ducho",
           "import_ducho"]


def _hash_lines(lines: Iterable[str]) -> str:
    h = hashlib.sha256()
    for line in lines:
        h.update(line.encode("utf-8", "surrogatepass"))
        h.update(b"\x00")
    return h.hexdigest()[:16]


def fingerprint_images(ids: Sequence[Any], paths: Sequence[str | None]) -> str:
    """Hash of the ordered item ids and image paths with file sizes and modification times."""
    def describe(i: Any, p: str | None) -> str:
        if p is None:
            return f"{i}\tNone"
        try:
            st = os.stat(p)
        except OSError:
            return f"{i}\t{p}\tabsent"
        return f"{i}\t{p}\t{st.st_size}\t{st.st_mtime_ns}"
    return _hash_lines(describe(i, p) for i, p in zip(ids, paths))


def fingerprint_texts(ids: Sequence[Any], texts: Sequence[Any]) -> str:
    """Hash of the ordered item ids and their texts (None/NaN hash as absent)."""
    return _hash_lines(f"{i}\t{t if isinstance(t, str) else repr(t)}" for i, t in zip(ids, texts))


def cache_key(identity: dict) -> str:
    """A short stable hash of a JSON-able dict (fingerprint, encoder, weights, layer, ...)."""
    blob = json.dumps(identity, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


def _atomic_save_npy(path: Path, array: np.ndarray) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            np.save(f, array)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _atomic_save_json(path: Path, obj: dict) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(obj, f, indent=1, default=str)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class FeatureStore:
    """Cached feature matrices under one folder (default: the handson cache)."""

    def __init__(self, root: str | Path | None = None) -> None:
        if root is None:
            from ..utils import cache_dir
            root = cache_dir("features")
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def paths(self, key: str) -> tuple[Path, Path]:
        """The ``.npy`` and manifest ``.json`` paths of a key."""
        return self.root / f"{key}.npy", self.root / f"{key}.json"

    def load(self, key: str) -> Features | None:
        """The raw cached features of ``key`` (missing policy not applied), or None."""
        npy, meta = self.paths(key)
        if not (npy.is_file() and meta.is_file()):
            return None
        try:
            info = json.loads(meta.read_text())
            values = np.load(npy, mmap_mode=None)
        except (OSError, ValueError):
            return None
        n = info["manifest"].get("n_items")
        if values.ndim != 2 or values.shape[0] != n:
            return None
        mask = np.ones(n, dtype=bool)
        mask[np.asarray(info.get("unavailable", []), dtype=np.int64)] = False
        return Features(values, mask, info.get("report", {}), info["manifest"])

    def save(self, key: str, feats: Features) -> None:
        """Write ``<key>.npy`` then ``<key>.json`` (the manifest marks a complete entry)."""
        npy, meta = self.paths(key)
        _atomic_save_npy(npy, np.ascontiguousarray(feats.values, dtype=np.float32))
        _atomic_save_json(meta, {"manifest": feats.manifest, "report": feats.report,
                                 "unavailable": np.flatnonzero(~feats.mask).tolist()})

    # -- chunks of a run in progress -----------------------------------------------------
    def chunk_dir(self, key: str) -> Path:
        return self.root / f"{key}.part"

    def load_chunks(self, key: str) -> dict[str, np.ndarray] | None:
        """All chunks saved so far, concatenated: ``index``, ``values``, ``status``, ``mode``."""
        folder = self.chunk_dir(key)
        files = sorted(folder.glob("chunk_*.npz")) if folder.is_dir() else []
        parts = []
        for f in files:
            try:
                with np.load(f) as z:
                    parts.append({k: z[k] for k in ("index", "values", "status", "mode")})
            except (OSError, ValueError, KeyError):
                f.unlink(missing_ok=True)
        if not parts:
            return None
        return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}

    def save_chunk(self, key: str, number: int, index: np.ndarray, values: np.ndarray,
                   status: np.ndarray, mode: np.ndarray) -> None:
        """Atomically write one chunk of rows (original item indices in ``index``)."""
        folder = self.chunk_dir(key)
        folder.mkdir(exist_ok=True)
        path = folder / f"chunk_{number:06d}.npz"
        fd, tmp = tempfile.mkstemp(dir=folder, suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            np.savez(f, index=index, values=values, status=status, mode=mode)
        os.replace(tmp, path)

    def clear_chunks(self, key: str) -> None:
        shutil.rmtree(self.chunk_dir(key), ignore_errors=True)

    def entries(self) -> list[dict]:
        """One dict per cached entry: key, encoder, layer, shape, created."""
        out = []
        for meta in sorted(self.root.glob("*.json")):
            try:
                man = json.loads(meta.read_text())["manifest"]
            except (OSError, ValueError, KeyError):
                continue
            out.append({"key": meta.stem, "kind": man.get("kind"), "encoder": man.get("encoder"),
                        "layer": man.get("layer"), "n_items": man.get("n_items"), "d": man.get("d"),
                        "created": man.get("created")})
        return out


def export_ducho(features: Features | np.ndarray, ids: Sequence[Any], folder: str | Path,
                 backend: str = "torch", model: str = "ResNet50", layer: str = "avgpool") -> Path:
    """Write one ``<item_id>.npy`` (shape (d,)) per available item under
    ``folder/<backend>/<model>/<layer>/``, the Ducho / Elliot layout; returns that folder."""
    values = np.asarray(features, dtype=np.float32)
    mask = features.mask if isinstance(features, Features) else np.ones(len(values), bool)
    if len(ids) != len(values):
        raise ValueError(f"ids has {len(ids)} entries but the features have {len(values)} rows; "
                         "pass dataset.item_ids for features of that dataset.")
    out = Path(folder) / backend / model / layer
    out.mkdir(parents=True, exist_ok=True)
    for i in np.flatnonzero(mask):
        name = str(ids[i])
        if "/" in name or name in ("", ".", ".."):
            raise ValueError(f"Item id {name!r} cannot be a file name; map ids to safe names first.")
        np.save(out / f"{name}.npy", values[i])
    return out


def import_ducho(folder: str | Path, ids: Sequence[Any]) -> Features:
    """Read a Ducho / Elliot feature folder (one ``<item_id>.npy`` per item) into rows aligned
    with ``ids``; items without a file get a zero row and ``mask`` False."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"{folder} is not a folder; point at <root>/<backend>/<model>/<layer>/.")
    files = {p.stem: p for p in folder.glob("*.npy")}
    if not files:
        raise ValueError(f"{folder} holds no .npy files; point at the innermost <layer> folder "
                         f"(it contains {sorted(p.name for p in folder.iterdir())[:5]}).")
    rows = {}
    for i, item in enumerate(ids):
        p = files.get(str(item))
        if p is not None:
            rows[i] = np.load(p).astype(np.float32).reshape(-1)
    if not rows:
        raise ValueError(f"None of the {len(ids)} ids has a file in {folder} "
                         f"(files look like {sorted(files)[:3]}); check the id column.")
    dims = {v.shape[0] for v in rows.values()}
    if len(dims) > 1:
        raise ValueError(f"Files in {folder} have different sizes {sorted(dims)}.")
    values = np.zeros((len(ids), dims.pop()), dtype=np.float32)
    mask = np.zeros(len(ids), dtype=bool)
    idx = np.fromiter(rows, dtype=np.int64)
    values[idx] = np.stack([rows[i] for i in idx])
    mask[idx] = True
    parts = folder.resolve().parts
    manifest = {"encoder": parts[-2], "layer": parts[-1], "backend": parts[-3], "source": str(folder),
                "n_items": len(ids), "d": values.shape[1], "dtype": "float32", "kind": "ducho"}
    report = {"items": len(ids), "available": int(mask.sum()), "missing_file": int((~mask).sum()),
              "unused_files": len(files) - len(rows)}
    return Features(values, mask, report, manifest)
