"""Hyper-parameter search on validation data: grid, random, or Optuna's TPE sampler.

    space = {"factors": [32, 64, 128], "reg": tuning.LogUniform(1e-4, 1e-1)}
    result = tuning.search(BPR, train, valid, space, method="random", n_trials=8)
    result.trials        # one row per trial: parameters, Recall@20, epochs, seconds, state
    result.best_params   # the winner's hyper-parameters
    result.model         # the winner, fitted (kept from its trial, or refitted)

Every trial fits ``model_class(**{**fixed, **params})`` on ``train`` (``valid`` drives early
stopping of neural models) and scores it on ``valid`` with seen training items masked.
Trial 0 is always the model's defaults, so a search can only match or beat them on
validation. **The test set is never touched**: ``search`` takes no test set, and nothing
it computes depends on one; report the test score of ``result.model`` once, afterwards.
Choosing by the test score instead flatters it (notebook 12 measures by how much).

A space maps each hyper-parameter to a list of values (grid, random and Optuna pick from
it) or to a range, :class:`Uniform`, :class:`LogUniform` or :class:`IntRange` (random and
Optuna only). ``method="optuna"`` needs the optional extra ``pip install "handson[tune]"``:
the TPE sampler proposes the next trial from the previous ones, a median pruner stops a
neural trial early when its validation curve (reported through the training loop's
``on_validation`` hook) falls behind the others, and ``storage="sqlite:///tune.db"`` keeps
the study on disk, so a search that was interrupted resumes where it stopped.
"""
from __future__ import annotations

import inspect
import itertools
import math
import time
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Mapping

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from .datasets import Interactions, check_same_catalog
from .evaluation import evaluate

__all__ = ["search", "SearchResult", "Uniform", "LogUniform", "IntRange", "METHODS"]

METHODS = ("grid", "random", "optuna")


# -- the space -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Uniform:
    """A float drawn uniformly from ``[low, high]``."""

    low: float
    high: float
    log = False

    def __post_init__(self) -> None:
        if not self.low < self.high or (self.log and self.low <= 0):
            raise ValueError(f"{type(self).__name__} needs {'0 < ' if self.log else ''}low < high, "
                             f"got ({self.low}, {self.high}).")

    def sample(self, rng: np.random.Generator) -> float:
        if self.log:
            return float(math.exp(rng.uniform(math.log(self.low), math.log(self.high))))
        return float(rng.uniform(self.low, self.high))

    def suggest(self, trial: Any, name: str) -> float:
        return trial.suggest_float(name, self.low, self.high, log=self.log)

    def widen(self, value: Any) -> "Uniform":
        """The same range stretched to hold ``value`` (the default, trial 0)."""
        if not isinstance(value, (int, float)) or isinstance(value, bool) or (self.log and value <= 0):
            raise ValueError(f"the default {value!r} cannot be drawn from {self}; use a list of values.")
        return type(self)(min(self.low, value), max(self.high, value))


@dataclass(frozen=True)
class LogUniform(Uniform):
    """A float whose logarithm is uniform on ``[log low, log high]`` (learning rates, penalties)."""

    log = True


@dataclass(frozen=True)
class IntRange(Uniform):
    """An integer drawn uniformly from ``low..high`` (both included)."""

    def sample(self, rng: np.random.Generator) -> int:
        return int(rng.integers(int(self.low), int(self.high) + 1))

    def suggest(self, trial: Any, name: str) -> int:
        return trial.suggest_int(name, int(self.low), int(self.high))


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _sample(dim: Any, rng: np.random.Generator) -> Any:
    return dim.sample(rng) if isinstance(dim, Uniform) else _plain(dim[int(rng.integers(len(dim)))])


def _check_space(space: Mapping[str, Any], defaults: Mapping[str, Any], method: str) -> dict:
    if not isinstance(space, Mapping) or not space:
        raise ValueError("space must be a non-empty dict {hyper-parameter: list of values or a range}.")
    unknown = [name for name in space if name not in defaults]
    if unknown:
        raise ValueError(f"{unknown} are not hyper-parameters of the model; it has {sorted(defaults)}.")
    out = {}
    for name, dim in space.items():
        if not isinstance(dim, Uniform):
            if isinstance(dim, (str, bytes)) or not hasattr(dim, "__len__") or len(dim) == 0:
                raise ValueError(f"space[{name!r}] must be a non-empty list of values or a range, got {dim!r}.")
            dim = [_plain(v) for v in dim]
        elif method == "grid":
            raise ValueError(f"a grid needs lists of values; space[{name!r}] is the range {dim}.")
        out[name] = dim
    return out


