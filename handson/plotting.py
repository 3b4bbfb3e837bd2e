"""Plots for the course: item galleries, a user's history and recommendations, the long
tail, learning curves, metric bars and 2-D embedding maps.

matplotlib only. Every function returns its :class:`matplotlib.figure.Figure` and never
calls ``plt.show()``; in a notebook write ``fig = plotting.show_items(ds, [0, 1, 2])`` and
end the cell with ``plt.show()``.
"""
from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any, Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.colors import is_color_like
from matplotlib.figure import Figure
from PIL import Image

from .datasets import Dataset, Interactions

__all__ = ["show_items", "show_user", "long_tail", "learning_curves", "metric_bars", "embedding_map",
           "tuning_curve"]

HIT_COLOUR = "#2ca02c"


# -- galleries ---------------------------------------------------------------------------
def show_items(dataset: Dataset, items: Sequence[int] | np.ndarray, captions: Sequence[str] | None = None,
               ncols: int = 6, size: float = 1.8, title: str | None = None) -> Figure:
    """A gallery of item images with short captions (the title, else the id).

    ``items`` are item indices (or raw item ids, looked up in ``dataset``); an item without
    an image is drawn as a grey "no image" tile. One axes per item.
    """
    idx = _item_indices(dataset, items)
    if captions is not None and len(captions) != len(idx):
        raise ValueError(f"captions has {len(captions)} entries for {len(idx)} items; give one per item.")
    if ncols < 1 or size <= 0:
        raise ValueError(f"ncols must be >= 1 and size > 0, got ncols={ncols}, size={size}.")
    ncols = min(ncols, len(idx))
    nrows = -(-len(idx) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(ncols * size, nrows * (size + 0.45)), squeeze=False)
    caps = [_caption(dataset, i) for i in idx] if captions is None else [str(c) for c in captions]
    for ax, i, cap in zip(axes.flat, idx, caps):
        _tile(ax, dataset, i, cap, width=max(8, int(size * 9)))
    for ax in axes.flat[len(idx):]:
        fig.delaxes(ax)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def show_user(dataset: Dataset, user: int | str, train: Interactions, recs: Any = None, k: int = 8,
              test: Interactions | None = None, size: float = 1.6) -> Figure:
    """One row with the user's training items (latest first, at most ``k``) and, when ``recs``
    is given, one row with the recommendations; with ``test`` the hits get a green frame.

    ``recs`` is a sequence of item indices or a fitted model (its ``recommend`` is called).
    """
    u = _user_index(dataset, user)
    if not isinstance(train, Interactions) or train.n_items != dataset.n_items:
        raise ValueError("train must be Interactions over this dataset's catalog (e.g. from handson.split).")
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}.")
    mine = train.users == u
    history = train.items[mine]
    if train.timestamps is not None:
        history = history[np.argsort(-train.timestamps[mine], kind="stable")]
    shown = history[:k]
    if recs is not None and hasattr(recs, "recommend"):
        recs = recs.recommend([u], k=k)[0]
    rec_idx = None if recs is None else _item_indices(dataset, np.asarray(recs)[:k])
    hits = set() if test is None else set(test.items[test.users == u].tolist())
    rows = [("history", shown)] + ([("recommended", rec_idx)] if rec_idx is not None else [])
    ncols = max(1, max(len(r) for _, r in rows))
    fig, axes = plt.subplots(len(rows), ncols, figsize=(ncols * size, len(rows) * (size + 0.7)),
                             squeeze=False)
    for r, (kind, row) in enumerate(rows):
        for c, i in enumerate(row):
            _tile(axes[r, c], dataset, int(i), _caption(dataset, int(i)), width=max(8, int(size * 9)),
                  hit=(int(i) in hits) if kind == "recommended" and test is not None else None)
        if len(row) == 0:
            axes[r, 0].text(0.5, 0.5, "no training\ninteractions", ha="center", va="center", color="0.4")
            _bare(axes[r, 0])
        for ax in axes[r, max(1, len(row)):]:
            fig.delaxes(ax)
        label = f"history\n{len(row)} of {len(history)}" if kind == "history" else "top-" + str(len(row))
        if kind == "recommended" and test is not None:
            label += f"\n{sum(int(i) in hits for i in row)} hits"
        axes[r, 0].set_ylabel(label, rotation=0, ha="right", va="center", fontsize=10)
    fig.suptitle(f"user {dataset.user_ids[u]} (index {u})")
    fig.tight_layout()
    return fig


