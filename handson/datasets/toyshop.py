"""toyshop: a procedural multimodal shop, generated from a seed in seconds, no network.

The offline data set of the course. Every item has a **category** (a drawn silhouette),
a **colour** (the fill) and a **pattern** (plain / striped / dotted), all visible in its
128x128 PNG; a **material** and a **brand** that appear only in its text; and a price.
Users have hidden tastes, and interactions are sampled from them:

- ``"category"`` users (most) like one or two categories: visible in images *and* texts;
- ``"colour"`` users like one colour: an **image-only** signal, because a text names the
  colour only for ``colour_in_text`` (10%) of the items;
- ``"material"`` users like one or two materials: a **text-only** signal.

Everyone is also pulled toward popular items, and activity is long-tailed (lognormal).
A few percent of items have no image or no text, and some items are cold (new arrivals
with no interaction at all, plus a long tail with one or two). The hidden truth is in
``ds.info["ground_truth"]`` and the item attributes in ``ds.items``. The pictures are drawn
by :mod:`handson.datasets.toyshop_images`; this module generates the tables and caches.

Ids: users "u0000", "u0001", ... and items "i0000", ... so that ``ds.item_ids[k] == "i%04d" % k``.
``ground_truth`` keys: ``taste`` (str, ``(n_users,)``), ``preferred`` (a tuple of values per
user), ``activity`` (interactions per user), ``users`` (those three as a DataFrame),
``item_popularity`` (latent log-popularity, ``(n_items,)``), ``new_items`` (indices of items
kept out of every interaction) and ``colour_in_text`` (bool, ``(n_items,)``).
Interaction timestamps (unix seconds, 2021-2023) and 1-5 ratings come from the same tastes:
matching items get higher ratings, and every user keeps one taste over time.

    ds = toyshop.load()                  # generated once into the cache, then reused
    ds = toyshop.load(subset="small")    # 200 users x 120 items, for quick experiments
"""
from __future__ import annotations

import hashlib
import inspect
import json
import os
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..utils import cache_dir
from .core import Dataset
from .download import sha256sum
from .frames import from_frames
from .toyshop_images import COLOURS, IMAGE_SIZE, write_images  # noqa: F401 - IMAGE_SIZE re-exported

__all__ = ["generate", "load", "GENERATOR_VERSION", "PRESETS", "CATEGORIES", "COLOURS",
           "PATTERNS", "MATERIALS", "BRANDS"]

#: bump whenever the generator's output changes, so cached copies are regenerated
GENERATOR_VERSION = 3
START_TIME = 1_609_459_200  # 2021-01-01 UTC; histories spread over three years
SPAN = 3 * 365 * 86_400

CATEGORIES = ("shirt", "mug", "lamp", "chair", "bag", "shoe", "hat", "book")
PATTERNS = ("plain", "striped", "dotted")
MATERIALS = ("cotton", "wool", "leather", "wood", "metal", "ceramic", "glass", "bamboo")
BRANDS = ("Nordvik", "Azura", "Kintsu", "Larkwell", "Mopani", "Oakhaven", "Quilla", "Rivale",
          "Solberg", "Tamsin")
_BLOCK = 2_000_000  # user x item affinities sampled at once (bounds memory)
PRESETS = {"small": dict(n_users=200, n_items=120, n_interactions=3000),
           "default": dict(n_users=1000, n_items=600, n_interactions=20000),
           "large": dict(n_users=5000, n_items=2000, n_interactions=100000)}

_CAT_WORDS = {"shirt": ["shirt", "t-shirt", "tee", "top"], "mug": ["mug", "cup", "coffee mug"],
              "lamp": ["lamp", "desk lamp", "table light"], "chair": ["chair", "seat", "side chair"],
              "bag": ["bag", "tote", "handbag"], "shoe": ["shoe", "sneaker", "trainer"],
              "hat": ["hat", "sun hat", "fedora"], "book": ["book", "notebook", "journal"]}
_MAT_WORDS = {"cotton": ["cotton", "organic cotton", "soft cotton"], "wool": ["wool", "merino wool"],
              "leather": ["leather", "genuine leather", "full-grain leather"],
              "wood": ["wood", "solid oak", "walnut wood"], "metal": ["metal", "brushed steel", "aluminium"],
              "ceramic": ["ceramic", "stoneware", "porcelain"], "glass": ["glass", "frosted glass"],
              "bamboo": ["bamboo", "bamboo fibre"]}
