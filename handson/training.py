"""The one visible training loop: samplers, losses, early stopping, history, checkpoints.

Every neural model of the course (:class:`handson.models.torch_base.TorchRecommender`)
trains through :func:`fit_loop`. Read it top to bottom: draw batches, compute the loss,
step the optimizer, validate every ``eval_every`` epochs, keep the best weights, stop when
the validation metric has not improved for ``patience`` validations.

Samplers are vectorized: a whole epoch of (user, positive, negative) triples is drawn with
a handful of NumPy calls, negatives by rejection against a sorted array of the keys
``user * n_items + item`` of the training pairs (one ``np.searchsorted`` per round; only the
collisions are redrawn).
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

if TYPE_CHECKING:
    from .datasets import Interactions
    from .models.torch_base import TorchRecommender

__all__ = ["sample_bpr", "sample_negatives", "positive_keys", "bpr_loss", "bce_loss", "History",
           "fit_loop", "save_checkpoint", "CHECKPOINT_FORMAT"]

CHECKPOINT_FORMAT = "handson-checkpoint-1"


# -- samplers ------------------------------------------------------------------------------
# The negative sampler lives in handson.sampling (torch-free, shared with the evaluation
# protocols); re-exported here so that ``training.sample_bpr`` and friends keep working.
from .sampling import positive_keys, sample_bpr, sample_negatives  # noqa: E402


# -- losses --------------------------------------------------------------------------------
def bpr_loss(pos: torch.Tensor, neg: torch.Tensor) -> torch.Tensor:
    """Bayesian personalized ranking loss, ``mean(-log sigmoid(pos - neg))``.

    ``pos`` has shape (B,); ``neg`` (B,) or (B, n_neg) (every negative paired with its positive).
    """
    if neg.dim() > pos.dim():
        pos = pos.unsqueeze(-1)
    return -F.logsigmoid(pos - neg).mean()


def bce_loss(pos: torch.Tensor, neg: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy on logits: positives labelled 1, negatives 0.

    ``pos`` (B,), ``neg`` (B,) or (B, n_neg); the loss of one positive plus its negatives,
    averaged over the batch.
    """
    neg = neg.reshape(pos.shape[0], -1)
    return (F.softplus(-pos) + F.softplus(neg).sum(dim=1)).mean()


# -- history -------------------------------------------------------------------------------
@dataclass
class History:
    """Per-epoch records: ``epoch``, ``loss``, ``seconds`` and validation metrics when computed."""

    records: list[dict] = field(default_factory=list)
    metric: str | None = None
    best_epoch: int | None = None
    best_score: float | None = None
    stopped_early: bool = False

    def append(self, record: dict) -> None:
        self.records.append(dict(record))

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, key: str) -> list[float]:
        """One column as a list (NaN for epochs without it), e.g. ``history["loss"]``."""
        return [r.get(key, float("nan")) for r in self.records]

    @property
    def loss(self) -> list[float]:
        return self["loss"]

    def to_frame(self) -> pd.DataFrame:
        """A DataFrame indexed by epoch: loss, seconds and metric columns (NaN when not validated)."""
        return pd.DataFrame(self.records).set_index("epoch") if self.records else pd.DataFrame()

    def __repr__(self) -> str:
        best = f", best {self.metric}={self.best_score:.4f} at epoch {self.best_epoch}" \
            if self.best_epoch is not None else ""
        return f"History({len(self)} epochs{best})"


# -- the loop ------------------------------------------------------------------------------
@dataclass
class _State:
    """Everything needed to continue training exactly where it stopped."""

    optimizer: torch.optim.Optimizer
    scaler: torch.amp.GradScaler
    rng: np.random.Generator
    history: History
    epoch: int = 0
    best_state: dict | None = None
    bad_evals: int = 0
    torch_rng: Any = None
    cuda_rng: Any = None


