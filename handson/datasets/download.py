"""Downloads that fail cleanly: checksums, atomic writes, retries, clear offline errors.

Every download writes into a temporary file in the destination folder and renames it into
place only when it is complete (and its checksum matches), so an interrupted or failed
download never leaves a partial file behind. When the host cannot be reached the error
arrives within seconds and says where to put the file by hand, and that
``handson.datasets.load("toyshop")`` works without any network.

Files land in :func:`data_dir`: ``HANDSON_DATA_DIR`` when set, else ``datasets/`` in a
repository checkout, else the user cache folder.
"""
from __future__ import annotations

import hashlib
import inspect
import os
import socket
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from ..utils import cache_dir
from .archives import DownloadError, extract_zip

__all__ = ["DownloadError", "data_dir", "repo_root", "download", "gdown_file", "hf_file", "extract_zip",
           "sha256sum", "looks_like_html", "is_reachable"]

CONNECT_TIMEOUT = 4.0   # seconds to open a connection: offline machines fail this fast
READ_TIMEOUT = 60.0     # seconds without a byte before a transfer counts as stalled
OFFLINE_ALTERNATIVE = 'handson.datasets.load("toyshop") works offline (it is generated locally)'


# -- where data lives ------------------------------------------------------------------
def repo_root() -> Path | None:
    """The repository checkout holding this package (pyproject.toml and .git), or None."""
    for folder in Path(__file__).resolve().parents:
        if (folder / "pyproject.toml").is_file() and (folder / ".git").exists():
            return folder
    return None


def data_dir(*parts: str) -> Path:
    """The data folder (created on demand), joined with ``parts``.

    ``HANDSON_DATA_DIR`` when set; else ``<checkout>/datasets`` in a repository checkout
    (git-ignored); else ``<user cache>/handson/data``.
    """
    env = os.environ.get("HANDSON_DATA_DIR")
    if env:
        root = Path(env).expanduser()
    else:
        repo = repo_root()
        root = repo / "datasets" if repo is not None else cache_dir("data")
    path = root.joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


