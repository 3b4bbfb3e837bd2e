"""MovieLens (handson.datasets.movielens) on small fixture files in the GroupLens layouts, plus
the shared ml-latest-small copy when it is present (HANDSON_ML_DIR or ../shared/data/ml-latest-small)."""
from __future__ import annotations

import os
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest

from handson import datasets
from handson.datasets import movielens
from handson.datasets.files import LayoutError
from loader_fixtures import _data_dir, _jpeg  # noqa: F401 - _data_dir is an autouse fixture
from loader_fixtures import shared_ml as _shared_ml


def _ml_small(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "ratings.csv").write_text("userId,movieId,rating,timestamp\n1,1,4.0,10\n1,2,3.5,11\n"
                                        "2,1,5.0,12\n2,3,0.5,13\n3,99,4.0,14\n")
    (folder / "movies.csv").write_text('movieId,title,genres\n1,Toy Story (1995),Adventure|Animation\n'
                                       '2,"City, The (2000)",(no genres listed)\n3,Heat (1995),Action\n'
                                       '4,Unrated (2001),Drama\n')
    (folder / "tags.csv").write_text("userId,movieId,tag,timestamp\n1,1,pixar,1\n2,1,Pixar,2\n2,1,fun,3\n")
    (folder / "posters").mkdir(exist_ok=True)
    (folder / "posters" / "1.jpg").write_bytes(_jpeg())
    return folder


def test_movielens_latest_small_fixture(tmp_path):
    ds = datasets.load("movielens-latest-small", root=_ml_small(tmp_path / "ml-latest-small"))
    assert (ds.n_users, ds.n_items, ds.n_interactions) == (3, 5, 5)
    assert ds.texts[0] == "Toy Story (1995). Genres: Adventure, Animation. Tags: pixar, fun"
    assert ds.texts[1] == "City, The (2000)"
    assert ds.info["items_without_meta"] == 1 and ds.has_text.tolist() == [True, True, True, True, False]
    assert ds.has_image.tolist() == [True, False, False, False, False]
    assert ds.interactions.ratings.tolist() == [4.0, 3.5, 5.0, 0.5, 4.0]
    assert not (tmp_path / "data").exists(), "a local copy writes nothing elsewhere"


def test_movielens_100k_fixture_latin1(tmp_path):
    folder = tmp_path / "ml-100k"
    folder.mkdir()
    (folder / "u.data").write_text("1\t1\t5\t874965758\n1\t2\t3\t876893171\n2\t1\t4\t878542960\n")
    flags = lambda on: "|".join("1" if k in on else "0" for k in range(19))  # noqa: E731
    (folder / "u.item").write_bytes(
        (f"1|Toy Story (1995)|01-Jan-1995||http://x|{flags({3, 4, 5})}\n"
         f"2|Misérables, Les (1995)|01-Jan-1995||http://x|{flags({8})}\n").encode("latin-1"))
    ds = datasets.load("movielens-100k", root=tmp_path)
    assert (ds.n_users, ds.n_items, ds.n_interactions) == (2, 2, 3)
    assert ds.texts == ["Toy Story (1995). Genres: Animation, Children's, Comedy",
                        "Misérables, Les (1995). Genres: Drama"]
    assert ds.info["encodings"]["u.item"] == "latin-1"
    (folder / "u.item").write_text("1|Toy Story (1995)|x\n")
    with pytest.raises(ValueError, match="u.item has 3 columns; expected 24"):
        datasets.load("movielens-100k", root=tmp_path)


def test_movielens_errors(tmp_path):
    folder = _ml_small(tmp_path / "m")
    (folder / "movies.csv").write_text("movieId,name\n1,x\n")
    with pytest.raises(ValueError, match=r"movies.csv lacks column\(s\) \['title', 'genres'\]"):
        datasets.load("movielens-latest-small", root=folder)
    (folder / "movies.csv").unlink()
    with pytest.raises(LayoutError, match="'ratings.csv', 'movies.csv'.*holds \\['posters/', 'ratings.csv', 'tags.csv'\\]"):
        datasets.load("movielens-latest-small", root=folder)
    with pytest.raises(LayoutError, match="is not a folder. Pass root= the folder that holds 'u.data'"):
        datasets.load("movielens-100k", root=tmp_path / "nowhere")
    with pytest.raises(ValueError, match="Unknown MovieLens variant"):
        movielens.load_movielens("1m", root=folder)
    with pytest.raises(LayoutError, match="download=False"):
        datasets.load("movielens-100k", download=False)


def test_movielens_download_path(tmp_path, monkeypatch):
    src = _ml_small(tmp_path / "src" / "ml-latest-small")
    archive = tmp_path / "served.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for f in src.rglob("*"):
            zf.write(f, f.relative_to(tmp_path / "src"))

    def fake_fetch(url, dest, **kwargs):
        shutil.copy(archive, dest)
        return Path(dest)

    monkeypatch.setattr(movielens, "fetch", fake_fetch)
    ds = datasets.load("movielens-latest-small")
    assert ds.n_interactions == 5 and ds.has_image.sum() == 1
    assert not (tmp_path / "data" / "movielens" / "ml-latest-small.zip").exists()


@pytest.mark.slow
@pytest.mark.skipif(_shared_ml() is None, reason="no shared ml-latest-small copy (HANDSON_ML_DIR)")
def test_shared_movielens_latest_small():
    folder = _shared_ml()
    ds = datasets.load("movielens-latest-small", root=folder)
    assert (ds.n_users, ds.n_items, ds.n_interactions) == (610, 9742, 100_836)
    assert ds.info["items_without_meta"] == 0 and ds.info["duplicates_collapsed"] == 0
    rated = ds.interactions.item_counts() > 0
    has = ds.has_image
    # every poster file is attached to its movie
    assert has.sum() == len([f for f in os.listdir(folder / "posters") if f.endswith(".jpg")])
    # posters cover >= 99% of the ratings; per movie the copy covers 97.7% (9,499 of 9,724)
    assert has[ds.interactions.items].mean() >= 0.99
    assert has[rated].mean() >= 0.97
    assert np.all(ds.has_text)
