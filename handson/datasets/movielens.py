"""MovieLens 100K and latest-small (GroupLens), from the official zips or a local copy.

Layouts (exactly those of the GroupLens zips; a ``posters/<movieId>.jpg`` folder is optional)::

    ml-100k/         u.data (user, item, rating, timestamp; tab-separated), u.item (Latin-1,
                     "|"-separated: id, title, release date, video date, IMDb URL, 19 genre flags),
                     u.genre (optional genre names)
    ml-latest-small/ ratings.csv (userId, movieId, rating, timestamp), movies.csv (movieId,
                     title, genres "|"-separated), tags.csv (userId, movieId, tag, timestamp)

The catalog is every movie of the movie table; rated movies missing from it stay in the
catalog without text (counted in ``info["items_without_meta"]``). Item text = title +
genres (+ the distinct user tags for latest-small). Ratings stay explicit (0.5-5 or 1-5
stars); ``ds.implicit(4)`` keeps the positives. Timestamps are Unix seconds. Rating rows
without a user, item, rating or timestamp (e.g. a truncated last line) are dropped, counted
in ``info["rows_dropped"]`` and named in a warning.

Reference: Harper and Konstan, "The MovieLens datasets: history and context",
ACM TiiS 5(4), 2015.
"""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from .core import Dataset
from .frames import from_frames
from .download import data_dir, download as fetch, extract_zip
from .files import LayoutError, find_layout, image_column, join_text, read_table, require_columns

__all__ = ["load_movielens", "URLS"]

URLS = {
    "100k": "https://files.grouplens.org/datasets/movielens/ml-100k.zip",
    "latest-small": "https://files.grouplens.org/datasets/movielens/ml-latest-small.zip",
}
_LAYOUTS = {
    "100k": [("u.data",), ("u.item",)],
    "latest-small": [("ratings.csv",), ("movies.csv",)],
}
_GENRES_100K = ["unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime",
                "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery",
                "Romance", "Sci-Fi", "Thriller", "War", "Western"]


def load_movielens(variant: str = "latest-small", root: str | Path | None = None,
                   download: bool = True, quiet: bool = False) -> Dataset:
    """Load MovieLens ``variant`` ("100k" or "latest-small") as a :class:`Dataset`.

    ``root`` is a local folder in the GroupLens layout (or a folder above it). Without it
    the zip is downloaded once into ``data_dir("movielens")`` (``download=False`` forbids).
    """
    if variant not in URLS:
        raise ValueError(f"Unknown MovieLens variant {variant!r}; choose from {sorted(URLS)}.")
    base = Path(root) if root is not None else _local_copy(variant, download, quiet)
    folder, files = find_layout(base, _LAYOUTS[variant], f"MovieLens {variant}",
                                hint=f" The official zip is {URLS[variant]}.")
    info: dict = {"source": URLS[variant], "folder": str(folder)}
    if variant == "100k":
        ratings, movies = _read_100k(folder, info)
    else:
        ratings, movies = _read_latest(folder, info)
    ratings = _complete_rows(ratings, info, "u.data" if variant == "100k" else "ratings.csv")
    known = ratings["item"].isin(movies["item_id"])
    missing = pd.unique(ratings.loc[~known, "item"])
    info["items_without_meta"] = int(len(missing))
    if len(missing):
        movies = pd.concat([movies, pd.DataFrame({"item_id": missing})], ignore_index=True)
    movies["image"], info["items_without_image"] = image_column(
        movies["item_id"], folder / "posters", relative_to=folder)
    return from_frames(ratings, movies, rating_col="rating", timestamp_col="timestamp",
                       item_id_col="item_id", name=f"movielens-{variant}", root=folder, info=info)


def _local_copy(variant: str, download: bool, quiet: bool) -> Path:
    base = data_dir("movielens")
    folder = base / f"ml-{variant}"
    try:
        find_layout(folder, _LAYOUTS[variant], "", max_depth=0)
        return folder
    except LayoutError:
        if not download:
            raise LayoutError(f"MovieLens {variant} is not in {folder} and download=False. Unzip "
                              f"{URLS[variant]} there, or pass root=... .") from None
    archive = fetch(URLS[variant], base / f"ml-{variant}.zip", quiet=quiet)
    extract_zip(archive, base)
    archive.unlink(missing_ok=True)
    return folder


