"""Full-ranking top-k evaluation with masking of seen items, comparison tables and paired tests.

    result = evaluate(model, test, seen=[train, valid], k=(10, 20))
    result["Recall@20"], result["nDCG@20"], result["users"], result["users_skipped"]

Every item of the catalog is ranked for every evaluated user (no sampled negatives). Items
in ``seen`` are set to ``-inf`` before ranking, so a model is never credited (or punished)
for items the user already had. Users in batches: ``scores = model.score(batch)``, mask,
top-K by :func:`handson.metrics.top_k`, one ``hits`` matrix at the largest k, every metric at every k
from it (:mod:`handson.metrics` holds the definitions). Beyond-accuracy metrics (popularity
bias, exposure, diversity in a feature space; :mod:`handson.beyond_accuracy`) are computed on
the same top-k lists when asked for. ``per_user=True`` keeps one value per user, so that two
models can be compared by :func:`paired_test`; :func:`compare` with ``seeds=`` refits every
model per seed and reports intervals (:mod:`handson.significance`).
"""
from __future__ import annotations

import inspect
import time
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
import scipy.sparse as sp
from tqdm.auto import tqdm

from . import beyond_accuracy as BA
from . import metrics as M
from . import significance as S
from . import split as _split
from .datasets import Dataset, Interactions, check_same_catalog

__all__ = ["evaluate", "compare", "paired_test", "ALL_METRICS", "BEYOND_METRICS"]

#: metric names accepted by ``metrics=`` and computed by default (Coverage is catalog-level,
#: the others per user)
ALL_METRICS: tuple[str, ...] = (*M.METRICS, "Coverage")
#: beyond-accuracy metrics, computed only when named in ``metrics=`` (ILD also by default
#: when ``item_features=`` is given); Gini and Entropy are catalog-level, the others per user
BEYOND_METRICS: tuple[str, ...] = ("Gini", "Entropy", "Novelty", "ARP", "APLT", "ILD")
_CATALOG = ("Coverage", "Gini", "Entropy")


def _as_ks(k: int | Iterable[int], n_items: int) -> list[int]:
    ks = [k] if isinstance(k, str) or np.ndim(k) == 0 else list(k)
    if not ks:
        raise ValueError("k is empty; pass e.g. k=(10, 20).")
    out = []
    for v in ks:
        if not isinstance(v, (int, float, np.integer, np.floating)) or isinstance(v, (bool, np.bool_)) \
                or not np.isfinite(v) or not float(v).is_integer():
            raise ValueError(f"k values must be integers, got {v!r}; pass e.g. k=20 or k=(10, 20).")
        if not 1 <= int(v) <= n_items:
            raise ValueError(f"k={v} must lie in [1, n_items={n_items}]: the catalog has only "
                             f"{n_items} items. Lower k.")
        out.append(int(v))
    return sorted(set(out))


def _as_metrics(metrics: Sequence[str] | None, has_features: bool = False) -> list[str]:
    if metrics is None:
        return list(ALL_METRICS) + (["ILD"] if has_features else [])
    names = [metrics] if isinstance(metrics, str) else list(metrics)
    lookup = {m.lower(): m for m in (*ALL_METRICS, *BEYOND_METRICS)}
    bad = [m for m in names if str(m).split("@")[0].split("-")[0].lower() not in lookup]
    if bad:
        raise ValueError(f"Unknown metric(s) {bad}; choose from {list(ALL_METRICS + BEYOND_METRICS)} "
                         "(k is given separately, e.g. metrics=['Recall'], k=20).")
    out = list(dict.fromkeys(lookup[str(m).split("@")[0].split("-")[0].lower()] for m in names))
    if "ILD" in out and not has_features:
        raise ValueError("ILD needs item_features= (an (n_items, d) array, a Features, or a dict "
                         "{'image': V, 'text': T} for one ILD per modality).")
    return out