_PAT_WORDS = {"plain": ["plain", "solid"], "striped": ["striped", "pinstriped"],
              "dotted": ["dotted", "polka-dot"]}
_ADJ = ["classic", "modern", "cosy", "minimal", "sturdy", "handmade", "everyday", "vintage",
        "lightweight", "premium"]
_FILLER = ["Ships within {d} days.", "A great gift.", "Easy to clean.", "Limited edition.",
           "Customers love it.", "Free returns for 30 days.", "Designed in Europe.", "Best seller."]
_WHAT = ["A {adj} {cat} made of {mat}.", "This {adj} {cat} is crafted from {mat}.",
         "{Cat} in {mat}, {adj} and practical.", "Made from {mat} for everyday use."]
_WHO = ["By {brand}.", "{brand} designs it in their own studio.", "From the {brand} collection.",
        "A {brand} original."]

# -- generation ------------------------------------------------------------------------
def generate(n_users: int = 1000, n_items: int = 600, n_interactions: int = 20000, seed: int = 0,
             root: str | Path | None = None, *, taste_shares: tuple[float, float, float] = (0.6, 0.2, 0.2),
             temperature: float = 1.0, popularity: float = 1.0, missing_image: float = 0.03,
             missing_text: float = 0.03, new_items: float = 0.02, colour_in_text: float = 0.1) -> Dataset:
    """Generate a toyshop into ``root`` (a fresh temporary folder when None) and return it.

    ``taste_shares`` are the shares of (category, colour, material) users; ``temperature``
    softens (>1) or sharpens (<1) tastes; ``popularity`` weighs the pull toward popular
    items; ``missing_image`` / ``missing_text`` / ``new_items`` are item shares without an
    image, without a text, and without any interaction. Prefer :func:`load`, which caches.
    """
    params = _check_params(dict(n_users=n_users, n_items=n_items, n_interactions=n_interactions,
                                seed=seed, taste_shares=list(taste_shares), temperature=temperature,
                                popularity=popularity, missing_image=missing_image,
                                missing_text=missing_text, new_items=new_items,
                                colour_in_text=colour_in_text))
    if root is None:
        root = Path(tempfile.mkdtemp(prefix="toyshop-"))
        _write(root, params)
    else:
        root = Path(root)
        if root.exists() and any(root.iterdir()):
            raise ValueError(f"{root} is not empty; pass a new or empty folder as root, or use "
                             "toyshop.load(root=...) to reuse a generated copy.")
        _atomic_write(root, params)
    return _read(root)