def _grid(space: dict, defaults: dict) -> Iterator[dict]:
    yield dict(defaults)
    for values in itertools.product(*space.values()):
        params = dict(zip(space, values))
        if params != defaults:
            yield params


def _random(space: dict, defaults: dict, seed: int) -> Iterator[dict]:
    rng = np.random.default_rng(seed)
    tried = [dict(defaults)]
    yield dict(defaults)
    while True:
        for _ in range(100):        # small lists run out of new settings: then repeat one
            params = {name: _sample(dim, rng) for name, dim in space.items()}
            if params not in tried:
                break
        tried.append(params)
        yield params


# -- the result ----------------------------------------------------------------------------
@dataclass
class SearchResult:
    """What :func:`search` returns.

    ``trials``: one row per trial (``trial``, the searched hyper-parameters, the validation
    ``metric``, ``epochs`` trained, ``best_epoch``, ``seconds``, ``state``: "complete",
    "pruned" or "fail"); trial 0 holds the defaults. ``best_params``, ``best_score``: the
    winner (ties go to the earlier trial, so the defaults win a tie); ``model``: the winner
    fitted; ``default_score``: trial 0's validation score; ``study``: the Optuna study.
    """

    trials: pd.DataFrame
    best_params: dict
    best_score: float
    model: Any
    metric: str
    method: str
    defaults: dict
    study: Any = None
    refitted: bool = False

    @property
    def default_score(self) -> float:
        return float(self.trials.loc[self.trials["trial"] == 0, self.metric].iloc[0])

    def __repr__(self) -> str:
        return (f"SearchResult({self.method}, {len(self.trials)} trials, best {self.metric}="
                f"{self.best_score:.4f} (defaults {self.default_score:.4f}) with {self.best_params})")


# -- running trials ------------------------------------------------------------------------
@dataclass
class _Run:
    """Fits and scores trials; keeps the rows and the best fitted model so far."""

    model_class: type
    train: Interactions
    valid: Interactions
    metric: str
    item_features: Mapping[str, np.ndarray] | None
    fixed: dict
    on_trial: Callable[[Any, dict], None] | None
    rows: list[dict] = field(default_factory=list)
    best: tuple[float, int, Any] = (-math.inf, -1, None)

    def fit(self, params: dict, on_validation: Callable[[int, dict], None] | None = None) -> Any:
        model = self.model_class(**{**self.fixed, **params})       # the searched value wins
        kwargs = {"on_validation": on_validation} if on_validation is not None else {}
        return model.fit(self.train, item_features=self.item_features, valid=self.valid, **kwargs)

    def score(self, model: Any) -> float:
        k = int(self.metric.split("@")[1])
        return float(evaluate(model, self.valid, seen=[self.train], k=(k,), progress=False)[self.metric])

    def trial(self, number: int, params: dict, on_validation: Callable[[int, dict], None] | None = None) -> dict:
        t0 = time.perf_counter()
        try:
            model = self.fit(params, on_validation=on_validation)
        except ValueError as exc:   # e.g. a loss that diverges at a large lr: this trial fails, the search goes on
            warnings.warn(f"trial {number} {params} failed: {exc}", stacklevel=3)
            row = {"trial": number, **params, self.metric: math.nan, "epochs": None, "best_epoch": None,
                   "seconds": time.perf_counter() - t0, "state": "fail"}
            self.rows.append(row)
            return row
        value = self.score(model)
        hist = getattr(model, "history_", None)
        row = {"trial": number, **params, self.metric: value,
               "epochs": len(hist) if hist is not None else None,
               "best_epoch": getattr(hist, "best_epoch", None), "seconds": time.perf_counter() - t0,
               "state": "complete"}
        self.rows.append(row)
        if value > self.best[0]:
            self.best = (value, number, model)
        if self.on_trial is not None:
            self.on_trial(model, dict(row))
        return row