def _seen_matrix(seen: Interactions | Iterable[Interactions] | None,
                 test: Interactions) -> sp.csr_matrix | None:
    if seen is None:
        return None
    parts = [seen] if isinstance(seen, Interactions) else [s for s in seen if s is not None]
    for s in parts:
        if not isinstance(s, Interactions):
            raise ValueError(f"seen must be Interactions or a list of them, got {type(s).__name__}.")
    if not parts:
        return None
    check_same_catalog(test, *parts)
    return Interactions.concat(parts).to_csr()


def _check_model(model: Any, test: Interactions) -> None:
    """Reject a test set that is not Interactions and a model without ``score`` or fitted on
    another catalog (``model.n_items_``, when it has one, must equal ``test.n_items``)."""
    if not isinstance(test, Interactions):
        raise ValueError(f"test must be handson.Interactions (e.g. split.test), got {type(test).__name__}.")
    if not callable(getattr(model, "score", None)):
        raise ValueError(f"model must have a score(users) method, got {type(model).__name__}.")
    model_items = getattr(model, "n_items_", test.n_items)
    if model_items != test.n_items:
        raise ValueError(f"The model scores {model_items} items but test has n_items={test.n_items}: "
                         "fit and evaluate on splits of the same Dataset.")


def _eval_users(users: Sequence[int] | np.ndarray | None, n_relevant: np.ndarray) -> tuple[np.ndarray, int]:
    """``(users to evaluate, number skipped)``: sorted unique int64 indices (default: every
    user), without the users that have no test item (``n_relevant`` of shape ``(n_users,)``
    counts each user's test items); those are only counted, their metrics are undefined."""
    n_users = len(n_relevant)
    if users is None:
        users = np.arange(n_users, dtype=np.int64)
    else:
        users = np.atleast_1d(np.asarray(users))
        if users.size and not np.issubdtype(users.dtype, np.integer):
            raise ValueError(f"users must be integer indices, got dtype {users.dtype}.")
        users = np.unique(users.astype(np.int64))
        if users.size and (users[0] < 0 or users[-1] >= n_users):
            raise ValueError(f"users holds indices outside [0, n_users={n_users}).")
    skipped = int((n_relevant[users] == 0).sum())
    users = users[n_relevant[users] > 0]
    if len(users) == 0:
        raise ValueError("No user has a test item: nothing to evaluate. Check the split "
                         "(is test empty, or are users= all without test items?).")
    return users, skipped


def _ranked_batch(model: Any, batch: np.ndarray, n_items: int, mask: sp.csr_matrix | None,
                  k: int) -> np.ndarray:
    """The top-``k`` items ``(len(batch), k)`` of ``model.score(batch)`` once ``mask`` (the
    seen pairs, or None) is set to ``-inf``; a wrong shape or NaN scores raise."""
    scores = np.array(model.score(batch), dtype=np.float32)   # a private copy: masking writes
    _check_finite_scores(scores, model)
    if scores.shape != (len(batch), n_items):
        raise ValueError(f"model.score returned shape {scores.shape}, "
                         f"expected ({len(batch)}, {n_items}).")
    if mask is not None:
        M.mask_rows(scores, mask, batch)
    return M.top_k(scores, k)


