"""An explorer of recommendations: a user's history and each model's top-k, side by side, with images.

    ex = Explorer(ds, {"BPR-MF": bpr, "VBPR": vbpr}, train=train, test=test,
                  features={"image": V, "text": T})
    ex.widget                          # the interactive view (Jupyter, JupyterLab, VS Code, Colab)
    ex.select(user="u0042", model="VBPR", item="i0007")     # drive it from code
    ex.recommendations                 # the lists on screen: one row per (model, rank)
    ex.neighbours                      # the picked item's nearest items in each space
    ex.show()                          # the same as static matplotlib galleries

The widget is plain ipywidgets (a Combobox to search a user, buttons, dropdowns and an
HTML panel with the item thumbnails inlined as PNG), so it needs no extension beyond
ipywidgets itself. Where widgets cannot render (nbval, a notebook viewed on GitHub),
displaying the explorer falls back to the same panel as static HTML, and :meth:`show`
draws it with matplotlib. Hits on the test set are framed in green.
"""
from __future__ import annotations

import base64
import html
import io
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

import numpy as np
import pandas as pd
from PIL import Image

from . import plotting
from .datasets import Dataset, Interactions
from .utils import in_colab

__all__ = ["Explorer", "item_vectors"]

HIT = plotting.HIT_COLOUR


def item_vectors(model: Any) -> np.ndarray | None:
    """The model's own item representation ``(n_items, d)``, or None when it has none.

    ``item_embeddings_`` (content models), the item table of a torch module (``module_.item``,
    BPR-MF and the ID part of its relatives) or the item-item weights (``weights_``, EASE).
    """
    vec = getattr(model, "item_embeddings_", None)
    if vec is None and hasattr(getattr(model, "module_", None), "item"):
        weight = getattr(model.module_.item, "weight", None)
        vec = None if weight is None else weight.detach().float().cpu().numpy()
    if vec is None:
        vec = getattr(model, "weights_", None)
    vec = None if vec is None else np.asarray(vec, dtype=np.float32)
    return vec if vec is not None and vec.ndim == 2 and len(vec) == getattr(model, "n_items_", -1) else None


