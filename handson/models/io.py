"""Save a fitted model and load it back, weights only: ``model.save(path)``, ``BPR.load(path)``.

No pickle anywhere, so a model file from someone else cannot run code when loaded:

- a neural model (:class:`~handson.models.torch_base.TorchRecommender`) is one
  ``torch.save`` of a dict of tensors and plain values (hyper-parameters, the training
  matrix, the item features it was fitted with, the module's ``state_dict``), read back
  with ``torch.load(weights_only=True)``; loading rebuilds the module with the model's own
  ``_build`` (same seed, same inputs) and then loads the weights into it;
- any other model is one ``np.savez`` of its learned arrays (attributes ending in ``_``:
  NumPy arrays, SciPy sparse matrices, dicts of arrays, numbers and strings), read back
  with ``np.load(allow_pickle=False)``.

The training matrix travels with the model, so a loaded model still excludes seen items.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from ..datasets import Interactions
from ..utils import atomic_write

__all__ = ["save_model", "load_model", "saved_class", "MODEL_FORMAT"]

MODEL_FORMAT = "handson-model-1"


def _plain(value: Any, where: str) -> Any:
    """A hyper-parameter as a plain Python value (what ``weights_only`` and JSON can read)."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (tuple, list)):
        return type(value)(_plain(v, where) for v in value)
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"cannot save {where}={value!r} ({type(value).__name__}): only numbers, strings, "
                    "None and tuples/lists of them can be written weights-only.")


def _params(model: Any) -> dict:
    """Hyper-parameters as plain values; ``"tuples"`` names those to turn back into tuples."""
    params = model.get_params()
    return {"values": {k: _plain(v, k) for k, v in params.items()},
            "tuples": [k for k, v in params.items() if isinstance(v, tuple)]}


def _new(cls: type, params: dict) -> Any:
    """An unfitted ``cls`` with the saved hyper-parameters."""
    return cls(**{k: tuple(v) if k in params["tuples"] else v for k, v in params["values"].items()})


def save_model(model: Any, path: str | Path) -> Path:
    """Write the fitted ``model`` to ``path`` (see the module docstring); returns the path."""
    if not hasattr(model, "n_users_"):
        raise RuntimeError(f"{type(model).__name__} is not fitted yet: call .fit(train) before .save().")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if hasattr(model, "module_"):
        atomic_write(path, lambda f: _save_torch(model, f))
    else:
        atomic_write(path, lambda f: np.savez(f, **_arrays(model)))
    return path


def _arrays(model: Any) -> dict[str, np.ndarray]:
    """The learned state of a NumPy model as named arrays, plus one JSON string of the rest."""
    arrays: dict[str, np.ndarray] = {}
    scalars: dict[str, Any] = {}
    for name, value in vars(model).items():
        if not name.endswith("_") or name.startswith("_"):
            continue
        if sp.issparse(value):
            csr = sp.csr_matrix(value)
            arrays.update({f"{name}.csr.{p}": np.asarray(getattr(csr, p)) for p in ("data", "indices", "indptr")})
            arrays[f"{name}.csr.shape"] = np.asarray(csr.shape, dtype=np.int64)
        elif isinstance(value, np.ndarray) and value.dtype.kind != "O":
            arrays[name] = value
        elif isinstance(value, dict) and all(isinstance(v, np.ndarray) for v in value.values()):
            arrays.update({f"{name}.dict.{key}": v for key, v in value.items()})
            scalars.setdefault("__dicts__", []).append(name)
        else:
            scalars[name] = _plain(value, name)
    meta = {"format": MODEL_FORMAT, "model_class": type(model).__name__, "params": _params(model),
            "scalars": scalars}
    arrays["__meta__"] = np.asarray(json.dumps(meta))
    return arrays


def _save_torch(model: Any, file: Any) -> None:
    import torch

    def tensor(a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(a))

    hist = getattr(model, "history_", None)
    payload = {
        "format": MODEL_FORMAT, "model_class": type(model).__name__, "params": _params(model),
        "shape": (int(model.n_users_), int(model.n_items_)),
        "train": {"indptr": tensor(model.train_.indptr.astype(np.int64)),
                  "indices": tensor(model.train_.indices.astype(np.int64))},
        "item_features": {k: tensor(v) for k, v in getattr(model, "item_features_", {}).items()},
        "item_masks": {k: tensor(v) for k, v in getattr(model, "item_masks_", {}).items()},
        "state_dict": {k: v.detach().cpu() for k, v in model.module_.state_dict().items()},
        "history": None if hist is None else {"records": [{k: float(v) for k, v in r.items()} for r in hist.records],
                                              "best_epoch": hist.best_epoch, "best_score": hist.best_score},
    }
    torch.save(payload, file)