class _Totals:
    """Running sums of the per-user metrics and the item exposure, over batches.

    ``sums["Recall@20"]`` adds up one value per evaluated user (``counts`` how many were
    defined: ILD is NaN for a list with fewer than two usable items); ``exposure[k]``
    (``(n_items,)``) counts the top-k lists each item appeared in (Coverage, Gini, Entropy).
    With ``keep``, the per-user values are kept too (``per_user_frame``).
    """

    def __init__(self, names: list[str], ks: list[int], n_items: int, beyond: BA.ListMetrics, keep: bool) -> None:
        self.names, self.ks, self.beyond = names, ks, beyond
        self.per_user = [m for m in names if m not in _CATALOG]
        self.keys = [key for kk in ks for m in names for key in beyond.keys(m, kk)]
        self.sums = dict.fromkeys(self.keys, 0.0)
        self.counts = dict.fromkeys(self.keys, 0)
        self.exposure = {kk: np.zeros(n_items, dtype=np.int64) for kk in ks} \
            if any(m in _CATALOG for m in names) else {}
        self.kept: dict[str, list[np.ndarray]] | None = {} if keep else None

    def add(self, top: np.ndarray, hits: np.ndarray, n_relevant: np.ndarray) -> None:
        """One batch: ``top`` and ``hits`` ``(B, max k)``, ``n_relevant`` ``(B,)``."""
        for kk in self.ks:
            for m in self.per_user:
                values = [M.METRICS[m](hits, n_relevant, kk)] if m in M.METRICS \
                    else self.beyond.per_user(m, top[:, :kk])
                for key, v in zip(self.beyond.keys(m, kk), values):
                    defined = np.isfinite(v)
                    self.sums[key] += float(v.sum() if defined.all() else v[defined].sum())
                    self.counts[key] += int(defined.sum())
                    if self.kept is not None:
                        self.kept.setdefault(key, []).append(v)
            if kk in self.exposure:
                self.exposure[kk] += np.bincount(top[:, :kk].ravel(), minlength=len(self.exposure[kk]))

    def result(self) -> dict[str, float]:
        """Means over the evaluated users (catalog-level metrics from the exposure), by k then metric."""
        catalog = {"Coverage": lambda c: float((c > 0).mean()), "Gini": BA.gini_index,
                   "Entropy": BA.exposure_entropy}
        out: dict[str, float] = {}
        for kk in self.ks:
            for m in self.names:
                for key in self.beyond.keys(m, kk):
                    out[key] = catalog[m](self.exposure[kk]) if m in _CATALOG else \
                        (self.sums[key] / self.counts[key] if self.counts[key] else float("nan"))
        return out

    def per_user_frame(self, users: np.ndarray) -> pd.DataFrame:
        """One row per evaluated user (index ``user``), one column per per-user metric."""
        cols = {key: np.concatenate(v) for key, v in (self.kept or {}).items()}
        return pd.DataFrame(cols, index=pd.Index(users, name="user"))[[k for k in self.keys if k in cols]]


def evaluate(model: Any, test: Interactions, seen: Interactions | Iterable[Interactions] | None = None,
             k: int | Iterable[int] = (10, 20), metrics: Sequence[str] | None = None,
             users: Sequence[int] | np.ndarray | None = None, batch_size: int = 1024,
             progress: bool | None = None, item_features: Any = None,
             popularity: Interactions | None = None, per_user: bool = False) -> dict[str, Any]:
    """Full-ranking evaluation of ``model`` on ``test``; returns ``{"Recall@20": ..., ...}``.

    ``model`` is anything with ``score(users) -> (len(users), n_items)`` (higher = better).
    ``seen`` (an Interactions or a list, usually ``[train, valid]``) is masked before ranking.
    ``users`` restricts the evaluation (default: every user of the catalog); users without a
    test item are skipped and counted in ``"users_skipped"``, ``"users"`` counts the rest.
    Values are means over evaluated users; ``Coverage@k`` is the share of the catalog that
    appears in at least one top-k list. A test pair that is also in ``seen`` is masked, so it
    can never be hit, but it still counts as relevant (disjoint splits never have one).
    ``progress`` shows a progress bar (default: when there are more than 50,000 users).

    Beyond accuracy (:data:`BEYOND_METRICS`, only when named in ``metrics``): ``Gini`` and
    ``Entropy`` of the item exposure over all lists, ``Novelty``, ``ARP`` and ``APLT`` from the
    item popularity in ``popularity`` (default: the interactions in ``seen``), and ``ILD``, the
    intra-list cosine distance in the space of ``item_features`` (an ``(n_items, d)`` array, a
    ``Features``, or a dict ``{"image": V, "text": T}`` giving ``ILD-image@k``, ``ILD-text@k``;
    ILD is also computed when ``metrics`` is None and ``item_features`` is given). ILD
    averages over the users whose list has at least two items with usable features.
    ``per_user=True`` adds ``result["per_user"]``: a DataFrame with one row per evaluated user
    (index ``user``) and one column per per-user metric, the input of :func:`paired_test`.
    """
    _check_model(model, test)
    ks, names = _as_ks(k, test.n_items), _as_metrics(metrics, item_features is not None)
    if int(batch_size) < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}.")
    truth, mask = test.to_csr(), _seen_matrix(seen, test)
    if popularity is not None and not isinstance(popularity, Interactions):
        raise ValueError(f"popularity must be Interactions (e.g. train), got {type(popularity).__name__}.")
    source = mask if popularity is None else _seen_matrix(popularity, test)
    beyond = BA.ListMetrics(names, source, item_features, test.n_items)
    n_rel_all = np.diff(truth.indptr)
    users, skipped = _eval_users(users, n_rel_all)

    totals = _Totals(names, ks, test.n_items, beyond, keep=per_user)
    show = len(users) > 50_000 if progress is None else progress
    for start in tqdm(range(0, len(users), int(batch_size)), desc="evaluate", unit="batch", disable=not show):
        batch = users[start:start + int(batch_size)]
        top = _ranked_batch(model, batch, test.n_items, mask, ks[-1])
        totals.add(top, M.hits(top, truth, batch), n_rel_all[batch])
    result: dict[str, Any] = totals.result()
    result["users"], result["users_skipped"] = int(len(users)), skipped
    if per_user:
        result["per_user"] = totals.per_user_frame(users)
    return result