def _tile(ax: Any, dataset: Dataset, item: int, caption: str, width: int, hit: bool | None = None) -> None:
    path = dataset.image_paths[item]
    if path is not None and Path(path).is_file():
        with Image.open(path) as img:
            ax.imshow(np.asarray(img.convert("RGB")))
    else:
        ax.imshow(np.full((8, 8, 3), 0.82))
        ax.text(0.5, 0.5, "no image", transform=ax.transAxes, ha="center", va="center", color="0.35")
    _bare(ax)
    if hit is not None:
        for spine in ax.spines.values():
            spine.set_visible(True)
            spine.set_color(HIT_COLOUR if hit else "0.8")
            spine.set_linewidth(4 if hit else 1)
        caption = ("\u2713 hit: " if hit else "") + caption
    ax.set_title(textwrap.fill(caption, width=width, max_lines=2, placeholder="\u2026"), fontsize=8,
                 color=HIT_COLOUR if hit else "black")


def _bare(ax: Any) -> None:
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)


def _caption(dataset: Dataset, item: int) -> str:
    row = dataset.items.iloc[item]
    title = row.get("title")
    if isinstance(title, str) and title.strip():
        return title
    text = row.get("text")
    return text if isinstance(text, str) and text.strip() else str(row["item_id"])


def _item_indices(dataset: Dataset, items: Any) -> np.ndarray:
    arr = np.atleast_1d(np.asarray(items))
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"items must be a non-empty 1-D list of item indices, got shape {arr.shape}.")
    if not np.issubdtype(arr.dtype, np.integer):
        return np.asarray(dataset.item_index(arr.tolist()), dtype=np.int64)
    bad = arr[(arr < 0) | (arr >= dataset.n_items)]
    if bad.size:
        raise ValueError(f"item indices {bad[:5].tolist()} lie outside [0, n_items={dataset.n_items}); "
                         "pass indices, or look raw ids up with dataset.item_index().")
    return arr.astype(np.int64)


def _user_index(dataset: Dataset, user: Any) -> int:
    if isinstance(user, (int, np.integer)):
        if not 0 <= user < dataset.n_users:
            raise ValueError(f"user index {user} lies outside [0, n_users={dataset.n_users}); "
                             "look raw ids up with dataset.user_index().")
        return int(user)
    return int(dataset.user_index(user))


# -- data and training summaries ---------------------------------------------------------
def long_tail(interactions: Interactions | Dataset, top: float = 0.2) -> Figure:
    """Items sorted by popularity, with the share of interactions held by the top ``top`` items."""
    inter = interactions.interactions if isinstance(interactions, Dataset) else interactions
    if not isinstance(inter, Interactions) or len(inter) == 0:
        raise ValueError("long_tail needs non-empty Interactions (or a Dataset).")
    if not 0 < top < 1:
        raise ValueError(f"top must be a fraction in (0, 1), got {top}.")
    counts = np.sort(inter.item_counts())[::-1]
    n_top = max(1, int(round(top * len(counts))))
    share = counts[:n_top].sum() / counts.sum()
    rank = np.arange(1, len(counts) + 1)
    fig, ax = plt.subplots(figsize=(7, 3.6))
    ax.fill_between(rank, counts, step="mid", color="#4c72b0", alpha=0.35)
    ax.plot(rank, counts, drawstyle="steps-mid", color="#4c72b0", lw=1.2)
    ax.axvspan(0.5, n_top + 0.5, color="#dd8452", alpha=0.15)
    ax.axvline(n_top + 0.5, color="#dd8452", lw=1.5, ls="--")
    ax.text(n_top + 0.5, counts.max() * 0.95, f"  top {top:.0%} of items: {share:.1%} of interactions",
            va="top", color="#c44e00")
    cold = int((counts <= 2).sum())
    ax.set(xlabel="items, by popularity rank", ylabel="interactions", xlim=(0.5, len(counts) + 0.5),
           title=f"Long tail: {len(counts):,} items, {cold:,} with at most 2 interactions")
    fig.tight_layout()
    return fig


