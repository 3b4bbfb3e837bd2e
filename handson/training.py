"""The one visible training loop: batches, early stopping, history, checkpoints.

Every neural model of the course (:class:`handson.models.torch_base.TorchRecommender`)
trains through :func:`fit_loop`. Read it top to bottom: draw batches, compute the loss,
step the optimizer, validate every ``eval_every`` epochs, keep the best weights, stop when
the validation metric has not improved for ``patience`` validations. What the loop needs
from a model is spelled out by the :class:`Trainable` protocol, and everything it learns
besides the weights comes back as one :class:`TrainState` (history, optimizer, random
states, early-stopping bookkeeping), which is also what a checkpoint stores.

Batches come from the model (``_batches``); BPR-style models draw a whole epoch of
(user, positive, negative) triples at once with :func:`handson.sampling.sample_bpr`.

The losses live in :mod:`handson.models.losses`; ``handson.training.bpr_loss`` and
``bce_loss`` still work, with a DeprecationWarning.
"""
from __future__ import annotations

import math
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, Protocol

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from . import checkpoints
from .checkpoints import CHECKPOINT_FORMAT
from .evaluation import ALL_METRICS, evaluate

if TYPE_CHECKING:
    from .datasets import Interactions

__all__ = ["sample_bpr", "sample_negatives", "positive_keys", "History", "TrainState", "Trainable",
           "fit_loop", "save_checkpoint", "write_checkpoint", "CHECKPOINT_FORMAT"]

# the samplers live in handson.sampling (torch-free, shared with the evaluation protocols)
from .sampling import positive_keys, sample_bpr, sample_negatives  # noqa: E402

# -- losses (moved) ------------------------------------------------------------------------
_MOVED_LOSSES = ("bpr_loss", "bce_loss")


def __getattr__(name: str) -> Any:
    """``training.bpr_loss`` / ``training.bce_loss``: deprecated aliases of :mod:`handson.models.losses`."""
    if name in _MOVED_LOSSES:
        warnings.warn(f"handson.training.{name} moved to handson.models.losses.{name}; "
                      "import it from there.", DeprecationWarning, stacklevel=2)
        from .models import losses      # lazy: training itself never depends on the models
        return getattr(losses, name)
    raise AttributeError(f"module 'handson.training' has no attribute {name!r}")


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

    loss = property(lambda self: self["loss"], doc="The loss of every epoch, a list.")

    def to_frame(self) -> pd.DataFrame:
        """A DataFrame indexed by epoch: loss, seconds and metric columns (NaN when not validated)."""
        return pd.DataFrame(self.records).set_index("epoch") if self.records else pd.DataFrame()

    def __repr__(self) -> str:
        best = "" if self.best_epoch is None else f", best {self.metric}={self.best_score:.4f} at epoch {self.best_epoch}"
        return f"History({len(self)} epochs{best})"


# -- what the loop needs and what it returns -----------------------------------------------
class Trainable(Protocol):
    """What :func:`fit_loop` reads from and calls on a model (``TorchRecommender`` is one).

    Hyper-parameters: ``lr`` (and optionally ``lr_decay``, default 1), ``optimizer``,
    ``weight_decay``, ``epochs``, ``eval_every``, ``patience``, ``metric``, ``seed``,
    ``verbose``, ``precision``. Fitted state:
    ``module_`` (the ``torch.nn.Module``), ``device_``, ``n_users_``, ``n_items_``.
    Hooks: ``_batches`` (one epoch of batches), ``_batch_loss`` (scalar loss of a batch),
    ``_before_scoring`` (after training phases), ``_on_epoch_start``; ``get_params`` (for
    checkpoints). Validation scores the model through :func:`handson.evaluation.evaluate`.
    """

    module_: torch.nn.Module
    device_: torch.device
    n_users_: int
    n_items_: int
    lr: float
    optimizer: str
    weight_decay: float
    epochs: int
    eval_every: int
    patience: int
    metric: str
    seed: int
    verbose: bool
    precision: str

    def get_params(self) -> dict: ...
    def _batches(self, train: "Interactions", rng: np.random.Generator) -> Iterator[dict[str, torch.Tensor]]: ...
    def _batch_loss(self, batch: dict[str, torch.Tensor]) -> torch.Tensor: ...
    def _before_scoring(self) -> None: ...
    def _on_epoch_start(self, epoch: int) -> None: ...