def paired_test(a: Mapping[str, Any] | pd.DataFrame, b: Mapping[str, Any] | pd.DataFrame,
                metric: str = "Recall@20", test: str = "wilcoxon", n_boot: int = 2000,
                confidence: float = 0.95, seed: int = 0) -> dict[str, float]:
    """Is model A better than model B on ``metric``? A paired comparison over the same users.

    ``a`` and ``b`` are results of ``evaluate(..., per_user=True)`` (or their ``"per_user"``
    DataFrames) on the same test set. The users both evaluated with a defined value are
    paired. Returns ``{"mean_diff", "ci_low", "ci_high", "p_value", "n_users"}``: the mean of
    ``a - b``, its percentile bootstrap interval (``n_boot`` resamples of users, seeded) and
    the two-sided p-value of ``test`` (``"wilcoxon"``: ``scipy.stats.wilcoxon``, ``"ttest"``:
    ``scipy.stats.ttest_rel``). See :mod:`handson.significance`.
    """
    frames = []
    for name, r in (("a", a), ("b", b)):
        frame = r if isinstance(r, pd.DataFrame) else (r.get("per_user") if isinstance(r, Mapping) else None)
        if not isinstance(frame, pd.DataFrame):
            raise ValueError(f"{name} must be a result of evaluate(..., per_user=True) or its 'per_user' DataFrame.")
        if metric not in frame.columns:
            raise ValueError(f"{metric!r} is not a per-user column of {name}; it has {list(frame.columns)}.")
        frames.append(frame[metric])
    both = pd.concat(frames, axis=1, join="inner", keys=["a", "b"]).dropna()
    if len(both) < 2:
        raise ValueError(f"a and b share {len(both)} user(s) with a defined {metric}; evaluate both "
                         "on the same test set (and users) with per_user=True.")
    va, vb = both["a"].to_numpy(), both["b"].to_numpy()
    low, high = S.bootstrap_mean_ci(va - vb, n_boot=n_boot, confidence=confidence, seed=seed)
    return {"mean_diff": float((va - vb).mean()), "ci_low": low, "ci_high": high,
            "p_value": S.paired_p_value(va, vb, test), "n_users": int(len(both))}