def _supports_pruning(model_class: type) -> bool:
    return "on_validation" in inspect.signature(model_class.fit).parameters


def _optuna(run: _Run, space: dict, defaults: dict, n_trials: int, seed: int, storage: str | None,
            study_name: str | None, progress: bool) -> Any:
    try:
        import optuna
    except ImportError:
        raise ImportError("method='optuna' needs Optuna: pip install 'handson[tune]' (or pip install optuna). "
                          "method='grid' and method='random' need nothing extra.") from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    space = {n: d.widen(defaults[n]) if isinstance(d, Uniform) else d + [defaults[n]] * (defaults[n] not in d)
             for n, d in space.items()}
    name = study_name or f"handson-{run.model_class.__name__}"
    known = optuna.study.get_all_study_names(storage) if storage is not None else []
    resumed = len(optuna.load_study(study_name=name, storage=storage).trials) if name in known else 0
    study = optuna.create_study(study_name=name, storage=storage, load_if_exists=True, direction="maximize",
                                sampler=optuna.samplers.TPESampler(seed=seed + resumed),  # no replayed draws
                                pruner=optuna.pruners.MedianPruner(n_startup_trials=2))
    for t in study.get_trials(states=(optuna.trial.TrialState.RUNNING,)):     # left by a killed run
        study.tell(t.number, state=optuna.trial.TrialState.FAIL)
    done = study.get_trials(states=(optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED))
    if not any(t.params == defaults for t in done):
        study.enqueue_trial(defaults, skip_if_exists=True)
    prunes = _supports_pruning(run.model_class)

    def objective(trial: Any) -> float:
        params = {name: dim.suggest(trial, name) if isinstance(dim, Uniform)
                  else trial.suggest_categorical(name, dim) for name, dim in space.items()}

        def report(epoch: int, record: dict) -> None:
            trial.report(record[run.metric], step=epoch)
            if trial.should_prune():
                raise optuna.TrialPruned()

        row = run.trial(trial.number, params, on_validation=report if prunes else None)
        for key in ("epochs", "best_epoch", "seconds"):
            trial.set_user_attr(key, row[key])
        return row[run.metric]          # NaN for a failed trial: Optuna records it as failed

    remaining = max(0, n_trials - len(done))
    study.optimize(objective, n_trials=remaining, show_progress_bar=progress and remaining > 0)
    return study


def _study_frame(study: Any, metric: str) -> pd.DataFrame:
    rows = []
    for t in study.trials:
        state = t.state.name.lower()
        value = t.value if state == "complete" else max(t.intermediate_values.values(), default=math.nan)
        seconds = t.user_attrs.get("seconds", t.duration.total_seconds() if t.duration else math.nan)
        epochs = t.user_attrs.get("epochs", max(t.intermediate_values, default=None))
        rows.append({"trial": t.number, **t.params, metric: value, "epochs": epochs,
                     "best_epoch": t.user_attrs.get("best_epoch"), "seconds": seconds, "state": state})
    return pd.DataFrame(rows)


def _setup(model_class: type, fixed: Mapping[str, Any] | None, metric: str) -> tuple[dict, dict]:
    """The fixed keywords (quiet neural models validated on ``metric``) and every default."""
    if not isinstance(metric, str) or "@" not in metric:
        raise ValueError(f"metric must look like 'Recall@20' or 'nDCG@10', got {metric!r}.")
    fixed = dict(fixed or {})
    probe = model_class(**fixed)
    params = probe.get_params()
    if "verbose" in params:
        fixed.setdefault("verbose", False)
    if "metric" in params:
        fixed.setdefault("metric", metric)
    return fixed, {k: _plain(v) for k, v in params.items()}


def _refit(run: _Run, params: dict, best_epoch: Any) -> Any:
    """The winner refitted on train + valid; a neural model for the epochs its trial found best."""
    params = {**run.fixed, **params}
    if "epochs" in run.model_class(**params).get_params() and not pd.isna(best_epoch):
        params["epochs"] = int(best_epoch)
    model = run.model_class(**params)
    return model.fit(Interactions.concat([run.train, run.valid]), item_features=run.item_features)


