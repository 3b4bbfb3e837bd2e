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


def test_a_file_that_is_not_a_zip_is_moved_aside_never_deleted(tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("my notes")
    with pytest.raises(DownloadError, match="notes.txt is not a valid zip archive.*moved aside to notes.txt.bad"):
        extract_zip(notes, tmp_path / "out")
    assert (tmp_path / "notes.txt.bad").read_text() == "my notes"
    assert not (tmp_path / "out").exists()


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


# -- checkpoints: data only, checked before use --------------------------------------------
def _train():
    from handson.datasets import Interactions
    rng = __import__("numpy").random.default_rng(0)
    return Interactions(rng.integers(0, 30, 300), rng.integers(0, 20, 300), 30, 20)


def _bpr(**kw):
    from handson.models import BPR
    return BPR(**({"factors": 4, "epochs": 1, "verbose": False} | kw))


class _Evil:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_repro3_a_crafted_checkpoint_runs_no_code(tmp_path):
    import torch
    from handson.checkpoints import CHECKPOINT_FORMAT
    marker, ckpt = tmp_path / "pwned", tmp_path / "evil.pt"
    torch.save({"format": CHECKPOINT_FORMAT, "model": _Evil(marker)}, ckpt)
    with pytest.raises(ValueError, match="Cannot read checkpoint .*evil.pt.*refused without running them"):
        _bpr().fit(_train(), resume_from=ckpt)
    assert not marker.exists(), "loading a checkpoint must never run code from it"


def test_checkpoint_file_loads_as_plain_data(tmp_path):
    import torch
    _bpr().fit(_train(), checkpoint=tmp_path / "ck.pt")
    ck = torch.load(tmp_path / "ck.pt", weights_only=True)
    assert ck["epoch"] == 1 and isinstance(ck["numpy_rng"]["state"]["state"], str)


def _tampered(tmp_path, change) -> Path:
    import torch
    _bpr().fit(_train(), checkpoint=tmp_path / "ck.pt")
    ck = torch.load(tmp_path / "ck.pt", weights_only=True)
    change(ck)
    torch.save(ck, tmp_path / "bad.pt")
    return tmp_path / "bad.pt"


@pytest.mark.parametrize("change, match", [
    (lambda ck: ck.update(format="handson-checkpoint-1"), "not a handson training checkpoint of format.*found 'handson-checkpoint-1'"),
    (lambda ck: ck.update(epoch="3"), "field 'epoch' is not an epoch number"),
    (lambda ck: ck.pop("history"), "field 'history' is missing"),
    (lambda ck: ck["numpy_rng"]["state"].update(state="-1"), "field 'numpy_rng' is not a NumPy bit generator state"),
    (lambda ck: ck["history"]["records"].append("x"), "field 'history' is not a history dict"),
    (lambda ck: ck["model"].update({k: v[:1] for k, v in ck["model"].items()}), "other parameter shapes"),
    (lambda ck: ck["optimizer"].update(param_groups=[]), "its 'optimizer' state cannot be restored"),
    (lambda ck: ck.update(model_class="LightGCN"), "written by LightGCN, not BPR"),
], ids=["old-format", "epoch-str", "no-history", "rng", "records", "weights-shape", "optimizer", "class"])
def test_damaged_checkpoint_names_the_field(tmp_path, change, match):
    bad = _tampered(tmp_path, change)
    with pytest.raises(ValueError, match=match):
        _bpr(epochs=2).fit(_train(), resume_from=bad)


@pytest.mark.parametrize("where, match", [
    ("file/ck.pt", "checkpoint=.*ck.pt' cannot be written"),
    ("folder", "checkpoint=.*folder' is a folder"),
], ids=["parent-is-a-file", "is-a-folder"])
def test_unwritable_checkpoint_path_fails_before_training(tmp_path, where, match):
    (tmp_path / "file").write_text("x")
    (tmp_path / "folder").mkdir()
    model = _bpr()
    with pytest.raises(ValueError, match=match):
        model.fit(_train(), checkpoint=tmp_path / where)
    assert not hasattr(model, "module_"), "nothing may be trained before the path is checked"


@pytest.mark.parametrize("kwargs, match", [
    (dict(checkpoint=123), "checkpoint must be a file path.*got 123"),
    (dict(resume_from=["a.pt"]), r"resume_from must be a file path.*\['a.pt'\]"),
    (dict(resume_from="nowhere.pt"), "Checkpoint 'nowhere.pt' does not exist"),
], ids=["checkpoint-int", "resume-list", "resume-missing"])
def test_checkpoint_arguments_are_checked_first(kwargs, match):
    model = _bpr()
    with pytest.raises(ValueError, match=match):
        model.fit(_train(), **kwargs)
    assert not hasattr(model, "module_")


# -- the feature cache: verified on read, healed, optional ---------------------------------
def _cached(cache, calls: list, n: int = 6, d: int = 3, crash_at: int | None = None):
    """run_cached over a stub computation whose row i is all i (one chunk per row)."""
    import numpy as np
    from handson.features import Features
    from handson.features.extract import ChunkedRun, run_cached

    def compute(store, key):
        calls.append(1)
        run = ChunkedRun(store, key, n, chunk_batches=1)
        for i in np.flatnonzero(~run.done_mask()):
            if crash_at is not None and i == crash_at:
                raise RuntimeError("simulated crash")
            run.add([i], np.full((1, d), i, np.float32), [0], [""])
        values, status, _ = run.result(d, np.zeros(n, np.int8))
        return Features(values, status == 0, {"items": n, "available": n, "resumed": run.resumed}, {})

    return run_cached("image", list(range(n)), "fp", {"encoder": "stub"}, compute, "zero", cache, "list", "image")


def _expected(n: int = 6, d: int = 3):
    import numpy as np
    return np.repeat(np.arange(n, dtype=np.float32)[:, None], d, axis=1)


def _entry(cache: Path) -> tuple[Path, Path]:
    npy = next(cache.glob("*.npy"))
    return npy, npy.with_suffix(".json")


@pytest.mark.parametrize("damage, what", [
    (lambda npy, meta: npy.write_bytes(b""), "SHA-256"),
    (lambda npy, meta: npy.write_bytes(npy.read_bytes()[:-7] + b"\x7f\x7f\x7f\x7f" + npy.read_bytes()[-3:]), "SHA-256"),
    (lambda npy, meta: meta.write_text("{}"), "lacks its 'manifest' or 'file' record"),
    (lambda npy, meta: meta.write_text("null"), "lacks its 'manifest' or 'file' record"),
    (lambda npy, meta: meta.write_text('{"manifest": '), "unreadable: JSONDecodeError"),
    (lambda npy, meta: npy.unlink(), "is missing"),
], ids=["npy-0-bytes", "npy-flipped-bytes", "manifest-empty-dict", "manifest-null", "manifest-truncated",
        "npy-deleted"])
def test_repro4_a_damaged_cache_entry_is_recomputed_with_a_warning(tmp_path, damage, what):
    import numpy as np
    calls: list = []
    _cached(tmp_path / "c", calls)
    npy, meta = _entry(tmp_path / "c")
    damage(npy, meta)
    with pytest.warns(UserWarning, match=f"cache entry {npy.name} does not verify.*{what}.*computed again"):
        healed = _cached(tmp_path / "c", calls)
    np.testing.assert_array_equal(healed.values, _expected())
    assert len(calls) == 2 and healed.manifest["cache"] == "miss"
    again = _cached(tmp_path / "c", calls)
    assert again.manifest["cache"] == "hit" and len(calls) == 2, "the healed entry is used from then on"


def test_cache_entry_with_a_wrong_shape_is_recomputed(tmp_path):
    import json
    import numpy as np
    calls: list = []
    _cached(tmp_path / "c", calls)
    npy, meta = _entry(tmp_path / "c")
    np.save(npy, np.zeros((2, 3), np.float32))
    info = json.loads(meta.read_text())
    info["file"]["sha256"] = dl.sha256sum(npy)
    meta.write_text(json.dumps(info))
    with pytest.warns(UserWarning, match=r"has shape \(2, 3\).*manifest says \[6, 3\]"):
        healed = _cached(tmp_path / "c", calls)
    np.testing.assert_array_equal(healed.values, _expected())


def test_repro4_a_truncated_chunk_is_dropped_and_its_rows_recomputed(tmp_path):
    import numpy as np
    calls: list = []
    with pytest.raises(RuntimeError, match="simulated crash"):
        _cached(tmp_path / "c", calls, crash_at=4)
    chunks = sorted((tmp_path / "c").glob("*.part/chunk_*.npz"))
    assert len(chunks) == 4
    chunks[1].write_bytes(chunks[1].read_bytes()[:40])
    with pytest.warns(UserWarning, match="dropped damaged chunk.*chunk_000001.npz"):
        out = _cached(tmp_path / "c", calls)
    np.testing.assert_array_equal(out.values, _expected())
    assert out.report["resumed"] == 3


def test_chunks_of_different_widths_are_all_dropped(tmp_path):
    import numpy as np
    calls: list = []
    with pytest.raises(RuntimeError):
        _cached(tmp_path / "c", calls, crash_at=3)
    chunk = sorted((tmp_path / "c").glob("*.part/chunk_*.npz"))[0]
    np.savez(chunk, index=np.array([0]), values=np.zeros((1, 5), np.float32), status=np.zeros(1, np.int8),
             mode=np.array([""]))
    with pytest.warns(UserWarning, match=r"all chunks \(row widths \[3, 5\]\)"):
        out = _cached(tmp_path / "c", calls)
    np.testing.assert_array_equal(out.values, _expected())


def test_unwritable_cache_folder_computes_and_warns_once(tmp_path):
    import numpy as np
    (tmp_path / "file").write_text("x")
    calls: list = []
    with pytest.warns(UserWarning, match="cache folder .*file/c cannot be written.*without caching"):
        first = _cached(tmp_path / "file" / "c", calls)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        second = _cached(tmp_path / "file" / "c", calls)
    np.testing.assert_array_equal(first.values, _expected())
    np.testing.assert_array_equal(second.values, _expected())
    assert len(calls) == 2


def test_a_full_disk_while_saving_still_returns_the_values(tmp_path, monkeypatch):
    import numpy as np
    from handson.features.cache import FeatureStore

    def full(self, key, feats):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(FeatureStore, "save", full)
    with pytest.warns(UserWarning, match="cannot be written.*No space left"):
        out = _cached(tmp_path / "c", [])
    np.testing.assert_array_equal(out.values, _expected())


def test_cache_argument_of_the_wrong_type_is_named(tmp_path):
    with pytest.raises(ValueError, match="cache must be True, False or a folder path, got 123"):
        _cached(123, [])


def test_handson_cache_naming_a_file_computes_without_caching(tmp_path, monkeypatch):
    import numpy as np
    (tmp_path / "cachefile").write_text("x")
    monkeypatch.setenv("HANDSON_CACHE", str(tmp_path / "cachefile"))
    with pytest.warns(UserWarning, match="cachefile/features cannot be written"):
        out = _cached(True, [])
    np.testing.assert_array_equal(out.values, _expected())


def test_non_finite_encoder_rows_are_counted_as_missing(tmp_path):
    import numpy as np
    from handson.features import Features
    from handson.features.extract import run_cached

    def compute(store, key):
        values = _expected()
        values[2, 1] = np.nan
        return Features(values, np.ones(6, bool), {"items": 6, "available": 6}, {})

    with pytest.warns(UserWarning, match=r"NaN/inf for 1 item\(s\)"):
        out = run_cached("image", list(range(6)), "fp", {"encoder": "stub"}, compute, "zero",
                         tmp_path / "c", "list", "image")
    assert out.report["non_finite"] == 1 and out.mask.tolist() == [True, True, False, True, True, True]
    assert np.isfinite(out.values).all() and not out.values[2].any()