def _check_header(meta: dict, path: Path, cls: type | None) -> None:
    if not isinstance(meta, dict) or meta.get("format") != MODEL_FORMAT:
        raise ValueError(f"{str(path)!r} is not a model saved by handson (no {MODEL_FORMAT!r} tag); "
                         "training checkpoints are resumed with fit(resume_from=...).")
    if cls is not None and meta["model_class"] != cls.__name__:
        raise ValueError(f"{str(path)!r} holds a {meta['model_class']}, not a {cls.__name__}; "
                         f"load it with {meta['model_class']}.load(path).")


def _read(path: str | Path) -> tuple[str, Any]:
    """("torch", payload) or ("numpy", npz) for a model file; clear errors for anything else."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"model file {str(path)!r} does not exist; write one with model.save(path).")
    with open(path, "rb") as fh:
        magic = fh.read(4)
    try:
        if magic[:2] == b"PK" and _is_npz(path):
            return "numpy", np.load(path, allow_pickle=False)
        import torch
        return "torch", torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable file gets the same message
        raise ValueError(f"cannot read model file {str(path)!r} ({type(exc).__name__}: {exc}).") from exc


def _is_npz(path: Path) -> bool:
    import zipfile
    with zipfile.ZipFile(path) as z:
        return "__meta__.npy" in z.namelist()


def saved_class(path: str | Path) -> str:
    """The class name of the model saved at ``path`` (e.g. to pick ``models.BPR`` to load it)."""
    kind, data = _read(path)
    if kind == "numpy":
        with data:
            data = json.loads(str(data["__meta__"]))
    _check_header(data, Path(path), None)
    return data["model_class"]


def load_model(path: str | Path, cls: type) -> Any:
    """A fitted ``cls`` from a file of :func:`save_model`; a ValueError for another class."""
    kind, data = _read(path)
    if kind == "numpy":
        with data:
            return _load_numpy(data, Path(path), cls)
    _check_header(data, Path(path), cls)
    return _load_torch(data, cls)


def _load_numpy(npz: Any, path: Path, cls: type) -> Any:
    meta = json.loads(str(npz["__meta__"]))
    _check_header(meta, path, cls)
    model = _new(cls, meta["params"])
    scalars = dict(meta["scalars"])
    dicts = scalars.pop("__dicts__", [])
    for name, value in scalars.items():
        setattr(model, name, value)
    for name in dicts:
        setattr(model, name, {})
    for key in npz.files:
        if key == "__meta__" or key.endswith(tuple(f".csr.{p}" for p in ("indices", "indptr", "shape"))):
            continue
        if ".csr." in key:
            base = key.split(".csr.")[0]
            parts = [npz[f"{base}.csr.{p}"] for p in ("data", "indices", "indptr")]
            setattr(model, base, sp.csr_matrix(tuple(parts), shape=tuple(npz[f"{base}.csr.shape"])))
        elif ".dict." in key:
            base, name = key.split(".dict.", 1)
            getattr(model, base)[name] = npz[key]
        else:
            setattr(model, key, npz[key])
    return model


def _load_torch(ck: dict, cls: type) -> Any:
    import torch

    from .. import training
    from ..utils import get_device, torch_threads

    model = _new(cls, ck["params"])
    n_users, n_items = ck["shape"]
    indptr, indices = ck["train"]["indptr"].numpy(), ck["train"]["indices"].numpy()
    model.n_users_, model.n_items_ = n_users, n_items
    model.train_ = sp.csr_matrix((np.ones(len(indices), np.float32), indices, indptr), shape=(n_users, n_items))
    model.item_features_ = {k: v.numpy() for k, v in ck["item_features"].items()}
    model.item_masks_ = {k: v.numpy() for k, v in ck["item_masks"].items()}
    model.device_ = torch.device(get_device(model.device))
    train = Interactions(np.repeat(np.arange(n_users), np.diff(indptr)), indices, n_users, n_items)
    torch.manual_seed(model.seed)
    with torch_threads(model.threads if model.device_.type == "cpu" else None):
        model.module_ = model._build(train, model.item_features_).to(model.device_)
        model.module_.load_state_dict(ck["state_dict"])
        model.module_.eval()
        with torch.no_grad():
            model._before_scoring()
    if ck["history"] is not None:
        model.history_ = training.History(records=ck["history"]["records"], metric=model.metric,
                                          best_epoch=ck["history"]["best_epoch"],
                                          best_score=ck["history"]["best_score"])
    return model