# -- small checks ----------------------------------------------------------------------
def sha256sum(path: str | Path, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def looks_like_html(data: bytes | str | Path) -> bool:
    """True when bytes (or a file's first bytes) start like an HTML page."""
    if isinstance(data, (str, Path)):
        with open(data, "rb") as f:
            data = f.read(512)
    head = data[:512].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return head.startswith((b"<!doctype html", b"<html", b"<head", b"<!--"))


def is_reachable(url_or_host: str, timeout: float = CONNECT_TIMEOUT) -> bool:
    """Whether a TCP connection to the URL's host opens within ``timeout`` seconds.

    Always True behind an HTTP(S) proxy (set in the environment), where direct
    connections say nothing about reachability.
    """
    if any(os.environ.get(v) for v in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy")):
        return True
    parsed = urlparse(url_or_host if "://" in url_or_host else f"https://{url_or_host}")
    port = parsed.port or (80 if parsed.scheme == "http" else 443)
    try:
        socket.create_connection((parsed.hostname, port), timeout=timeout).close()
    except OSError:
        return False
    return True


def manual_hint(dest: Path, source: str) -> str:
    """The "place it by hand" paragraph that ends every offline error."""
    return (f"To work without this download, fetch {source} on a connected machine and place it "
            f"at {dest} (folder {dest.parent}, file name {dest.name!r}); it is used from there "
            f"next time. Or: {OFFLINE_ALTERNATIVE}.")


def _tmp_path(dest: Path) -> Path:
    fd, name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    os.close(fd)
    return Path(name)


def _verify(path: Path, sha256: str | None, source: str) -> None:
    if sha256 is None:
        return
    actual = sha256sum(path)
    if actual.lower() != sha256.lower():
        path.unlink(missing_ok=True)
        raise DownloadError(f"Checksum mismatch for {source}: expected sha256 {sha256}, got {actual}. "
                            "The file was deleted; download it again (a changed upstream file or a "
                            "corrupted transfer).")


def _keep_aside(dest: Path) -> None:
    """Rename a file already at ``dest`` (its checksum did not match) to ``<name>.mismatch``,
    with a warning, instead of deleting it."""
    if dest.is_file():
        aside = dest.with_name(dest.name + ".mismatch")
        os.replace(dest, aside)
        warnings.warn(f"{dest} did not match the expected checksum; it was renamed to {aside.name} "
                      "and replaced by a fresh download.", stacklevel=3)


# -- plain HTTP(S) ---------------------------------------------------------------------
class _Retry(Exception):
    """A failure after the connection opened: worth another attempt."""


def download(url: str, dest: str | Path, sha256: str | None = None, retries: int = 2,
             timeout: float | tuple[float, float] = (CONNECT_TIMEOUT, READ_TIMEOUT),
             allow_html: bool = False, quiet: bool = False) -> Path:
    """Download ``url`` to ``dest`` atomically; returns ``dest``.

    An existing ``dest`` (with a matching ``sha256`` when given) is reused. Failures after
    the connection opened (truncated body, stalled read, HTTP 5xx) are retried ``retries``
    times from scratch; a host that cannot be reached fails at once with instructions for
    placing the file by hand. HTTP 4xx, an HTML page where a file was expected, and a
    checksum mismatch raise :class:`DownloadError`. No partial file is ever left, and a file
    already at ``dest`` whose checksum does not match is renamed to ``<name>.mismatch`` (never
    deleted) once the new one has arrived and verified.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.is_file() and (sha256 is None or sha256sum(dest).lower() == sha256.lower()):
        return dest
    if isinstance(timeout, (int, float)):
        timeout = (min(float(timeout), CONNECT_TIMEOUT), float(timeout))
    last: Exception | None = None
    for attempt in range(retries + 1):
        tmp = _tmp_path(dest)
        try:
            _fetch_once(url, tmp, dest, timeout, allow_html, quiet)
            _verify(tmp, sha256, url)
            _keep_aside(dest)
            os.replace(tmp, dest)
            return dest
        except _Retry as exc:
            last = exc
        finally:
            tmp.unlink(missing_ok=True)
        if attempt < retries:
            time.sleep(0.5 * (attempt + 1))
    raise DownloadError(f"Downloading {url} failed after {retries + 1} attempt(s): {last}. "
                        f"Nothing was written. {manual_hint(dest, url)}")


def _fetch_once(url: str, tmp: Path, dest: Path, timeout: tuple[float, float], allow_html: bool,
                quiet: bool) -> None:
    """One attempt: stream ``url`` into ``tmp``; raise _Retry or DownloadError on failure."""
    import requests  # a core dependency; imported here so `import handson` stays light
    from tqdm.auto import tqdm

    try:
        with requests.get(url, stream=True, timeout=timeout,
                          headers={"User-Agent": "handson-course"}) as resp:
            if resp.status_code >= 500:
                raise _Retry(f"HTTP {resp.status_code} ({resp.reason})")
            if resp.status_code >= 400:
                raise DownloadError(f"{url} answered HTTP {resp.status_code} ({resp.reason}). "
                                    + manual_hint(dest, url))
            expected = int(resp.headers.get("Content-Length") or -1)
            done = 0
            with open(tmp, "wb") as f, tqdm(total=expected if expected > 0 else None, unit="B",
                                            unit_scale=True, desc=dest.name, disable=quiet,
                                            leave=False) as bar:
                for block in resp.iter_content(1 << 16):
                    if done == 0 and not allow_html and looks_like_html(block):
                        raise DownloadError(
                            f"{url} returned an HTML page instead of the file (a login, quota, "
                            "error or consent page); open the URL in a browser to see why. "
                            + manual_hint(dest, url))
                    f.write(block)
                    done += len(block)
                    bar.update(len(block))
    except requests.exceptions.ConnectTimeout:
        raise DownloadError(f"Cannot reach {urlparse(url).netloc} within {timeout[0]:g} s; are you "
                            f"offline? {manual_hint(dest, url)}") from None
    except requests.exceptions.ConnectionError as exc:
        why = _never_connected(exc)
        if why:
            raise DownloadError(f"Cannot reach {urlparse(url).netloc} ({why}); are you offline? "
                                + manual_hint(dest, url)) from None
        raise _Retry(_reason(exc)) from None
    except requests.exceptions.RequestException as exc:  # stalled read, truncated chunked body
        raise _Retry(_reason(exc)) from None
    if 0 < expected != done:
        raise _Retry(f"transfer truncated ({done:,} of {expected:,} bytes)")


def _reason(exc: Exception) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text[:200]}" if text else type(exc).__name__


def _never_connected(exc: Exception) -> str:
    """Why a requests ConnectionError happened before any byte came back ("" otherwise)."""
    text = repr(exc)
    for marker, why in (("NameResolutionError", "host name lookup failed"),
                        ("Failed to resolve", "host name lookup failed"),
                        ("Connection refused", "connection refused"),
                        ("Network is unreachable", "network unreachable"),
                        ("No route to host", "no route to host"),
                        ("NewConnectionError", "connection failed")):
        if marker in text:
            return why
    return ""


# -- Google Drive ----------------------------------------------------------------------
def gdown_file(file_id: str, dest: str | Path, sha256: str | None = None, quiet: bool = False,
               timeout: float = 60.0) -> Path:
    """Download a Google Drive file with gdown, atomically; returns ``dest``.

    Detects the HTML page Drive serves instead of the file (download quota exceeded,
    permission missing, virus-scan interstitial) and says so.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    url = f"https://drive.google.com/uc?id={file_id}"
    if dest.is_file() and (sha256 is None or sha256sum(dest).lower() == sha256.lower()):
        return dest
    if not is_reachable("https://drive.google.com"):
        raise DownloadError(f"Cannot reach drive.google.com; are you offline? {manual_hint(dest, url)}")
    try:
        import gdown
    except ImportError:
        raise DownloadError("Google Drive downloads need gdown: pip install gdown "
                            f"(or pip install 'handson[data]'). {manual_hint(dest, url)}") from None
    tmp = _tmp_path(dest)
    try:
        try:
            gdown.download(id=file_id, output=str(tmp), quiet=quiet, **_supported(
                gdown.download, timeout=timeout, retries=2))
        except Exception as exc:  # noqa: BLE001 - gdown raises several unrelated types
            raise DownloadError(f"Google Drive refused file {file_id} ({type(exc).__name__}: "
                                f"{str(exc).strip()[:300]}). Often the daily download quota is "
                                f"exhausted: retry later. {manual_hint(dest, url)}") from None
        if not tmp.is_file() or tmp.stat().st_size == 0:
            raise DownloadError(f"Google Drive returned nothing for file {file_id}. {manual_hint(dest, url)}")
        if looks_like_html(tmp):
            raise DownloadError(f"Google Drive returned an HTML page instead of file {file_id}: the "
                                "download quota is exceeded or the file is not shared publicly. "
                                f"Retry later. {manual_hint(dest, url)}")
        _verify(tmp, sha256, url)
        _keep_aside(dest)
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    return dest


def _supported(func: Any, **options: Any) -> dict[str, Any]:
    """The options ``func`` accepts (gdown 5, still common on Colab, has no timeout/retries)."""
    params = inspect.signature(func).parameters
    return {k: v for k, v in options.items() if k in params}


# -- Hugging Face hub ------------------------------------------------------------------
def hf_file(repo_id: str, filename: str, repo_type: str = "dataset", revision: str | None = None,
            local_dir: str | Path | None = None) -> Path:
    """One file of a Hugging Face hub repository, downloaded into ``local_dir``.

    ``local_dir`` defaults to ``data_dir("hf", repo_id)``; the file keeps its repository
    path below it, and a file already there is used without asking the hub. Offline
    (``HF_HUB_OFFLINE=1`` or no route to the hub) it fails within seconds.
    """
    local_dir = Path(local_dir) if local_dir is not None else data_dir("hf", *repo_id.split("/"))
    target = local_dir / filename
    source = f"https://huggingface.co/{repo_type}s/{repo_id}/resolve/{revision or 'main'}/{filename}"
    if target.is_file():
        return target
    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co")
    if os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes", "on"):
        raise DownloadError(f"HF_HUB_OFFLINE is set, so {filename} cannot come from the hub. "
                            + manual_hint(target, source))
    if not is_reachable(endpoint):
        raise DownloadError(f"Cannot reach {endpoint}; are you offline? {manual_hint(target, source)}")
    try:
        from huggingface_hub import hf_hub_download
    except ImportError:
        raise DownloadError("Hub downloads need huggingface_hub: pip install huggingface-hub. "
                            + manual_hint(target, source)) from None
    try:
        path = hf_hub_download(repo_id, filename, repo_type=repo_type, revision=revision,
                               local_dir=local_dir)
    except Exception as exc:  # noqa: BLE001 - the hub client raises many types; all mean "no file"
        what = type(exc).__name__
        hint = (" Check the spelling of the file (categories are case-sensitive, e.g. All_Beauty)."
                if "NotFound" in what else "")
        raise DownloadError(f"The hub could not deliver {repo_id}/{filename} ({what}: "
                            f"{str(exc).strip()[:200]}).{hint} {manual_hint(target, source)}") from None
    return Path(path)


# -- messages --------------------------------------------------------------------------
def describe_folder(folder: Path, limit: int = 12) -> str:
    """A short listing of what a folder holds, for error messages."""
    if not folder.exists():
        return f"{folder} does not exist"
    names = sorted(p.name + ("/" if p.is_dir() else "") for p in folder.iterdir())
    more = f" ... (+{len(names) - limit})" if len(names) > limit else ""
    return f"{folder} holds {names[:limit] or 'nothing'}{more}"

