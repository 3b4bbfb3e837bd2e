"""handson.features.precomputed: Ducho folders, one matrix + item list, archives, through the cache.

Every fixture is written to tmp_path: per-item ``.npy`` files in Ducho's
``<backend>/<model>/<layer>/`` layout, one matrix with an id list, an ``.npz``, and zip / tar
archives of them. Rows are known, so each test checks the exact alignment.
"""
from __future__ import annotations

import os
import subprocess
import sys
import stat
import tarfile
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("torch")

from handson import features  # noqa: E402
from handson.features import Features  # noqa: E402
from handson.features.precomputed import read_precomputed  # noqa: E402

from test_features import MeanColour, mean_colour  # noqa: E402

IDS = ["a1", "b2", "c3", "d4", "e5"]
ROWS = np.arange(15, dtype=np.float32).reshape(5, 3) + 1


def ducho_folder(root: Path, model: str = "ResNet50", skip: str | None = "c3", rows=ROWS, ids=IDS) -> Path:
    """One <id>.npy per item (all but ``skip``) under root/torch/<model>/avgpool/, some saved as (1, d)."""
    out = root / "torch" / model / "avgpool"
    out.mkdir(parents=True)
    for k, (i, r) in enumerate(zip(ids, rows)):
        if i != skip:
            np.save(out / f"{i}.npy", r[None] if k % 2 else r)      # Ducho saves (1, d) or (d,)
    return out


def matrix_folder(root: Path) -> Path:
    """One matrix in a shuffled row order with item_ids.txt, plus an id the catalog lacks."""
    root.mkdir(parents=True)
    order = [3, 0, 4, 1]
    np.save(root / "features.npy", np.concatenate([ROWS[order], np.full((1, 3), 99, np.float32)]))
    (root / "item_ids.txt").write_text("\n".join([IDS[i] for i in order] + ["zz"]) + "\n")
    return root


def check_rows(f: Features, missing: str = "c3") -> None:
    assert f.shape == (5, 3)
    assert f.mask.tolist() == [i != missing for i in IDS]
    for k, i in enumerate(IDS):
        np.testing.assert_array_equal(f.values[k], ROWS[k] if i != missing else 0)
    assert f.report["missing_file"] == 1 and f.report["available"] == 4


def test_ducho_folder_root_or_leaf_missing_item_counted_and_warned(tmp_path):
    leaf = ducho_folder(tmp_path / "visual_embeddings")
    for source in (leaf, tmp_path / "visual_embeddings"):
        with pytest.warns(UserWarning, match=r"1 of 5 items have no usable content \(missing file: 1\)"):
            f = features.load_precomputed(IDS, source, cache=tmp_path / f"c{len(source.parts)}")
        check_rows(f)
        assert f.manifest["layout"] == "ducho per-item" and f.manifest["cache"] == "miss"
    with pytest.warns(UserWarning):
        again = features.load_precomputed(IDS, leaf, cache=tmp_path / f"c{len(leaf.parts)}")
    assert again.manifest["cache"] == "hit"
    np.testing.assert_array_equal(again.values, f.values)


def test_one_matrix_with_item_list_and_npz(tmp_path):
    folder = matrix_folder(tmp_path / "m")
    with pytest.warns(UserWarning, match="missing file: 1"):
        f = features.load_precomputed(IDS, folder, cache=False)
    check_rows(f, missing="c3")
    assert f.report["unused_rows"] == 1 and f.manifest["layout"] == "matrix"
    np.savez(tmp_path / "all.npz", values=ROWS[::-1], ids=np.array(IDS[::-1]))
    g = read_precomputed(tmp_path / "all.npz", IDS)
    np.testing.assert_array_equal(g.values, ROWS)
    assert g.mask.all()
    (folder / "item_ids.txt").unlink()
    with pytest.raises(ValueError, match="no item list lies beside it"):
        read_precomputed(folder / "features.npy", IDS)


def test_archives_unpack_once(tmp_path, monkeypatch):
    monkeypatch.setenv("HANDSON_CACHE", str(tmp_path / "cache"))
    leaf = ducho_folder(tmp_path / "src" / "visual_embeddings")
    zpath = tmp_path / "feats.zip"
    with zipfile.ZipFile(zpath, "w") as z:
        for p in leaf.glob("*.npy"):
            z.write(p, p.relative_to(tmp_path / "src"))
    mfolder = matrix_folder(tmp_path / "msrc")
    tpath = tmp_path / "feats.tar.gz"
    with tarfile.open(tpath, "w:gz") as t:
        t.add(mfolder, arcname="matrix")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check_rows(features.load_precomputed(IDS, zpath, cache=False))
        check_rows(features.load_precomputed(IDS, tpath, cache=False))
        check_rows(features.load_precomputed(IDS, zpath, cache=False))
    unpacked = [p for p in (tmp_path / "cache" / "precomputed").iterdir()]
    assert len(unpacked) == 2 and not any(p.name.startswith(".") for p in unpacked)
    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil, "w") as z:
        z.writestr("../outside.npy", b"x")
    with pytest.raises(ValueError, match="outside the folder"):
        features.load_precomputed(IDS, evil, cache=False)
    assert not (tmp_path / "cache" / "outside.npy").exists()
    link = tmp_path / "link.zip"                      # a symlink member: the data downloads' check
    with zipfile.ZipFile(link, "w") as z:
        info = zipfile.ZipInfo("item.npy")
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        z.writestr(info, "/etc/passwd")
    with pytest.raises(ValueError, match="symbolic link"):
        features.load_precomputed(IDS, link, cache=False)