def learning_curves(history: Any) -> Figure:
    """Training loss on one axes and validation metrics on another, against the epoch.

    ``history`` is a ``handson.training.History`` (anything with ``.to_frame()``), a DataFrame
    with an "epoch" column (or index), or a dict of lists (``{"loss": [...], "Recall@20": [...]}``).
    """
    frame = _history_frame(history)
    numeric = [c for c in frame.columns if pd.api.types.is_numeric_dtype(frame[c]) and frame[c].notna().any()]
    skip = {"epoch", "seconds", "time", "lr"}
    losses = [c for c in numeric if "loss" in str(c).lower()]
    metrics = [c for c in numeric if c not in losses and str(c).lower() not in skip]
    if not losses and not metrics:
        raise ValueError(f"No loss or metric column to plot; the history has {list(frame.columns)}.")
    groups = [g for g in ((losses, "training loss"), (metrics, "validation")) if g[0]]
    fig, axes = plt.subplots(1, len(groups), figsize=(5.2 * len(groups), 3.6), squeeze=False)
    for ax, (cols, name) in zip(axes.flat, groups):
        for c in cols:
            s = frame[c].dropna()
            ax.plot(s.index, s.to_numpy(), marker="o" if len(s) < 30 else None, ms=3, label=str(c))
        ax.set(xlabel="epoch", title=name)
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    best = getattr(history, "best_epoch", None)
    if best is not None and metrics:
        axes.flat[-1].axvline(best, color="0.4", ls="--", lw=1)
        axes.flat[-1].text(best, axes.flat[-1].get_ylim()[0], " best", color="0.3", va="bottom")
    fig.tight_layout()
    return fig


def _history_frame(history: Any) -> pd.DataFrame:
    if hasattr(history, "to_frame") and not isinstance(history, (pd.Series, pd.DataFrame)):
        history = history.to_frame()
    if isinstance(history, pd.DataFrame):
        if "epoch" in history.columns:
            return history.set_index("epoch")
        if history.index.name == "epoch":
            return history
        raise ValueError(f"A history DataFrame needs an 'epoch' column; it has {list(history.columns)}.")
    if isinstance(history, Mapping):
        cols = {k: pd.Series(np.asarray(v, dtype=float), index=np.arange(1, len(v) + 1))
                for k, v in history.items() if k != "epoch"}
        if "epoch" in history:
            if any(len(v) != len(history["epoch"]) for v in history.values()):
                raise ValueError("With an 'epoch' list, every list in the history needs its length.")
            cols = {k: pd.Series(s.to_numpy(), index=np.asarray(history["epoch"])) for k, s in cols.items()}
        return pd.DataFrame(cols).rename_axis("epoch")
    raise ValueError(f"learning_curves expects a History, a DataFrame or a dict of lists, got "
                     f"{type(history).__name__}.")


