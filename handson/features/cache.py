"""The feature cache: one ``.npy`` plus a manifest JSON per key, atomic writes, resumable runs.

A key hashes everything that decides the numbers: the dataset fingerprint (ordered item ids
and their content: image paths with sizes and modification times, or the texts), the
encoder, its weights, the layer, the preprocessing and the dtype. Files live under
``handson.utils.cache_dir("features")`` (``HANDSON_CACHE`` or the user cache dir):

    <key>.npy     float32 (n_items, d), raw rows (unavailable items hold zeros)
    <key>.json    manifest, report, the indices of unavailable items, and the .npy's shape,
                  dtype and SHA-256: an entry that does not verify is recomputed (with a warning)
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
import warnings
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from ..utils import atomic_write
from .core import Features

__all__ = ["fingerprint_images", "fingerprint_texts", "cache_key", "FeatureStore", "CacheEntryError",
           "export_ducho", "import_ducho"]


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


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class CacheEntryError(ValueError):
    """A cache entry that does not verify (the message says which file and what failed)."""


class FeatureStore:
    """Cached feature matrices under one folder (default: the handson cache).

    Every entry is verified when read: the manifest must parse and record the ``.npy``
    file's shape, dtype and SHA-256, and the file must match all three. An entry that does
    not verify is reported in a warning (naming the file and what failed), removed, and
    treated as absent, so the caller computes it again: a damaged cache heals itself.
    ``writable`` is False for a folder that cannot be created or written; such a store
    still serves the entries it holds.
    """

    def __init__(self, root: str | Path | None = None) -> None:
        if root is None:
            from ..utils import cache_dir
            try:
                root = cache_dir("features")
            except OSError:     # HANDSON_CACHE names a file or a folder that cannot be made
                root = Path(os.environ.get("HANDSON_CACHE") or Path.home() / ".cache" / "handson") / "features"
        self.root = Path(root)
        self.writable = _probe(self.root)

    def paths(self, key: str) -> tuple[Path, Path]:
        """The ``.npy`` and manifest ``.json`` paths of a key."""
        return self.root / f"{key}.npy", self.root / f"{key}.json"

    def load(self, key: str) -> Features | None:
        """The raw cached features of ``key`` (missing policy not applied), or None when the
        entry is absent or does not verify (then with a warning, and the entry removed)."""
        npy, meta = self.paths(key)
        if not (npy.exists() or meta.exists()):
            return None
        try:
            return self._verified(npy, meta)
        except CacheEntryError as exc:
            warnings.warn(f"Feature cache entry {npy.name} does not verify ({exc}); it is computed again.",
                          stacklevel=3)
            if self.writable:
                npy.unlink(missing_ok=True)
                meta.unlink(missing_ok=True)
            return None

    def _verified(self, npy: Path, meta: Path) -> Features:
        """The entry's Features; a CacheEntryError says what does not verify."""
        try:
            info = json.loads(meta.read_text())
        except (OSError, ValueError) as exc:
            raise CacheEntryError(f"manifest {meta.name} unreadable: {type(exc).__name__}") from None
        if not isinstance(info, dict) or not isinstance(info.get("manifest"), dict) \
                or not isinstance(info.get("file"), dict):
            raise CacheEntryError(f"manifest {meta.name} lacks its 'manifest' or 'file' record")
        rec, man = info["file"], info["manifest"]
        if not npy.is_file():
            raise CacheEntryError(f"{npy.name} is missing")
        if _sha256(npy) != rec.get("sha256"):
            raise CacheEntryError(f"{npy.name} fails its SHA-256 check (damaged or changed on disk)")
        try:
            values = np.load(npy, allow_pickle=False)
        except (OSError, ValueError, EOFError) as exc:
            raise CacheEntryError(f"{npy.name} unreadable: {type(exc).__name__}") from None
        if list(values.shape) != rec.get("shape") or str(values.dtype) != rec.get("dtype") \
                or values.ndim != 2 or values.shape[0] != man.get("n_items"):
            raise CacheEntryError(f"{npy.name} has shape {values.shape} and dtype {values.dtype}, the manifest "
                                  f"says {rec.get('shape')} {rec.get('dtype')} for {man.get('n_items')} items")
        unavailable = np.asarray(info.get("unavailable", []))
        if unavailable.size and (unavailable.dtype.kind not in "iu" or unavailable.min() < 0
                                 or unavailable.max() >= len(values)):
            raise CacheEntryError(f"manifest {meta.name} lists unavailable rows outside the matrix")
        mask = np.ones(len(values), dtype=bool)
        mask[unavailable.astype(np.int64)] = False
        return Features(values, mask, info.get("report", {}), man)

    def save(self, key: str, feats: Features) -> None:
        """Write ``<key>.npy`` then ``<key>.json`` with its shape, dtype and SHA-256 (the
        manifest marks a complete entry); both atomically."""
        npy, meta = self.paths(key)
        values = np.ascontiguousarray(feats.values, dtype=np.float32)
        atomic_write(npy, lambda f: np.save(f, values))
        record = {"sha256": _sha256(npy), "shape": list(values.shape), "dtype": str(values.dtype)}
        atomic_write(meta, lambda f: json.dump({"manifest": feats.manifest, "report": feats.report,
                                                 "unavailable": np.flatnonzero(~feats.mask).tolist(),
                                                 "file": record}, f, indent=1, default=str), "w")

    # -- chunks of a run in progress -----------------------------------------------------
    def chunk_dir(self, key: str) -> Path:
        return self.root / f"{key}.part"

    def chunk_files(self, key: str) -> list[Path]:
        folder = self.chunk_dir(key)
        return sorted(folder.glob("chunk_*.npz")) if folder.is_dir() else []

    def load_chunks(self, key: str, n: int | None = None) -> dict[str, np.ndarray] | None:
        """All chunks saved so far, concatenated: ``index``, ``values``, ``status``, ``mode``.

        A chunk that cannot be read or whose arrays disagree (lengths, rows outside ``[0, n)``,
        widths) is dropped with a warning and its rows are computed again."""
        parts, dropped = [], []
        for f in self.chunk_files(key):
            try:
                with np.load(f, allow_pickle=False) as z:
                    part = {k: z[k] for k in ("index", "values", "status", "mode")}
                _check_chunk(part, n)
            except Exception as exc:  # noqa: BLE001 - a damaged zip raises many types
                dropped.append(f"{f.name} ({type(exc).__name__})")
                f.unlink(missing_ok=True)
                continue
            parts.append(part)
        widths = {p["values"].shape[1] for p in parts} - {0}
        if len(widths) > 1:
            dropped.append(f"all chunks (row widths {sorted(widths)})")
            self.clear_chunks(key)
            parts = []
        if dropped:
            warnings.warn(f"Feature cache: dropped damaged chunk(s) of an interrupted run: {', '.join(dropped[:3])}; "
                          "their rows are computed again.", stacklevel=3)
        if not parts:
            return None
        return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}

    def save_chunk(self, key: str, number: int, index: np.ndarray, values: np.ndarray,
                   status: np.ndarray, mode: np.ndarray) -> None:
        """Atomically write one chunk of rows (original item indices in ``index``)."""
        folder = self.chunk_dir(key)
        folder.mkdir(exist_ok=True)
        atomic_write(folder / f"chunk_{number:06d}.npz",
                      lambda f: np.savez(f, index=index, values=values, status=status, mode=mode))

    def clear_chunks(self, key: str) -> None:
        shutil.rmtree(self.chunk_dir(key), ignore_errors=True)

    def entries(self) -> list[dict]:
        """One dict per cached entry: key, encoder, layer, shape, created."""
        out = []
        for meta in sorted(self.root.glob("*.json")):
            try:
                man = json.loads(meta.read_text())["manifest"]
                out.append({"key": meta.stem, "kind": man.get("kind"), "encoder": man.get("encoder"),
                            "layer": man.get("layer"), "n_items": man.get("n_items"), "d": man.get("d"),
                            "created": man.get("created")})
            except (OSError, ValueError, KeyError, TypeError, AttributeError):
                continue
        return out


def _probe(folder: Path) -> bool:
    """Whether ``folder`` can be created and written (a probe file is written and removed)."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".probe-")
        os.close(fd)
        os.unlink(probe)
    except OSError:
        return False
    return True


def _check_chunk(part: dict[str, np.ndarray], n: int | None) -> None:
    """A ValueError unless the arrays of one chunk agree with each other and with ``n`` rows."""
    index, values = part["index"], part["values"]
    if index.ndim != 1 or values.ndim != 2 or not (len(index) == len(values) == len(part["status"])
                                                    == len(part["mode"])):
        raise ValueError("chunk arrays disagree")
    if len(index) and (index.dtype.kind not in "iu" or index.min() < 0 or (n is not None and index.max() >= n)):
        raise ValueError("chunk rows outside the catalog")


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