def test_bad_sources_are_named(tmp_path):
    with pytest.raises(ValueError, match="does not exist. Download them first"):
        features.load_precomputed(IDS, tmp_path / "nope", cache=False)
    root = tmp_path / "two"
    ducho_folder(root, "ResNet50")
    ducho_folder(root, "VGG19")
    with pytest.raises(ValueError, match="holds features in 2 folders"):
        read_precomputed(root, IDS)
    assert "ResNet50" in read_precomputed(root, IDS, hint="resnet50").manifest["source"]
    odd = ducho_folder(tmp_path / "odd", skip=None)
    np.save(odd / "b2.npy", np.zeros(4, np.float32))
    with pytest.raises(ValueError, match=r"different widths \[3, 4\]"):
        read_precomputed(odd, IDS)
    with pytest.raises(ValueError, match="None of the 2 item ids"):
        read_precomputed(tmp_path / "two" / "torch" / "VGG19" / "avgpool", ["x", "y"])
    with pytest.raises(ValueError, match="4-d were expected"):
        read_precomputed(tmp_path / "two" / "torch" / "VGG19" / "avgpool", IDS, dim=4)


@pytest.fixture()
def pictures(tmp_path):
    paths = []
    for i in range(5):
        p = tmp_path / "img" / f"{i}.png"
        p.parent.mkdir(exist_ok=True)
        Image.new("RGB", (8, 8), (40 * i, 0, 0)).save(p)
        paths.append(str(p))
    return paths


def test_precomputed_argument_fills_the_extraction_key(tmp_path, pictures):
    """Imported rows land under the key of the extraction: a later call without
    ``precomputed`` is a cache hit and never runs the encoder."""
    ids = [str(i) for i in range(5)]
    leaf = ducho_folder(tmp_path / "d", "mean-colour", skip="4", ids=ids)
    cache = tmp_path / "c"
    with pytest.warns(UserWarning, match="missing file: 1"):
        f = features.image_features(pictures, mean_colour(), cache=cache, precomputed=leaf, progress=False)
    assert f.manifest["cache"] == "miss" and f.manifest["precomputed"]
    np.testing.assert_array_equal(f.values[:4], ROWS[:4])
    module = MeanColour()
    with pytest.warns(UserWarning, match="missing file: 1"):
        g = features.image_features(pictures, mean_colour(module), cache=cache, progress=False)
    assert g.manifest["cache"] == "hit" and module.calls == 0
    np.testing.assert_array_equal(g.values, f.values)
    extracted = features.image_features(pictures, mean_colour(), cache=False, progress=False)
    assert not np.allclose(extracted.values[:4], f.values[:4])
    with pytest.raises(ValueError, match="1280-d were expected"):
        features.image_features(pictures, "efficientnet-lite0", cache=False, precomputed=leaf)


def test_shared_cache_folder_serves_a_fresh_process(tmp_path):
    """HANDSON_CACHE on an existing folder (a mounted Drive): a second process reads what the
    first imported, without the source."""
    shared = tmp_path / "drive" / "handson-cache"
    shared.mkdir(parents=True)
    leaf = ducho_folder(tmp_path / "d")
    code = ("import sys, warnings; warnings.simplefilter('ignore'); from handson import features; "
            f"f = features.load_precomputed({IDS!r}, sys.argv[1]); print(f.manifest['cache'], f.values.sum())")
    env = {**os.environ, "HANDSON_CACHE": str(shared), "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    first = subprocess.run([sys.executable, "-c", code, str(leaf)], env=env, capture_output=True, text=True,
                           check=True).stdout.split()
    second = subprocess.run([sys.executable, "-c", code, str(leaf)], env=env, capture_output=True, text=True,
                            check=True).stdout.split()
    assert first[0] == "miss" and second[0] == "hit" and first[1] == second[1]
    assert float(first[1]) == float(ROWS.sum() - ROWS[2].sum())
    assert not list(shared.rglob("*.tmp"))


def test_hub_and_drive_sources_download_once(tmp_path, monkeypatch):
    """``hf://`` and ``gdrive://`` sources go through handson's download helpers (mocked
    here: no network in tests) and a downloaded Drive file is reused."""
    from handson.datasets import download

    monkeypatch.setenv("HANDSON_DATA_DIR", str(tmp_path / "data"))
    np.savez(tmp_path / "hub.npz", values=ROWS, ids=np.array(IDS))
    asked = []

    def fake_hf(repo_id, filename, **kw):
        asked.append(("hf", repo_id, filename))
        return tmp_path / "hub.npz"

    def fake_gdown(file_id, dest, **kw):
        asked.append(("gdrive", file_id, Path(dest).name))
        Path(dest).parent.mkdir(parents=True, exist_ok=True)
        np.savez(Path(dest).with_suffix(""), values=ROWS, ids=np.array(IDS))   # np.savez adds .npz
        return Path(dest)

    monkeypatch.setattr(download, "hf_file", fake_hf)
    monkeypatch.setattr(download, "gdown_file", fake_gdown)
    hub = features.load_precomputed(IDS, "hf://someone/office-features/resnet50.npz", cache=False)
    np.testing.assert_array_equal(hub.values, ROWS)
    for _ in range(2):
        drive = features.load_precomputed(IDS, "gdrive://1AbC/feats.npz", cache=False)
        np.testing.assert_array_equal(drive.values, ROWS)
    assert asked == [("hf", "someone/office-features", "resnet50.npz"), ("gdrive", "1AbC", "feats.npz")]
    with pytest.raises(ValueError, match="gdrive://<file id>/<file name>"):
        features.load_precomputed(IDS, "gdrive://1AbC", cache=False)
    with pytest.raises(ValueError, match="hf://<owner>/<repo>"):
        features.load_precomputed(IDS, "hf://only-owner", cache=False)
