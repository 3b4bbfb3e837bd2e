"""Features made elsewhere (Ducho, a teacher's Drive, the Hugging Face hub), loaded instead of extracted.

Three layouts, as a folder or inside a ``.zip`` / ``.tar(.gz)`` archive:

- **Ducho**: one ``<item_id>.npy`` (shape ``(d,)`` or ``(1, d)``) per item under
  ``<root>/<backend>/<model>/<layer>/``, e.g. ``visual_embeddings/torch/ResNet50/avgpool/``
  or ``textual_embeddings/sentence_transformers/sentence-transformers/all-mpnet-base-v2/1/``.
  Point at the innermost folder, or at a root that holds one such folder (with several,
  the encoder name picks one or the error lists them);
- **one matrix + item list**: a 2-D ``.npy`` with ``item_ids.txt`` (or ``ids.txt`` /
  ``items.txt``: one id per line, in row order) next to it, or a ``.csv`` / ``.tsv`` whose
  first column holds the ids;
- **one** ``.npz`` holding ``values`` (or ``features``) and ``ids`` (or ``item_ids``).

Rows are matched to the dataset's item ids as strings. Items absent from the source get
``mask`` False (counted in ``report["missing_file"]`` and warned about; their rows follow
``missing=``); a width that does not fit the encoder, or rows of different widths, stop with
an error that says which file. The result goes through the feature cache like an extraction:

    V = features.image_features(ds, "resnet50", precomputed="office_resnet50.zip")
    V = features.image_features(ds, "resnet50")          # later, any notebook: a cache hit
    V = features.image_features(ds, "resnet50", precomputed="gdrive://<file id>/office_resnet50.zip")
    V = features.image_features(ds, "resnet50", precomputed="hf://<owner>/<repo>/office_resnet50.zip")
    T = features.load_precomputed(ds, "textual_embeddings/", kind="text")   # no encoder named

A source is a local path, ``"gdrive://<file id>/<file name>"`` (downloaded with gdown) or
``"hf://<owner>/<dataset repo>/<file>"`` (the Hugging Face hub), each downloaded once into
the data folder (``HANDSON_DATA_DIR``). With an encoder named, the imported matrix is
stored under the key its extraction would have, so every later call for that encoder on
that catalog reads it (``manifest["precomputed"]`` names the source). Archives are
unpacked once into ``<HANDSON_CACHE>/precomputed/``.

**On Colab**, a Drive folder serves as the cache of the whole course: set ``HANDSON_CACHE``
before the first ``handson`` call of every notebook, e.g.

    from google.colab import drive; drive.mount("/content/drive")
    import os; os.environ["HANDSON_CACHE"] = "/content/drive/MyDrive/handson-cache"

The first notebook extracts (or imports) and writes there; the next ones, in fresh
runtimes, read the verified entries instead of downloading or extracting again. Writes are
atomic, so two notebooks sharing the folder never see a partial entry. Image features are
keyed by the image files' paths, sizes and modification times: keep the downloaded data
on Drive too (``HANDSON_DATA_DIR``, which an installed package otherwise puts under
``HANDSON_CACHE``), since images downloaded again in each runtime are new files to the cache.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import tarfile
import tempfile
import zipfile
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from .core import Features

__all__ = ["load_precomputed", "read_precomputed", "fetch", "source_id", "expected_dim", "KNOWN_DIMS"]

#: feature width of the encoders of the tables, at their default layer (name -> (layer, d))
KNOWN_DIMS = {
    "efficientnet-lite0": ("avgpool", 1280), "resnet50": ("avgpool", 2048), "resnet18": ("avgpool", 512),
    "convnext_tiny": ("classifier.1", 768), "vit_b_16": ("class_token", 768), "efficientnet_b0": ("avgpool", 1280),
    "all-MiniLM-L6-v2": (None, 384), "all-MiniLM-L12-v2": (None, 384), "all-mpnet-base-v2": (None, 768),
    "all-distilroberta-v1": (None, 768), "multi-qa-mpnet-base-dot-v1": (None, 768),
    "paraphrase-multilingual-MiniLM-L12-v2": (None, 384),
    "openai/clip-vit-base-patch16": (None, 512), "openai/clip-vit-base-patch32": (None, 512),
}
ID_LISTS = ("item_ids.txt", "ids.txt", "items.txt")
ARCHIVES = (".zip", ".tar", ".tar.gz", ".tgz")


def expected_dim(encoder: str | None, layer: str | None = None) -> int | None:
    """The width ``encoder`` gives at ``layer`` when the tables know it (None: unknown)."""
    known = KNOWN_DIMS.get(str(encoder).removeprefix("sentence-transformers/")) if encoder else None
    if known is None or (layer is not None and known[0] is not None and layer != known[0]):
        return None
    return known[1]


def fetch(source: str | Path) -> Path:
    """The local path of ``source``: a path as it is; ``"hf://<owner>/<repo>/<file>"`` (a
    dataset repository of the Hugging Face hub) or ``"gdrive://<file id>/<file name>"`` (a
    Google Drive file, with gdown) downloaded once into the data folder and reused."""
    text = str(source)
    if text.startswith("hf://"):
        parts = text[len("hf://"):].split("/")
        if len(parts) < 3 or not all(parts):
            raise ValueError(f"{text!r}: write hf://<owner>/<repo>/<path of the file in the dataset repository>.")
        from ..datasets.download import hf_file
        return Path(hf_file("/".join(parts[:2]), "/".join(parts[2:])))
    if text.startswith("gdrive://"):
        file_id, _, name = text[len("gdrive://"):].partition("/")
        if not file_id or not name or "/" in name:
            raise ValueError(f"{text!r}: write gdrive://<file id>/<file name>, e.g. gdrive://1AbC.../features.zip.")
        from ..datasets.download import data_dir, gdown_file
        dest = data_dir("precomputed", file_id) / name
        return dest if dest.is_file() else Path(gdown_file(file_id, dest))
    return Path(source).expanduser()


def source_id(source: str | Path) -> str:
    """A short id of a source's current state (path, sizes, modification times), so that a
    changed or replaced source is imported again."""
    path = fetch(source).resolve()
    if not path.exists():
        raise ValueError(f"Precomputed features: {path} does not exist. Download them first (e.g. gdown for a "
                         "Drive file, huggingface_hub.hf_hub_download for the hub) and pass the local path.")
    if path.is_file():
        st = path.stat()
        blob = f"{path}\t{st.st_size}\t{st.st_mtime_ns}"
    else:
        names = sorted(str(p.relative_to(path)) for p in path.rglob("*") if p.is_file())
        blob = f"{path}\t{len(names)}\t" + "\n".join(names)
    return hashlib.sha256(blob.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def load_precomputed(data: Any, source: str | Path, kind: str = "image", encoder: str | None = None,
                     dim: int | None = None, missing: str = "zero", cache: bool | str | Path = True) -> Features:
    """Features ``(n_items, d)`` read from ``source`` (see the module doc for the layouts),
    aligned with ``data`` (a Dataset, or a list of item ids), through the feature cache.

    ``kind``: "image" or "text". ``encoder``: the name of the encoder that made them (e.g.
    "resnet50", "all-mpnet-base-v2"); then the call is ``image_features`` /
    ``text_features`` with ``precomputed=source``, and later calls for that encoder hit the
    cache. ``dim``: the width to expect (default: the encoder's, when known).
    """
    from ..datasets import Dataset
    from .cache import cache_key
    from .extract import run_cached

    if kind not in ("image", "text"):
        raise ValueError(f"kind must be 'image' or 'text', got {kind!r}.")
    if encoder is not None:
        if not isinstance(data, Dataset):
            raise ValueError("encoder= needs a Dataset (its images or texts key the cache); pass a Dataset, "
                             "or leave encoder=None to load rows for a list of item ids.")
        from . import image_features, text_features
        extract = image_features if kind == "image" else text_features
        return extract(data, encoder, missing=missing, cache=cache, precomputed=source, progress=False)
    if isinstance(data, Dataset):
        ids, name = list(data.item_ids), data.name
    elif isinstance(data, (str, Path)) or not hasattr(data, "__len__"):
        raise ValueError(f"Pass a Dataset or a list of item ids, got {type(data).__name__}.")
    else:
        ids, name = list(data), "list"
    ids_hash = cache_key({"ids": [str(i) for i in ids]})
    sid, compute = importer(source, ids, dim)
    identity = {"encoder": "precomputed", "source_id": sid, "layer": None, "dim": dim}
    return run_cached(f"precomputed-{kind}", ids, ids_hash, identity, compute, missing, cache, name, kind)


def importer(source: str | Path, ids: Sequence[Any], dim: int | None,
             hint: str | None = None) -> tuple[str, Callable[[Any, str], Features]]:
    """(the source's id, a ``compute(store, key)`` for :func:`handson.features.extract.run_cached`
    that reads ``source`` instead of running an encoder); a remote source is fetched here, once."""
    path = fetch(source)
    sid = source_id(path)

    def compute(store: Any, key: str) -> Features:
        feats = read_precomputed(path, ids, dim=dim, hint=hint)
        feats.manifest["precomputed"] = sid
        return feats
    return sid, compute


def read_precomputed(source: str | Path, ids: Sequence[Any], dim: int | None = None,
                     hint: str | None = None) -> Features:
    """Rows of ``source`` aligned with ``ids`` (no cache, no missing policy: absent items
    hold zeros with ``mask`` False). ``hint``: an encoder name that picks one feature
    folder among several under a Ducho root (matched case-insensitively in its path)."""
    path = fetch(source)
    source_id(path)                                     # a clear error when it does not exist
    if path.is_file() and path.name.lower().endswith(ARCHIVES):
        path = unpack(path)
    if path.is_file():
        keys, matrix = _matrix_file(path)
        layout = "matrix"
    else:
        folder = _feature_folder(path, hint)
        keys, matrix, layout = _read_folder(folder)
        path = folder
    return _align(keys, matrix, ids, dim, path, layout)


def _align(keys: list[str], matrix: np.ndarray, ids: Sequence[Any], dim: int | None, path: Path,
           layout: str) -> Features:
    if matrix.ndim != 2:
        raise ValueError(f"{path}: features must form a 2-D matrix (items, d), got shape {matrix.shape}.")
    if dim is not None and matrix.shape[1] != dim:
        raise ValueError(f"{path}: the features are {matrix.shape[1]}-d, but {dim}-d were expected for this "
                         "encoder. Load the files made by that encoder, or name the encoder that made these.")
    row_of = {k: r for r, k in enumerate(keys)}
    rows = np.array([row_of.get(str(i), -1) for i in ids], dtype=np.int64)
    mask = rows >= 0
    if not mask.any():
        raise ValueError(f"None of the {len(ids)} item ids has features in {path} (it has ids like "
                         f"{keys[:3]}; the dataset has {[str(i) for i in list(ids)[:3]]}); check the id column.")
    values = np.zeros((len(ids), matrix.shape[1]), dtype=np.float32)
    values[mask] = matrix[rows[mask]]
    report = {"items": len(ids), "available": int(mask.sum()), "missing_file": int((~mask).sum()),
              "unused_rows": len(keys) - len(set(rows[mask].tolist()))}
    manifest = {"source": str(path), "layout": layout, "parts": list(path.parts[-3:])}
    return Features(values, mask, report, manifest)


def _matrix_file(path: Path) -> tuple[list[str], np.ndarray]:
    """(ids, matrix) of an ``.npz`` (values + ids) or of a 2-D ``.npy`` with an id list beside it."""
    if path.suffix == ".npz":
        with np.load(path, allow_pickle=False) as z:
            vkey = next((k for k in ("values", "features") if k in z.files), None)
            ikey = next((k for k in ("ids", "item_ids") if k in z.files), None)
            if vkey is None or ikey is None:
                raise ValueError(f"{path} holds {z.files}; it needs 'values' (or 'features') and 'ids' (or 'item_ids').")
            return [str(i) for i in z[ikey].tolist()], np.asarray(z[vkey], dtype=np.float32)
    if path.suffix != ".npy":
        raise ValueError(f"{path}: expected a folder, a .npy, a .npz or an archive ({', '.join(ARCHIVES)}).")
    lists = [path.with_suffix(".txt"), *(path.parent / n for n in ID_LISTS), *path.parent.glob("*.[ct]sv")]
    id_file = next((p for p in lists if p.is_file()), None)
    if id_file is None:
        raise ValueError(f"{path} is one matrix but no item list lies beside it; add {ID_LISTS[0]} "
                         "(one id per line, in row order) or a .csv/.tsv whose first column holds the ids.")
    return _read_ids(id_file), np.load(path, allow_pickle=False).astype(np.float32)


def _read_ids(path: Path) -> list[str]:
    if path.suffix == ".txt":
        return [line.strip() for line in path.read_text().splitlines() if line.strip()]
    import pandas as pd
    frame = pd.read_csv(path, sep="\t" if path.suffix == ".tsv" else ",", dtype=str, usecols=[0])
    return frame.iloc[:, 0].str.strip().tolist()


def _read_folder(folder: Path) -> tuple[list[str], np.ndarray, str]:
    """(ids, matrix, layout) of a folder holding one matrix (+ id list) or one ``.npy`` per item."""
    npys = sorted(folder.glob("*.npy"))
    npzs = sorted(folder.glob("*.npz"))
    has_list = any((folder / n).is_file() for n in ID_LISTS) or any(folder.glob("*.[ct]sv"))
    if len(npzs) == 1 and not npys:
        return (*_matrix_file(npzs[0]), "matrix")
    if len(npys) == 1 and has_list:
        return (*_matrix_file(npys[0]), "matrix")
    rows = [np.load(p, allow_pickle=False).astype(np.float32).reshape(-1) for p in npys]
    widths = {len(r) for r in rows}
    if len(widths) > 1:
        odd = next(p.name for p, r in zip(npys, rows) if len(r) != len(rows[0]))
        raise ValueError(f"Files in {folder} have different widths {sorted(widths)} (e.g. {npys[0].name} "
                         f"and {odd}); one folder must hold the features of one encoder and layer.")
    return [p.stem for p in npys], np.stack(rows), "ducho per-item"


def _feature_folder(root: Path, hint: str | None) -> Path:
    """The folder under ``root`` that holds the features (``root`` itself when it holds them)."""
    if any(root.glob("*.np[yz]")):
        return root
    found = sorted({p.parent for p in root.rglob("*.np[yz]")})
    if not found:
        raise ValueError(f"{root} holds no .npy or .npz files (it contains "
                         f"{sorted(p.name for p in root.iterdir())[:5]}); point at the folder with the features.")
    if len(found) > 1 and hint:
        wanted = str(hint).lower().rsplit("/", 1)[-1]
        found = [f for f in found if wanted in str(f.relative_to(root)).lower()] or found
    if len(found) > 1:
        listing = ", ".join(str(f.relative_to(root)) for f in found[:8])
        raise ValueError(f"{root} holds features in {len(found)} folders ({listing}); pass the one you want.")
    return found[0]


def unpack(archive: Path) -> Path:
    """Unpack ``archive`` once into ``<HANDSON_CACHE>/precomputed/<hash>/`` (atomically: into
    a temporary folder, then renamed); later calls reuse it."""
    from ..utils import cache_dir

    digest = hashlib.sha256()
    with open(archive, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    target = cache_dir("precomputed") / digest.hexdigest()[:16]
    if target.is_dir():
        return target
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}."))
    try:
        _extract(archive, tmp)
        os.replace(tmp, target)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
        if not target.is_dir():     # another process may have unpacked it meanwhile
            raise
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def _extract(archive: Path, dest: Path) -> None:
    """Extract every member of a zip or tar archive into ``dest``; members that would land
    outside it or are not plain files (absolute paths, drive letters, ``..``, links, devices:
    the same check as the data downloads, :func:`handson.datasets.archives.unsafe_members`)
    are refused, and for tars the ``data`` extraction filter does the same."""
    if archive.name.lower().endswith(".zip"):
        from ..datasets.archives import unsafe_members
        with zipfile.ZipFile(archive) as z:
            bad = unsafe_members(z)
            if bad:
                name, why = bad[0]
                raise ValueError(f"{archive}: member {name!r} is refused ({why}: it could write outside "
                                 f"the folder); {len(bad)} unsafe member(s) in all. Rebuild the archive "
                                 "with relative paths and plain files only.")
            z.extractall(dest)
        return
    with tarfile.open(archive) as t:
        t.extractall(dest, filter="data")
