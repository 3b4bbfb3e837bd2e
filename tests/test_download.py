"""handson.datasets.download against a local HTTP server: good files, truncation, HTML, 404, offline."""
from __future__ import annotations

import hashlib
import time
import zipfile
from pathlib import Path

import pytest

from handson.datasets import download as dl
from handson.datasets.download import DownloadError
from local_http import Handler, serve

PAYLOAD = bytes(range(256)) * 400  # 100 kB


class _Handler(Handler):
    def do_GET(self):  # noqa: N802 - http.server API
        n = self.count()
        if self.path == "/good.bin" or (self.path == "/flaky.bin" and n > 1):
            return self.send(200, PAYLOAD)
        if self.path in ("/truncated.bin", "/flaky.bin"):
            self.send_response(200)
            self.send_header("Content-Length", str(len(PAYLOAD)))
            self.end_headers()
            self.wfile.write(PAYLOAD[: len(PAYLOAD) // 2])
            return None
        if self.path == "/page.html":
            return self.send(200, b"<!DOCTYPE html><html><body>Quota exceeded</body></html>", "text/html")
        if self.path == "/error500.bin":
            return self.send(500, b"oops")
        if self.path == "/slow.bin":
            time.sleep(2.0)
            return self.send(200, PAYLOAD)
        return self.send(404, b"not found")


@pytest.fixture(scope="module")
def server():
    with serve(_Handler) as running:
        yield running


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_good_download_is_atomic_and_verified(server, tmp_path):
    url, hits = server
    sha = hashlib.sha256(PAYLOAD).hexdigest()
    out = dl.download(f"{url}/good.bin", tmp_path / "good.bin", sha256=sha, quiet=True)
    assert out.read_bytes() == PAYLOAD
    assert _leftovers(tmp_path) == ["good.bin"]
    before = hits["/good.bin"]
    dl.download(f"{url}/good.bin", tmp_path / "good.bin", sha256=sha, quiet=True)
    assert hits["/good.bin"] == before, "a verified existing file must be reused"


def test_checksum_mismatch_deletes_and_names_both(server, tmp_path):
    url, _ = server
    with pytest.raises(DownloadError, match="expected sha256 0{64}, got [0-9a-f]{64}"):
        dl.download(f"{url}/good.bin", tmp_path / "x.bin", sha256="0" * 64, quiet=True)
    assert _leftovers(tmp_path) == []


def test_existing_file_with_wrong_checksum_is_replaced(server, tmp_path):
    url, _ = server
    (tmp_path / "x.bin").write_bytes(b"stale")
    dl.download(f"{url}/good.bin", tmp_path / "x.bin", sha256=hashlib.sha256(PAYLOAD).hexdigest(), quiet=True)
    assert (tmp_path / "x.bin").read_bytes() == PAYLOAD


def test_truncated_transfer_retried_then_fails_clean(server, tmp_path):
    url, hits = server
    with pytest.raises(DownloadError, match=r"failed after 3 attempt"):
        dl.download(f"{url}/truncated.bin", tmp_path / "t.bin", retries=2, quiet=True)
    assert hits["/truncated.bin"] == 3
    assert _leftovers(tmp_path) == []


def test_clean_retry_recovers(server, tmp_path):
    url, hits = server
    dl.download(f"{url}/flaky.bin", tmp_path / "f.bin", retries=1, quiet=True)
    assert hits["/flaky.bin"] == 2
    assert (tmp_path / "f.bin").read_bytes() == PAYLOAD
    assert _leftovers(tmp_path) == ["f.bin"]


def test_server_error_is_retried(server, tmp_path):
    url, hits = server
    with pytest.raises(DownloadError, match="HTTP 500"):
        dl.download(f"{url}/error500.bin", tmp_path / "e.bin", retries=1, quiet=True)
    assert hits["/error500.bin"] == 2


def test_html_page_instead_of_file(server, tmp_path):
    url, _ = server
    with pytest.raises(DownloadError, match="HTML page instead of the file"):
        dl.download(f"{url}/page.html", tmp_path / "data.zip", quiet=True)
    assert _leftovers(tmp_path) == []


def test_404_is_not_retried(server, tmp_path):
    url, hits = server
    with pytest.raises(DownloadError, match="HTTP 404"):
        dl.download(f"{url}/missing.zip", tmp_path / "m.zip", retries=2, quiet=True)
    assert hits["/missing.zip"] == 1
    assert _leftovers(tmp_path) == []


def test_read_timeout_fails(server, tmp_path):
    url, _ = server
    t0 = time.perf_counter()
    with pytest.raises(DownloadError, match="failed after 1 attempt"):
        dl.download(f"{url}/slow.bin", tmp_path / "s.bin", retries=0, timeout=0.5, quiet=True)
    assert time.perf_counter() - t0 < 1.9
    assert _leftovers(tmp_path) == []


def test_offline_fails_fast_and_says_what_to_do(tmp_path):
    t0 = time.perf_counter()
    with pytest.raises(DownloadError) as err:
        dl.download("http://127.0.0.1:9/ml-100k.zip", tmp_path / "ml-100k.zip", quiet=True)
    assert time.perf_counter() - t0 < 5
    msg = str(err.value)
    assert "Cannot reach" in msg and str(tmp_path) in msg and "'ml-100k.zip'" in msg
    assert 'load("toyshop")' in msg
    assert _leftovers(tmp_path) == []


def test_looks_like_html():
    assert dl.looks_like_html(b"\n  <!DOCTYPE html><html>")
    assert dl.looks_like_html(b"<html lang='en'>")
    assert not dl.looks_like_html(b"PK\x03\x04zipdata")
    assert not dl.looks_like_html(b"user\titem\t5\n")


def test_data_dir_rules(monkeypatch, tmp_path):
    monkeypatch.setenv("HANDSON_DATA_DIR", str(tmp_path / "d"))
    assert dl.data_dir("x") == tmp_path / "d" / "x" and (tmp_path / "d" / "x").is_dir()
    monkeypatch.delenv("HANDSON_DATA_DIR")
    repo = dl.repo_root()
    assert repo is not None and (repo / "pyproject.toml").is_file()
    assert dl.data_dir() == repo / "datasets"
    monkeypatch.setattr(dl, "repo_root", lambda: None)
    monkeypatch.setenv("HANDSON_CACHE", str(tmp_path / "cache"))
    assert dl.data_dir("y") == tmp_path / "cache" / "data" / "y"


# -- zips ------------------------------------------------------------------------------
def _zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def test_extract_zip_good(tmp_path):
    z = _zip(tmp_path / "a.zip", {"top/one.txt": b"1", "top/sub/two.txt": b"2"})
    out = dl.extract_zip(z, tmp_path / "out")
    assert (out / "top" / "sub" / "two.txt").read_bytes() == b"2"
    assert [p.name for p in out.iterdir()] == ["top"], "no temporary folder may remain"


def test_extract_truncated_zip_deletes_it(tmp_path):
    z = _zip(tmp_path / "a.zip", {"top/data.bin": PAYLOAD})
    z.write_bytes(z.read_bytes()[: z.stat().st_size // 2])
    with pytest.raises(DownloadError, match="not a valid zip archive.*moved aside to a.zip.bad"):
        dl.extract_zip(z, tmp_path / "out")
    assert not z.exists() and (tmp_path / "a.zip.bad").is_file()
    assert not (tmp_path / "out").exists()


def test_extract_corrupt_member_detected(tmp_path):
    z = _zip(tmp_path / "a.zip", {"data.bin": b"A" * 5000})
    with zipfile.ZipFile(z) as zf:
        offset = zf.getinfo("data.bin").header_offset + 30 + len("data.bin") + 5
    raw = bytearray(z.read_bytes())
    raw[offset] ^= 0xFF
    z.write_bytes(bytes(raw))
    with pytest.raises(DownloadError, match="not a valid zip archive"):
        dl.extract_zip(z, tmp_path / "out")
    assert not z.exists()


def test_extract_refuses_path_traversal(tmp_path):
    z = _zip(tmp_path / "evil.zip", {"../escape.txt": b"x"})
    with pytest.raises(DownloadError, match="unsafe member"):
        dl.extract_zip(z, tmp_path / "out")
    assert not (tmp_path / "escape.txt").exists()


# -- Google Drive and the hub (no network: the clients are replaced or cut off) -------
def test_gdown_offline_is_fast_and_helpful(monkeypatch, tmp_path):
    monkeypatch.setattr(dl, "is_reachable", lambda *a, **k: False)
    with pytest.raises(DownloadError, match="Cannot reach drive.google.com.*demo.zip.*toyshop"):
        dl.gdown_file("FILEID", tmp_path / "demo.zip")
    assert _leftovers(tmp_path) == []


def _fake_gdown(monkeypatch, body: bytes | None = None, exc: Exception | None = None):
    import gdown

    def fake(id=None, output=None, quiet=False):  # noqa: A002 - gdown 5 signature (no timeout)
        if exc is not None:
            raise exc
        Path(output).write_bytes(body)
        return output

    monkeypatch.setattr(dl, "is_reachable", lambda *a, **k: True)
    monkeypatch.setattr(gdown, "download", fake)


def test_gdown_html_page_is_detected(monkeypatch, tmp_path):
    _fake_gdown(monkeypatch, body=b"<!DOCTYPE html><html><title>Google Drive - Quota exceeded</title>")
    with pytest.raises(DownloadError, match="HTML page instead of file FILEID.*quota"):
        dl.gdown_file("FILEID", tmp_path / "demo.zip", quiet=True)
    assert _leftovers(tmp_path) == []


def test_gdown_refusal_is_wrapped(monkeypatch, tmp_path):
    import gdown.exceptions
    _fake_gdown(monkeypatch, exc=gdown.exceptions.FileURLRetrievalError("Too many users have viewed"))
    with pytest.raises(DownloadError, match="FileURLRetrievalError.*quota"):
        dl.gdown_file("FILEID", tmp_path / "demo.zip", quiet=True)
    assert _leftovers(tmp_path) == []


def test_gdown_success_and_checksum(monkeypatch, tmp_path):
    _fake_gdown(monkeypatch, body=PAYLOAD)
    out = dl.gdown_file("FILEID", tmp_path / "demo.zip", sha256=hashlib.sha256(PAYLOAD).hexdigest(), quiet=True)
    assert out.read_bytes() == PAYLOAD and _leftovers(tmp_path) == ["demo.zip"]
    with pytest.raises(DownloadError, match="Checksum mismatch"):
        dl.gdown_file("FILEID", tmp_path / "other.zip", sha256="1" * 64, quiet=True)
    assert _leftovers(tmp_path) == ["demo.zip"]


def test_hf_offline_fails_fast(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    t0 = time.perf_counter()
    with pytest.raises(DownloadError, match="HF_HUB_OFFLINE.*raw/x.jsonl.*toyshop"):
        dl.hf_file("McAuley-Lab/Amazon-Reviews-2023", "raw/x.jsonl", local_dir=tmp_path)
    assert time.perf_counter() - t0 < 5


def test_hf_unreachable_endpoint_fails_fast(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    for var in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"):
        monkeypatch.delenv(var, raising=False)
    t0 = time.perf_counter()
    with pytest.raises(DownloadError, match="Cannot reach http://127.0.0.1:9"):
        dl.hf_file("McAuley-Lab/Amazon-Reviews-2023", "raw/x.jsonl", local_dir=tmp_path)
    assert time.perf_counter() - t0 < 5


def test_hf_local_copy_needs_no_hub(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    (tmp_path / "raw").mkdir()
    (tmp_path / "raw" / "x.jsonl").write_text("{}\n")
    assert dl.hf_file("McAuley-Lab/Amazon-Reviews-2023", "raw/x.jsonl", local_dir=tmp_path) == tmp_path / "raw" / "x.jsonl"


def test_hf_errors_are_wrapped_and_success_returns_path(monkeypatch, tmp_path):
    import huggingface_hub
    from huggingface_hub.errors import EntryNotFoundError

    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setattr(dl, "is_reachable", lambda *a, **k: True)

    def missing(repo_id, filename, **kwargs):
        raise EntryNotFoundError(f"{filename} not found")

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", missing)
    with pytest.raises(DownloadError, match="EntryNotFoundError.*spelling.*All_Beauty"):
        dl.hf_file("McAuley-Lab/Amazon-Reviews-2023", "raw/all_beauty.jsonl", local_dir=tmp_path)

    def fetched(repo_id, filename, local_dir=None, **kwargs):
        path = Path(local_dir) / filename
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("{}\n")
        return str(path)

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", fetched)
    out = dl.hf_file("McAuley-Lab/Amazon-Reviews-2023", "raw/x.jsonl", local_dir=tmp_path)
    assert out == tmp_path / "raw" / "x.jsonl" and out.read_text() == "{}\n"