def metric_bars(table: pd.DataFrame | Mapping[str, Mapping[str, float]],
                metrics: Sequence[str] = ("Recall@20", "nDCG@20"), title: str | None = None) -> Figure:
    """Grouped bars, one group per model (a row of ``evaluation.compare``), one bar per metric.

    When the table has ``"<metric> low"`` and ``"<metric> high"`` columns (``compare`` with
    several ``seeds``), each bar gets an error bar spanning that interval.
    """
    if isinstance(table, Mapping):
        table = pd.DataFrame.from_dict(dict(table), orient="index")
    if not isinstance(table, pd.DataFrame) or table.empty:
        raise ValueError("metric_bars expects a non-empty table from evaluation.compare (one row per model).")
    if "model" in table.columns:
        table = table.set_index("model")
    metrics = [metrics] if isinstance(metrics, str) else list(metrics)
    missing = [m for m in metrics if m not in table.columns]
    if missing or not metrics:
        raise ValueError(f"metric(s) {missing} are not in the table; it has {list(table.columns)}.")
    n_models, n_metrics = len(table), len(metrics)
    width = 0.8 / n_metrics
    fig, ax = plt.subplots(figsize=(max(5.0, 1.1 * n_models * max(1, n_metrics / 2) + 1.5), 3.8))
    x = np.arange(n_models)
    for j, m in enumerate(metrics):
        values = table[m].to_numpy(dtype=float)
        err = None
        if f"{m} low" in table.columns and f"{m} high" in table.columns:
            low, high = (table[f"{m} {p}"].to_numpy(dtype=float) for p in ("low", "high"))
            err = np.nan_to_num(np.vstack([values - low, high - values]))      # no interval: no bar
        bars = ax.bar(x + (j - (n_metrics - 1) / 2) * width, values, width, label=m, yerr=err,
                      capsize=3 if err is not None else 0, ecolor="0.25")
        ax.bar_label(bars, fmt="%.3f", fontsize=7, padding=1)
    ax.set_xticks(x, [str(i) for i in table.index], rotation=30 if n_models > 5 else 0,
                  ha="right" if n_models > 5 else "center")
    ax.set(ylabel="score", title=title or "Model comparison")
    ax.margins(y=0.12)
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return fig


# -- embeddings --------------------------------------------------------------------------
def embedding_map(X: Any, labels: Sequence[Any] | None = None, method: str = "pca", title: str | None = None,
                  max_points: int = 2000, seed: int = 0) -> Figure:
    """A 2-D map of the rows of ``X`` (n, d), by PCA or t-SNE, coloured by ``labels``.

    At most ``max_points`` rows (a seeded random sample) are drawn. Labels that are colour
    names ("red", "blue", ...) are drawn in their own colour.
    """
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2:
        raise ValueError(f"X must be a 2-D array (n_points, dim), got shape {X.shape}.")
    if len(X) < 3 or not np.isfinite(X).all():
        raise ValueError(f"X needs at least 3 rows and finite values, got shape {X.shape} "
                         f"with {int((~np.isfinite(X)).sum())} non-finite entries.")
    if labels is not None:
        labels = np.asarray(labels)
        if labels.shape != (len(X),):
            raise ValueError(f"labels has shape {labels.shape}; give one label per row of X ({len(X)}).")
    if method not in ("pca", "tsne"):
        raise ValueError(f"method must be 'pca' or 'tsne', got {method!r}.")
    if len(X) > max_points:
        keep = np.sort(np.random.default_rng(seed).choice(len(X), max_points, replace=False))
        X, labels = X[keep], None if labels is None else labels[keep]
    Y, axis_names = _project(X, method, seed)
    fig, ax = plt.subplots(figsize=(6.4, 5.0))
    if labels is None:
        ax.scatter(Y[:, 0], Y[:, 1], s=10, alpha=0.7)
    elif labels.dtype.kind in "fc" and len(np.unique(labels)) > 20:
        points = ax.scatter(Y[:, 0], Y[:, 1], c=labels, s=10, cmap="viridis", alpha=0.8)
        fig.colorbar(points, ax=ax)
    else:
        values = pd.unique(labels)
        values = sorted(values, key=str)
        named = all(isinstance(v, str) and is_color_like(v) and not v.replace(".", "").isdigit()
                    for v in values)
        palette = plt.get_cmap("tab10" if len(values) <= 10 else "tab20")
        for j, v in enumerate(values):
            sel = labels == v
            ax.scatter(Y[sel, 0], Y[sel, 1], s=10, alpha=0.75, label=str(v),
                       color=v if named else palette(j % palette.N), edgecolors="0.3" if named else "none",
                       linewidths=0.2)
        ax.legend(fontsize=8, markerscale=1.5, loc="center left", bbox_to_anchor=(1.0, 0.5))
    name = "PCA" if method == "pca" else "t-SNE"
    ax.set(xlabel=axis_names[0], ylabel=axis_names[1], title=title or f"{name} map of {len(X):,} points")
    fig.tight_layout()
    return fig