@dataclass
class TrainState:
    """What :func:`fit_loop` returns: the history and everything needed to continue training
    exactly where it stopped (a checkpoint is this object written to disk).

    ``history``: the :class:`History`; ``optimizer`` and ``scaler`` (mixed precision) with
    their internal state; ``rng``: the NumPy generator that draws the batches; ``epoch``: the
    last epoch trained; ``best_state``: the weights of the best validation (None without
    validation); ``bad_evals``: validations since the last improvement; ``torch_rng`` and
    ``cuda_rng``: torch's random states after the last epoch; ``last_weights``: the weights
    of the last epoch when the best ones were restored into the module (None otherwise).
    A fitted ``TorchRecommender`` keeps it as ``training_`` (and its history as ``history_``).
    """

    optimizer: torch.optim.Optimizer
    scaler: torch.amp.GradScaler
    rng: np.random.Generator
    history: History
    epoch: int = 0
    best_state: dict | None = None
    bad_evals: int = 0
    torch_rng: Any = None
    cuda_rng: Any = None
    last_weights: dict | None = None


# -- the loop ------------------------------------------------------------------------------
def _precision(precision: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for ``precision`` on ``device`` (None: plain float32)."""
    check_precision(precision)
    if device.type != "cuda" or precision == "fp32":
        return None
    if precision == "auto":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.bfloat16 if precision == "bf16" else torch.float16


def check_precision(precision: str) -> None:
    """A ValueError unless ``precision`` is one the loop knows."""
    if precision not in ("auto", "fp32", "bf16", "fp16"):
        raise ValueError(f"precision must be 'auto', 'fp32', 'bf16' or 'fp16', got {precision!r}.")


def check_optimizer(optimizer: str) -> None:
    """A ValueError unless ``optimizer`` is one the loop knows."""
    if optimizer not in ("adam", "adamw", "sgd"):
        raise ValueError(f"optimizer must be 'adam', 'adamw' or 'sgd', got {optimizer!r}.")


def _make_optimizer(model: Trainable) -> torch.optim.Optimizer:
    check_optimizer(model.optimizer)
    params = [p for p in model.module_.parameters() if p.requires_grad]
    if model.optimizer == "sgd":
        return torch.optim.SGD(params, lr=model.lr, weight_decay=model.weight_decay)
    cls = torch.optim.Adam if model.optimizer == "adam" else torch.optim.AdamW
    try:    # the fused kernel updates all parameters in one pass (CPU since torch 2.4)
        return cls(params, lr=model.lr, weight_decay=model.weight_decay, fused=True)
    except (RuntimeError, TypeError):
        return cls(params, lr=model.lr, weight_decay=model.weight_decay)


def _start(model: Trainable, resume_from: str | Path | None) -> TrainState:
    """A fresh :class:`TrainState`, or the one of the checkpoint ``resume_from``."""
    amp_dtype = _precision(model.precision, model.device_)
    state = TrainState(optimizer=_make_optimizer(model),
                       scaler=torch.amp.GradScaler(model.device_.type, enabled=amp_dtype == torch.float16),
                       rng=np.random.default_rng(model.seed), history=History(metric=model.metric))
    if resume_from is not None:
        _restore(model, state, resume_from)
    return state


def _train_epoch(model: Trainable, train: "Interactions", state: TrainState, epoch: int) -> dict:
    """One pass over ``model._batches``: a gradient step per batch. Returns the epoch's record."""
    module, device = model.module_, model.device_
    amp_dtype = _precision(model.precision, device)
    model._on_epoch_start(epoch)
    for group in state.optimizer.param_groups:      # exponential decay: lr * lr_decay ** (epoch - 1)
        group["lr"] = model.lr * getattr(model, "lr_decay", 1.0) ** (epoch - 1)
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
    return {"epoch": epoch, "loss": epoch_loss, "seconds": time.perf_counter() - t0}


def _validate(model: Trainable, valid: "Interactions", train: "Interactions") -> dict[str, float]:
    """Validation metrics at the cut-off of ``model.metric`` (seen training items masked):
    the metric itself, Recall and nDCG (the learning curves), not the whole metric table."""
    model.module_.eval()
    with torch.no_grad():
        model._before_scoring()
    name, k, known = model.metric.split("@")[0].lower(), int(model.metric.split("@")[1]), \
        {m.lower(): m for m in ALL_METRICS if m != "Coverage"}
    if name not in known:
        raise ValueError(f"metric {model.metric!r} is not computed by handson.evaluation.evaluate; "
                         f"choose one of {[f'{m}@{k}' for m in known.values()]}.")
    res = evaluate(model, valid, seen=[train], k=(k,), progress=False,
                   metrics=list(dict.fromkeys([known[name], "Recall", "nDCG"])))
    return {m: float(v) for m, v in res.items() if "@" in m}


def _track_best(model: Trainable, state: TrainState, record: dict) -> None:
    """Early-stopping bookkeeping after a validation: keep the best weights, count the others."""
    hist = state.history
    best = -math.inf if hist.best_score is None else hist.best_score
    if record[model.metric] > best:
        state.bad_evals = 0
        state.best_state = _snapshot(model.module_)
        hist.best_epoch, hist.best_score = record["epoch"], record[model.metric]
    else:
        state.bad_evals += 1


def _snapshot(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def _finish(model: Trainable, state: TrainState) -> None:
    """Restore the best weights (keeping the last ones for checkpoints) and prepare scoring."""
    if state.best_state is not None:
        state.last_weights = _snapshot(model.module_)
        model.module_.load_state_dict(state.best_state)
    model.module_.eval()
    with torch.no_grad():
        model._before_scoring()


def fit_loop(model: Trainable, train: "Interactions", valid: "Interactions | None" = None,
             resume_from: str | Path | None = None, checkpoint: str | Path | None = None,
             on_validation: Callable[[int, dict], None] | None = None) -> TrainState:
    """Train ``model.module_`` on ``train``; validate on ``valid`` every ``model.eval_every``
    epochs (and at the last one), keep the best weights, stop after ``model.patience``
    validations without improvement. ``checkpoint``: a path rewritten after every epoch;
    ``resume_from``: a checkpoint to continue from. ``on_validation(epoch, record)`` is
    called after each validation with the epoch's record (loss and metrics); it may raise
    to abandon training (hyper-parameter search prunes poor trials this way). Returns the
    :class:`TrainState` (its ``history`` is the :class:`History`)."""
    if checkpoint is not None:
        checkpoint = checkpoints.check_writable(checkpoint)
    state = _start(model, resume_from)
    stopped = valid is not None and state.bad_evals >= model.patience  # a resumed early stop
    epochs = _progress(model, range(state.epoch + 1, 1 if stopped else model.epochs + 1))
    for epoch in epochs:
        record = _train_epoch(model, train, state, epoch)
        if valid is not None and (epoch % model.eval_every == 0 or epoch == model.epochs):
            record.update(_validate(model, valid, train))
            _track_best(model, state, record)
            if on_validation is not None:
                on_validation(epoch, record)
        state.history.append(record)
        state.epoch = epoch
        epochs.set_postfix({k: f"{v:.4f}" for k, v in record.items() if k in ("loss", model.metric)},
                           refresh=False)
        if checkpoint is not None:
            write_checkpoint(model, state, checkpoint)
        if valid is not None and state.bad_evals >= model.patience:
            state.history.stopped_early = True
            break
    epochs.close()
    _finish(model, state)
    if model.verbose and epochs.disable:                 # nobody watched the bar: one line for the log
        print(_summary(model, state.history), file=sys.stderr, flush=True)
    return state


# -- progress ------------------------------------------------------------------------------
def _progress(model: Trainable, epochs: range) -> tqdm:
    """A progress bar over ``epochs``, live only when ``model.verbose`` and someone watches (a
    terminal, or a Jupyter / Colab kernel); otherwise disabled, so it costs nothing, and
    :func:`fit_loop` prints one summary line instead of a bar redrawn into a log."""
    ipython = sys.modules.get("IPython")
    kernel = getattr(ipython.get_ipython() if ipython else None, "kernel", None)
    watched = kernel is not None or bool(sys.stderr is not None and sys.stderr.isatty())
    return tqdm(epochs, desc=type(model).__name__, unit="epoch", leave=False, mininterval=0.5,
                disable=not (model.verbose and watched))


def _summary(model: Trainable, h: History) -> str:
    """One line for logs: epochs, seconds, the best validation and whether training stopped early."""
    seconds = sum(h["seconds"])
    best = f", best {h.metric} {h.best_score:.4f} at epoch {h.best_epoch}" if h.best_epoch is not None else ""
    return (f"{type(model).__name__}: {len(h)} epochs, {seconds:.1f} s of training "
            f"({1000 * seconds / max(len(h), 1):.0f} ms/epoch){best}{', stopped early' * h.stopped_early}")


# -- checkpoints ---------------------------------------------------------------------------
def _shapes(module: torch.nn.Module) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in module.state_dict().items()}


def save_checkpoint(model: Trainable, path: str | Path) -> Path:
    """Write the training state of a fitted model (its ``training_``, a :class:`TrainState`)
    after the last epoch trained: weights of that epoch, not the restored best ones;
    optimizer, epoch, RNG states, early-stopping state, history."""
    state: TrainState | None = getattr(model, "training_", None)
    if state is None:
        raise RuntimeError(f"{type(model).__name__} has no training state: call .fit(train) first.")
    return write_checkpoint(model, state, checkpoints.check_writable(path, "path"))


def write_checkpoint(model: Trainable, state: TrainState, path: str | Path) -> Path:
    """Write ``state`` (and the weights of ``model.module_``, or ``state.last_weights``) to
    ``path`` as plain data and tensors (see :mod:`handson.checkpoints`)."""
    hist = state.history
    payload: dict[str, Any] = {
        "model_class": type(model).__name__,
        "params": checkpoints.plain(model.get_params()), "shape": [model.n_users_, model.n_items_],
        "param_shapes": {k: list(v) for k, v in _shapes(model.module_).items()},
        "model": state.last_weights if state.last_weights is not None else model.module_.state_dict(),
        "optimizer": state.optimizer.state_dict(), "scaler": state.scaler.state_dict(),
        "numpy_rng": checkpoints.rng_state(state.rng), "torch_rng": state.torch_rng,
        "cuda_rng": state.cuda_rng,
        "epoch": state.epoch, "best_state": state.best_state, "bad_evals": state.bad_evals,
        "history": checkpoints.plain({"records": hist.records, "best_epoch": hist.best_epoch,
                                      "best_score": hist.best_score, "stopped_early": hist.stopped_early}),
    }
    return checkpoints.save(payload, checkpoints.check_path(path, "path"))


def _check_compatible(model: Trainable, ck: dict, path: str | Path) -> None:
    """A clear ValueError when checkpoint ``ck`` cannot continue training ``model``."""
    name, path = type(model).__name__, str(path)
    if ck["model_class"] != name:
        raise ValueError(f"Checkpoint {path!r} was written by {ck['model_class']}, not {name}; "
                         f"resume it with {ck['model_class']}(**params).")
    if tuple(ck["shape"]) != (model.n_users_, model.n_items_):
        raise ValueError(f"Checkpoint {path!r} was trained on (n_users, n_items)={tuple(ck['shape'])}, "
                         f"this data has {(model.n_users_, model.n_items_)}; resume on the same training data.")
    mine = _shapes(model.module_)
    theirs = {k: tuple(v.shape) for k, v in ck["model"].items()}
    diff = [f"{k}: {theirs.get(k)} vs {mine.get(k)}"
            for k in sorted(set(mine) | set(theirs)) if theirs.get(k) != mine.get(k)]
    if diff:
        raise ValueError(f"Checkpoint {path!r} has other parameter shapes (checkpoint vs model): "
                         f"{'; '.join(diff[:4])}. Use the hyper-parameters it was trained with: {ck['params']}.")


def _restore(model: Trainable, state: TrainState, path: str | Path) -> None:
    """Load a checkpoint into ``model.module_`` and ``state``; clear errors on any mismatch."""
    ck = checkpoints.load(path, model.device_)
    _check_compatible(model, ck, path)
    steps = {"model": lambda: model.module_.load_state_dict(ck["model"]),
             "optimizer": lambda: state.optimizer.load_state_dict(ck["optimizer"]),
             "scaler": lambda: state.scaler.load_state_dict(ck["scaler"]),
             "numpy_rng": lambda: checkpoints.set_rng_state(state.rng, ck["numpy_rng"]),
             "torch_rng": lambda: ck["torch_rng"] is None or torch.set_rng_state(ck["torch_rng"].cpu())}
    for name, step in steps.items():
        try:
            step()
        except (ValueError, RuntimeError, KeyError, TypeError, IndexError) as exc:
            raise ValueError(f"Checkpoint {str(path)!r} is damaged: its {name!r} state cannot be restored "
                             f"({type(exc).__name__}: {str(exc)[:200]}).") from None
    if ck["cuda_rng"] is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in ck["cuda_rng"]])
    state.epoch, state.best_state, state.bad_evals = ck["epoch"], ck["best_state"], ck["bad_evals"]
    h = ck["history"]
    state.history = History(records=list(h["records"]), metric=model.metric,
                            best_epoch=h["best_epoch"], best_score=h["best_score"],
                            stopped_early=h["stopped_early"])