def _nearest(x: np.ndarray, item: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``n`` rows of ``x`` most cosine-similar to row ``item`` (itself excluded)."""
    norms = np.linalg.norm(x, axis=1)
    sim = x @ x[item] / np.maximum(norms * norms[item], 1e-12)
    sim[item] = -np.inf
    top = np.argsort(-sim, kind="stable")[:n]
    return top, sim[top]


class Explorer:
    """Interactive look at fitted models on one data set (see the module docstring).

    ``models``: ``{name: fitted model}`` (or one model). ``train``: the training
    interactions (the history shown, masked from the lists; default: each model's own).
    ``test``: hits are framed. ``seen``: more interaction sets to mask (e.g. ``valid``).
    ``features``: ``{space: (n_items, d)}`` for the item neighbours (plus each model's own
    :func:`item_vectors`). ``rerank``: ``{name: function(model) -> model}``, re-rankers to
    switch between (e.g. a diversity re-ranker); "none" is always offered. ``k``: list length.
    """

    def __init__(self, dataset: Dataset, models: Mapping[str, Any] | Any, train: Interactions | None = None,
                 test: Interactions | None = None, features: Mapping[str, np.ndarray] | None = None,
                 k: int = 8, seen: Interactions | Iterable[Interactions] | None = None,
                 rerank: Mapping[str, Callable[[Any], Any]] | None = None, thumb: int = 96, seed: int = 0) -> None:
        self.dataset, self.k, self.thumb = dataset, int(k), int(thumb)
        self.models = dict(models) if isinstance(models, Mapping) else {type(models).__name__: models}
        if not self.models:
            raise ValueError("Explorer needs at least one fitted model, e.g. {'EASE': EASE().fit(train)}.")
        for name, m in self.models.items():
            if getattr(m, "n_items_", None) != dataset.n_items:
                raise ValueError(f"model {name!r} is not fitted on this data set's {dataset.n_items} items.")
        self.train, self.test = train, test
        self.seen = [s for s in ([seen] if isinstance(seen, Interactions) else list(seen or [])) if s is not None]
        self.features = {name: np.asarray(x, dtype=np.float32) for name, x in (features or {}).items()}
        self.rerank = {"none": None, **dict(rerank or {})}
        self._rng = np.random.default_rng(seed)
        self._thumbs: dict[int, str] = {}
        self._widget: Any = None
        self._shown, self._rerank_name, self._item = list(self.models), "none", None
        self._user = self._default_user()
        self.select()

    # -- state -----------------------------------------------------------------------------
    def _default_user(self) -> int:
        base = self.test if self.test is not None else self.train
        counts = base.user_counts() if base is not None else np.ones(self.dataset.n_users)
        return int(np.argmax(counts))

    def _user_index(self, user: Any) -> int:
        if isinstance(user, str) and user == "random":
            pool = self.train.user_counts() if self.train is not None else np.ones(self.dataset.n_users)
            return int(self._rng.choice(np.flatnonzero(pool > 0)))
        return int(self.dataset.user_index(user))

    def select(self, user: Any = None, model: str | Iterable[str] | None = None, rerank: str | None = None,
               item: Any = None, user_index: int | None = None) -> "Explorer":
        """Show ``user`` (a raw id of ``dataset.user_ids``, or "random"; ``user_index``: by
        index) with ``model`` (a name, a list of names or "all"), re-ranked by ``rerank``,
        and the neighbours of ``item`` (a raw item id; default: the first recommended item).
        Arguments left out keep their current value. Returns the explorer."""
        if user is not None or user_index is not None:
            self._user = self._user_index(user) if user_index is None else int(user_index)
            self._item = None
        if model is not None:
            names = list(self.models) if model == "all" else [model] if isinstance(model, str) else list(model)
            unknown = [n for n in names if n not in self.models]
            if unknown or not names:
                raise ValueError(f"unknown model(s) {unknown}; choose from {list(self.models)} or 'all'.")
            self._shown = names
        if rerank is not None:
            if rerank not in self.rerank:
                raise ValueError(f"unknown re-ranking {rerank!r}; choose from {list(self.rerank)}.")
            self._rerank_name = rerank
        self.history = self._history()
        self.recommendations = self._recommendations()
        if item is not None:
            self._item = int(self.dataset.item_index(item))
        elif self._item is None:
            self._item = int(self.recommendations["item_index"].iloc[0])
        self.neighbours = self._neighbours()
        self._refresh()
        return self

    @property
    def user(self) -> Any:
        """The raw id of the user shown."""
        return self.dataset.user_ids[self._user]

    def _history(self) -> pd.DataFrame:
        if self.train is None:
            row = next(iter(self.models.values())).train_[self._user]
            items = row.indices
        else:
            mine = self.train.users == self._user
            items = self.train.items[mine]
            if self.train.timestamps is not None:
                items = items[np.argsort(-self.train.timestamps[mine], kind="stable")]
        return self._items_frame(np.asarray(items, dtype=np.int64))

    def _items_frame(self, items: np.ndarray, **columns: Any) -> pd.DataFrame:
        ds = self.dataset
        return pd.DataFrame({**columns, "item": ds.item_ids[items], "item_index": items,
                             "title": [plotting._caption(ds, int(i)) for i in items]})

    def _recommendations(self) -> pd.DataFrame:
        seen = self.seen + ([self.train] if self.train is not None else [])
        hits = set() if self.test is None else set(self.test.items[self.test.users == self._user].tolist())
        wrap = self.rerank[self._rerank_name]
        parts = []
        for name in self._shown:
            model = self.models[name] if wrap is None else wrap(self.models[name])
            top = np.asarray(model.recommend([self._user], k=self.k, seen=seen or None))[0]
            scores = model.score([self._user])[0, top]
            frame = self._items_frame(top, model=name, rank=np.arange(1, len(top) + 1), score=scores)
            frame["hit"] = [int(i) in hits for i in top] if self.test is not None else False
            parts.append(frame)
        out = pd.concat(parts, ignore_index=True)
        out.insert(0, "user", self.user)
        out.insert(2, "rerank", self._rerank_name)
        return out

    def _spaces(self) -> dict[str, np.ndarray]:
        spaces = dict(self.features)
        for name in self._shown:
            vec = item_vectors(self.models[name])
            if vec is not None:
                spaces[f"{name} (own items)"] = vec
        return spaces

    def _neighbours(self) -> pd.DataFrame:
        parts = []
        for space, x in self._spaces().items():
            top, sim = _nearest(x, self._item, self.k)
            parts.append(self._items_frame(top, space=space, rank=np.arange(1, len(top) + 1), similarity=sim))
        cols = ["space", "rank", "item", "item_index", "title", "similarity"]
        return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=cols)

    # -- static rendering --------------------------------------------------------------------
    def _thumb(self, item: int) -> str:
        """An ``<img>`` of the item's thumbnail (PNG inlined), or a grey "no image" tile."""
        if item not in self._thumbs:
            path, size = self.dataset.image_paths[item], self.thumb
            if path is not None and Path(path).is_file():
                with Image.open(path) as img:
                    img = img.convert("RGB")
                    img.thumbnail((size, size))
                    buf = io.BytesIO()
                    img.save(buf, format="PNG")
                src = base64.b64encode(buf.getvalue()).decode()
                self._thumbs[item] = f'<img src="data:image/png;base64,{src}" style="width:{size}px">'
            else:
                self._thumbs[item] = (f'<div style="width:{size}px;height:{size}px;background:#d0d0d0;'
                                      'display:flex;align-items:center;justify-content:center">no image</div>')
        return self._thumbs[item]

    def _row(self, frame: pd.DataFrame, label: str, note: Callable[[Any], str] = lambda r: "") -> str:
        cards = []
        for r in frame.itertuples(index=False):
            hit = bool(getattr(r, "hit", False))
            border = f"3px solid {HIT}" if hit else "1px solid #ccc"
            caption = html.escape(str(r.title)[:40]) + note(r)
            cards.append(f'<div style="display:inline-block;vertical-align:top;margin:2px;padding:2px;'
                         f'border:{border};width:{self.thumb + 6}px;font-size:10px">{self._thumb(int(r.item_index))}'
                         f'<br>{"&#10003; hit: " if hit else ""}{caption}</div>')
        return (f'<div style="margin:4px 0"><b>{html.escape(label)}</b><div style="white-space:nowrap;'
                f'overflow-x:auto">{"".join(cards) or "<i>nothing</i>"}</div></div>')

    def _html(self) -> str:
        """The panel: history, each model's list, the item's neighbours (inline HTML)."""
        n_hist = min(len(self.history), self.k)
        parts = [f"<h4>user {html.escape(str(self.user))} (index {self._user})</h4>",
                 self._row(self.history.head(self.k), f"history: latest {n_hist} of {len(self.history)}")]
        for name, frame in self.recommendations.groupby("model", sort=False):
            hits = f", {int(frame['hit'].sum())} test hits" if self.test is not None else ""
            rerank = "" if self._rerank_name == "none" else f", re-ranked: {self._rerank_name}"
            parts.append(self._row(frame, f"{name}: top-{len(frame)}{hits}{rerank}",
                                   lambda r: f"<br>score {r.score:.3f}"))
        item = self.dataset.item_ids[self._item]
        parts.append(f"<h4>neighbours of {html.escape(str(item))}: "
                     f"{html.escape(plotting._caption(self.dataset, self._item))}</h4>")
        for space, frame in self.neighbours.groupby("space", sort=False):
            parts.append(self._row(frame, space, lambda r: f"<br>cos {r.similarity:.2f}"))
        return "<div>" + "".join(parts) + "</div>"

    def _repr_html_(self) -> str:
        return self._html()

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict:
        """The widget where a front end can draw it, the static panel everywhere else."""
        bundle = {"text/html": self._html(), "text/plain": repr(self)}
        widget = self.widget
        if widget is not None:
            bundle.update(widget._repr_mimebundle_() or {})
            bundle["text/html"] = self._html()
        return bundle

    def __repr__(self) -> str:
        return (f"Explorer({self.dataset.name!r}, models={list(self.models)}, user={self.user!r}, "
                f"k={self.k}, rerank={self._rerank_name!r})")

    def show(self) -> list:
        """The current view as matplotlib figures: history and lists, then the neighbours."""
        figs = []
        for name, frame in self.recommendations.groupby("model", sort=False):
            train = self.train if self.train is not None else _as_interactions(self.models[name])
            fig = plotting.show_user(self.dataset, int(self._user), train, recs=frame["item_index"].to_numpy(),
                                     k=self.k, test=self.test)
            fig.suptitle(f"{name}: user {self.user}", y=1.02)
            figs.append(fig)
        for space, frame in self.neighbours.groupby("space", sort=False):
            figs.append(plotting.show_items(self.dataset, np.r_[self._item, frame["item_index"].to_numpy()],
                                            ncols=self.k + 1, title=f"{space}: the first item and its neighbours"))
        return figs

    # -- the widget --------------------------------------------------------------------------
    @property
    def widget(self) -> Any:
        """The ipywidgets view (built on first use); None when ipywidgets is not installed."""
        if self._widget is None:
            try:
                import ipywidgets  # noqa: F401
            except ImportError:
                return None
            if in_colab():      # Colab draws ipywidgets 8 through its custom widget manager
                from google.colab import output
                output.enable_custom_widget_manager()
            self._widget = self._build_widget()
        return self._widget

    def _build_widget(self) -> Any:
        import ipywidgets as W
        ids = [str(u) for u in self.dataset.user_ids]
        self._id_of = dict(zip(ids, self.dataset.user_ids))
        user = W.Combobox(options=ids, value=str(self.user), ensure_option=True, description="user",
                          placeholder="type a user id")
        lucky = W.Button(description="random user", icon="random")
        model = W.Dropdown(options=["all", *self.models], value="all", description="model")
        rerank = W.ToggleButtons(options=list(self.rerank), value=self._rerank_name, description="re-rank")
        self._item_box = W.Dropdown(description="item", options=self._item_options(), value=self._item)
        self._panel = W.HTML(value=self._html())
        user.observe(lambda c: c["new"] in self._id_of and self.select(user=self._id_of[c["new"]]), "value")

        def random_user(_: Any) -> None:
            user.value = str(self.dataset.user_ids[self._user_index("random")])   # its observer selects

        lucky.on_click(random_user)
        model.observe(lambda c: self.select(model=c["new"]), "value")
        rerank.observe(lambda c: self.select(rerank=c["new"]), "value")
        self._item_box.observe(lambda c: c["new"] is not None and c["new"] != self._item
                               and self.select(item=self.dataset.item_ids[c["new"]]), "value")
        controls = [W.HBox([user, lucky, model])] + ([rerank] if len(self.rerank) > 1 else [])
        return W.VBox([*controls, self._item_box, self._panel])

    def _item_options(self) -> list[tuple[str, int]]:
        items = pd.concat([self.recommendations, self.history])["item_index"].drop_duplicates()
        items = list(dict.fromkeys([self._item, *items.tolist()]))
        return [(f"{self.dataset.item_ids[i]}: {plotting._caption(self.dataset, int(i))[:40]}", int(i))
                for i in items]

    def _refresh(self) -> None:
        if self._widget is None:
            return
        self._panel.value = self._html()
        options = self._item_options()
        if [v for _, v in options] != [v for _, v in self._item_box.options]:
            self._item_box.options = options
        self._item_box.value = self._item


def _as_interactions(model: Any) -> Interactions:
    """A model's training matrix as Interactions (for galleries of its history)."""
    coo = model.train_.tocoo()
    return Interactions(coo.row, coo.col, model.n_users_, model.n_items_)