def search(model_class: type, train: Interactions, valid: Interactions, space: Mapping[str, Any],
           method: str = "grid", n_trials: int | None = None, metric: str = "Recall@20", seed: int = 42,
           item_features: Mapping[str, np.ndarray] | None = None, storage: str | None = None,
           study_name: str | None = None, fixed: Mapping[str, Any] | None = None, refit: bool = False,
           on_trial: Callable[[Any, dict], None] | None = None, progress: bool = True) -> SearchResult:
    """Search ``space`` for the hyper-parameters of ``model_class`` with the best ``metric`` on ``valid``.

    ``method``: "grid" (every combination of the lists, in order; ``n_trials`` caps it),
    "random" (``n_trials`` settings drawn with ``seed``, default 10) or "optuna" (TPE with
    median pruning, default 10 trials; ``storage`` such as ``"sqlite:///tune.db"`` with
    ``study_name`` resumes a study, counting the trials already finished towards
    ``n_trials``). Trial 0 is always the defaults, and ``n_trials`` counts it.
    ``fixed``: keywords for every trial (e.g. ``{"epochs": 30}``); neural models are made
    quiet and validated on ``metric``. ``item_features`` go to every ``fit``. A trial whose
    fit raises a ValueError (a bad setting, a diverging loss) is recorded as "fail" with a
    warning, and the search goes on.
    ``refit``: refit the winner on train + valid (a neural model for the epochs its trial
    found best) instead of keeping its fitted trial model. ``on_trial(model, row)`` is
    called after each trial with the fitted model and its row; what it returns is ignored.

    The test set is never touched: there is no argument for it, and the choice depends on
    ``train`` and ``valid`` alone. Evaluate ``result.model`` on test once, at the end.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}.")
    if not isinstance(train, Interactions) or not isinstance(valid, Interactions) or len(valid) == 0:
        raise ValueError("search needs train and a non-empty valid Interactions (e.g. from handson.split).")
    check_same_catalog(train, valid)
    if n_trials is not None and int(n_trials) < 1:
        raise ValueError(f"n_trials must be >= 1 (trial 0 is the defaults), got {n_trials}.")
    fixed, all_defaults = _setup(model_class, fixed, metric)
    space = _check_space(space, all_defaults, method)
    defaults = {name: all_defaults[name] for name in space}
    run = _Run(model_class, train, valid, metric, item_features, fixed, on_trial)
    study = None
    if method == "optuna":
        study = _optuna(run, space, defaults, n_trials or 10, seed, storage, study_name, progress)
        trials = _study_frame(study, metric)
        params_of = {t.number: t.params for t in study.trials}
    else:
        settings = _grid(space, defaults) if method == "grid" else _random(space, defaults, seed)
        total = n_trials or (math.prod(len(d) for d in space.values()) + 1 if method == "grid" else 10)
        bar = tqdm(itertools.islice(settings, total), total=total, desc=f"{method} search",
                   disable=not progress, unit="trial", leave=False)
        for number, params in enumerate(bar):
            run.trial(number, params)
            bar.set_postfix({metric: f"{run.best[0]:.4f}"})
        trials = pd.DataFrame(run.rows)
        params_of = {r["trial"]: {name: r[name] for name in defaults} for r in run.rows}
    return _finish(run, trials, params_of, defaults, method, study, refit)


def _finish(run: _Run, trials: pd.DataFrame, params_of: dict[int, dict], defaults: dict, method: str,
            study: Any, refit: bool) -> SearchResult:
    done = trials[trials["state"] == "complete"]
    if done.empty:
        raise RuntimeError("no trial finished; see the 'state' column of the study's trials.")
    row = done.loc[done[run.metric].idxmax()]
    params = {name: _plain(params_of[int(row["trial"])][name]) for name in defaults}
    if refit:
        model = _refit(run, params, row["best_epoch"])
    elif run.best[1] == row["trial"]:
        model = run.best[2]
    else:       # the winner ran before an interruption: fit it again, as in its trial
        model = run.fit(params)
    return SearchResult(trials=trials.reset_index(drop=True), best_params=params,
                        best_score=float(row[run.metric]), model=model, metric=run.metric, method=method,
                        defaults=defaults, study=study, refitted=refit)