def _precision(precision: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for ``precision`` on ``device`` (None: plain float32)."""
    if precision not in ("auto", "fp32", "bf16", "fp16"):
        raise ValueError(f"precision must be 'auto', 'fp32', 'bf16' or 'fp16', got {precision!r}.")
    if device.type != "cuda" or precision == "fp32":
        return None
    if precision == "auto":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.bfloat16 if precision == "bf16" else torch.float16


def _make_optimizer(model: "TorchRecommender") -> torch.optim.Optimizer:
    params = [p for p in model.module_.parameters() if p.requires_grad]
    if model.optimizer == "sgd":
        return torch.optim.SGD(params, lr=model.lr, weight_decay=model.weight_decay)
    if model.optimizer not in ("adam", "adamw"):
        raise ValueError(f"optimizer must be 'adam', 'adamw' or 'sgd', got {model.optimizer!r}.")
    cls = torch.optim.Adam if model.optimizer == "adam" else torch.optim.AdamW
    try:    # the fused kernel updates all parameters in one pass (CPU since torch 2.4)
        return cls(params, lr=model.lr, weight_decay=model.weight_decay, fused=True)
    except (RuntimeError, TypeError):
        return cls(params, lr=model.lr, weight_decay=model.weight_decay)


def _validate(model: "TorchRecommender", valid: "Interactions", train: "Interactions") -> dict[str, float]:
    """Validation metrics at the cut-off of ``model.metric`` (seen training items masked)."""
    from .evaluation import evaluate

    k = int(model.metric.split("@")[1])
    res = evaluate(model, valid, seen=[train], k=(k,), progress=False)
    if model.metric not in res:
        raise ValueError(f"metric {model.metric!r} is not computed by handson.evaluation.evaluate; "
                         f"choose one of {sorted(m for m in res if '@' in m)}.")
    return {m: float(v) for m, v in res.items() if "@" in m}


def _snapshot(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def fit_loop(model: "TorchRecommender", train: "Interactions", valid: "Interactions | None" = None,
             resume_from: str | Path | None = None, checkpoint: str | Path | None = None) -> History:
    """Train ``model.module_`` on ``train``; validate on ``valid`` every ``model.eval_every``
    epochs (and at the last one), keep the best weights, stop after ``model.patience``
    validations without improvement. ``checkpoint``: a path rewritten after every epoch;
    ``resume_from``: a checkpoint to continue from. Returns the :class:`History`."""
    module, device = model.module_, model.device_
    amp_dtype = _precision(model.precision, device)
    state = _State(optimizer=_make_optimizer(model),
                   scaler=torch.amp.GradScaler(device.type, enabled=amp_dtype == torch.float16),
                   rng=np.random.default_rng(model.seed), history=History(metric=model.metric))
    if resume_from is not None:
        _restore(model, state, resume_from)
    hist = state.history
    best = -math.inf if hist.best_score is None else hist.best_score
    model._train_state_, model._last_weights_ = state, None
    stopped = valid is not None and state.bad_evals >= model.patience  # a resumed early stop
    epochs = tqdm(range(state.epoch + 1, 1 if stopped else model.epochs + 1), desc=type(model).__name__,
                  disable=not model.verbose, leave=False, unit="epoch")
    for epoch in epochs:
        model._on_epoch_start(epoch)
        module.train()
        t0 = time.perf_counter()
        total, n_batches = torch.zeros((), device=device), 0
        for batch in model._batches(train, state.rng):
            with torch.autocast(device.type, dtype=amp_dtype or torch.float32, enabled=amp_dtype is not None):
                loss = model._batch_loss(batch)
            state.optimizer.zero_grad(set_to_none=True)
            state.scaler.scale(loss).backward()
            state.scaler.step(state.optimizer)
            state.scaler.update()
            total += loss.detach().float()
            n_batches += 1
        epoch_loss = total.item() / max(n_batches, 1)
        state.torch_rng = torch.get_rng_state()
        state.cuda_rng = torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None
        if not math.isfinite(epoch_loss):
            raise ValueError(f"{type(model).__name__}: the training loss became {epoch_loss} at epoch "
                             f"{epoch} (lr={model.lr}). Lower the learning rate (e.g. lr={model.lr / 10:g}) "
                             "or add regularization.")
        record = {"epoch": epoch, "loss": epoch_loss, "seconds": time.perf_counter() - t0}
        if valid is not None and (epoch % model.eval_every == 0 or epoch == model.epochs):
            module.eval()
            with torch.no_grad():
                model._before_scoring()
            record.update(_validate(model, valid, train))
            if record[model.metric] > best:
                best, state.bad_evals = record[model.metric], 0
                state.best_state = _snapshot(module)
                hist.best_epoch, hist.best_score = epoch, best
            else:
                state.bad_evals += 1
        hist.append(record)
        state.epoch = epoch
        epochs.set_postfix({k: f"{v:.4f}" for k, v in record.items() if k in ("loss", model.metric)})
        if checkpoint is not None:
            save_checkpoint(model, checkpoint)
        if valid is not None and state.bad_evals >= model.patience:
            hist.stopped_early = True
            break
    epochs.close()
    if state.best_state is not None:
        model._last_weights_ = _snapshot(module)
        module.load_state_dict(state.best_state)
    module.eval()
    with torch.no_grad():
        model._before_scoring()
    return hist


# -- checkpoints ---------------------------------------------------------------------------
def _shapes(module: torch.nn.Module) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in module.state_dict().items()}


def save_checkpoint(model: "TorchRecommender", path: str | Path) -> Path:
    """Write the training state after the last epoch trained (weights of that epoch, not the
    restored best ones; optimizer, epoch, RNG states, early-stopping state, history)."""
    state: _State | None = getattr(model, "_train_state_", None)
    if state is None:
        raise RuntimeError(f"{type(model).__name__} has no training state: call .fit(train) first.")
    last = getattr(model, "_last_weights_", None)
    payload: dict[str, Any] = {
        "format": CHECKPOINT_FORMAT, "model_class": type(model).__name__,
        "params": model.get_params(), "shape": (model.n_users_, model.n_items_),
        "param_shapes": _shapes(model.module_),
        "model": last if last is not None else model.module_.state_dict(),
        "optimizer": state.optimizer.state_dict(), "scaler": state.scaler.state_dict(),
        "numpy_rng": state.rng.bit_generator.state, "torch_rng": state.torch_rng,
        "cuda_rng": state.cuda_rng,
        "epoch": state.epoch, "best_state": state.best_state, "bad_evals": state.bad_evals,
        "history": {"records": state.history.records, "best_epoch": state.history.best_epoch,
                    "best_score": state.history.best_score,
                    "stopped_early": state.history.stopped_early},
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(payload, tmp)
    tmp.replace(path)
    return path


def _restore(model: "TorchRecommender", state: _State, path: str | Path) -> None:
    """Load a checkpoint into ``model.module_`` and ``state``; clear errors on any mismatch."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"Checkpoint {str(path)!r} does not exist; pass the path given to fit(checkpoint=...).")
    try:
        ck = torch.load(path, map_location=model.device_, weights_only=False)
    except Exception as exc:  # noqa: BLE001 - any unreadable file gets the same message
        raise ValueError(f"Cannot read checkpoint {str(path)!r} ({type(exc).__name__}: {exc}).") from exc
    if not isinstance(ck, dict) or ck.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{str(path)!r} is not a handson training checkpoint (no {CHECKPOINT_FORMAT!r} tag).")
    name = type(model).__name__
    if ck["model_class"] != name:
        raise ValueError(f"Checkpoint {str(path)!r} was written by {ck['model_class']}, not {name}; "
                         f"resume it with {ck['model_class']}(**params).")
    if tuple(ck["shape"]) != (model.n_users_, model.n_items_):
        raise ValueError(f"Checkpoint {str(path)!r} was trained on (n_users, n_items)={tuple(ck['shape'])}, "
                         f"this data has {(model.n_users_, model.n_items_)}; resume on the same training data.")
    mine = _shapes(model.module_)
    diff = [f"{k}: {ck['param_shapes'].get(k)} vs {mine.get(k)}"
            for k in sorted(set(mine) | set(ck["param_shapes"])) if ck["param_shapes"].get(k) != mine.get(k)]
    if diff:
        raise ValueError(f"Checkpoint {str(path)!r} has other parameter shapes (checkpoint vs model): "
                         f"{'; '.join(diff[:4])}. Use the hyper-parameters it was trained with: {ck['params']}.")
    model.module_.load_state_dict(ck["model"])
    state.optimizer.load_state_dict(ck["optimizer"])
    state.scaler.load_state_dict(ck["scaler"])
    state.rng.bit_generator.state = ck["numpy_rng"]
    if ck["torch_rng"] is not None:
        torch.set_rng_state(ck["torch_rng"].cpu())
    if ck["cuda_rng"] is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in ck["cuda_rng"]])
    state.epoch, state.best_state, state.bad_evals = ck["epoch"], ck["best_state"], ck["bad_evals"]
    h = ck["history"]
    state.history = History(records=list(h["records"]), metric=model.metric,
                            best_epoch=h["best_epoch"], best_score=h["best_score"],
                            stopped_early=h["stopped_early"])
