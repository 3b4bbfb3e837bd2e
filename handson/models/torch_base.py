"""TorchRecommender: the base class of every neural model, trained by :func:`handson.training.fit_loop`.

A subclass writes three methods and inherits the rest (training loop, validation, early
stopping, mixed precision, checkpoints, batched scoring to NumPy)::

    class MF(TorchRecommender):
        def _build(self, train, item_features):        # -> torch.nn.Module
            ...
        def _batch_loss(self, batch):                   # batch["users"], ["pos"], ["neg"] -> scalar
            ...
        def _score_batch(self, users):                  # (B,) long -> (B, n_items)
            ...

Optional hooks: ``_batches(train, rng)`` (yield other batches, e.g. user rows for
autoencoders), ``_before_scoring()`` (cache propagated embeddings), ``_on_epoch_start(epoch)``.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Callable, Iterator, Mapping

import numpy as np
import torch

from .. import checkpoints, training
from ..sampling import EpochSampler
from ..datasets import Interactions
from ..utils import check_device, get_device, torch_threads
from .base import Recommender

__all__ = ["TorchRecommender"]


class TorchRecommender(Recommender):
    """A recommender whose parameters live in a ``torch.nn.Module`` (``module_``).

    Hyper-parameters shared by all neural models: ``factors`` (embedding size), ``lr``,
    ``lr_decay`` (the learning rate of epoch ``e`` is ``lr * lr_decay ** (e - 1)``: large
    steps first for speed, small ones later for a precise optimum; 1 keeps it constant),
    ``weight_decay`` (optimizer L2 / decoupled decay with ``optimizer="adamw"``), ``epochs``,
    ``batch_size``, ``n_negatives`` (per positive), ``eval_every`` (epochs between
    validations), ``patience`` (validations without improvement before stopping; 5, i.e.
    25 epochs at the default ``eval_every``: validation curves of ranking models rise
    slowly and noisily, and a shorter patience stops them on a flat stretch),
    ``metric`` (validation metric, e.g. "Recall@20"), ``device`` (None: CUDA when available),
    ``seed``, ``verbose`` (tqdm over epochs), ``precision`` ("auto": bfloat16/float16
    autocast on CUDA, float32 elsewhere; or "fp32", "bf16", "fp16"), ``threads`` (CPU
    threads while training, at most the machine's cores; the default 2 is the fastest choice
    measured for these models on a laptop or a 2-core Colab runtime (each epoch 10-60% shorter
    than with one thread) and few enough that processes competing for the cores do not make it
    collapse, as torch's default of every core can for small per-batch operations; None keeps
    torch's own setting, useful for wide autoencoders on many cores).

    After ``fit``: ``module_``, ``device_``, ``history_`` (:class:`handson.training.History`),
    ``training_`` (:class:`handson.training.TrainState`: the history plus the optimizer,
    random and early-stopping state that :meth:`save_checkpoint` writes), ``fit_seconds_``.
    """

    #: users scored per forward pass in ``score`` (lower it for memory-hungry scorers)
    score_batch_size: int = 1024
    #: at least this many batches per epoch in ``_batches``: models with large default batches
    #: raise it, so that a small data set still gets enough optimizer steps per epoch
    min_batches: int = 1

    def __init__(self, factors: int = 64, lr: float = 1e-3, weight_decay: float = 0.0,
                 epochs: int = 50, batch_size: int = 2048, n_negatives: int = 1,
                 eval_every: int = 5, patience: int = 5, metric: str = "Recall@20",
                 device: str | None = None, seed: int = 42, verbose: bool = True,
                 optimizer: str = "adam", precision: str = "auto", threads: int | None = 2,
                 lr_decay: float = 1.0) -> None:
        self.factors, self.lr, self.weight_decay, self.lr_decay = factors, lr, weight_decay, lr_decay
        self.epochs, self.batch_size, self.n_negatives = epochs, batch_size, n_negatives
        self.eval_every, self.patience, self.metric = eval_every, patience, metric
        self.device, self.seed, self.verbose = device, seed, verbose
        self.optimizer, self.precision, self.threads = optimizer, precision, threads

    # -- fit ---------------------------------------------------------------------------------
    def fit(self, train: Interactions, item_features: Mapping[str, np.ndarray] | None = None,
            valid: Interactions | None = None, *, resume_from: str | Path | None = None,
            checkpoint: str | Path | None = None,
            on_validation: Callable[[int, dict], None] | None = None) -> "TorchRecommender":
        """Train on ``train``; ``valid`` drives early stopping (best weights restored).

        ``checkpoint``: a file rewritten after every epoch; ``resume_from``: a checkpoint
        (from ``checkpoint=`` or :meth:`save_checkpoint`) to continue training from.
        ``on_validation(epoch, record)``: called after every validation (see
        :func:`handson.training.fit_loop`), e.g. to report to a tuner that may stop the trial.
        """
        if checkpoint is not None:              # fail now, not after the first epoch
            checkpoint = checkpoints.check_writable(checkpoint, "checkpoint")
        if resume_from is not None and not checkpoints.check_path(resume_from, "resume_from").is_file():
            raise ValueError(f"Checkpoint {str(resume_from)!r} does not exist; pass the path given to "
                             "fit(checkpoint=...).")
        self._fit_options = {"resume_from": resume_from, "checkpoint": checkpoint,
                             "on_validation": on_validation}
        start = time.perf_counter()
        super().fit(train, item_features, valid)
        self.fit_seconds_ = time.perf_counter() - start
        return self

    def _check_params(self) -> None:
        for name in ("factors", "epochs", "batch_size", "n_negatives", "eval_every", "patience"):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{type(self).__name__}: {name} must be a positive integer, got {value!r}.")
        if not self.lr > 0:
            raise ValueError(f"{type(self).__name__}: lr must be a positive number, got {self.lr!r}.")
        if not 0 < self.lr_decay <= 1:
            raise ValueError(f"{type(self).__name__}: lr_decay must lie in (0, 1] (1: a constant learning "
                             f"rate), got {self.lr_decay!r}.")
        if not self.weight_decay >= 0:
            raise ValueError(f"{type(self).__name__}: weight_decay must be >= 0, got {self.weight_decay!r}.")
        if self.device is not None:
            check_device(self.device, type(self).__name__)
        init_std = getattr(self, "init_std", None)      # models with normal initial embeddings
        if init_std is not None and not init_std > 0:
            raise ValueError(f"{type(self).__name__}: init_std must be > 0 (the standard deviation of "
                             f"the initial embeddings), got {init_std!r}.")
        if self.threads is not None and (not isinstance(self.threads, (int, np.integer)) or self.threads < 1):
            raise ValueError(f"threads must be a positive integer or None, got {self.threads!r}.")
        if not isinstance(self.metric, str) or "@" not in self.metric:
            raise ValueError(f"metric must look like 'Recall@20' or 'nDCG@10', got {self.metric!r}.")
        training.check_optimizer(self.optimizer)
        training.check_precision(self.precision)

    def _fit(self, train: Interactions, item_features: dict[str, np.ndarray],
             valid: Interactions | None) -> None:
        self.device_ = torch.device(get_device(self.device))
        self.item_features_ = item_features         # kept (not copied) so that save() can rebuild the module
        torch.manual_seed(self.seed)
        self._sampler = None                        # training pairs may differ from the last fit
        with torch_threads(self.threads if self.device_.type == "cpu" else None):
            self.module_ = self._build(train, item_features).to(self.device_)
            self.training_ = training.fit_loop(self, train, valid, **self._fit_options)
            self.history_ = self.training_.history

    def save_checkpoint(self, path: str | Path) -> Path:
        """Write the state after the last epoch trained; continue with ``fit(..., resume_from=path)``."""
        return training.save_checkpoint(self, path)

    # -- scoring -----------------------------------------------------------------------------
    def _score(self, users: np.ndarray) -> np.ndarray:
        self.module_.eval()
        out = np.empty((len(users), self.n_items_), dtype=np.float32)
        amp = training._precision(self.precision, self.device_)
        with torch.inference_mode(), torch.autocast(self.device_.type, dtype=amp or torch.float32,
                                                    enabled=amp is not None):
            for start in range(0, len(users), self.score_batch_size):
                batch = torch.as_tensor(users[start:start + self.score_batch_size], device=self.device_)
                out[start:start + len(batch)] = self._score_batch(batch).float().cpu().numpy()
        return out

    # -- to implement ------------------------------------------------------------------------
    def _build(self, train: Interactions, item_features: dict[str, np.ndarray]) -> torch.nn.Module:
        """Create the module (parameters initialised under ``torch.manual_seed(seed)``)."""
        raise NotImplementedError

    def _batch_loss(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """The scalar loss of one batch from :meth:`_batches`."""
        raise NotImplementedError

    def _score_batch(self, users: torch.Tensor) -> torch.Tensor:
        """Scores of all items for a batch of users: ``(B,)`` long -> ``(B, n_items)``."""
        raise NotImplementedError

    # -- hooks -------------------------------------------------------------------------------
    def _batches(self, train: Interactions, rng: np.random.Generator) -> Iterator[dict[str, torch.Tensor]]:
        """One epoch of BPR batches: as many triples as training pairs, drawn for the whole
        epoch at once (:class:`handson.sampling.EpochSampler`, the same draws as
        :func:`training.sample_bpr`), moved to the device once and cut into ``batch_size``
        slices (smaller ones when that gives fewer than ``min_batches``): dicts with "users"
        (B,), "pos" (B,), "neg" (B,) or (B, n_negatives)."""
        sampler = getattr(self, "_sampler", None)
        if sampler is None or sampler.n_neg != self.n_negatives:   # built once per fit
            sampler = self._sampler = EpochSampler(self.train_, self.n_negatives)
        users, pos, neg = sampler.epoch(rng)
        tensors = {name: torch.from_numpy(a).to(self.device_)
                   for name, a in (("users", users), ("pos", pos), ("neg", neg[:, 0] if neg.shape[1] == 1 else neg))}
        size = min(self.batch_size, -(-len(users) // self.min_batches))    # at least min_batches batches
        for start in range(0, len(users), size):
            yield {name: t[start:start + size] for name, t in tensors.items()}

    def _before_scoring(self) -> None:
        """Called (without gradients) after training phases, before any scoring."""

    def _on_epoch_start(self, epoch: int) -> None:
        """Called at the start of every epoch (1-based), e.g. for annealing schedules."""