def _check_params(p: dict) -> dict:
    for name in ("n_users", "n_items", "n_interactions", "seed"):
        if not isinstance(p[name], (int, np.integer)) or p[name] < 0:
            raise ValueError(f"{name} must be a non-negative integer, got {p[name]!r}.")
        p[name] = int(p[name])
    if p["n_users"] < 2 or p["n_items"] < 10:
        raise ValueError(f"toyshop needs n_users >= 2 and n_items >= 10, got {p['n_users']} and "
                         f"{p['n_items']}.")
    lo, hi = 3 * p["n_users"], p["n_users"] * max(3, p["n_items"] // 2)
    if not lo <= p["n_interactions"] <= hi:
        raise ValueError(f"n_interactions={p['n_interactions']} must lie in [{lo}, {hi}] (at least "
                         "3 per user, at most half the catalog per user); change n_interactions.")
    shares = np.asarray(p["taste_shares"], dtype=float)
    p["taste_shares"] = shares.tolist()
    if shares.shape != (3,) or (shares < 0).any() or shares.sum() <= 0:
        raise ValueError(f"taste_shares must be three non-negative numbers (category, colour, "
                         f"material), got {p['taste_shares']!r}.")
    for name, top in (("missing_image", 0.5), ("missing_text", 0.5), ("new_items", 0.5),
                      ("colour_in_text", 1.0)):
        if not 0.0 <= p[name] <= top:
            raise ValueError(f"{name} must be a share in [0, {top}], got {p[name]!r}.")
    if not p["temperature"] > 0 or not p["popularity"] >= 0:
        raise ValueError(f"temperature must be > 0 and popularity >= 0, got {p['temperature']!r} "
                         f"and {p['popularity']!r}.")
    for name in ("temperature", "popularity", "missing_image", "missing_text", "new_items",
                 "colour_in_text"):
        p[name] = float(p[name])
    return p


def _items(p: dict, rng: np.random.Generator) -> pd.DataFrame:
    """The item table: attributes, price, latent popularity, title and text."""
    n = p["n_items"]
    cat = rng.integers(len(CATEGORIES), size=n)
    col = rng.integers(len(COLOURS), size=n)
    pat = rng.choice(len(PATTERNS), size=n, p=[0.5, 0.25, 0.25])
    mat = rng.integers(len(MATERIALS), size=n)
    brand = rng.integers(len(BRANDS), size=n)
    tier = np.linspace(0.7, 1.6, len(BRANDS))[brand]
    base = np.array([25, 12, 40, 90, 45, 60, 22, 15])[cat]
    price = np.round(base * tier * rng.lognormal(0.0, 0.25, n), 2)
    log_pop = rng.normal(0.0, 1.2, n)
    ids = [f"i{k:0{max(4, len(str(n - 1)))}d}" for k in range(n)]
    table = pd.DataFrame({"item_id": ids, "category": np.array(CATEGORIES)[cat],
                          "colour": np.array(list(COLOURS))[col], "pattern": np.array(PATTERNS)[pat],
                          "material": np.array(MATERIALS)[mat], "brand": np.array(BRANDS)[brand],
                          "price": price, "log_popularity": log_pop})
    titles, texts = [], []
    says_colour = rng.random(n) < p["colour_in_text"]

    def pick(options: list[str]) -> str:
        return options[rng.integers(len(options))]

    for k, row in enumerate(table.itertuples(index=False)):
        cat_w, mat_w, adj = pick(_CAT_WORDS[row.category]), pick(_MAT_WORDS[row.material]), pick(_ADJ)
        pat_w = pick(_PAT_WORDS[row.pattern]) + " " if rng.random() < 0.5 else ""
        title = f"{row.brand} {pat_w}{cat_w}" if rng.random() < 0.5 else f"{adj.title()} {pat_w}{cat_w}"
        parts = [pick(_WHAT).format(adj=adj, cat=cat_w, Cat=cat_w.capitalize(), mat=mat_w),
                 pick(_WHO).format(brand=row.brand)]
        parts += [pick(_FILLER).format(d=rng.integers(1, 6)) for _ in range(rng.integers(0, 3))]
        if says_colour[k]:
            parts.append(f"Colour: {row.colour}.")
        order = rng.permutation(len(parts))
        text = f"{title}. " + " ".join(parts[j] for j in order)
        if rng.random() < 0.1:  # noise: one typo (two swapped letters)
            j = int(rng.integers(len(title) + 2, len(text) - 2))
            text = text[:j] + text[j + 1] + text[j] + text[j + 2:]
        titles.append(title[0].upper() + title[1:])
        texts.append(text)
    table.insert(1, "title", titles)
    table.insert(1, "text", np.where(rng.random(n) < p["missing_text"], None, texts))
    table["says_colour"] = says_colour
    return table


def _users(p: dict, rng: np.random.Generator) -> pd.DataFrame:
    """Hidden tastes: a taste type, preferred values, and a long-tailed activity level."""
    n = p["n_users"]
    shares = np.asarray(p["taste_shares"], dtype=float)
    taste = np.array(["category", "colour", "material"])[rng.choice(3, size=n, p=shares / shares.sum())]
    values = {"category": CATEGORIES, "colour": tuple(COLOURS), "material": MATERIALS}
    preferred = []
    for t in taste:
        n_pref = 1 if t == "colour" or rng.random() < 0.5 else 2
        preferred.append(tuple(sorted(rng.choice(values[t], size=n_pref, replace=False).tolist())))
    activity = _allocate(rng.lognormal(0.0, 0.9, n), p["n_interactions"], 3, max(3, p["n_items"] // 2))
    ids = [f"u{k:0{max(4, len(str(n - 1)))}d}" for k in range(n)]
    return pd.DataFrame({"user_id": ids, "taste": taste, "preferred": preferred, "activity": activity})


def _allocate(weights: np.ndarray, total: int, lo: int, hi: int) -> np.ndarray:
    """Integer counts in [lo, hi] summing to ``total``, proportional to ``weights`` (water-filling)."""
    cap, left = hi - lo, total - lo * len(weights)
    x = np.zeros(len(weights))
    free = np.ones(len(weights), dtype=bool)
    while free.any():
        x[free] = (left - x[~free].sum()) * weights[free] / weights[free].sum()
        over = free & (x > cap)
        if not over.any():
            break
        x[over], free[over] = cap, False
    counts = np.floor(x).astype(np.int64)
    frac = np.where(counts < cap, x - counts, -1.0)
    counts[np.argsort(-frac, kind="stable")[:left - counts.sum()]] += 1
    return lo + counts


def _interactions(items: pd.DataFrame, users: pd.DataFrame, p: dict,
                  rng: np.random.Generator) -> tuple[pd.DataFrame, np.ndarray]:
    """Sample each user's items from softmax(affinity / temperature) without replacement.

    Works on blocks of users so memory stays bounded for large shops. Returns the
    interactions frame and the boolean ``(n_items,)`` mask of new arrivals.
    """
    n_users, n_items = len(users), len(items)
    new = rng.random(n_items) < p["new_items"]
    activity = np.minimum(users["activity"].to_numpy(), (~new).sum())
    likes, onehots = [], []
    for t, values in (("category", CATEGORIES), ("colour", tuple(COLOURS)), ("material", MATERIALS)):
        like = np.array([[v in pref for v in values] for pref in users["preferred"]])
        like &= (users["taste"].to_numpy() == t)[:, None]               # (n_users, n_values)
        onehot = items[t].to_numpy()[:, None] == np.array(values)[None]  # (n_items, n_values)
        likes.append(like.astype(np.float32))
        onehots.append(onehot.T.astype(np.float32))
    pop = p["popularity"] * items["log_popularity"].to_numpy()
    step = max(1, _BLOCK // n_items)
    picked, matched = [], []
    for lo in range(0, n_users, step):
        rows = slice(lo, lo + step)
        match = sum(like[rows] @ onehot for like, onehot in zip(likes, onehots))  # (block, n_items)
        affinity = 3.0 * match + pop[None, :] + rng.normal(0.0, 0.5, match.shape)
        # Gumbel top-k: the first n_u items by (affinity / T + Gumbel noise) are a sample
        # without replacement from softmax(affinity / T)
        keys = affinity / p["temperature"] + rng.gumbel(size=match.shape)
        keys[:, new] = -np.inf
        order = np.argsort(-keys, axis=1, kind="stable")
        take = np.arange(n_items)[None, :] < activity[rows, None]
        picked.append(order[take])
        matched.append(np.take_along_axis(match, order, axis=1)[take])
    u = np.repeat(np.arange(n_users), activity)
    i, m = np.concatenate(picked), np.concatenate(matched)
    rating = np.clip(np.round(2.6 + 1.6 * m + rng.normal(0.0, 0.8, len(u))), 1, 5).astype(np.int64)
    # each user is active over a window of the three years; events within it in random order
    length = SPAN * rng.uniform(0.1, 0.6, n_users)
    start = START_TIME + rng.uniform(0, 1, n_users) * (SPAN - length)
    ts = (start[u] + rng.uniform(0, 1, len(u)) * length[u]).astype(np.int64)
    frame = pd.DataFrame({"user": users["user_id"].to_numpy()[u], "item": items["item_id"].to_numpy()[i],
                          "rating": rating, "timestamp": ts})
    return frame, new


# -- writing, reading, caching ---------------------------------------------------------
def _write(root: Path, p: dict) -> None:
    """Generate everything into the (new or empty) folder ``root``; meta.json is written last."""
    rng = np.random.default_rng(p["seed"])
    items = _items(p, rng)
    users = _users(p, rng)
    frame, new = _interactions(items, users, p, rng)
    has_image = rng.random(len(items)) >= p["missing_image"]
    items["image"] = write_images(root, items, has_image, p["seed"])
    cols = ["item_id", "text", "image", "title", "category", "colour", "pattern", "material",
            "brand", "price"]
    items[cols].to_csv(root / "items.csv", index=False)
    frame.to_csv(root / "interactions.csv", index=False)
    truth = {"taste": users["taste"].tolist(), "preferred": [list(v) for v in users["preferred"]],
             "activity": users["activity"].tolist(),
             "item_popularity": np.round(items["log_popularity"], 6).tolist(),
             "new_items": np.flatnonzero(new).tolist(), "colour_in_text": items["says_colour"].tolist()}
    meta = {"generator_version": GENERATOR_VERSION, "params": p, "ground_truth": truth,
            "sha256": {name: sha256sum(root / name) for name in _TABLES}}
    (root / "meta.json").write_text(json.dumps(meta))


def _read(root: Path) -> Dataset:
    """Read a generated toyshop folder back into a :class:`Dataset`."""
    meta = json.loads((root / "meta.json").read_text())
    items = pd.read_csv(root / "items.csv", dtype={"item_id": str, "text": object, "image": object})
    frame = pd.read_csv(root / "interactions.csv", dtype={"user": str, "item": str})
    t = meta["ground_truth"]
    users = pd.DataFrame({"user_id": sorted(frame["user"].unique()), "taste": t["taste"],
                          "preferred": [tuple(v) for v in t["preferred"]], "activity": t["activity"]})
    truth = {"taste": users["taste"].to_numpy(), "preferred": users["preferred"].tolist(),
             "activity": users["activity"].to_numpy(), "users": users,
             "item_popularity": np.asarray(t["item_popularity"], dtype=np.float64),
             "new_items": np.asarray(t["new_items"], dtype=np.int64),
             "colour_in_text": np.asarray(t["colour_in_text"], dtype=bool)}
    info = {"source": "handson.toyshop (procedural)", "params": meta["params"],
            "generator_version": meta["generator_version"], "ground_truth": truth}
    return from_frames(frame, items, user_col="user", item_col="item", rating_col="rating",
                       timestamp_col="timestamp", item_id_col="item_id", name="toyshop",
                       root=root, info=info)


def _atomic_write(root: Path, p: dict) -> None:
    """Generate into a temporary sibling of ``root``, then rename it into place, so a crash
    leaves nothing partial; when another process got there first, keep its copy."""
    root.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{root.name}.tmp-", dir=root.parent))
    try:
        _write(tmp, p)
        if root.is_dir() and not any(root.iterdir()):
            root.rmdir()
        try:
            os.replace(tmp, root)
        except OSError:
            if not (root / "meta.json").is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


_TABLES = ("items.csv", "interactions.csv")


def _damage(root: Path, p: dict) -> str | None:
    """Why the copy in ``root`` cannot be used: "absent", "other" (another version or other
    parameters) or the table whose SHA-256 does not match meta.json; None when it is sound."""
    try:
        meta = json.loads((root / "meta.json").read_text())
    except (OSError, ValueError):
        return "absent"
    if not isinstance(meta, dict) or meta.get("generator_version") != GENERATOR_VERSION or meta.get("params") != p:
        return "other"
    sums = meta.get("sha256") if isinstance(meta.get("sha256"), dict) else {}
    for name in _TABLES:
        if not (root / name).is_file() or sha256sum(root / name) != sums.get(name):
            return f"{name} fails its SHA-256 check"
    return None


def _matches(root: Path, p: dict) -> bool:
    return _damage(root, p) is None


def load(root: str | Path | None = None, subset: str | None = None, **kwargs: Any) -> Dataset:
    """The toyshop, generated on first use into the cache (or ``root``) and reused afterwards.

    ``subset`` picks a size preset ("small", "default", "large", see ``PRESETS``); other
    keywords go to :func:`generate` (``n_users``, ``n_items``, ``n_interactions``, ``seed``,
    ...) and override the preset. ``datasets.load("toyshop:small")`` passes ``subset``.
    """
    if subset is not None and subset not in PRESETS:
        raise ValueError(f"Unknown toyshop subset {subset!r}; choose one of {sorted(PRESETS)} or "
                         "pass n_users=, n_items=, n_interactions=.")
    options = _options()
    unknown = sorted(set(kwargs) - set(options))
    if unknown:
        raise ValueError(f"Unknown toyshop option(s) {unknown}; valid ones: {sorted(options)}.")
    p = _check_params({**options, **PRESETS[subset or "default"], **kwargs})
    if root is None:
        key = hashlib.sha1(json.dumps([GENERATOR_VERSION, p], sort_keys=True).encode()).hexdigest()[:10]
        root = cache_dir("toyshop") / f"v{GENERATOR_VERSION}-{p['n_users']}x{p['n_items']}-s{p['seed']}-{key}"
        why = _damage(root, p) if root.exists() else None
        if why is not None:
            if why not in ("absent", "other"):
                warnings.warn(f"The cached toyshop in {root} is damaged ({why}); it is generated again.",
                              stacklevel=2)
            shutil.rmtree(root)  # a stale or broken copy in our own cache
    root = Path(root)
    if not _matches(root, p):
        if root.exists() and any(root.iterdir()):
            raise ValueError(f"{root} is not empty and holds no sound toyshop with these parameters "
                             f"({_damage(root, p)}); pass an empty or new folder as root, or root=None "
                             "for the cache.")
        _atomic_write(root, p)
    return _read(root)


def _options() -> dict:
    """generate()'s keyword defaults, except ``root``."""
    return {k: v.default for k, v in inspect.signature(generate).parameters.items() if k != "root"}