def compare(models: Mapping[str, Any] | Callable[[int], Mapping[str, Any]], test: Interactions | None = None,
            seen: Interactions | Iterable[Interactions] | None = None,
            k: int | Iterable[int] = (10, 20), metrics: Sequence[str] | None = None,
            users: Sequence[int] | np.ndarray | None = None, batch_size: int = 1024, *,
            item_features: Any = None, popularity: Interactions | None = None,
            seeds: Sequence[int] | None = None, dataset: Dataset | Interactions | None = None,
            split: Callable[..., Any] | None = None, confidence: float = 0.95) -> pd.DataFrame:
    """Evaluate several models on the same test set: one row per model, in the order given,
    one column per metric, plus ``fit_s`` when a model has ``fit_seconds_`` and ``eval_s``
    (the evaluation's wall time). ``df.attrs`` holds users / users_skipped.

    Without ``seeds``, ``models`` are fitted models and ``item_features`` / ``popularity``
    go to :func:`evaluate`. With ``seeds=[...]``, ``models`` are unfitted models, factories
    ``f(seed)``, or one function ``seed -> {name: unfitted model}``; every model is refitted
    on ``split(dataset, seed)`` per seed and the table holds the mean, ``std``, ``low`` and
    ``high`` of each metric (:func:`_compare_seeds`).
    """
    if seeds is None and (not isinstance(models, Mapping) or not models):
        raise ValueError("models must be a non-empty dict {name: fitted model}.")
    if seeds is not None:
        if test is not None or seen is not None:
            raise ValueError("With seeds=, pass dataset= (and split=) instead of test/seen: each seed "
                             "makes its own split.")
        return _compare_seeds(models, dataset, seeds, split, k=k, metrics=metrics, users=users,
                              batch_size=batch_size, item_features=item_features, confidence=confidence)
    if dataset is not None or split is not None:
        raise ValueError("dataset= and split= are only used with seeds=[...].")
    if not isinstance(test, Interactions):
        raise ValueError("compare needs test= (Interactions), or dataset= with seeds=[...].")
    seen = list(seen) if seen is not None and not isinstance(seen, Interactions) else seen
    rows, counts = {}, {}
    for name, model in models.items():
        t0 = time.perf_counter()
        res = evaluate(model, test, seen=seen, k=k, metrics=metrics, users=users, batch_size=batch_size,
                       item_features=item_features, popularity=popularity)
        counts = {"users": res.pop("users"), "users_skipped": res.pop("users_skipped")}
        fit_s = getattr(model, "fit_seconds_", None)
        rows[name] = {**res, **({"fit_s": float(fit_s)} if fit_s is not None else {}),
                      "eval_s": time.perf_counter() - t0}
    table = pd.DataFrame.from_dict(rows, orient="index")
    front = [c for c in table.columns if c not in ("fit_s", "eval_s")]
    table = table[front + [c for c in ("fit_s", "eval_s") if c in table.columns]]
    table.index.name = "model"
    table.attrs.update(counts)
    return table


def _build(spec: Any, seed: int) -> Any:
    """A fresh, unfitted model for ``seed`` from ``spec``: a factory ``f(seed)`` or ``f()``, or
    an (unfitted) model cloned by ``type(m)(**m.get_params())`` with ``seed`` replaced."""
    if callable(spec) and not hasattr(spec, "fit"):
        n_args = len(inspect.signature(spec).parameters)
        return spec(seed) if n_args else spec()
    if not callable(getattr(spec, "get_params", None)):
        raise ValueError(f"With seeds=, each model must be a factory f(seed) or have get_params() "
                         f"to be cloned; got {type(spec).__name__}.")
    params = spec.get_params()
    return type(spec)(**({**params, "seed": int(seed)} if "seed" in params else params))


def _default_split(data: Dataset | Interactions, seed: int) -> Any:
    return _split.random_split(data, test=0.2, valid=0.1, seed=seed)


