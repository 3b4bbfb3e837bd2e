"""Bad inputs and faults on disk: downloads, hostile archives, damaged caches, checkpoints.

Each case asserts the exact outcome: the error type and that the message names the argument
or file at fault, or the counted fallback and its count. Reproduction 1 of issue #13 (an
extraction that deleted the user's posters) and reproductions 3 and 4 live here.
"""
from __future__ import annotations

import shutil
import stat
import warnings
import zipfile
from pathlib import Path

import pytest

from handson import datasets
from handson.datasets import download as dl
from handson.datasets import movielens
from handson.datasets.archives import extract_zip
from handson.datasets.download import DownloadError
from loader_fixtures import _data_dir, _jpeg  # noqa: F401 - _data_dir is an autouse fixture


def _zip(path: Path, members: dict, attrs: dict | None = None) -> Path:
    """A zip with ``members`` {name: bytes}; ``attrs`` {name: st_mode} sets the file type."""
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            info = zipfile.ZipInfo(name)
            if attrs and name in attrs:
                info.external_attr = attrs[name] << 16
            zf.writestr(info, data)
    return path


def _ml_zip(path: Path) -> Path:
    return _zip(path, {
        "ml-latest-small/ratings.csv": b"userId,movieId,rating,timestamp\n1,1,4.0,10\n1,2,3.5,11\n2,1,5.0,12\n",
        "ml-latest-small/movies.csv": b"movieId,title,genres\n1,Toy Story (1995),Animation\n2,Heat (1995),Action\n",
    })


# -- reproduction 1: extraction never deletes what the user placed -----------------------
def test_repro1_movielens_download_keeps_hand_placed_posters(tmp_path, monkeypatch):
    posters = tmp_path / "data" / "movielens" / "ml-latest-small" / "posters"
    posters.mkdir(parents=True)
    for i in range(1, 51):
        (posters / f"{i}.jpg").write_bytes(_jpeg())
    archive = _ml_zip(tmp_path / "served.zip")
    monkeypatch.setattr(movielens, "fetch", lambda url, dest, **kw: Path(shutil.copy(archive, dest)))
    ds = datasets.load("movielens-latest-small")
    assert len(list(posters.glob("*.jpg"))) == 50, "the hand-placed posters must survive the download"
    assert ds.has_image.tolist() == [True, True]


def test_extract_keeps_an_existing_file_that_differs_and_counts_it(tmp_path):
    out = tmp_path / "out"
    (out / "top").mkdir(parents=True)
    (out / "top" / "notes.txt").write_text("mine")
    z = _zip(tmp_path / "a.zip", {"top/notes.txt": b"theirs", "top/new.txt": b"new"})
    with pytest.warns(UserWarning, match=r"1 existing file\(s\) differ.*notes.txt"):
        extract_zip(z, out)
    assert (out / "top" / "notes.txt").read_text() == "mine"
    assert (out / "top" / "new.txt").read_text() == "new"


def test_extract_over_an_identical_copy_is_silent(tmp_path):
    z = _zip(tmp_path / "a.zip", {"top/a.txt": b"same"})
    extract_zip(z, tmp_path / "out")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        extract_zip(z, tmp_path / "out")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["top"]


def test_extract_leaves_a_file_where_the_archive_has_a_folder(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "top").write_text("a file named like the archive's folder")
    z = _zip(tmp_path / "a.zip", {"top/a.txt": b"x"})
    with pytest.warns(UserWarning, match="kept as they are.*top"):
        extract_zip(z, out)
    assert (out / "top").read_text().startswith("a file")


# -- hostile archives: refused before anything is written --------------------------------
@pytest.mark.parametrize("name, attr, why", [
    ("/etc/evil.txt", None, "absolute path"),
    ("C:/evil.txt", None, "absolute path"),
    ("top/../../evil.txt", None, r"'\.\.' leaves"),
    ("..\\evil.txt", None, r"'\.\.' leaves"),
    ("top/link", stat.S_IFLNK | 0o777, "symbolic link"),
    ("top/fifo", stat.S_IFIFO | 0o644, "not a regular file"),
], ids=["absolute", "drive-letter", "dotdot", "backslash-dotdot", "symlink", "fifo"])
def test_hostile_archive_member_is_refused(tmp_path, name, attr, why):
    z = _zip(tmp_path / "evil.zip", {"top/ok.txt": b"ok", name: b"/etc/passwd"},
             attrs={name: attr} if attr else None)
    out = tmp_path / "out"
    with pytest.raises(DownloadError, match=f"unsafe member.*{why}"):
        extract_zip(z, out)
    assert not out.exists(), "nothing may be written when an archive is refused"
    assert not (tmp_path / "evil.txt").exists()


def test_missing_archive_names_the_path(tmp_path):
    with pytest.raises(DownloadError, match="No archive at .*nothing.zip"):
        extract_zip(tmp_path / "nothing.zip", tmp_path / "out")


def test_download_keeps_a_mismatching_file_aside(tmp_path, monkeypatch):
    dest = tmp_path / "file.bin"
    dest.write_bytes(b"the user's own copy")

    def fetch(url, tmp, dest, timeout, allow_html, quiet):
        Path(tmp).write_bytes(b"fresh")

    monkeypatch.setattr(dl, "_fetch_once", fetch)
    good = dl.hashlib.sha256(b"fresh").hexdigest()
    with pytest.warns(UserWarning, match="renamed to file.bin.mismatch"):
        dl.download("http://example.invalid/file.bin", dest, sha256=good)
    assert dest.read_bytes() == b"fresh"
    assert (tmp_path / "file.bin.mismatch").read_bytes() == b"the user's own copy"


def test_download_whose_checksum_fails_leaves_the_old_file(tmp_path, monkeypatch):
    dest = tmp_path / "file.bin"
    dest.write_bytes(b"old")
    monkeypatch.setattr(dl, "_fetch_once", lambda url, tmp, *a: Path(tmp).write_bytes(b"bad"))
    with pytest.raises(DownloadError, match="Checksum mismatch"):
        dl.download("http://example.invalid/file.bin", dest, sha256="0" * 64)
    assert dest.read_bytes() == b"old"
