"""Training checkpoints that are data, never code: written atomically, read with
``torch.load(weights_only=True)`` and checked field by field before anything in them is used.

A checkpoint holds only tensors, numbers, strings, booleans, None and lists / dicts of
them: the weights, the optimizer and scaler states, the random states (NumPy's bit
generator state with its big integers as decimal strings), the early-stopping bookkeeping,
the history and the model's hyper-parameters (values that are not plain data as their
``repr``). Loading refuses anything else before running a line of it, so a crafted file
cannot execute code, and a damaged or foreign file raises a ValueError that names the path
and the field at fault. :func:`check_writable` lets training fail before the first epoch
when the checkpoint path cannot be written.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .utils import atomic_write

__all__ = ["CHECKPOINT_FORMAT", "check_path", "check_writable", "plain", "rng_state", "set_rng_state",
           "save", "load"]

CHECKPOINT_FORMAT = "handson-checkpoint-2"


def check_path(path: Any, name: str) -> Path:
    """``path`` (str or path-like) as a Path; a ValueError naming the argument ``name`` otherwise."""
    if isinstance(path, bool) or not isinstance(path, (str, os.PathLike)) or not str(path):
        raise ValueError(f"{name} must be a file path (str or pathlib.Path), got {path!r}.")
    return Path(path)


def check_writable(path: Any, name: str = "checkpoint") -> Path:
    """Fail now, not after an epoch, when the checkpoint file ``path`` cannot be written:
    its folder is created if needed and a probe file is written there and removed."""
    path = check_path(path, name)
    if path.is_dir():
        raise ValueError(f"{name}={str(path)!r} is a folder; pass a file path such as {str(path / 'model.pt')!r}.")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".probe", dir=path.parent)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise ValueError(f"{name}={str(path)!r} cannot be written ({type(exc).__name__}: {exc.strerror or exc}); "
                         "choose a folder you can write to.") from None
    return path


def plain(value: Any) -> Any:
    """``value`` as data ``weights_only`` accepts: NumPy scalars become numbers, tuples and
    arrays lists, tensors stay; anything else becomes its ``repr``."""
    if value is None or isinstance(value, (bool, int, float, str, torch.Tensor)):
        return value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (list, tuple, np.ndarray)):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    return repr(value)


def rng_state(rng: np.random.Generator) -> dict:
    """The state of a NumPy generator as plain data (its big integers as decimal strings)."""
    state = rng.bit_generator.state
    return {"bit_generator": state["bit_generator"], "state": {k: str(v) for k, v in state["state"].items()},
            "has_uint32": int(state["has_uint32"]), "uinteger": int(state["uinteger"])}


def set_rng_state(rng: np.random.Generator, state: dict) -> None:
    """Put a state from :func:`rng_state` back into ``rng``."""
    rng.bit_generator.state = {**state, "state": {k: int(v) for k, v in state["state"].items()}}


def save(payload: dict, path: Path) -> Path:
    """Write ``payload`` (plain data and tensors) to ``path`` through a temporary file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda f: torch.save({"format": CHECKPOINT_FORMAT, **payload}, f))
    return path


def load(path: Any, device: torch.device) -> dict:
    """The checkpoint at ``path``, read as data only and checked field by field."""
    path = check_path(path, "resume_from")
    if not path.is_file():
        raise ValueError(f"Checkpoint {str(path)!r} does not exist; pass the path given to fit(checkpoint=...).")
    try:
        ck = torch.load(path, map_location=device, weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable or unsafe file gets the same message
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
        raise ValueError(f"Cannot read checkpoint {str(path)!r} ({type(exc).__name__}: {first}). It is damaged, "
                         "not a handson checkpoint, or holds objects other than tensors and plain data "
                         "(refused without running them).") from None
    if not isinstance(ck, dict) or ck.get("format") != CHECKPOINT_FORMAT:
        tag = ck.get("format") if isinstance(ck, dict) else None
        raise ValueError(f"{str(path)!r} is not a handson training checkpoint of format {CHECKPOINT_FORMAT!r} "
                         f"(found {tag!r}); write it again with this version of handson.")
    _check_fields(ck, str(path))
    return ck


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _tensors(v: Any) -> bool:
    return isinstance(v, dict) and all(isinstance(k, str) and isinstance(t, torch.Tensor) for k, t in v.items())


def _shape(v: Any) -> bool:
    return isinstance(v, (list, tuple)) and all(_is_int(n) and n >= 0 for n in v)


def _rng(v: Any) -> bool:
    return (isinstance(v, dict) and isinstance(v.get("bit_generator"), str) and isinstance(v.get("state"), dict)
            and all(isinstance(s, str) and s.isdigit() for s in v["state"].values())
            and _is_int(v.get("has_uint32")) and _is_int(v.get("uinteger")))


def _history(v: Any) -> bool:
    return (isinstance(v, dict) and isinstance(v.get("records"), list)
            and all(isinstance(r, dict) and _is_int(r.get("epoch")) for r in v["records"])
            and (v.get("best_epoch") is None or _is_int(v["best_epoch"]))
            and (v.get("best_score") is None or isinstance(v["best_score"], (int, float)))
            and isinstance(v.get("stopped_early"), bool))


_FIELDS = {
    "model_class": (lambda v: isinstance(v, str), "a class name"),
    "params": (lambda v: isinstance(v, dict), "a dict of hyper-parameters"),
    "shape": (lambda v: _shape(v) and len(v) == 2, "(n_users, n_items)"),
    "param_shapes": (lambda v: isinstance(v, dict) and all(_shape(s) for s in v.values()), "a dict of shapes"),
    "model": (_tensors, "a dict of tensors"),
    "optimizer": (lambda v: isinstance(v, dict) and isinstance(v.get("state"), dict)
                  and isinstance(v.get("param_groups"), list), "an optimizer state_dict"),
    "scaler": (lambda v: isinstance(v, dict), "a GradScaler state_dict"),
    "numpy_rng": (_rng, "a NumPy bit generator state"),
    "torch_rng": (lambda v: v is None or isinstance(v, torch.Tensor), "a tensor or None"),
    "cuda_rng": (lambda v: v is None or (isinstance(v, list) and all(isinstance(t, torch.Tensor) for t in v)),
                 "a list of tensors or None"),
    "epoch": (lambda v: _is_int(v) and v >= 0, "an epoch number"),
    "best_state": (lambda v: v is None or _tensors(v), "a dict of tensors or None"),
    "bad_evals": (lambda v: _is_int(v) and v >= 0, "a count"),
    "history": (_history, "a history dict (records, best_epoch, best_score, stopped_early)"),
}


def _check_fields(ck: dict, path: str) -> None:
    """A ValueError naming the first field of ``ck`` that is missing or of the wrong kind."""
    for name, (ok, what) in _FIELDS.items():
        if name not in ck:
            raise ValueError(f"Checkpoint {path!r} is damaged: field {name!r} is missing.")
        if not ok(ck[name]):
            raise ValueError(f"Checkpoint {path!r} is damaged: field {name!r} is not {what} "
                             f"(got {type(ck[name]).__name__}).")