def _compare_seeds(models: Mapping[str, Any] | Callable[[int], Mapping[str, Any]], dataset: Dataset | Interactions | None, seeds: Sequence[int],
                   split: Callable[..., Any] | None, confidence: float, item_features: Any,
                   **eval_kw: Any) -> pd.DataFrame:
    """``compare`` over seeds. For each seed: ``train, valid, test = split(dataset, seed)``
    (default: a per-user random 70/10/20 split; a split may also return ``(train, test)``),
    a fresh model per entry of ``models`` (:func:`_build`: the model's ``seed`` is set too;
    when ``models`` is a function, ``models(seed)`` gives the fresh, unfitted models),
    ``fit(train, item_features=item_features, valid=valid)``, then :func:`evaluate` with
    ``seen=[train, valid]`` (``item_features`` also give ILD when ``metrics`` is None).

    One row per model: each metric's mean over seeds, then ``"<metric> std"`` (ddof=1) and
    ``"<metric> low"`` / ``"<metric> high"``, a Student-t interval over seeds at
    ``confidence`` (:func:`handson.significance.seed_interval`; NaN with one seed), then mean
    ``fit_s`` and ``eval_s``. ``df.attrs["runs"]`` holds every (model, seed) result.
    """
    if dataset is None:
        raise ValueError("compare(..., seeds=[...]) needs dataset= (a Dataset or Interactions) to split.")
    seeds = [int(s) for s in np.atleast_1d(np.asarray(seeds))]
    if not seeds:
        raise ValueError("seeds is empty; pass e.g. seeds=[0, 1, 2].")
    split = split or _default_split
    runs = []
    for seed in seeds:
        parts = tuple(split(dataset, seed))
        train, valid, test = parts if len(parts) == 3 else (parts[0], None, parts[-1])
        seen = [s for s in (train, valid) if s is not None]
        fresh = models(seed) if callable(models) else {name: _build(spec, seed) for name, spec in models.items()}
        if not isinstance(fresh, Mapping) or not fresh:
            raise ValueError("models must be a non-empty dict {name: model or factory f(seed)}, or a "
                             "function seed -> {name: unfitted model}.")
        for name, model in fresh.items():
            t0 = time.perf_counter()
            model = model.fit(train, item_features=item_features, valid=valid)
            t1 = time.perf_counter()
            res = evaluate(model, test, seen=seen, item_features=item_features, **eval_kw)
            runs.append({"model": name, "seed": seed, **res, "fit_s": t1 - t0,
                         "eval_s": time.perf_counter() - t1})
    runs_df = pd.DataFrame(runs)
    metric_cols = [c for c in runs_df.columns if c not in ("model", "seed", "users", "users_skipped",
                                                           "fit_s", "eval_s")]
    rows = {}
    for name, group in runs_df.groupby("model", sort=False):
        stats = {m: S.seed_interval(group[m].to_numpy(), confidence) for m in metric_cols}
        rows[name] = {**{m: s["mean"] for m, s in stats.items()},
                      **{f"{m} {part}": s[part] for part in ("std", "low", "high") for m, s in stats.items()},
                      "fit_s": group["fit_s"].mean(), "eval_s": group["eval_s"].mean()}
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "model"
    table.attrs.update(seeds=seeds, confidence=confidence, interval="t over seeds", runs=runs_df)
    return table


def _check_finite_scores(scores: np.ndarray, model: Any) -> None:
    """A ValueError when ``scores`` hold NaN or +inf (the ranking would be arbitrary); -inf is
    allowed and means "never recommend" (what masking writes)."""
    bad = np.isnan(scores) | np.isposinf(scores)
    if bad.any():
        users = int(bad.any(axis=-1).sum()) if bad.ndim == 2 else 1
        raise ValueError(f"{type(model).__name__}.score returned {int(bad.sum())} NaN or +inf score(s) for "
                         f"{users} user(s); the model diverged (lower lr) or was not fitted properly. "
                         "Scores must be finite (-inf marks an item never to recommend).")