def _complete_rows(ratings: pd.DataFrame, info: dict, file: str) -> pd.DataFrame:
    """The rating rows with a number in each of user, item, rating and timestamp; the others
    (a truncated last line, a lost timestamp, text in a number column) are dropped, counted
    in ``info["rows_dropped"]`` and named in a warning."""
    numeric = ratings.apply(pd.to_numeric, errors="coerce")
    bad = numeric.isna().any(axis=1) | np.isinf(numeric.astype(float)).any(axis=1)
    info["rows_dropped"] = int(bad.sum())
    if bad.any():
        warnings.warn(f"{file}: {int(bad.sum())} row(s) lack a user, item, rating or timestamp (data rows "
                      f"{ratings.index[bad][:5].tolist()}, counting from 0); they were dropped and are "
                      "counted in info['rows_dropped'].", stacklevel=3)
    return numeric[~bad].astype({"user": np.int64, "item": np.int64, "timestamp": np.int64})


def _read_100k(folder: Path, info: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    ratings = read_table(folder / "u.data", info, sep="\t", header=None)
    if ratings.shape[1] != 4:
        raise ValueError(f"u.data has {ratings.shape[1]} column(s); expected 4 tab-separated "
                         "columns user, item, rating, timestamp.")
    ratings.columns = ["user", "item", "rating", "timestamp"]
    genres = _GENRES_100K
    if (folder / "u.genre").is_file():
        g = read_table(folder / "u.genre", info, sep="|", header=None, encoding="latin-1").dropna()
        genres = g.sort_values(1)[0].astype(str).tolist()
    movies = read_table(folder / "u.item", info, sep="|", header=None, encoding="latin-1")
    if movies.shape[1] != 5 + len(genres):
        raise ValueError(f"u.item has {movies.shape[1]} columns; expected {5 + len(genres)} "
                         f"(id, title, release date, video date, URL and {len(genres)} genre flags).")
    flags = movies.iloc[:, 5:].fillna(0).astype(bool).to_numpy()
    names = np.array(genres, dtype=object)
    genre_text = [", ".join(names[row]) for row in flags]
    table = pd.DataFrame({"item_id": movies[0].astype(np.int64), "title": movies[1],
                          "genres": ["|".join(names[row]) for row in flags]})
    table["text"] = join_text(table["title"], pd.Series(["Genres: " + g if g else "" for g in genre_text]))
    return ratings, table


def _read_latest(folder: Path, info: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    ratings = read_table(folder / "ratings.csv", info)
    require_columns(ratings, ["userId", "movieId", "rating", "timestamp"], "ratings.csv")
    ratings = ratings.rename(columns={"userId": "user", "movieId": "item"})
    movies = read_table(folder / "movies.csv", info)
    require_columns(movies, ["movieId", "title", "genres"], "movies.csv")
    genres = movies["genres"].fillna("").str.replace("(no genres listed)", "", regex=False)
    genres = genres.str.replace("|", ", ", regex=False)
    table = pd.DataFrame({"item_id": movies["movieId"].astype(np.int64), "title": movies["title"],
                          "genres": movies["genres"]})
    parts = [table["title"], ("Genres: " + genres).where(genres != "", "")]
    if (folder / "tags.csv").is_file():
        tags = read_table(folder / "tags.csv", info)
        require_columns(tags, ["movieId", "tag"], "tags.csv")
        tags = tags.dropna(subset=["tag"]).assign(tag=lambda t: t["tag"].astype(str).str.strip())
        tags = tags[tags["tag"] != ""]
        tags = tags.loc[~tags.assign(k=tags["tag"].str.lower()).duplicated(["movieId", "k"])]
        joined = tags.groupby("movieId")["tag"].agg(", ".join)
        mapped = table["item_id"].map(joined).fillna("")
        parts.append(("Tags: " + mapped).where(mapped != "", ""))
        info["movies_with_tags"] = int((mapped != "").sum())
    table["text"] = join_text(*parts)
    return ratings[["user", "item", "rating", "timestamp"]], table