def _svd_one_thread(X: np.ndarray):
    """``np.linalg.svd`` on one BLAS thread: on shared or busy cores LAPACK's threads spin, and
    the SVD of a few hundred feature rows takes seconds to a minute instead of under one."""
    try:
        from threadpoolctl import threadpool_limits  # installed with scikit-learn
    except ImportError:
        return np.linalg.svd(X, full_matrices=False)
    with threadpool_limits(limits=1, user_api="blas"):
        return np.linalg.svd(X, full_matrices=False)


def _project(X: np.ndarray, method: str, seed: int) -> tuple[np.ndarray, tuple[str, str]]:
    """(n, 2) coordinates and the axis names."""
    if method == "tsne":
        try:
            from sklearn.manifold import TSNE
        except ImportError as exc:
            raise ImportError("method='tsne' needs scikit-learn: pip install scikit-learn, "
                              "or use method='pca'.") from exc
        from threadpoolctl import threadpool_limits  # installed with scikit-learn

        perplexity = float(min(30.0, (len(X) - 1) / 3))
        # one OpenMP thread: on shared or busy cores extra threads spin and run ~10x slower
        with threadpool_limits(limits=1, user_api="openmp"):
            Y = TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(X)
        return Y, ("t-SNE 1", "t-SNE 2")
    Xc = X - X.mean(0)
    U, S, _ = _svd_one_thread(Xc)
    Y = np.zeros((len(X), 2))
    r = min(2, len(S))
    Y[:, :r] = U[:, :r] * S[:r]
    var = S ** 2 / max((S ** 2).sum(), 1e-12)
    return Y, tuple(f"PC{j + 1} ({var[j]:.0%})" if j < r else f"PC{j + 1}" for j in range(2))


# -- hyper-parameter search --------------------------------------------------------------
def tuning_curve(results: Any, metric: str | None = None, title: str | None = None) -> Figure:
    """Validation score of every trial (dots; pruned trials as crosses) and the best so far
    (a step line), one colour per search; the defaults (trial 0) get a star.

    ``results``: a :class:`handson.tuning.SearchResult`, its ``trials`` DataFrame, or a dict
    ``{name: either}`` to compare searches (grid vs random vs Optuna) on one budget.
    """
    named = dict(results) if isinstance(results, Mapping) else {"search": results}
    fig, ax = plt.subplots(figsize=(6.4, 3.8))
    for colour, (name, res) in zip(plt.rcParams["axes.prop_cycle"].by_key()["color"] * 3, named.items()):
        trials = getattr(res, "trials", res)
        key = metric or getattr(res, "metric", None) or "Recall@20"
        if not isinstance(trials, pd.DataFrame) or key not in trials.columns:
            raise ValueError(f"tuning_curve needs search results with a {key!r} column; got {type(res).__name__}.")
        x = trials["trial"].to_numpy() if "trial" in trials else np.arange(len(trials))
        y = trials[key].to_numpy(dtype=float)
        done = (trials["state"] == "complete").to_numpy() if "state" in trials else np.ones(len(x), bool)
        ax.plot(x[done], y[done], "o", color=colour, alpha=0.7, label=f"{name} trials")
        ax.plot(x[~done], y[~done], "x", color=colour, alpha=0.7)
        ax.step(x, np.fmax.accumulate(np.where(done, y, -np.inf)), where="post", color=colour,
                label=f"{name}: best so far")
        ax.plot(x[:1], y[:1], "*", color=colour, markersize=14, markeredgecolor="black")
    ax.set(xlabel="trial (the star: trial 0, the defaults)", ylabel=f"validation {key}",
           title=title or "Hyper-parameter search")
    ax.xaxis.set_major_locator(plt.MaxNLocator(integer=True))
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig
