"""Small data folders in the real formats of the loaders, shared by their test files.

``_data_dir`` is an autouse fixture: a test module that imports it gets its own data folder
per test, so nothing lands in the checkout.
"""
from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image


def _jpeg(colour=(200, 30, 30)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), colour).save(buf, format="JPEG")
    return buf.getvalue()


@pytest.fixture(autouse=True)
def _data_dir(tmp_path, monkeypatch):
    """Every test gets its own data folder: nothing lands in the checkout."""
    monkeypatch.setenv("HANDSON_DATA_DIR", str(tmp_path / "data"))


# -- Amazon, summer-school layout -------------------------------------------------------
REVIEWS = [("u1", "A1", 5), ("u1", "A2", 4), ("u2", "A1", 3), ("u2", "A3", 5), ("u3", "A2", 1),
           ("u3", "A4", 4)]  # A4 is reviewed but missing from meta.tsv


def _office(folder: Path, meta_header="asin\ttitle\tdescription\timUrl", encoding="utf-8",
            reviews=REVIEWS) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "reviews.tsv").write_text("".join(f"{u}\t{i}\t{r}\n" for u, i, r in reviews))
    rows = ["A1\tStapler\tA sturdy stapler, café style\thttp://x/1.jpg",
            "A2\tPens\tBlue pens\thttp://x/2.jpg",
            "A3\t\tYellow sticky notes\thttp://x/3.jpg",
            "A9\tLamp\tDesk lamp never reviewed\thttp://x/9.jpg"]
    (folder / "meta.tsv").write_bytes((meta_header + "\n" + "\n".join(rows) + "\n").encode(encoding))
    (folder / "images").mkdir(exist_ok=True)
    for asin in ("A1", "A3"):
        (folder / "images" / f"{asin}.jpg").write_bytes(_jpeg())
    return folder


def shared_ml() -> Path | None:
    """The shared MovieLens latest-small copy (``HANDSON_ML_DIR`` or ``../shared/data/ml-latest-small``), if any."""
    import os
    env = os.environ.get("HANDSON_ML_DIR")
    path = Path(env) if env else Path(__file__).resolve().parents[1].parent / "shared" / "data" / "ml-latest-small"
    return path if (path / "ratings.csv").is_file() else None
